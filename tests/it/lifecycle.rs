//! A container's life with its monitor detached: `run -d`, `start`, `start -a`, errors
//! reported synchronously, `--rm -d`, a killed monitor, `--restart`.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};

/// `coracle --storage-driver DRIVER ARGS`.
fn coracle(env: &TestEnv, driver: &str) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver]);
    c
}

/// Waits (at most 60 s) until `cond` holds.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn record(env: &TestEnv, id: &str) -> Value {
    let p: PathBuf = env
        .root()
        .join("containers")
        .join(id)
        .join("container.json");
    serde_json::from_slice(&fs::read(&p).unwrap_or_default()).unwrap_or(Value::Null)
}

pub fn state(env: &TestEnv, driver: &str, name: &str) -> String {
    coracle(env, driver)
        .args(["inspect", "--format", "{{.State.Status}}", name])
        .stdout()
        .trim()
        .to_string()
}

fn is_hex_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[test]
fn run_detached_prints_the_id_and_the_container_runs_on() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in ["vfs", "overlay"] {
            let name = format!("web-{driver}");
            let out = coracle(env, driver)
                .args(["run", "-d", "--name", &name, "busybox", "sh", "-c"])
                .arg("echo started; echo oops >&2; sleep 300")
                .stdout();
            let id = out.trim();
            assert!(is_hex_id(id), "{out}");
            assert_eq!(state(env, driver, &name), "running");
            let rec = record(env, id);
            let monitor = rec["monitor_pid"].as_i64().expect("monitor pid");
            let comm = fs::read_to_string(format!("/proc/{monitor}/comm")).unwrap();
            assert_eq!(comm.trim(), "coracle:monitor");
            // The monitor leads a session of its own (field 6 of stat) and holds no
            // terminal or output of the command's.
            let stat = fs::read_to_string(format!("/proc/{monitor}/stat")).unwrap();
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            let fields: Vec<&str> = after.split(' ').collect();
            assert_eq!(fields[3], monitor.to_string(), "session of {stat}");
            for fd in 0..3 {
                let target = fs::read_link(format!("/proc/{monitor}/fd/{fd}")).unwrap();
                assert_eq!(target, PathBuf::from("/dev/null"));
            }
            wait_for("the log", || {
                let o = coracle(env, driver).args(["logs", &name]).ok();
                o.stdout() == "started\n" && o.stderr() == "oops\n"
            });
            let ps = coracle(env, driver)
                .args(["ps", "--format", "{{.Names}} {{.Status}}"])
                .stdout();
            assert!(ps.starts_with(&format!("{name} Up ")), "{ps}");
            coracle(env, driver).args(["rm", "-f", &name]).ok();
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn run_detached_reports_start_errors_with_their_status() {
    for_each_user(|env| {
        env.load_image(busybox());
        let o = coracle(env, "vfs")
            .args(["run", "--rm", "-d", "busybox", "nosuch-command"])
            .fails(127);
        o.assert_stderr_contains("nosuch-command");
        assert_eq!(o.stdout(), "");
        coracle(env, "vfs")
            .args(["run", "--rm", "-d", "busybox", "/etc"])
            .fails(126);
        coracle(env, "vfs")
            .args(["run", "--rm", "-d", "-u", "nosuchuser", "busybox", "true"])
            .fails(125);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn run_rm_detached_is_removed_by_its_monitor() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in ["vfs", "overlay"] {
            // Files of another id of the range: only container root may remove them.
            let script = if env.user == crate::harness::User::NoSub {
                "mkdir /d && touch /d/f && sleep 1"
            } else {
                "mkdir /d && touch /d/f && chown -R 1000:1000 /d && chmod 700 /d && sleep 1"
            };
            let id = coracle(env, driver)
                .args(["run", "--rm", "-d", "busybox", "sh", "-c", script])
                .stdout();
            assert!(is_hex_id(id.trim()), "{id}");
            wait_for("the removal", || env.container_leftovers().is_empty());
            assert!(!env.runroot().join("containers").join(id.trim()).exists());
        }
    });
}

#[test]
fn create_then_start_and_start_attach() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in ["vfs", "overlay"] {
            let name = format!("c-{driver}");
            coracle(env, driver)
                .args(["create", "--name", &name, "busybox", "sh", "-c"])
                .arg("echo hello; echo $((  $(cat /count 2>/dev/null || echo 0) + 1 )) > /count; cat /count; exit 4")
                .ok();
            assert_eq!(state(env, driver, &name), "created");
            let o = coracle(env, driver).args(["start", "-a", &name]).fails(4);
            assert_eq!(o.stdout(), "hello\n1\n");
            assert_eq!(state(env, driver, &name), "exited");
            // Started again detached: the container's changes are still there.
            let o = coracle(env, driver).args(["start", &name]).ok();
            assert_eq!(o.stdout(), format!("{name}\n"));
            wait_for("the second run", || state(env, driver, &name) == "exited");
            let logs = coracle(env, driver).args(["logs", &name]).stdout();
            assert_eq!(logs, "hello\n1\nhello\n2\n");
            let code = coracle(env, driver)
                .args(["inspect", "--format", "{{.State.ExitCode}}", &name])
                .stdout();
            assert_eq!(code.trim(), "4");
            coracle(env, driver).args(["start", "no-such"]).fails(125);
            coracle(env, driver).args(["rm", &name]).ok();
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn a_killed_monitor_takes_its_container_with_it() {
    for_each_user(|env| {
        env.load_image(busybox());
        let id = coracle(env, "vfs")
            .args(["run", "-d", "--name", "victim", "busybox", "sleep", "300"])
            .stdout();
        let rec = record(env, id.trim());
        let monitor = rec["monitor_pid"].as_i64().unwrap() as i32;
        let init = rec["pid"].as_i64().unwrap() as i32;
        assert!(PathBuf::from(format!("/proc/{init}")).exists());
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(monitor),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        wait_for("the init's end", || {
            fs::read_to_string(format!("/proc/{init}/stat"))
                .map(|s| s.contains(") Z ") || !s.contains("sleep"))
                .unwrap_or(true)
        });
        wait_for("exited", || state(env, "vfs", "victim") == "exited");
        let status = coracle(env, "vfs")
            .args(["ps", "-a", "--format", "{{.Status}}"])
            .stdout();
        assert!(status.starts_with("Exited (137)"), "{status}");
        // It starts again, and is removed.
        coracle(env, "vfs").args(["start", "victim"]).ok();
        assert_eq!(state(env, "vfs", "victim"), "running");
        coracle(env, "vfs").args(["rm", "-f", "victim"]).ok();
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

fn restart_count(env: &TestEnv, name: &str) -> u64 {
    coracle(env, "vfs")
        .args(["inspect", "--format", "{{.RestartCount}}", name])
        .stdout()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn restart_policies_are_honoured_by_the_monitor() {
    for_each_user(|env| {
        env.load_image(busybox());
        coracle(env, "vfs")
            .args(["run", "-d", "--restart", "on-failure:2", "--name", "r"])
            .args(["busybox", "sh", "-c", "echo attempt; exit 1"])
            .ok();
        wait_for("two restarts", || {
            state(env, "vfs", "r") == "exited" && restart_count(env, "r") == 2
        });
        // Three runs in all; the monitor is gone.
        let id = coracle(env, "vfs")
            .args(["inspect", "--format", "{{.Id}}", "r"])
            .stdout();
        wait_for("the monitor's end", || {
            record(env, id.trim())["monitor_pid"].is_null()
        });
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(restart_count(env, "r"), 2);
        let logs = coracle(env, "vfs").args(["logs", "r"]).stdout();
        assert_eq!(logs, "attempt\nattempt\nattempt\n");

        // `always` restarts a clean exit too; a container a user stopped stays stopped.
        let id = coracle(env, "vfs")
            .args([
                "run",
                "-d",
                "--restart",
                "always",
                "--name",
                "a",
                "busybox",
                "sh",
                "-c",
            ])
            .arg("[ -e /stay ] && exec sleep 300; touch /stay")
            .stdout();
        let id = id.trim().to_string();
        wait_for("the restart", || {
            restart_count(env, "a") == 1 && record(env, &id)["state"] == "running"
        });
        let path = env
            .root()
            .join("containers")
            .join(&id)
            .join("container.json");
        let mut rec = record(env, &id);
        rec["stop_requested"] = true.into();
        fs::write(&path, serde_json::to_vec(&rec).unwrap()).unwrap();
        let pid = rec["pid"].as_i64().unwrap() as i32;
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        wait_for("the stop", || state(env, "vfs", "a") == "exited");
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(state(env, "vfs", "a"), "exited");
        assert_eq!(restart_count(env, "a"), 1);
        coracle(env, "vfs").args(["rm", "a", "r"]).ok();
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// The monitor `container.json` names now.
fn monitor_pid(env: &TestEnv, id: &str) -> Option<i64> {
    record(env, id)["monitor_pid"].as_i64()
}

#[test]
fn a_monitor_between_restarts_is_seen_by_start_stop_and_rm() {
    for_each_user(|env| {
        env.load_image(busybox());
        let id = coracle(env, "vfs")
            .args(["run", "-d", "--restart", "always", "--name", "b"])
            .args(["busybox", "false"])
            .stdout();
        let id = id.trim().to_string();
        // The pauses double from 100 ms: after four restarts they last 1.6 s and more.
        wait_for("four restarts", || restart_count(env, "b") >= 4);
        let monitor = monitor_pid(env, &id).expect("the monitor is recorded between runs");
        assert!(crate::stop::alive(monitor));

        // `start` of a container whose monitor pauses: already started, no second monitor.
        coracle(env, "vfs").args(["start", "b"]).ok();
        let count = restart_count(env, "b");
        wait_for("the next restart", || restart_count(env, "b") > count);
        assert_eq!(
            monitor_pid(env, &id),
            Some(monitor),
            "a second monitor started"
        );

        // `rm` without -f: it runs, as far as removal goes (Podman's exit status 2).
        let o = coracle(env, "vfs").args(["rm", "b"]).fails(2);
        assert!(o.stderr().contains("running"), "{o}");

        // `stop` ends the monitor, whatever it was doing; no restart follows.
        coracle(env, "vfs").args(["stop", "b"]).ok();
        assert_eq!(monitor_pid(env, &id), None, "the monitor outlived stop");
        assert!(!crate::stop::alive(monitor));
        let count = restart_count(env, "b");
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(restart_count(env, "b"), count);
        assert_eq!(state(env, "vfs", "b"), "exited");

        // Started again by a user, it is restarted again; `rm -f` ends that monitor too.
        coracle(env, "vfs").args(["start", "b"]).ok();
        wait_for("a restart", || restart_count(env, "b") > count);
        coracle(env, "vfs").args(["rm", "-f", "b"]).ok();
        assert!(!crate::stop::alive(monitor));
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
