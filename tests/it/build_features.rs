//! `build` features of Buildah and BuildKit beyond the basics, each as a user runs it, on
//! both storage drivers where it touches files: `--chmod` with symbolic modes, `RUN --mount`
//! binds that are writable or come from a stage or an image, `COPY --link` (a layer that
//! does not depend on its base, reused on another base), `ADD` of a git repository and
//! `COPY --parents`.

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};

const DRIVERS: [&str; 2] = ["vfs", "overlay"];

/// Writes `text` as the Containerfile of the context directory `dir`; returns it.
fn context(env: &TestEnv, dir: &str, text: &str) -> std::path::PathBuf {
    env.write(format!("{dir}/Containerfile"), text);
    let p = env.path(dir);
    env.give(&p);
    p
}

/// `coracle --storage-driver DRIVER build --pull=never ARGS CONTEXT`.
fn build(env: &TestEnv, driver: &str, args: &[&str], ctx: &std::path::Path) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver, "build", "--pull=never"])
        .args(args)
        .arg(ctx);
    c
}

/// What `sh -c SCRIPT` prints in a container of `image`.
fn run_in(env: &TestEnv, driver: &str, image: &str, script: &str) -> String {
    env.coracle()
        .args([
            "--storage-driver",
            driver,
            "run",
            "--rm",
            "--network",
            "none",
        ])
        .args([image, "sh", "-c", script])
        .ok()
        .stdout()
}

fn cache_hits(o: &crate::harness::cmd::Output) -> usize {
    o.stdout().matches("--> Using cache").count()
}

/// Symbolic modes change each copied entry's own mode as chmod(1) would (Podman 4.3 only
/// takes octal ones: `Error parsing chmod u+x`); a bad mode is an error naming its line and
/// column, before any step runs.
#[test]
fn copy_chmod_takes_symbolic_modes() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("chm/a.txt", "a\n");
        env.write("chm/d/e/f.txt", "f\n");
        let ctx = context(
            env,
            "chm",
            "FROM busybox\nCOPY --chmod=u+x,g-w,o=r a.txt /a\nCOPY --chmod=a+rX d /d\n\
             ARG M=go-rwx\nCOPY --chmod=$M a.txt /m\n",
        );
        std::fs::set_permissions(
            ctx.join("a.txt"),
            std::os::unix::fs::PermissionsExt::from_mode(0o664),
        )
        .unwrap();
        std::fs::set_permissions(
            ctx.join("d/e"),
            std::os::unix::fs::PermissionsExt::from_mode(0o700),
        )
        .unwrap();
        std::fs::set_permissions(
            ctx.join("d/e/f.txt"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .unwrap();
        for driver in DRIVERS {
            let tag = format!("localhost/chmod-{driver}");
            build(env, driver, &["-q", "-t", &tag], &ctx).ok();
            assert_eq!(
                run_in(env, driver, &tag, "stat -c '%n %a' /a /d/e /d/e/f.txt /m"),
                "/a 744\n/d/e 755\n/d/e/f.txt 644\n/m 600\n",
                "{driver}"
            );
        }
        let bad = context(
            env,
            "chmbad",
            "FROM busybox\nRUN true\nCOPY --chmod=u+q a /a\n",
        );
        let o = build(env, "vfs", &["-t", "localhost/chmbad"], &bad).fails(125);
        o.assert_error()
            .assert_stderr_contains("Containerfile:3:6: invalid --chmod \"u+q\"");
        assert!(!o.stdout().contains("STEP"), "{o}");
        // A variable's bad value: the error names the step.
        let bad = context(
            env,
            "chmbad2",
            "FROM busybox\nARG M=u+q\nCOPY --chmod=$M Containerfile /a\n",
        );
        build(env, "vfs", &["-t", "localhost/chmbad"], &bad)
            .fails(125)
            .assert_stderr_contains(
                "building at STEP \"COPY --chmod=$M Containerfile /a\": invalid --chmod \"u+q\"",
            );
    });
}

/// `COPY --parents` keeps each source's directories below the context or below `--from`'s
/// root (Podman 5's and BuildKit's flag; Podman 4.3 refuses it), `/./` marking where the kept
/// part starts.
#[test]
fn copy_parents_keeps_the_source_directories() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("par/x/a.txt", "xa\n");
        env.write("par/y/a.txt", "ya\n");
        env.write("par/x/sub/b", "b\n");
        let ctx = context(
            env,
            "par",
            "FROM busybox AS other\nRUN mkdir -p /made/deep && echo m > /made/deep/m\n\
             FROM busybox\nCOPY --parents */a.txt /p/\nCOPY --parents x/./sub /q/\n\
             COPY --from=other --parents /made/deep/m /r/\n",
        );
        for driver in DRIVERS {
            let tag = format!("localhost/parents-{driver}");
            build(env, driver, &["-q", "-t", &tag], &ctx).ok();
            assert_eq!(
                run_in(
                    env,
                    driver,
                    &tag,
                    "cd / && find p q r -type f | sort | xargs cat"
                ),
                "xa\nya\nb\nm\n",
                "{driver}"
            );
            assert_eq!(
                run_in(env, driver, &tag, "cd / && find p q r | sort"),
                "p\np/x\np/x/a.txt\np/y\np/y/a.txt\nq\nq/sub\nq/sub/b\nr\nr/made\nr/made/deep\nr/made/deep/m\n",
                "{driver}"
            );
        }
    });
}

/// `RUN --mount=type=bind`: `rw` lets the step write into a private copy of the bound path
/// (the context is untouched, nothing reaches the layer), `from=` binds a path of an
/// earlier stage or of an image. Without `rw` the bind is read-only. As Podman: a RUN's
/// cache key has the mount as written, not the bound files' content; coracle adds the
/// `from=` image, so a rebuilt stage misses.
#[test]
fn run_mount_bind_rw_and_from() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("bind/a.txt", "from the context\n");
        let ctx = context(
            env,
            "bind",
            "FROM busybox AS stage\nARG V=1\nRUN echo \"stage $V\" > /st && mkdir /dir && echo in > /dir/f\n\
             FROM busybox\n\
             RUN --mount=type=bind,target=/c,rw echo w > /c/new && echo changed > /c/a.txt && cat /c/new > /saw\n\
             RUN --mount=type=bind,from=stage,source=/st,target=/m cat /m >> /saw\n\
             RUN --mount=type=bind,from=stage,source=dir,target=/d,rw echo x > /d/g && ls /d >> /saw\n\
             RUN --mount=type=bind,from=busybox,target=/bb ls /bb/bin/sh >> /saw\n\
             RUN ls /c /m /d /bb 2>/dev/null | wc -l >> /saw\n",
        );
        for driver in DRIVERS {
            let tag = format!("localhost/bind-{driver}");
            build(env, driver, &["-t", &tag], &ctx).ok();
            assert_eq!(
                run_in(env, driver, &tag, "cat /saw"),
                "w\nstage 1\nf\ng\n/bb/bin/sh\n0\n",
                "{driver}"
            );
            assert_eq!(
                std::fs::read_to_string(ctx.join("a.txt")).unwrap(),
                "from the context\n"
            );
            assert!(!ctx.join("new").exists());
            // Unchanged: every step from the cache; the stage's ARG changed: the stage's
            // steps miss, and in the last stage the first RUN binding it and all after it.
            let again = build(env, driver, &["-t", &tag], &ctx).ok();
            assert_eq!(cache_hits(&again), 7, "{again}");
            // (The drivers share the cache: each its own value.)
            let v = format!("V={driver}");
            let changed = build(env, driver, &["--build-arg", &v, "-t", &tag], &ctx).ok();
            assert_eq!(cache_hits(&changed), 1, "{changed}");
            assert_eq!(
                run_in(env, driver, &tag, "sed -n 2p /saw"),
                format!("stage {driver}\n"),
                "{driver}"
            );
        }
        // Read-only without rw; a source outside the context is refused.
        let ro = context(
            env,
            "bindro",
            "FROM busybox\nRUN --mount=type=bind,target=/c touch /c/x\n",
        );
        let o = build(env, "vfs", &["-t", "localhost/bindro"], &ro).output();
        assert_eq!(o.code(), Some(1), "{o}");
        let out = context(
            env,
            "bindout",
            "FROM busybox\nRUN --mount=type=bind,source=../bind,target=/c true\n",
        );
        build(env, "vfs", &["-t", "localhost/bindout"], &out)
            .fails(125)
            .assert_stderr_contains("outside the build context");
        let missing = context(
            env,
            "bindmiss",
            "FROM busybox\nRUN --mount=type=bind,from=busybox,source=/nope,target=/c true\n",
        );
        build(env, "vfs", &["-t", "localhost/bindmiss"], &missing)
            .fails(125)
            .assert_stderr_contains("nope");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// The diff IDs of `image`.
fn layers(env: &TestEnv, image: &str) -> Vec<String> {
    let i = env.inspect(image);
    serde_json::from_value(i["RootFS"]["Layers"].clone()).expect("RootFS.Layers")
}

/// `COPY --link` / `ADD --link`: the layer is made without looking at the base (its parent
/// directories are entries of their own), so it is the same on any base; after the base
/// changed, the step reports the cache and the new image is the new base plus the same
/// layer. Podman 4.3 refuses `--link`.
#[test]
fn copy_link_layers_are_the_same_on_any_base() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("link/a.txt", "linked\n");
        let base = context(
            env,
            "linkbase",
            "FROM busybox\nARG B\nRUN echo \"$B\" > /base\n",
        );
        let ctx = context(
            env,
            "link",
            "FROM localhost/linkbase\nCOPY --link a.txt /x/y/a\nADD --link a.txt /z/\nRUN cat /base /x/y/a /z/a.txt > /all\n",
        );
        for driver in DRIVERS {
            let mut seen = Vec::new();
            for b in ["one", "two"] {
                let arg = format!("B={b}-{driver}");
                build(
                    env,
                    driver,
                    &["-q", "--build-arg", &arg, "-t", "localhost/linkbase"],
                    &base,
                )
                .ok();
                let tag = format!("localhost/link-{b}-{driver}");
                let o = build(env, driver, &["-t", &tag], &ctx).ok();
                assert_eq!(
                    run_in(env, driver, &tag, "cat /all"),
                    format!("{b}-{driver}\nlinked\nlinked\n"),
                );
                seen.push((o, layers(env, &tag)));
            }
            let (first, l1) = &seen[0];
            let (second, l2) = &seen[1];
            let n = l1.len();
            assert_eq!(l2.len(), n);
            assert_ne!(l1[n - 4], l2[n - 4], "the bases differ");
            assert_eq!(
                l1[n - 3..n - 1],
                l2[n - 3..n - 1],
                "the linked layers are the same"
            );
            // The drivers share the cache: the second driver's first build reuses the first's
            // linked layers on its own base.
            let expect = if driver == DRIVERS[0] { 0 } else { 2 };
            assert_eq!(cache_hits(first), expect, "{first}");
            // COPY and ADD from the cache (rebased), the RUN after them runs on the new base.
            assert_eq!(cache_hits(second), 2, "{second}");
        }
        // Without --link, the same COPY on another base is another layer whenever the base
        // decides a parent: here /x exists in one base only.
        let b1 = context(
            env,
            "nolink1",
            "FROM busybox\nRUN mkdir -m 700 /x\nCOPY a.txt /x/a\n",
        );
        env.write("nolink1/a.txt", "a\n");
        let b2 = context(env, "nolink2", "FROM busybox\nRUN true\nCOPY a.txt /x/a\n");
        env.write("nolink2/a.txt", "a\n");
        build(env, "vfs", &["-q", "-t", "localhost/nolink1"], &b1).ok();
        build(env, "vfs", &["-q", "-t", "localhost/nolink2"], &b2).ok();
        let (l1, l2) = (
            layers(env, "localhost/nolink1"),
            layers(env, "localhost/nolink2"),
        );
        assert_ne!(l1.last(), l2.last());
    });
}

/// `ADD <git repository> <dest>`: cloned at the `#ref` (a branch here), `.git` left out
/// unless `--keep-git-dir=true`; the same commit gives the same layer (a rebuild hits the
/// cache), a new commit on the ref misses; a repository that is not there names its URL.
#[test]
fn add_of_a_git_repository() {
    use crate::build_context::{HttpServer, git};
    for_each_user(|env| {
        env.load_image(busybox());
        let work = env.mkdir("work");
        env.write("work/a.txt", "main\n");
        env.write("work/sub/b.txt", "b\n");
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["add", "-A"]);
        git(&work, &["commit", "-qm", "one"]);
        git(&work, &["checkout", "-q", "-b", "feature"]);
        env.write("work/a.txt", "feature\n");
        git(&work, &["commit", "-qam", "two"]);
        env.mkdir("www");
        // Published with `main` as the default branch.
        let publish = |env: &TestEnv| {
            git(&env.path("work"), &["checkout", "-q", "main"]);
            let _ = std::fs::remove_dir_all(env.path("www/repo.git"));
            git(
                env.dir(),
                &["clone", "-q", "--bare", "work", "www/repo.git"],
            );
            git(&env.path("www/repo.git"), &["update-server-info"]);
        };
        publish(env);
        let server = HttpServer::start(&env.path("www"));
        let repo = server.url("repo.git");
        let ctx = context(
            env,
            "addgit",
            &format!(
                "FROM busybox\nADD {repo}#feature /src/\nADD --keep-git-dir=true {repo} /kept\n"
            ),
        );
        for driver in DRIVERS {
            let tag = format!("localhost/addgit-{driver}");
            build(env, driver, &["-q", "-t", &tag], &ctx).ok();
            assert_eq!(
                run_in(
                    env,
                    driver,
                    &tag,
                    "cat /src/a.txt /src/sub/b.txt /kept/a.txt; ls -A /src; test -d /kept/.git && echo git"
                ),
                "feature\nb\nmain\na.txt\nsub\ngit\n",
                "{driver}"
            );
        }
        let again = build(env, "vfs", &["-t", "localhost/addgit-again"], &ctx).ok();
        // The same commit: the first ADD comes from the cache (a kept `.git` differs per
        // clone, so the second runs again).
        let out = again.stdout();
        let after_step2 = out.split("STEP 2/3").nth(1).unwrap_or_default();
        assert!(
            after_step2
                .lines()
                .nth(1)
                .unwrap_or_default()
                .starts_with("--> Using cache"),
            "{again}"
        );
        // A new commit on the ref: the ADD runs again and has it.
        git(&work, &["checkout", "-q", "feature"]);
        env.write("work/a.txt", "feature 2\n");
        git(&work, &["commit", "-qam", "three"]);
        publish(env);
        build(env, "vfs", &["-q", "-t", "localhost/addgit-new"], &ctx).ok();
        assert_eq!(
            run_in(env, "vfs", "localhost/addgit-new", "cat /src/a.txt"),
            "feature 2\n"
        );
        let bad = context(
            env,
            "addgitbad",
            &format!("FROM busybox\nADD {} /x/\n", server.url("nothere.git")),
        );
        build(env, "vfs", &["-t", "localhost/addgitbad"], &bad)
            .fails(125)
            .assert_error()
            .assert_stderr_contains("nothere.git");
    });
}

/// STEP N/M with ONBUILD triggers, as Podman 4.3 prints them (seen with `podman build`
/// here): the FROM line counts the stage's own instructions, the lines after it count the
/// triggers too (`STEP 1/2: FROM base`, then `STEP 2/4: RUN <trigger>` ... `STEP 4/4`).
#[test]
fn onbuild_triggers_are_counted_as_podman_counts_them() {
    crate::harness::for_users(&[crate::harness::User::Sub], |env| {
        env.load_image(busybox());
        let base = context(
            env,
            "obbase",
            "FROM busybox\nONBUILD RUN echo trig\nONBUILD RUN echo trig2\n",
        );
        build(
            env,
            "vfs",
            &["--format", "docker", "-t", "localhost/obbase"],
            &base,
        )
        .ok();
        let child = context(env, "obchild", "FROM localhost/obbase\nRUN echo after\n");
        let o = build(env, "vfs", &["-t", "localhost/obchild"], &child).ok();
        let steps: Vec<String> = o
            .stdout()
            .lines()
            .filter(|l| l.starts_with("STEP "))
            .map(String::from)
            .collect();
        assert_eq!(
            steps,
            [
                "STEP 1/2: FROM localhost/obbase",
                "STEP 2/4: RUN echo trig",
                "STEP 3/4: RUN echo trig2",
                "STEP 4/4: RUN echo after",
            ],
            "{o}"
        );
    });
}
