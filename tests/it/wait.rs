//! `wait`: blocks until a container that another process runs ends and prints its exit
//! code; conditions, `--interval`, missing containers.

use std::time::{Duration, Instant};

use crate::harness::for_each_user;
use crate::harness::images::busybox;
use crate::stop::{Background, TRAP_TERM};

#[test]
fn wait_prints_the_exit_code_when_the_container_ends() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut bg = Background::start(env, "w", &["busybox", "sh", "-c", TRAP_TERM]);
        // `wait` runs in a thread of the test; the container is stopped from outside.
        let waited = std::thread::scope(|s| {
            let waiter = s.spawn(|| {
                let started = Instant::now();
                let o = env.coracle().args(["wait", "w"]).ok();
                (o.stdout(), started.elapsed())
            });
            std::thread::sleep(Duration::from_millis(700));
            assert!(
                !waiter.is_finished(),
                "wait returned while the container ran"
            );
            env.ok(&["kill", "-s", "TERM", "w"]);
            waiter.join().unwrap()
        });
        assert_eq!(waited.0, "3\n");
        assert!(waited.1 >= Duration::from_millis(600), "{waited:?}");
        assert_eq!(bg.exit_code(), 3);
        // An exited container: at once.
        assert_eq!(env.ok(&["wait", "w"]), "3\n");
        // Several, in order; --interval as a duration or milliseconds.
        env.ok(&["create", "--name", "c", "busybox", "true"]);
        assert_eq!(env.ok(&["wait", "--interval", "50ms", "w", "c"]), "3\n0\n");
        assert_eq!(
            env.ok(&["wait", "-i", "10", "--condition", "created", "c"]),
            "-1\n"
        );
        env.coracle()
            .args(["wait", "--condition", "bogus", "c"])
            .output()
            .assert_error();
        env.coracle()
            .args(["wait", "nosuch"])
            .output()
            .assert_error()
            .assert_stderr_contains("no such container");
        assert_eq!(env.ok(&["wait", "--ignore", "nosuch"]), "-1\n");
        env.ok(&["rm", "w", "c"]);
    });
}

#[test]
fn wait_for_running_and_a_killed_monitor() {
    for_each_user(|env| {
        env.load_image(busybox());
        let bg = Background::start(env, "r", &["busybox", "sleep", "1000"]);
        assert_eq!(env.ok(&["wait", "--condition", "running", "r"]), "-1\n");
        // Killing the monitor kills the init (PR_SET_PDEATHSIG): a waiter must see the end,
        // not wait forever.
        let id = env.ok(&["ps", "-q", "--no-trunc"]).trim().to_string();
        let record: serde_json::Value = serde_json::from_slice(
            &std::fs::read(
                env.root()
                    .join("containers")
                    .join(&id)
                    .join("container.json"),
            )
            .expect("the container's record"),
        )
        .expect("a JSON record");
        let monitor = record["monitor_pid"].as_i64().expect("a running monitor") as i32;
        let out = std::thread::scope(|s| {
            let waiter = s.spawn(|| env.ok(&["wait", "r"]));
            std::thread::sleep(Duration::from_millis(500));
            nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(monitor),
                nix::sys::signal::Signal::SIGKILL,
            )
            .expect("killing the monitor");
            let deadline = Instant::now() + Duration::from_secs(30);
            while !waiter.is_finished() {
                assert!(Instant::now() < deadline, "wait never returned");
                std::thread::sleep(Duration::from_millis(20));
            }
            waiter.join().unwrap()
        });
        assert_eq!(out, "137\n");
        drop(bg);
        env.ok(&["rm", "r"]);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
