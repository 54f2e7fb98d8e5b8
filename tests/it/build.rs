//! `build`: images from a Containerfile — one image per step with one history line per
//! instruction, RUN in a container of the step's image (overlay; vfs gives the same tree), the
//! layer cache (hits when nothing changed, misses from the first changed step on), multi-stage
//! builds and `--target`, `--timestamp` reproducibility, `-q`/`--iidfile`, and images Podman loads.

use std::fs;

use crate::harness::images::busybox;
use crate::harness::store::{rootfs_layers, strings};
use crate::harness::tools::{podman, require};
use crate::harness::{TestEnv, as_root, for_each_user};

/// Writes `text` as the Containerfile of the context directory `dir`; returns the directory.
fn context(env: &TestEnv, dir: &str, text: &str) -> String {
    env.write(format!("{dir}/Containerfile"), text);
    env.give(&env.path(dir));
    env.path(dir).to_string_lossy().into_owned()
}

/// `coracle --storage-driver overlay build ARGS`.
fn build(env: &TestEnv, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", "overlay", "build"]).args(args);
    c
}

fn last_line(text: &str) -> String {
    text.lines().last().unwrap_or_default().to_string()
}

const APP: &str = "FROM busybox\n\
                   ENV A=1\n\
                   ARG V=default\n\
                   RUN echo \"built $A $V\" && echo $V > /v\n\
                   WORKDIR /app\n\
                   LABEL org.example.k=v\n\
                   CMD [\"cat\", \"/v\"]\n";

#[test]
fn build_makes_one_history_line_per_instruction() {
    for_each_user(|env| {
        env.load_image(busybox());
        let ctx = context(env, "app", APP);
        let o = build(env, &["-t", "app:1", &ctx]).ok();
        let out = o.stdout();
        let id = last_line(&out);
        assert_eq!(id.len(), 64, "{o}");
        for (n, line) in [
            "STEP 1/7: FROM busybox",
            "STEP 2/7: ENV A=1",
            "STEP 4/7: RUN echo \"built $A $V\" && echo $V > /v",
            "STEP 7/7: CMD [\"cat\", \"/v\"]",
            "COMMIT app:1",
            "Successfully tagged localhost/app:1",
        ]
        .iter()
        .enumerate()
        {
            assert!(out.lines().any(|l| l == *line), "{n}: {line:?} in {o}");
        }
        assert!(out.contains("\nbuilt 1 default\n"), "the RUN's output: {o}");
        assert!(out.contains(&format!("--> {}\n", &id[..12])), "{o}");

        let i = env.inspect("localhost/app:1");
        assert_eq!(i["Id"], id.as_str());
        assert_eq!(rootfs_layers(&i).len(), busybox().diff_ids().len() + 1);
        assert_eq!(i["Config"]["WorkingDir"], "/app");
        assert_eq!(i["Config"]["Labels"]["org.example.k"], "v");
        assert!(strings(&i["Config"]["Env"]).contains(&"A=1".to_string()));
        let h = env.ok(&[
            "history",
            "--no-trunc",
            "--format",
            "{{.CreatedBy}}",
            "localhost/app:1",
        ]);
        let lines: Vec<&str> = h.lines().collect();
        let base = env.ok(&["history", "-q", "busybox"]).lines().count();
        assert_eq!(lines.len(), base + 6, "{h}");
        assert_eq!(lines[0], "/bin/sh -c #(nop) CMD [\"cat\",\"/v\"]", "{h}");
        assert_eq!(lines[1], "/bin/sh -c #(nop) LABEL org.example.k=v", "{h}");
        assert_eq!(lines[2], "/bin/sh -c #(nop) WORKDIR /app", "{h}");
        assert_eq!(
            lines[3], "|1 V=default /bin/sh -c echo \"built $A $V\" && echo $V > /v",
            "{h}"
        );
        assert_eq!(lines[4], "/bin/sh -c #(nop) ARG V=default", "{h}");
        assert_eq!(lines[5], "/bin/sh -c #(nop) ENV A=1", "{h}");

        // The intermediate images are hidden, as Podman hides them.
        let listing = env.ok(&["images", "--format", "{{.Repository}}"]);
        assert_eq!(listing.lines().count(), 2, "{listing}");
        assert!(env.ok(&["images", "-a", "-q"]).lines().count() > 2);
        // The image runs; no build container is left.
        let run = env
            .coracle()
            .args([
                "--storage-driver",
                "overlay",
                "run",
                "--rm",
                "localhost/app:1",
            ])
            .ok();
        assert_eq!(run.stdout(), "default\n", "{run}");
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
        assert_eq!(env.store_tmp_entries(), Vec::<String>::new());
    });
}

#[test]
fn a_failing_run_fails_the_build_with_its_status() {
    for_each_user(|env| {
        env.load_image(busybox());
        let ctx = context(
            env,
            "fail",
            "FROM busybox\nRUN echo before\nRUN echo failing; exit 3\nRUN echo never\n",
        );
        let o = build(env, &["-t", "broken", &ctx]).fails(3);
        assert!(o.stdout().contains("failing\n"), "{o}");
        assert!(!o.stdout().contains("never"), "{o}");
        o.assert_stderr_contains(
            "Error: building at STEP \"RUN echo failing; exit 3\": while running runtime: exit status 3; its last output:\n  failing\n",
        );
        // Also when -q kept the command's output off the terminal.
        let o = build(env, &["-q", "-t", "broken", &ctx]).fails(3);
        assert!(!o.stdout().contains("failing"), "{o}");
        o.assert_stderr_contains("exit status 3; its last output:\n  failing\n");
        assert!(!env.listing().contains("broken"), "{}", env.listing());
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn the_cache_hits_unchanged_steps_and_misses_from_the_first_change() {
    as_root(|env| {
        env.load_image(busybox());
        let ctx = context(env, "c", APP);
        let first = last_line(&build(env, &[&ctx]).stdout());
        // Unchanged: every step hits, the same image.
        let o = build(env, &[&ctx]).ok();
        assert_eq!(o.stdout().matches("--> Using cache ").count(), 6, "{o}");
        assert!(!o.stdout().contains("built 1"), "the RUN ran again: {o}");
        assert_eq!(last_line(&o.stdout()), first);
        // A changed build arg misses at its ARG and every step after it.
        let o = build(env, &["--build-arg", "V=2", &ctx]).ok();
        assert_eq!(o.stdout().matches("--> Using cache ").count(), 1, "{o}");
        assert!(o.stdout().contains("built 1 2\n"), "{o}");
        let second = last_line(&o.stdout());
        assert_ne!(second, first);
        // ... and is cached itself.
        let o = build(env, &["--build-arg", "V=2", &ctx]).ok();
        assert_eq!(o.stdout().matches("--> Using cache ").count(), 6, "{o}");
        assert_eq!(last_line(&o.stdout()), second);
        // A changed instruction misses, and so does every step after it.
        context(env, "c", &APP.replace("WORKDIR /app", "WORKDIR /other"));
        let o = build(env, &[&ctx]).ok();
        assert_eq!(o.stdout().matches("--> Using cache ").count(), 3, "{o}");
        // --no-cache runs everything.
        let o = build(env, &["--no-cache", &ctx]).ok();
        assert_eq!(o.stdout().matches("--> Using cache").count(), 0, "{o}");
        assert!(o.stdout().contains("built 1 default\n"), "{o}");
        // An unused build arg is warned about, as Podman does.
        let o = build(env, &["--build-arg", "NOPE=1", &ctx]).ok();
        o.assert_stderr_contains("[Warning] one or more build args were not consumed: [NOPE]");
    });
}

#[test]
fn multi_stage_builds_and_target() {
    as_root(|env| {
        env.load_image(busybox());
        let ctx = context(
            env,
            "ms",
            "ARG BASE=busybox\n\
             FROM $BASE AS first\n\
             RUN echo one > /one\n\
             FROM first AS second\n\
             RUN echo two > /two\n\
             FROM busybox AS unrelated\n\
             RUN echo never\n\
             FROM second\n\
             ENV DONE=1\n",
        );
        let o = build(env, &["-t", "ms:all", &ctx]).ok();
        let out = o.stdout();
        assert!(out.contains("[1/3] STEP 1/2: FROM $BASE AS first\n"), "{o}");
        assert!(out.contains("[3/3] STEP 2/2: ENV DONE=1\n"), "{o}");
        assert!(!out.contains("never"), "an unneeded stage was built: {o}");
        let run = |image: &str, cmd: &str| {
            env.coracle()
                .args([
                    "--storage-driver",
                    "overlay",
                    "run",
                    "--rm",
                    image,
                    "sh",
                    "-c",
                    cmd,
                ])
                .stdout()
        };
        assert_eq!(run("ms:all", "cat /one /two; echo $DONE"), "one\ntwo\n1\n");
        let o = build(env, &["--target", "first", "-t", "ms:first", &ctx]).ok();
        assert!(!o.stdout().contains("STEP 2/2: RUN echo two"), "{o}");
        assert_eq!(
            run("ms:first", "cat /one; test -e /two || echo no"),
            "one\nno\n"
        );
        build(env, &["--target", "nosuch", &ctx])
            .fails(125)
            .assert_stderr_contains("nosuch");
    });
}

#[test]
fn timestamp_builds_are_reproducible() {
    as_root(|env| {
        env.load_image(busybox());
        let ctx = context(env, "ts", APP);
        let ids: Vec<String> = ["one", "two"]
            .iter()
            .map(|store| {
                let mut c = env.coracle_at(store);
                c.args(["load", "-i"])
                    .arg(env.docker_archive("bb.tar", busybox()))
                    .ok();
                let mut c = env.coracle_at(store);
                let o = c
                    .args([
                        "--storage-driver",
                        "overlay",
                        "build",
                        "-q",
                        "--timestamp",
                        "1000000000",
                        &ctx,
                    ])
                    .ok();
                o.stdout().trim().to_string()
            })
            .collect();
        assert_eq!(ids[0].len(), 64, "{ids:?}");
        assert_eq!(ids[0], ids[1]);
        let mut c = env.coracle_at("one");
        let created = c
            .args(["inspect", "--format", "{{.Created}}", &ids[0]])
            .stdout();
        assert!(created.starts_with("2001-09-09"), "{created}");
    });
}

#[test]
fn quiet_prints_only_the_id_and_iidfile_gets_it() {
    for_each_user(|env| {
        env.load_image(busybox());
        let ctx = context(env, "q", "FROM busybox\nENV X=1\nLABEL a=b\n");
        let iid = env.path("iid");
        // Config-only steps need no container: the vfs driver builds them too.
        for driver in ["vfs", "overlay"] {
            let o = env
                .coracle()
                .args(["--storage-driver", driver, "build", "-q", "--iidfile"])
                .arg(&iid)
                .args(["-t", "q", &ctx])
                .ok();
            let id = o.stdout().trim().to_string();
            assert_eq!(o.stdout(), format!("{id}\n"), "{o}");
            assert_eq!(id.len(), 64);
            assert_eq!(fs::read_to_string(&iid).unwrap(), format!("sha256:{id}"));
        }
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    });
}

/// RUN on the vfs driver (the copied root compared with the image's layers) gives the image
/// the overlay driver gives: the same changes per layer, the same file tree.
#[test]
fn run_on_vfs_builds_the_overlay_tree() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.write("tree/f", "copied\n");
        let ctx = context(
            env,
            "tree",
            "FROM busybox\n\
             RUN echo a > /a && rm /etc/group && mkdir -p /x/y/z && ln -s /a /x/l && touch /x/y/z/f \\\n\
             && sleep 1\n\
             COPY f /f\n\
             ENV E=1\n\
             RUN chmod 600 /a && rm -r /x/y && rm -r /usr && mkdir /usr && echo $E > /usr/e\n",
        );
        // The runtime's generated files differ per container.
        let list = "busybox find / -xdev -path /proc -prune -o -path /sys -prune -o -path /dev -prune \
                    -o -print | sort | grep -v -e ^/etc/host -e ^/etc/resolv \
                    | xargs stat -c '%n %F %a %u:%g %s'";
        let mut seen = Vec::new();
        for driver in ["overlay", "vfs"] {
            let tag = format!("tree-{driver}");
            env.coracle()
                .args(["--storage-driver", driver, "build", "--no-cache", "-q"])
                .args(["-t", &tag, &ctx])
                .ok();
            let i = env.inspect(&format!("localhost/{tag}:latest"));
            assert_eq!(
                rootfs_layers(&i).len(),
                busybox().diff_ids().len() + 3,
                "{driver}"
            );
            let diff = env.ok(&["diff", &tag]);
            let tree = env
                .coracle()
                .args(["run", "--rm", &tag, "sh", "-c", list])
                .ok()
                .stdout();
            assert!(
                tree.contains("/usr/e regular file 644 0:0 2\n"),
                "{driver}: {tree}"
            );
            seen.push((diff, tree));
        }
        // `/etc`: the runtime's mount targets made in it (a second after the first RUN's).
        assert_eq!(seen[0].0, "C /a\nC /etc\nD /usr\nA /usr/e\nC /x\nD /x/y\n");
        assert_eq!(seen[1], seen[0]);
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    });
}

#[test]
fn podman_loads_a_built_image() {
    as_root(|env| {
        env.load_image(busybox());
        let ctx = context(
            env,
            "p",
            "FROM busybox\nRUN echo from-build > /note\nHEALTHCHECK CMD true\nCMD [\"cat\", \"/note\"]\n",
        );
        let o = build(env, &["--format", "docker", "-t", "pb", &ctx]).ok();
        let id = last_line(&o.stdout());
        let i = env.inspect("localhost/pb:latest");
        assert_eq!(
            i["Config"]["Healthcheck"]["Test"],
            serde_json::json!(["CMD-SHELL", "true"])
        );
        // The OCI format drops HEALTHCHECK with Podman's warning.
        build(env, &["-t", "pb-oci", &ctx])
            .ok()
            .assert_stderr_contains("HEALTHCHECK is not supported for OCI image format");
        let archive = env.path("pb.tar");
        env.coracle()
            .args(["save", "-o"])
            .arg(&archive)
            .arg("pb")
            .ok();
        if let Some(skopeo) = require(env, "skopeo") {
            let o = crate::harness::Cmd::new(&skopeo, "root")
                .args(["inspect", "--config"])
                .arg(format!("docker-archive:{}", archive.display()))
                .ok();
            assert_eq!(
                o.json()["config"]["Cmd"],
                serde_json::json!(["cat", "/note"]),
                "{o}"
            );
        }
        let Some(bin) = require(env, "podman") else {
            return;
        };
        podman(env, &bin).arg("load").arg("-i").arg(&archive).ok();
        let i = podman(env, &bin)
            .args(["image", "inspect", &id])
            .ok()
            .json();
        assert_eq!(i[0]["Id"], id.as_str());
        assert_eq!(
            i[0]["Config"]["Cmd"],
            serde_json::json!(["cat", "/note"]),
            "{i:#}"
        );
        assert_eq!(i[0]["RootFS"]["Layers"].as_array().map(Vec::len), Some(2));
        podman(env, &bin).args(["rmi", "-f", &id]).ok();
    });
}

#[test]
fn run_mounts_secrets_and_caches_stay_out_of_the_image() {
    for_each_user(|env| {
        env.load_image(busybox());
        let secret = env.write("token", "s3cret\n");
        env.give(&secret);
        let ctx = context(
            env,
            "m",
            "FROM busybox\n\
             RUN --mount=type=secret,id=tok cat /run/secrets/tok\n\
             RUN --mount=type=cache,target=/cache echo x >> /cache/f && echo \"runs: $(wc -l < /cache/f)\"\n\
             RUN --mount=type=tmpfs,target=/scratch touch /scratch/gone\n",
        );
        let src = format!("id=tok,src={}", secret.display());
        let o = build(env, &["--secret", &src, "-t", "m", &ctx]).ok();
        assert!(o.stdout().contains("s3cret\n"), "{o}");
        assert!(o.stdout().contains("runs: 1\n"), "{o}");
        let o = build(env, &["--no-cache", "--secret", &src, "-t", "m", &ctx]).ok();
        assert!(
            o.stdout().contains("runs: 2\n"),
            "the cache mount is kept: {o}"
        );
        let check = env
            .coracle()
            .args([
                "--storage-driver",
                "overlay",
                "run",
                "--rm",
                "m",
                "sh",
                "-c",
            ])
            .arg("ls -A /run/secrets /cache /scratch 2>/dev/null; echo end")
            .ok();
        assert_eq!(check.stdout(), "end\n", "{check}");
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    });
}
