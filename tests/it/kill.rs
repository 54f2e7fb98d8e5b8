//! `kill`: signals by name, `SIG` name and number to the init of a container that another
//! process runs in the foreground; Podman's errors for bad signals and stopped containers.

use crate::harness::for_each_user;
use crate::harness::images::busybox;
use crate::stop::{Background, TRAP_TERM, record};

#[test]
fn kill_sends_signals_by_name_and_number() {
    for_each_user(|env| {
        env.load_image(busybox());
        // Default: SIGKILL.
        let mut bg = Background::start(env, "k1", &["busybox", "sleep", "1000"]);
        assert_eq!(env.ok(&["kill", "k1"]), "k1\n");
        assert_eq!(bg.exit_code(), 137, "{}", bg.log());

        for (signal, want) in [("TERM", 3), ("SIGTERM", 3), ("15", 3), ("usr1", 6)] {
            let script = format!("trap 'exit 6' USR1; {TRAP_TERM}");
            let mut bg = Background::start(env, "k2", &["busybox", "sh", "-c", &script]);
            assert_eq!(env.ok(&["kill", "-s", signal, "k2"]), "k2\n");
            assert_eq!(bg.exit_code(), want, "{signal}: {}", bg.log());
            // kill does not wait, but the monitor records the end soon after.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while record(env, "k2")["state"] != "exited" {
                assert!(std::time::Instant::now() < deadline);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            env.ok(&["rm", "k2"]);
        }
        assert_eq!(
            env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"])
                .lines()
                .count(),
            1
        );
    });
}

#[test]
fn kill_refuses_what_podman_refuses() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut bg = Background::start(env, "target", &["busybox", "sh", "-c", TRAP_TERM]);
        env.coracle()
            .args(["kill", "-s", "FOO", "target"])
            .output()
            .assert_error()
            .assert_stderr_contains("invalid signal: FOO");
        env.coracle()
            .args(["kill", "-s", "99", "target"])
            .output()
            .assert_error()
            .assert_stderr_contains("valid signals are 1 through 64");
        env.coracle()
            .args(["kill", "nosuch"])
            .output()
            .assert_error()
            .assert_stderr_contains("no such container");
        // Still running after all that.
        assert!(!bg.ended());
        assert_eq!(env.ok(&["kill", "--all", "-s", "TERM"]).lines().count(), 1);
        assert_eq!(bg.exit_code(), 3);
        env.ok(&["create", "--name", "fresh", "busybox", "true"]);
        let id = env.ok(&["inspect", "--format", "{{.Id}}", "fresh"]);
        env.coracle()
            .args(["kill", "fresh"])
            .output()
            .assert_error()
            .assert_stderr_contains(&format!(
                "can only kill running containers. {} is in state created: container state improper",
                id.trim()
            ));
        env.coracle()
            .args(["kill", "target"])
            .output()
            .assert_error()
            .assert_stderr_contains("is in state exited");
        env.ok(&["rm", "target", "fresh"]);
    });
}

#[test]
fn a_killed_container_is_not_restarted() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&[
            "run",
            "-d",
            "--restart",
            "always",
            "--name",
            "ka",
            "busybox",
            "sleep",
            "300",
        ]);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while record(env, "ka")["state"] != "running" {
            assert!(std::time::Instant::now() < deadline);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert_eq!(env.ok(&["kill", "ka"]), "ka\n");
        // Podman's kill marks the container stopped by its user: the policy does not apply.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while !record(env, "ka")["monitor_pid"].is_null() {
            assert!(std::time::Instant::now() < deadline, "the monitor lives on");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let rec = record(env, "ka");
        assert_eq!(rec["state"], "exited", "{rec}");
        assert_eq!(rec["restart_count"], 0, "{rec}");
        env.ok(&["rm", "ka"]);
    });
}
