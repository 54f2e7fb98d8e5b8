//! `-u user[:group]` resolved with the image's `/etc/passwd` and `/etc/group`, supplementary
//! groups (the kernel's `Groups:` of the process), `--group-add`, and Podman's messages for an
//! unknown user or group.

use crate::harness::images::{busybox, derived};
use crate::harness::{TestEnv, User, for_each_user};

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000:web:/home/web:/bin/sh\n";
const GROUP: &str = "root:x:0:\nweb:x:1000:\naudio:x:29:web,other\nstaff:x:50:web\nextra:x:60:\n";

fn load(env: &TestEnv) {
    env.load_image(busybox());
    env.load_image(&derived(
        "users:latest",
        &[("etc/passwd", PASSWD), ("etc/group", GROUP)],
        serde_json::json!({}),
    ));
}

fn run(env: &TestEnv, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["run", "--rm"]).args(args);
    c
}

/// The process's uid, gid and sorted supplementary groups with `flags`.
fn ids(env: &TestEnv, flags: &[&str]) -> (String, String, Vec<u32>) {
    let mut args = flags.to_vec();
    args.extend([
        "users:latest",
        "sh",
        "-c",
        "id -u; id -g; grep ^Groups: /proc/self/status",
    ]);
    let out = run(env, &args).stdout();
    let lines: Vec<&str> = out.lines().collect();
    let mut groups: Vec<u32> = lines[2]
        .split_whitespace()
        .skip(1)
        .map(|g| g.parse().unwrap())
        .collect();
    groups.sort();
    (lines[0].into(), lines[1].into(), groups)
}

#[test]
fn users_get_their_supplementary_groups() {
    for_each_user(|env| {
        if env.user == User::NoSub {
            // Only root exists in that user's containers.
            return;
        }
        load(env);
        assert_eq!(
            ids(env, &["-u", "web"]),
            ("1000".into(), "1000".into(), vec![29, 50, 1000])
        );
        // An explicit group replaces the supplementary groups, as in Podman.
        assert_eq!(
            ids(env, &["-u", "web:staff"]),
            ("1000".into(), "50".into(), vec![50])
        );
        assert_eq!(
            ids(
                env,
                &["-u", "web", "--group-add", "extra", "--group-add", "4242"]
            ),
            ("1000".into(), "1000".into(), vec![29, 50, 60, 1000, 4242])
        );
        assert_eq!(ids(env, &[]), ("0".into(), "0".into(), vec![0]));
        assert_eq!(ids(env, &["--group-add", "audio"]).2, vec![0, 29]);
        run(env, &["--group-add", "keep-groups", "users:latest", "true"]).ok();
    });
}

#[test]
fn unknown_users_and_groups_are_podmans_errors() {
    for_each_user(|env| {
        load(env);
        run(env, &["-u", "nosuch", "users:latest", "true"])
            .fails(125)
            .assert_stderr_contains(
                "unable to find user nosuch: no matching entries in passwd file",
            );
        run(env, &["-u", "web:nogrp", "users:latest", "true"])
            .fails(125)
            .assert_stderr_contains(
                "unable to find group nogrp: no matching entries in group file",
            );
        run(env, &["--group-add", "nogrp", "users:latest", "true"])
            .fails(125)
            .assert_stderr_contains(
                "unable to find group nogrp: no matching entries in group file",
            );
        run(
            env,
            &[
                "--group-add",
                "keep-groups",
                "--group-add",
                "audio",
                "users:latest",
                "true",
            ],
        )
        .fails(125)
        .assert_stderr_contains("not allowed with any other --group-add");
        if env.user == User::NoSub {
            run(env, &["--group-add", "29", "users:latest", "true"])
                .fails(125)
                .assert_stderr_contains("group 29 is not mapped");
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
