//! `rm` of running containers (`-f` stops them first, `--time`), `run --replace`, and
//! crashes: the monitor, the init or the foreground `run` killed at random points, after
//! which `ps`, `wait`, `stop` and `rm` must answer at once and leave nothing behind.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};
use crate::stop::{Background, TRAP_TERM, alive, record};

#[test]
fn rm_force_stops_a_running_container_first() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut bg = Background::start(env, "r", &["busybox", "sh", "-c", TRAP_TERM]);
        let id = env.ok(&["inspect", "--format", "{{.Id}}", "r"]);
        let monitor = record(env, "r")["monitor_pid"].as_i64().unwrap();
        env.coracle()
            .args(["rm", "r"])
            .fails(2)
            .assert_stderr_contains(&format!(
                "cannot remove container {} as it is running - running or paused containers \
                 cannot be removed without force: container state improper",
                id.trim()
            ));
        env.coracle()
            .args(["rm", "-t", "1", "r"])
            .output()
            .assert_error()
            .assert_stderr_contains("--force option must be specified to use the --time option");
        // -f: the stop signal first (the trap's status shows it was SIGTERM, not SIGKILL).
        let started = Instant::now();
        assert_eq!(env.ok(&["rm", "-f", "-v", "r"]), id);
        assert!(started.elapsed() < Duration::from_secs(8));
        assert_eq!(bg.exit_code(), 3, "{}", bg.log());
        assert!(!alive(monitor));
        assert_eq!(env.ok(&["ps", "-aq"]), "");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());

        // --time bounds the wait for a container that ignores SIGTERM.
        let mut bg = Background::start(env, "s", &["busybox", "sleep", "1000"]);
        let started = Instant::now();
        env.ok(&["rm", "--force", "--time", "1", "s"]);
        let took = started.elapsed();
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(8),
            "{took:?}"
        );
        assert_eq!(bg.exit_code(), 137);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn run_replace_removes_the_container_of_that_name() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut bg = Background::start(env, "svc", &["busybox", "sh", "-c", TRAP_TERM]);
        let old = env.ok(&["inspect", "--format", "{{.Id}}", "svc"]);
        env.coracle()
            .args(["create", "--name", "svc", "busybox", "true"])
            .output()
            .assert_error()
            .assert_stderr_contains("already in use");
        let new = env.ok(&["create", "--replace", "--name", "svc", "busybox", "true"]);
        assert_ne!(new, old);
        assert_eq!(bg.exit_code(), 3, "{}", bg.log());
        assert_eq!(env.ok(&["ps", "-a", "--no-trunc", "-q"]), new);
        env.coracle()
            .args(["create", "--replace", "busybox", "true"])
            .output()
            .assert_error()
            .assert_stderr_contains("--name");
        // --cidfile: written at create, refused when it exists, removed with the container.
        let cid = env.path("cid");
        let cid_s = cid.to_string_lossy().into_owned();
        let id = env.ok(&["create", "--cidfile", &cid_s, "busybox", "true"]);
        assert_eq!(std::fs::read_to_string(&cid).unwrap(), id.trim());
        env.coracle()
            .args(["create", "--cidfile", &cid_s, "busybox", "true"])
            .output()
            .assert_error()
            .assert_stderr_contains("container id file exists");
        env.ok(&["rm", "--cidfile", &cid_s]);
        assert!(!cid.exists());
        env.ok(&["rm", "-a"]);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// Children of `pid` (by the ppid in `/proc/*/stat`).
fn children(pid: i64) -> Vec<i64> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i64>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rfind(')')
                    .and_then(|i| s[i + 1..].split_whitespace().nth(1)?.parse::<i64>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// The `run` of a round, killed if the round fails half-way.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A small deterministic generator (xorshift), seeded per run and printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

#[derive(Debug, Clone, Copy)]
enum Victim {
    Run,
    Monitor,
    Init,
}

/// Kills one of the container's processes after `delay` (so sometimes before the container
/// runs), then checks every command answers and nothing is left behind.
fn crash_once(env: &TestEnv, rng: &mut Rng, seed: u64, round: usize) {
    let victim = [Victim::Run, Victim::Monitor, Victim::Init][rng.next(3) as usize];
    let delay = Duration::from_millis(rng.next(400));
    let driver = ["vfs", "overlay"][rng.next(2) as usize];
    let what = format!("seed {seed} round {round}: {victim:?} killed after {delay:?} ({driver})");
    let mut child = {
        let mut c = if env.user.is_root() {
            std::process::Command::new(crate::harness::users::binary())
        } else {
            let mut c = std::process::Command::new("/usr/bin/setpriv");
            c.arg(format!("--reuid={}", env.account.uid))
                .arg(format!("--regid={}", env.account.gid))
                .arg("--init-groups")
                .arg("--")
                .arg(crate::harness::users::binary());
            c
        };
        c.env_clear()
            .envs(env.environment())
            .current_dir(env.dir())
            .arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args([
                "--storage-driver",
                driver,
                "run",
                "--name",
                "victim",
                "busybox",
                "sleep",
                "1000",
            ])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        KillOnDrop(c.spawn().expect("starting run"))
    };
    let child = &mut child.0;
    std::thread::sleep(delay);
    let run_pid = i64::from(child.id());
    let monitors = children(run_pid);
    let inits: Vec<i64> = monitors.iter().flat_map(|m| children(*m)).collect();
    let targets = match victim {
        Victim::Run => vec![run_pid],
        Victim::Monitor => monitors.clone(),
        Victim::Init => inits.clone(),
    };
    for p in &targets {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*p as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    // Whatever was killed, the container must not run on: if the victim was not there yet
    // (killed too early, or the run already over), stop it the normal way.
    // Killing the `run` command leaves the container running, as with Podman: its monitor
    // outlives the command that started it. It is stopped the normal way then.
    let stopped_by_hand = targets.is_empty() || matches!(victim, Victim::Run);
    let c = |args: &[&str]| {
        let mut cmd = env.coracle();
        cmd.args(["--storage-driver", driver]).args(args);
        cmd
    };
    let started = Instant::now();
    if stopped_by_hand {
        // It may not exist yet or may still be starting: wait until ps shows it somehow.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = c(&["ps", "-a", "--format", "{{.State}}"]).output().stdout();
            if state.trim() == "running" || child.try_wait().unwrap().is_some() {
                break;
            }
            assert!(Instant::now() < deadline, "{what}: never ran");
            std::thread::sleep(Duration::from_millis(20));
        }
        c(&["stop", "-t", "0", "victim"]).output();
    }
    // `run` ends: by the kill, or because its monitor or init died.
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "{what}: run never ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ps: not "running" any more, once the kernel has finished the processes (a monitor
    // killed through PR_SET_PDEATHSIG takes a moment to go).
    let deadline = Instant::now() + Duration::from_secs(10);
    let listed = loop {
        let listed = c(&["ps", "-a", "--format", "{{.Names}} {{.State}}"])
            .ok()
            .stdout();
        if !listed.contains("running") {
            break listed;
        }
        let leftovers = std::process::Command::new("ps")
            .args(["-eo", "pid,ppid,stat,wchan:24,comm"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let ours: Vec<&str> = leftovers
            .lines()
            .filter(|l| l.contains("coracle:"))
            .collect();
        assert!(Instant::now() < deadline, "{what}: {listed}\n{ours:#?}");
        std::thread::sleep(Duration::from_millis(20));
    };
    if listed.contains("victim") {
        let waited = c(&["wait", "victim"]).ok().stdout();
        assert!(waited.trim().parse::<i32>().is_ok(), "{what}: {waited}");
        assert_eq!(c(&["stop", "victim"]).ok().stdout(), "victim\n", "{what}");
        c(&["rm", "-f", "victim"]).ok();
    }
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "{what}: took {:?}",
        started.elapsed()
    );
    assert_eq!(c(&["ps", "-aq"]).ok().stdout(), "", "{what}");
    // Nothing left: no container directory, no staging debris (a second command cleans
    // what an interrupted create left), no process.
    c(&["ps", "-a"]).ok();
    assert_eq!(env.container_leftovers(), Vec::<String>::new(), "{what}");
    for p in monitors.iter().chain(&inits) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(*p) {
            assert!(Instant::now() < deadline, "{what}: pid {p} still there");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn killed_monitors_and_containers_leave_nothing_running() {
    let seed = std::env::var("CORACLE_IT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64 | 1)
        });
    for_each_user(|env| {
        env.load_image(busybox());
        let mut rng = Rng(seed);
        for round in 0..6 {
            crash_once(env, &mut rng, seed, round);
        }
    });
}
