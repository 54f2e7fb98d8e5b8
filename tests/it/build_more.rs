//! `build`: ONBUILD triggers of a base image run in the child build, `--squash` (the build's
//! new layers as one, on the base's) and `--squash-all` (one layer in all).

use crate::harness::images::busybox;
use crate::harness::store::rootfs_layers;
use crate::harness::{TestEnv, User, for_users};

/// Writes `text` as the Containerfile of the context directory `dir`; returns it.
fn context(env: &TestEnv, dir: &str, text: &str) -> std::path::PathBuf {
    env.write(format!("{dir}/Containerfile"), text);
    let p = env.path(dir);
    env.give(&p);
    p
}

fn run_in(env: &TestEnv, image: &str, script: &str) -> String {
    env.coracle()
        .args([
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "sh",
            "-c",
            script,
        ])
        .ok()
        .stdout()
}

#[test]
fn onbuild_triggers_run_after_the_childs_from() {
    for_users(&[User::Sub], |env| {
        env.load_image(busybox());
        let base = context(
            env,
            "base",
            "FROM busybox\nONBUILD RUN echo triggered > /t\nONBUILD ENV T=1\n",
        );
        env.coracle()
            .args([
                "build",
                "--pull=never",
                "--format",
                "docker",
                "-t",
                "base:1",
            ])
            .arg(&base)
            .ok();
        let i = env.inspect("localhost/base:1");
        assert_eq!(
            i["Config"]["OnBuild"],
            serde_json::json!(["RUN echo triggered > /t", "ENV T=1"]),
            "{i}"
        );
        let child = context(env, "child", "FROM base:1\nRUN echo \"$T\" > /child\n");
        let o = env
            .coracle()
            .args([
                "build",
                "--pull=never",
                "--format",
                "docker",
                "-t",
                "child:1",
            ])
            .arg(&child)
            .ok();
        let out = o.stdout();
        assert!(out.contains("STEP 2/4: RUN echo triggered > /t\n"), "{o}");
        assert!(out.contains("STEP 3/4: ENV T=1\n"), "{o}");
        assert!(out.contains("STEP 4/4: RUN echo \"$T\" > /child\n"), "{o}");
        assert_eq!(
            run_in(env, "localhost/child:1", "cat /t /child"),
            "triggered\n1\n"
        );
        // The child does not pass the triggers on.
        let i = env.inspect("localhost/child:1");
        assert!(
            i["Config"]["OnBuild"].is_null()
                || i["Config"]["OnBuild"]
                    .as_array()
                    .is_some_and(|a| a.is_empty()),
            "{i}"
        );
        let _ = rootfs_layers;
    });
}

const SQUASH: &str = "FROM busybox\n\
                      RUN echo a > /a && rm /bin/ls\n\
                      RUN echo b > /b\n\
                      RUN rm /a\n\
                      ENV X=1\n";

const CHECK: &str = "cat /b; test -e /a || echo no-a; test -e /bin/ls || echo no-ls; echo $X";

#[test]
fn squash_makes_the_new_layers_one_and_squash_all_everything() {
    for_users(&[User::Sub], |env| {
        env.load_image(busybox());
        let ctx = context(env, "sq", SQUASH);
        let base = busybox().diff_ids().len();
        let base_history = env.ok(&["history", "-q", "busybox"]).lines().count();
        for (flag, tag, layers) in [
            ("--squash", "sq:1", base + 1),
            ("--squash-all", "sq:all", 1),
        ] {
            let o = env
                .coracle()
                .args(["build", "--pull=never", flag, "-t", tag])
                .arg(&ctx)
                .ok();
            let id = o.stdout().lines().last().unwrap_or_default().to_string();
            let name = format!("localhost/{tag}");
            let i = env.inspect(&name);
            assert_eq!(i["Id"], id.as_str(), "{o}");
            assert_eq!(rootfs_layers(&i).len(), layers, "{flag}: {i}");
            assert_eq!(run_in(env, &name, CHECK), "b\nno-a\nno-ls\n1\n", "{flag}");
            // One history line per instruction still, one of them with the new layer.
            let h = env.ok(&["history", "-q", &name]).lines().count();
            assert_eq!(h, base_history + 4, "{flag}");
            let non_empty = i["History"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|e| e.get("empty_layer").is_none())
                .count();
            assert_eq!(non_empty, layers, "{flag}: {i}");
        }
        // No unsquashed image is left behind.
        let all = env.ok(&["images", "-a", "-q"]).lines().count();
        assert_eq!(all, 3, "{}", env.listing());
    });
}

/// SIGINT or SIGTERM while a RUN runs: the RUN's container is killed and removed, the build
/// exits 128 + the signal, no image is tagged, no container, mount or staging entry is left,
/// and the next build works.
#[test]
fn a_signal_during_run_stops_the_build_cleanly() {
    use std::time::{Duration, Instant};
    crate::harness::for_each_user(|env| {
        env.load_image(busybox());
        let ctx = context(env, "sig", "FROM busybox\nRUN touch /started && sleep 60\n");
        for (sig, name) in [(2, "INT"), (15, "TERM")] {
            let mut c = env.coracle();
            c.args(["--storage-driver", "overlay", "build", "-t", "interrupted"])
                .arg(&ctx);
            let mut child = c
                .command()
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("starting the build");
            let start = Instant::now();
            while !env
                .ok(&["ps", "-a", "--format", "{{.Names}}"])
                .contains("coracle-build-")
            {
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "no RUN container"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
            let sent = std::process::Command::new("kill")
                .args([&format!("-{name}"), &child.id().to_string()])
                .status()
                .expect("kill");
            assert!(sent.success());
            let start = Instant::now();
            let status = loop {
                if let Some(s) = child.try_wait().expect("waiting for the build") {
                    break s;
                }
                assert!(
                    start.elapsed() < Duration::from_secs(30),
                    "SIG{name}: the build did not end"
                );
                std::thread::sleep(Duration::from_millis(100));
            };
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut err)
                .expect("reading stderr");
            assert_eq!(status.code(), Some(128 + sig), "SIG{name}: {err}");
            assert!(err.contains("interrupted by signal"), "SIG{name}: {err}");
            assert_eq!(env.ok(&["ps", "-a", "-q"]), "", "SIG{name}");
            assert_eq!(env.container_leftovers(), Vec::<String>::new(), "SIG{name}");
            let o = env
                .coracle()
                .args(["image", "exists", "interrupted"])
                .output();
            assert_eq!(o.code(), Some(1), "SIG{name}: {o}");
            let mounts = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
            assert!(
                !mounts.contains(env.dir().to_string_lossy().as_ref()),
                "SIG{name}: a mount is left: {mounts}"
            );
        }
        // The store is fine for the next build.
        let ok = context(env, "after", "FROM busybox\nRUN echo after > /a\n");
        env.coracle()
            .args(["--storage-driver", "overlay", "build", "-q", "-t", "after"])
            .arg(&ok)
            .ok();
        assert_eq!(run_in(env, "after", "cat /a"), "after\n");
    });
}

#[test]
fn from_platform_chooses_the_stage_platform() {
    for_users(&[User::NoSub], |env| {
        env.load_image(busybox());
        // An ARG before FROM and the predefined BUILDPLATFORM expand in --platform.
        let ctx = context(
            env,
            "plat",
            "ARG P=linux/arm64\nFROM --platform=$P scratch AS other\nCOPY Containerfile /\n\
             FROM --platform=$BUILDPLATFORM busybox\nRUN true\n",
        );
        env.coracle()
            .args([
                "build",
                "--pull=never",
                "--target",
                "other",
                "-t",
                "localhost/plat:arm",
            ])
            .arg(&ctx)
            .ok();
        let i = env.inspect("localhost/plat:arm");
        assert_eq!(i["Architecture"], "arm64", "{i}");
        assert_eq!(i["Os"], "linux", "{i}");
        env.coracle()
            .args(["build", "--pull=never", "-t", "localhost/plat:host"])
            .arg(&ctx)
            .ok();
        env.coracle()
            .args(["image", "exists", "localhost/plat:host"])
            .ok();
    });
}
