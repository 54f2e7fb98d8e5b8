//! `--userns` (`keep-id[:uid=,gid=]`, `host`) and `--uidmap`/`--gidmap`: the maps the
//! container gets, who its process is, and what owners its files show, on both drivers.

use crate::harness::images::busybox;
use crate::harness::{TestEnv, User, for_each_user};

const DRIVERS: [&str; 2] = ["vfs", "overlay"];

fn run(env: &TestEnv, driver: &str, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver, "run", "--rm"])
        .args(args);
    c
}

fn sh(env: &TestEnv, driver: &str, flags: &[&str], script: &str) -> String {
    let mut args = flags.to_vec();
    args.extend(["busybox", "sh", "-c", script]);
    run(env, driver, &args).stdout()
}

/// `/proc/self/uid_map` as (container, host, size) triples.
fn map_of(text: &str) -> Vec<[u64; 3]> {
    text.lines()
        .map(|l| {
            let v: Vec<u64> = l.split_whitespace().map(|n| n.parse().unwrap()).collect();
            [v[0], v[1], v[2]]
        })
        .collect()
}

#[test]
fn keep_id_keeps_the_users_ids_and_root_owned_files() {
    for_each_user(|env| {
        env.load_image(busybox());
        if env.user == User::Root {
            run(env, "vfs", &["--userns=keep-id", "busybox", "true"])
                .fails(125)
                .assert_stderr_contains("keep-id is only supported in rootless mode");
            return;
        }
        if env.user == User::NoSub {
            run(env, "vfs", &["--userns=keep-id", "busybox", "true"])
                .fails(125)
                .assert_stderr_contains("must map container id 0");
            return;
        }
        let (uid, gid) = (env.account.uid, env.account.gid);
        for driver in DRIVERS {
            let out = sh(
                env,
                driver,
                &["--userns=keep-id"],
                "id -u; id -g; touch /tmp/f; stat -c '%u %g' /tmp/f; \
                 stat -c '%u %g' /etc/passwd",
            );
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines[0], uid.to_string(), "{driver}");
            assert_eq!(lines[1], gid.to_string(), "{driver}");
            assert_eq!(lines[2], format!("{uid} {gid}"), "{driver}");
            {
                // Files of the image's root are still root's.
                assert_eq!(lines[3], "0 0", "{driver}");
                let m = map_of(&sh(
                    env,
                    driver,
                    &["--userns=keep-id"],
                    "cat /proc/self/uid_map",
                ));
                assert_eq!(m[0], [0, 165536, u64::from(uid)], "{driver}");
                assert_eq!(m[1], [u64::from(uid), u64::from(uid), 1], "{driver}");
                assert_eq!(m[2][0], u64::from(uid) + 1, "{driver}");
                assert_eq!(m.iter().map(|e| e[2]).sum::<u64>(), 65537, "{driver}");
            }
        }
        let out = sh(
            env,
            "vfs",
            &["--userns=keep-id:uid=200,gid=300"],
            "id -u; id -g",
        );
        assert_eq!(out, "200\n300\n");
        // -u wins over keep-id's default user.
        if env.user == User::Sub {
            assert_eq!(
                sh(env, "vfs", &["--userns=keep-id", "-u", "0"], "id -u"),
                "0\n"
            );
        }
    });
}

#[test]
fn uidmap_and_gidmap_are_relative_to_the_users_namespace() {
    for_each_user(|env| {
        env.load_image(busybox());
        match env.user {
            User::Sub => {
                let flags = [
                    "--uidmap", "0:1:1000", "--uidmap", "1000:0:1", "--gidmap", "0:1:2000",
                    "--gidmap", "2000:0:1",
                ];
                for driver in DRIVERS {
                    let out = sh(
                        env,
                        driver,
                        &flags,
                        "cat /proc/self/uid_map; echo; cat /proc/self/gid_map; echo; id -u; \
                         stat -c '%u %g' /etc/passwd",
                    );
                    let parts: Vec<&str> = out.split("\n\n").collect();
                    assert_eq!(
                        map_of(parts[0]),
                        [[0, 165536, 1000], [1000, 1002, 1]],
                        "{driver}"
                    );
                    assert_eq!(
                        map_of(parts[1]),
                        [[0, 165536, 2000], [2000, 1002, 1]],
                        "{driver}"
                    );
                    assert_eq!(parts[2], "0\n0 0\n", "{driver}");
                }
                run(env, "vfs", &["--uidmap", "0:1:70000", "busybox", "true"])
                    .fails(125)
                    .assert_stderr_contains("--uidmap 0:1:70000: the ids 1 to 70000");
                // The user's own id must be there: it owns the container's storage.
                run(env, "vfs", &["--uidmap", "0:1:1000", "busybox", "true"])
                    .fails(125)
                    .assert_stderr_contains("must map your own id");
                // The user's own namespace is the default mapping.
                let m = map_of(&sh(
                    env,
                    "vfs",
                    &["--userns=host"],
                    "cat /proc/self/uid_map",
                ));
                assert_eq!(m, [[0, 1002, 1], [1, 165536, 65536]]);
            }
            User::NoSub => {
                let m = map_of(&sh(
                    env,
                    "vfs",
                    &["--uidmap", "0:0:1"],
                    "cat /proc/self/uid_map",
                ));
                assert_eq!(m, [[0, u64::from(env.account.uid), 1]]);
                run(env, "vfs", &["--uidmap", "0:0:2", "busybox", "true"])
                    .fails(125)
                    .assert_stderr_contains("not all in coracle-nosub's user namespace");
            }
            User::Root => {
                let out = sh(
                    env,
                    "vfs",
                    &["--uidmap", "0:0:65536"],
                    "cat /proc/self/uid_map; echo; id -u",
                );
                let parts: Vec<&str> = out.split("\n\n").collect();
                assert_eq!(map_of(parts[0]), [[0, 0, 65536]]);
                assert_eq!(parts[1], "0\n");
                run(
                    env,
                    "vfs",
                    &["--uidmap", "0:100000:65536", "busybox", "true"],
                )
                .fails(125)
                .assert_stderr_contains("must map your own id");
            }
        }
        run(env, "vfs", &["--userns=auto", "busybox", "true"])
            .fails(125)
            .assert_stderr_contains("invalid --userns");
        run(env, "vfs", &["--uidmap", "0:1", "busybox", "true"])
            .fails(125)
            .assert_stderr_contains("CONTAINER:HOST:SIZE");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
