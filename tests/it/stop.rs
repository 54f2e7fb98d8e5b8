//! `stop`: the stop signal (SIGTERM, `--stop-signal`, the image's `StopSignal`), the time
//! out (`--time`, `--stop-timeout`) and SIGKILL, on containers that `coracle run` runs in the
//! foreground in another process; also what the other control commands share: the
//! [`Background`] container and the refusals of cgroup features.

use std::fs::File;
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::users::binary;
use crate::harness::{TestEnv, for_each_user};

/// A shell that ends with status 3 on SIGTERM (as PID 1 it gets only handled signals).
/// It says `ready` on stderr once the trap is set: a signal sent before that is lost.
pub const TRAP_TERM: &str = "trap 'exit 3' TERM; echo ready >&2; while :; do sleep 0.1; done";

/// `coracle run ARGS` started as a child of the test (the command stays in the foreground
/// until the container ends), killed when dropped.
pub struct Background {
    child: Child,
    pub name: String,
    log: std::path::PathBuf,
}

impl Background {
    /// Runs `coracle run --name NAME ARGS...` and returns once `ps` lists it running and,
    /// for a command that says `echo ready >&2` (its traps set), once it said so.
    pub fn start(env: &TestEnv, name: &str, args: &[&str]) -> Background {
        let log = env.path(format!("{name}.log"));
        let err = File::create(&log).expect("creating the run log");
        let mut cmd = if env.user.is_root() {
            Command::new(binary())
        } else {
            let mut c = Command::new("/usr/bin/setpriv");
            c.arg(format!("--reuid={}", env.account.uid))
                .arg(format!("--regid={}", env.account.gid))
                .arg("--init-groups")
                .arg("--")
                .arg(binary());
            c
        };
        cmd.env_clear()
            .envs(env.environment())
            .current_dir(env.dir())
            .arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args(["run", "--name", name])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err);
        let child = cmd.spawn().expect("starting coracle run");
        let mut bg = Background {
            child,
            name: name.to_string(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let says_ready = args.iter().any(|a| a.contains("echo ready >&2"));
            let listed = env.ok(&["ps", "--format", "{{.Names}}"]);
            if listed.lines().any(|l| l == name) && (!says_ready || bg.log().contains("ready\n")) {
                return bg;
            }
            if let Ok(Some(status)) = bg.child.try_wait() {
                panic!(
                    "`coracle run {name}` ended ({status:?}) before it ran: {}",
                    bg.log()
                );
            }
            assert!(Instant::now() < deadline, "{name} never ran: {}", bg.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What `run` wrote on stderr.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `run` to end (60 s at most) and returns its exit code (`128+N` for a
    /// signal, as a shell shows it).
    pub fn exit_code(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for run") {
                return code(status);
            }
            assert!(
                Instant::now() < deadline,
                "`coracle run {}` still runs: {}",
                self.name,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether `run` has ended.
    pub fn ended(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

fn code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The container's record (`container.json`), found by name.
pub fn record(env: &TestEnv, name: &str) -> Value {
    let id = env.ok(&["inspect", "--format", "{{.Id}}", name]);
    let path = env
        .root()
        .join("containers")
        .join(id.trim())
        .join("container.json");
    serde_json::from_slice(&std::fs::read(&path).expect("reading container.json"))
        .expect("container.json is JSON")
}

/// Whether a process with this pid exists (and is not a zombie).
pub fn alive(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = &s[s.rfind(')')? + 1..];
            rest.split_whitespace().next().map(|st| st != "Z")
        })
        .unwrap_or(false)
}

/// An image whose config says `StopSignal: SIGUSR1`.
fn usr1_image() -> Image {
    let mut run = busybox_run_config();
    run["StopSignal"] = json!("SIGUSR1");
    Image::new(
        vec![busybox_layer().clone()],
        vec![History::layer("/bin/sh -c #(nop) ADD file:busybox in / ")],
        run,
        &["stopsig:latest"],
    )
}

#[test]
fn stop_sends_sigterm_and_records_the_request() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut bg = Background::start(env, "trapper", &["busybox", "sh", "-c", TRAP_TERM]);
        let started = Instant::now();
        assert_eq!(env.ok(&["stop", "trapper"]), "trapper\n");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "took the whole timeout"
        );
        // The trap ran: the foreground run ends with the container's status.
        assert_eq!(bg.exit_code(), 3, "{}", bg.log());
        let rec = record(env, "trapper");
        assert_eq!(rec["state"], "exited");
        assert_eq!(rec["exit_code"], 3);
        assert_eq!(rec["stop_requested"], true);
        assert!(rec.get("monitor_pid").is_none(), "{rec}");
        let status = env.ok(&["ps", "-a", "--format", "{{.Status}}"]);
        assert!(status.starts_with("Exited (3) "), "{status}");
        // Stopping a stopped container is no error, as in Podman.
        assert_eq!(env.ok(&["stop", "trapper"]), "trapper\n");
        env.coracle()
            .args(["stop", "nosuch"])
            .output()
            .assert_error()
            .assert_stderr_contains("no container with name or ID \"nosuch\" found");
        assert_eq!(env.ok(&["stop", "--ignore", "nosuch"]), "");
        env.ok(&["rm", "trapper"]);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn stop_kills_after_the_timeout() {
    for_each_user(|env| {
        env.load_image(busybox());
        // PID 1 without a handler ignores SIGTERM: the stop timeout runs out.
        let mut bg = Background::start(
            env,
            "sleeper",
            &["--stop-timeout", "1", "busybox", "sleep", "1000"],
        );
        let started = Instant::now();
        let o = env.coracle().args(["stop", "sleeper"]).ok();
        let took = started.elapsed();
        assert_eq!(o.stdout(), "sleeper\n");
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(8),
            "{took:?}"
        );
        o.assert_stderr_contains("StopSignal SIGTERM failed to stop container sleeper in 1 seconds, resorting to SIGKILL");
        assert_eq!(bg.exit_code(), 137, "{}", bg.log());

        // --time overrides it; -t 0 kills at once.
        let mut bg = Background::start(env, "quick", &["busybox", "sleep", "1000"]);
        let started = Instant::now();
        assert_eq!(env.ok(&["stop", "-t", "0", "quick"]), "quick\n");
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(bg.exit_code(), 137, "{}", bg.log());
        let codes = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.ExitCode}}"]);
        assert_eq!(codes, "quick 137\nsleeper 137\n");
        env.ok(&["rm", "quick", "sleeper"]);
    });
}

#[test]
fn stop_signal_from_the_flag_and_the_image() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(&usr1_image());
        let usr1 = "trap 'exit 4' USR1; echo ready >&2; while :; do sleep 0.1; done";
        let mut bg = Background::start(env, "fromimage", &["stopsig", "sh", "-c", usr1]);
        env.ok(&["stop", "-t", "20", "fromimage"]);
        assert_eq!(bg.exit_code(), 4, "{}", bg.log());
        let mut bg = Background::start(
            env,
            "fromflag",
            &[
                "--stop-signal",
                "HUP",
                "stopsig",
                "sh",
                "-c",
                "trap 'exit 5' HUP; echo ready >&2; while :; do sleep 0.1; done",
            ],
        );
        env.ok(&["stop", "-t", "20", "fromflag"]);
        assert_eq!(bg.exit_code(), 5, "{}", bg.log());
        env.coracle()
            .args(["create", "--stop-signal", "BOGUS", "busybox", "true"])
            .output()
            .assert_error()
            .assert_stderr_contains("invalid signal: BOGUS");
        env.ok(&["rm", "fromimage", "fromflag"]);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// `stop --all` stops every running container, `--latest` the newest, `--cidfile` the one
/// the file names.
#[test]
fn stop_all_latest_and_cidfile() {
    for_each_user(|env| {
        env.load_image(busybox());
        let cid = env.path("cid");
        let cid_s = cid.to_string_lossy().into_owned();
        let mut a = Background::start(env, "a", &["busybox", "sh", "-c", TRAP_TERM]);
        let mut b = Background::start(
            env,
            "b",
            &["--cidfile", &cid_s, "busybox", "sh", "-c", TRAP_TERM],
        );
        let id = std::fs::read_to_string(&cid).unwrap();
        assert_eq!(id.len(), 64, "{id:?}");
        assert_eq!(env.ok(&["stop", "--cidfile", &cid_s]), format!("{id}\n"));
        assert_eq!(b.exit_code(), 3);
        assert!(!a.ended());
        let mut c = Background::start(env, "c", &["busybox", "sh", "-c", TRAP_TERM]);
        env.ok(&["stop", "--latest"]);
        assert_eq!(c.exit_code(), 3);
        let out = env.ok(&["stop", "--all"]);
        assert_eq!(out.lines().count(), 1, "{out}");
        assert_eq!(a.exit_code(), 3);
        env.ok(&["rm", "-a"]);
        // The cidfile went with its container.
        assert!(!cid.exists());
    });
}

/// Resource limits and `pause` need a delegated cgroup v2: refused with the reason, never
/// ignored.
#[test]
fn cgroup_features_are_refused_with_the_reason() {
    for_each_user(|env| {
        env.load_image(busybox());
        for flag in [
            &["--memory", "64m"][..],
            &["-m", "64m"],
            &["--cpus", "1"],
            &["--cpu-shares", "512"],
            &["--pids-limit", "10"],
            &["--memory-swap", "1g"],
        ] {
            let o = env
                .coracle()
                .arg("run")
                .args(flag)
                .args(["busybox", "true"])
                .output();
            o.assert_error().assert_stderr_contains("cgroup v2");
        }
        assert_eq!(env.ok(&["ps", "-aq"]), "", "nothing was created");
        let mut bg = Background::start(env, "p", &["busybox", "sh", "-c", TRAP_TERM]);
        env.coracle()
            .args(["pause", "p"])
            .output()
            .assert_error()
            .assert_stderr_contains("cgroup v2");
        env.coracle()
            .args(["unpause", "p"])
            .output()
            .assert_error()
            .assert_stderr_contains("is not paused");
        env.ok(&["stop", "p"]);
        assert_eq!(bg.exit_code(), 3);
        env.coracle()
            .args(["pause", "p"])
            .output()
            .assert_error()
            .assert_stderr_contains("\"exited\" is not running, can't pause");
        // container exists: 0 or 1, nothing printed.
        assert_eq!(env.ok(&["container", "exists", "p"]), "");
        env.coracle()
            .args(["container", "exists", "nosuch"])
            .fails(1);
        env.ok(&["rm", "p"]);
    });
}
