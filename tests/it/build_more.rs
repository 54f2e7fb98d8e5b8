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
