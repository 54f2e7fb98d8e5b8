//! A container's confinement, Podman's defaults: capability sets (`--cap-add`, `--cap-drop`,
//! `--privileged`), masked and read-only paths of `/proc` and `/sys` (`--security-opt
//! mask=`/`unmask=`), on both storage drivers, as every user. The seccomp filter is `seccomp`.

use crate::harness::images::busybox;
use crate::harness::{TestEnv, User, for_each_user};

const DRIVERS: [&str; 2] = ["vfs", "overlay"];

/// Podman's default bounding set (CHOWN DAC_OVERRIDE FOWNER FSETID KILL NET_BIND_SERVICE
/// SETFCAP SETGID SETPCAP SETUID SYS_CHROOT).
const DEFAULT: u64 = 0x8004_05fb;
const NET_ADMIN: u64 = 1 << 12;

fn run(env: &TestEnv, driver: &str, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver, "run", "--rm"])
        .args(args);
    c
}

/// The container's `CapInh CapPrm CapEff CapBnd CapAmb` masks with `flags`.
fn caps(env: &TestEnv, driver: &str, flags: &[&str]) -> [u64; 5] {
    let mut args = flags.to_vec();
    args.extend(["busybox", "grep", "^Cap", "/proc/self/status"]);
    let out = run(env, driver, &args).stdout();
    status_caps(&out)
}

fn status_caps(status: &str) -> [u64; 5] {
    let mut v = [u64::MAX; 5];
    for line in status.lines() {
        let Some((k, hex)) = line.split_once(':') else {
            continue;
        };
        let i = match k {
            "CapInh" => 0,
            "CapPrm" => 1,
            "CapEff" => 2,
            "CapBnd" => 3,
            "CapAmb" => 4,
            _ => continue,
        };
        v[i] = u64::from_str_radix(hex.trim(), 16).unwrap();
    }
    assert!(v.iter().all(|m| *m != u64::MAX), "{status}");
    v
}

#[test]
fn capabilities_are_podmans_defaults() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            // [inheritable, permitted, effective, bounding, ambient]
            assert_eq!(caps(env, driver, &[]), [0, DEFAULT, DEFAULT, DEFAULT, 0]);
            if env.user != User::NoSub {
                assert_eq!(caps(env, driver, &["-u", "1000"]), [0, 0, 0, DEFAULT, 0]);
            }
        }
    });
}

#[test]
fn cap_add_and_cap_drop() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            assert_eq!(caps(env, driver, &["--cap-drop", "ALL"]), [0; 5]);
            let with = DEFAULT | NET_ADMIN;
            assert_eq!(
                caps(env, driver, &["--cap-add", "NET_ADMIN"]),
                [0, with, with, with, 0]
            );
            let chown_kill = 1 | (1 << 5);
            assert_eq!(
                caps(
                    env,
                    driver,
                    &["--cap-drop=all", "--cap-add", "cap_chown,KILL"]
                ),
                [0, chown_kill, chown_kill, chown_kill, 0]
            );
            let no_chown = DEFAULT & !1;
            assert_eq!(
                caps(env, driver, &["--cap-drop", "CHOWN"]),
                [0, no_chown, no_chown, no_chown, 0]
            );
            if env.user != User::NoSub {
                // A non-root user keeps exactly what was added, across its execve.
                assert_eq!(
                    caps(env, driver, &["-u", "1000", "--cap-add", "NET_ADMIN"]),
                    [NET_ADMIN, NET_ADMIN, NET_ADMIN, with, NET_ADMIN]
                );
            }
            // Root without CAP_CHOWN cannot give a file away.
            let o = run(
                env,
                driver,
                &[
                    "--cap-drop",
                    "CHOWN",
                    "busybox",
                    "chown",
                    "1:1",
                    "/etc/passwd",
                ],
            )
            .fails(1);
            if env.user != User::NoSub {
                // (Without subordinate ids uid 1 does not exist: EINVAL.)
                o.assert_stderr_contains("Operation not permitted");
            }
        }
        let o = run(env, "vfs", &["--cap-add", "NOSUCH", "busybox", "true"]).fails(125);
        o.assert_stderr_contains("NOSUCH");
        run(
            env,
            "vfs",
            &["--cap-add", "KILL", "--cap-drop", "kill", "busybox", "true"],
        )
        .fails(125)
        .assert_stderr_contains("cannot be dropped and added");
    });
}

#[test]
fn privileged_keeps_every_capability() {
    let own = status_caps(&std::fs::read_to_string("/proc/self/status").unwrap())[3];
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let c = caps(env, driver, &["--privileged"]);
            // Every capability of the bounding set coracle itself had (the user's processes
            // have the test's).
            assert_eq!(c, [0, own, own, own, 0], "{driver}");
        }
    });
}

#[test]
fn masked_and_read_only_paths() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let out = run(
                env,
                driver,
                &[
                    "busybox",
                    "sh",
                    "-c",
                    "cat /proc/kcore | wc -c; (ls /proc/acpi; ls /sys/firmware) 2>/dev/null | wc -w",
                ],
            )
            .stdout();
            assert_eq!(out, "0\n0\n", "{driver}");
            let o = run(
                env,
                driver,
                &["busybox", "sh", "-c", "echo x > /proc/sys/kernel/hostname"],
            )
            .fails(1);
            o.assert_stderr_contains("Read-only file system");
            // Every read-only path is a read-only mount.
            let info = run(env, driver, &["busybox", "cat", "/proc/self/mountinfo"]).stdout();
            for path in [
                "/proc/asound",
                "/proc/bus",
                "/proc/fs",
                "/proc/irq",
                "/proc/sys",
                "/proc/sysrq-trigger",
            ] {
                let line = info.lines().find(|l| l.split(' ').nth(4) == Some(path));
                let Some(line) = line else {
                    assert!(
                        !std::path::Path::new(path).exists(),
                        "{path} not mounted:\n{info}"
                    );
                    continue;
                };
                let opts = line.split(' ').nth(5).unwrap();
                assert!(opts.split(',').any(|o| o == "ro"), "{line}");
            }
            // With --privileged nothing is masked and /proc/sys is the namespace's own.
            let mounts = run(
                env,
                driver,
                &["--privileged", "busybox", "cat", "/proc/mounts"],
            )
            .stdout();
            assert!(!mounts.contains("/proc/kcore"), "{mounts}");
            assert!(!mounts.contains("/proc/sys "), "{mounts}");
            if env.user != User::Root {
                // (/proc/sys/kernel belongs to the host's root, unmapped here.)
                continue;
            }
            let out = run(
                env,
                driver,
                &[
                    "--privileged",
                    "busybox",
                    "sh",
                    "-c",
                    "echo changed > /proc/sys/kernel/hostname && /bin/busybox hostname",
                ],
            )
            .stdout();
            assert_eq!(out, "changed\n");
        }
    });
}

#[test]
fn mask_and_unmask_security_opts() {
    for_each_user(|env| {
        env.load_image(busybox());
        // mask= hides more paths; unmask= uncovers Podman's.
        let out = run(
            env,
            "vfs",
            &[
                "--security-opt",
                "mask=/proc/cpuinfo:/etc",
                "--security-opt",
                "unmask=/proc/kcore",
                "busybox",
                "sh",
                "-c",
                "cat /proc/cpuinfo | wc -c; ls /etc | wc -w; grep -c ' /proc/kcore ' /proc/self/mountinfo",
            ],
        )
        .output();
        assert_eq!(out.stdout(), "0\n0\n0\n", "{}", out.stderr());
        let info = run(
            env,
            "vfs",
            &[
                "--security-opt",
                "unmask=ALL",
                "busybox",
                "cat",
                "/proc/self/mountinfo",
            ],
        )
        .stdout();
        assert!(!info.contains(" /proc/kcore "), "{info}");
        assert!(!info.contains(" /proc/sys "), "{info}");
        run(
            env,
            "vfs",
            &["--security-opt", "label=disable", "busybox", "true"],
        )
        .ok();
        run(
            env,
            "vfs",
            &["--security-opt", "mask=proc/x", "busybox", "true"],
        )
        .fails(125)
        .assert_stderr_contains("not an absolute path");
        run(env, "vfs", &["--security-opt", "label", "busybox", "true"])
            .fails(125)
            .assert_stderr_contains("invalid --security-opt");
    });
}

#[test]
fn init_reaps_and_passes_the_status_on() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let script = "echo $$; sh -c 'sleep 0.1 &'; sleep 0.4; \
                 grep -l '^State:.*Z' /proc/[0-9]*/status | wc -l; \
                 cat /proc/1/comm; readlink /proc/1/exe || echo hidden";
            let out = run(env, driver, &["--init", "busybox", "sh", "-c", script]).output();
            let stdout = out.stdout();
            let lines: Vec<&str> = stdout.lines().collect();
            // The command is PID 2 under the init, which reaps the orphan, and whose binary
            // the container cannot reach.
            assert_eq!(
                lines,
                ["2", "0", "coracle:init", "hidden"],
                "{driver}: {}",
                out.stderr()
            );
            assert_eq!(
                run(env, driver, &["busybox", "sh", "-c", "echo $$"]).stdout(),
                "1\n"
            );
            run(env, driver, &["--init", "busybox", "sh", "-c", "exit 7"]).fails(7);
            run(
                env,
                driver,
                &["--init", "busybox", "sh", "-c", "kill -TERM $$"],
            )
            .fails(143);
            run(
                env,
                driver,
                &[
                    "--init",
                    "--init-path",
                    "/usr/libexec/podman/catatonit",
                    "busybox",
                    "nosuch",
                ],
            )
            .fails(127);
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn env_host_takes_the_hosts_environment_first() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut c = env.coracle();
        c.env("FROM_HOST", "yes").env("OVERRIDDEN", "host").args([
            "run",
            "--rm",
            "--env-host",
            "-e",
            "OVERRIDDEN=flag",
            "busybox",
            "sh",
            "-c",
            "echo $FROM_HOST $OVERRIDDEN $HOSTNAME",
        ]);
        let out = c.stdout();
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words[..2], ["yes", "flag"]);
        assert_eq!(words[2].len(), 12, "HOSTNAME stays the container's: {out}");
        let mut c = env.coracle();
        c.env("FROM_HOST", "yes").args([
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "echo ${FROM_HOST:-unset}",
        ]);
        assert_eq!(c.stdout(), "unset\n");
    });
}
