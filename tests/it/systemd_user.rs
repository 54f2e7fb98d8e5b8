//! A real systemd user manager runs coracle's generated unit: `systemctl --user start` returns
//! once the container said `READY=1`, a container that dies is restarted by systemd
//! (`Restart=on-failure`), `stop` removes it and `restart` brings it back; and the shipped
//! coracle-restart.service starts the `--restart=always` containers, and `auto-update`
//! restarts a unit through the manager.
//!
//! No system manager runs on the test machines (PID 1 is not systemd), and `systemd --user`
//! refuses to start without one: it checks for `/run/systemd/system` and creates its own
//! `init.scope` below the cgroup it was started in. The test gives it both, as a login
//! session's `user@.service` would, without touching the host: a private mount namespace with
//! a tmpfs on `/run/systemd` holding `system/`, and a cgroup v2 directory delegated to the
//! user (chowned to it) that the manager is started in.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::images::busybox;
use crate::harness::tools::which;
use crate::harness::users::{User, current_uid};
use crate::harness::{Cmd, TestEnv, for_users, skip};

const MANAGER: &str = "/lib/systemd/systemd";

/// A `systemd --user` of the test's user, in its own mount namespace and delegated cgroup;
/// stopped, and the cgroup removed, when dropped.
struct UserManager<'a> {
    env: &'a TestEnv,
    child: Child,
    cgroup: PathBuf,
}

impl<'a> UserManager<'a> {
    /// Starts the manager, or says why it cannot run here.
    fn start(env: &'a TestEnv) -> Result<UserManager<'a>, String> {
        if current_uid() != 0 {
            return Err("making a mount namespace and a cgroup for the manager needs root".into());
        }
        if !Path::new(MANAGER).exists() || which("systemctl").is_none() {
            return Err("systemd is not installed (tests/run-all.sh installs it)".into());
        }
        let unified = cgroup2_mount().ok_or("no cgroup v2 hierarchy is mounted")?;
        // Named after the test's own directory: tests run side by side as the same user.
        let cgroup = unified.join(format!(
            "coracle-it-{}",
            env.dir().file_name().unwrap_or_default().to_string_lossy()
        ));
        std::fs::create_dir(&cgroup)
            .map_err(|e| format!("creating the cgroup {}: {e}", cgroup.display()))?;
        env.give(&cgroup);
        let runtime = env.path("xdg-run");
        let mut envs: Vec<String> = env
            .environment()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        envs.push("SYSTEMD_LOG_TARGET=console".into());
        // unshare execs the shell, the shell execs the manager: the child's PID is the
        // manager's, and its mount namespace the one to enter for systemctl.
        let script = format!(
            "set -e; mkdir -p /run/systemd; mount -t tmpfs -o mode=0755 tmpfs /run/systemd; mkdir /run/systemd/system; \
             echo $$ > {procs}; exec setpriv --reuid={uid} --regid={gid} --init-groups -- \
             env -i {envs} {MANAGER} --user",
            procs = cgroup.join("cgroup.procs").display(),
            uid = env.account.uid,
            gid = env.account.gid,
            envs = envs
                .iter()
                .map(|e| format!("'{e}'"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let log = std::fs::File::create(env.path("user-manager.log")).unwrap();
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-c", &script])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting unshare: {e}"))?;
        let mut manager = UserManager { env, child, cgroup };
        let socket = runtime.join("systemd/private");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !socket.exists() {
            if let Ok(Some(status)) = manager.child.try_wait() {
                panic!(
                    "systemd --user ended ({status}) before it listened:\n{}",
                    manager.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "systemd --user did not listen on {} within 30 s:\n{}",
                socket.display(),
                manager.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(manager)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.env.path("user-manager.log")).unwrap_or_default()
    }

    /// `PROGRAM` as the user, inside the manager's mount namespace: as in the user's
    /// session, where `systemctl --user` finds its manager.
    fn in_session(&self, program: &Path, shown: &str) -> Cmd {
        let mut c = Command::new("nsenter");
        c.arg(format!("--mount=/proc/{}/ns/mnt", self.child.id()))
            .arg("--")
            .arg("setpriv")
            .arg(format!("--reuid={}", self.env.account.uid))
            .arg(format!("--regid={}", self.env.account.gid))
            .args(["--init-groups", "--"])
            .arg(program)
            .env_clear()
            .envs(self.env.environment())
            .current_dir(self.env.dir());
        Cmd::wrap(c, shown, self.env.user.name())
    }

    /// `systemctl --user ARGS` in the session.
    fn systemctl(&self, args: &[&str]) -> Cmd {
        let mut c = self.in_session(Path::new("systemctl"), "systemctl --user");
        c.args(["--user", "--no-pager"]).args(args);
        c
    }

    /// The binary under test on the test's store, in the session.
    fn coracle(&self) -> Cmd {
        let mut c = self.in_session(crate::harness::users::binary(), "coracle");
        c.arg("--root")
            .arg(self.env.root())
            .arg("--runroot")
            .arg(self.env.runroot());
        c
    }

    /// `systemctl --user ARGS`, asserting success; its stdout.
    fn ok(&self, args: &[&str]) -> String {
        let o = self.systemctl(args).output();
        assert_eq!(
            o.code(),
            Some(0),
            "systemctl --user {args:?}: {o}\nmanager's log:\n{}",
            self.log()
        );
        o.stdout().to_string()
    }

    /// The unit's `MainPID` (0 when it has none).
    fn main_pid(&self, unit: &str) -> u32 {
        self.ok(&["show", "-P", "MainPID", unit])
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for UserManager<'_> {
    fn drop(&mut self) {
        let _ = self.systemctl(&["exit"]).output();
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        remove_cgroup(&self.cgroup);
    }
}

/// Where the cgroup v2 hierarchy is mounted (`/sys/fs/cgroup` or, on hybrid hosts,
/// `/sys/fs/cgroup/unified`).
fn cgroup2_mount() -> Option<PathBuf> {
    let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
    mounts.lines().find_map(|l| {
        let mut f = l.split(' ');
        let (_, target, kind) = (f.next()?, f.next()?, f.next()?);
        (kind == "cgroup2").then(|| PathBuf::from(target))
    })
}

/// Removes a cgroup and the ones the manager made below it, deepest first, once their
/// processes are gone (a cgroup with processes cannot be removed: they are killed).
fn remove_cgroup(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                remove_cgroup(&e.path());
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::remove_dir(dir).is_err() && dir.exists() && Instant::now() < deadline {
        if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            for pid in procs.lines().filter_map(|p| p.parse::<i32>().ok()) {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "{what}: not within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_user_manager_starts_restarts_and_stops_the_generated_unit() {
    for_users(&[User::Sub, User::NoSub], |env| {
        let manager = match UserManager::start(env) {
            Ok(m) => m,
            Err(reason) => return skip(&env.test, env.user.name(), &reason),
        };
        env.load_image(busybox());
        env.ok(&[
            "create",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            // PID 1 has no default action for SIGTERM: the trap makes `stop` quick and clean.
            "trap 'exit 0' TERM; echo started; while :; do sleep 1; done",
        ]);
        let unit_text = env.ok(&["generate", "systemd", "--new", "--name", "web"]);
        let units = env.mkdir("home/.config/systemd/user");
        env.write(
            "home/.config/systemd/user/container-web.service",
            &unit_text,
        );
        env.give(&units);
        manager.ok(&["daemon-reload"]);

        // Type=notify: start returns once READY=1 came, so the container is up right now.
        manager.ok(&["start", "container-web.service"]);
        assert_eq!(
            manager.ok(&["is-active", "container-web.service"]).trim(),
            "active"
        );
        let ps = env.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
        assert!(ps.starts_with("web Up"), "{ps}");
        let first = env.ok(&["ps", "-q", "--no-trunc"]);
        let main = manager.main_pid("container-web.service");
        let comm = std::fs::read_to_string(format!("/proc/{main}/comm")).unwrap_or_default();
        assert_eq!(comm.trim(), "coracle:monitor", "MainPID {main}");

        // The container dies (137): the unit's main process, the monitor, exits with its
        // status, the unit fails and systemd starts a new container.
        env.ok(&["kill", "-s", "KILL", "web"]);
        eventually("systemd to restart the container", || {
            let now = env.ok(&["ps", "-q", "--no-trunc"]);
            !now.trim().is_empty() && now != first
        });
        eventually("the restarted unit to be active", || {
            manager
                .systemctl(&["is-active", "container-web.service"])
                .output()
                .stdout()
                .trim()
                == "active"
        });
        // The unit's main process is the new monitor (MAINPID=, sent with READY=1).
        eventually("the new monitor to be the unit's main process", || {
            let main = manager.main_pid("container-web.service");
            std::fs::read_to_string(format!("/proc/{main}/comm"))
                .is_ok_and(|c| c.trim() == "coracle:monitor")
        });
        eventually("the restarted container's output in its log", || {
            env.ok(&["logs", "web"]) == "started\n"
        });
        let restarts = manager.ok(&["show", "-P", "NRestarts", "container-web.service"]);
        assert_eq!(restarts.trim(), "1", "NRestarts");

        // stop: the container is stopped and, being --rm, removed.
        manager.ok(&["stop", "container-web.service"]);
        let state = manager
            .systemctl(&["is-active", "container-web.service"])
            .output()
            .stdout()
            .trim()
            .to_string();
        assert_eq!(
            state,
            "inactive",
            "{}\n{}",
            manager
                .systemctl(&["status", "container-web.service"])
                .output(),
            manager.log()
        );
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");

        // restart of a stopped unit starts it again.
        manager.ok(&["restart", "container-web.service"]);
        let ps = env.ok(&["ps", "--format", "{{.Names}} {{.Status}}"]);
        assert!(ps.starts_with("web Up"), "{ps}");
        eventually("the restarted container's output in its log", || {
            env.ok(&["logs", "web"]) == "started\n"
        });
        manager.ok(&["stop", "container-web.service"]);
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    });
}

/// packaging/systemd/coracle-restart.service (Podman's podman-restart.service) starts the
/// `--restart=always` containers, and only those, and stops them again.
#[test]
fn the_restart_unit_starts_and_stops_the_always_containers() {
    for_users(&[User::Sub], |env| {
        let manager = match UserManager::start(env) {
            Ok(m) => m,
            Err(reason) => return skip(&env.test, env.user.name(), &reason),
        };
        env.load_image(busybox());
        let trap = "trap 'exit 0' TERM; while :; do sleep 1; done";
        env.ok(&[
            "create",
            "--name",
            "always",
            "--restart=always",
            "busybox",
            "sh",
            "-c",
            trap,
        ]);
        env.ok(&["create", "--name", "never", "busybox", "sh", "-c", trap]);
        let shipped = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd/coracle-restart.service"),
        )
        .unwrap();
        // The installed unit runs /usr/bin/coracle on the user's default store; here, the
        // binary under test on the test's store.
        let here = format!(
            "{} --root {} --runroot {}",
            crate::harness::users::binary().display(),
            env.root().display(),
            env.runroot().display()
        );
        assert!(shipped.contains("=/usr/bin/coracle "), "{shipped}");
        let unit = shipped.replace("=/usr/bin/coracle ", &format!("={here} "));
        let units = env.mkdir("home/.config/systemd/user");
        env.write("home/.config/systemd/user/coracle-restart.service", &unit);
        env.give(&units);
        manager.ok(&["daemon-reload"]);
        manager.ok(&["start", "coracle-restart.service"]);
        let ps = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
        let mut lines: Vec<&str> = ps.lines().collect();
        lines.sort_unstable();
        assert_eq!(lines, ["always running", "never created"], "{ps}");
        manager.ok(&["stop", "coracle-restart.service"]);
        let ps = env.ok(&["ps", "-a", "--format", "{{.Names}} {{.State}}"]);
        let mut lines: Vec<&str> = ps.lines().collect();
        lines.sort_unstable();
        assert_eq!(lines, ["always exited", "never created"], "{ps}");
    });
}

/// `auto-update` in the user's session restarts the unit through the manager: the new
/// container runs on the new image, under a new main process of the same unit.
#[test]
fn auto_update_restarts_the_unit_through_the_manager() {
    for_users(&[User::NoSub], |env| {
        let manager = match UserManager::start(env) {
            Ok(m) => m,
            Err(reason) => return skip(&env.test, env.user.name(), &reason),
        };
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "localhost/app:latest"]);
        env.ok(&[
            "create",
            "--name",
            "app",
            "--label",
            "io.containers.autoupdate=local",
            "localhost/app:latest",
            "sh",
            "-c",
            "trap 'exit 0' TERM; while :; do sleep 1; done",
        ]);
        let unit = env.ok(&["generate", "systemd", "--new", "--name", "app"]);
        let units = env.mkdir("home/.config/systemd/user");
        env.write("home/.config/systemd/user/container-app.service", &unit);
        env.give(&units);
        manager.ok(&["daemon-reload"]);
        manager.ok(&["start", "container-app.service"]);
        let before = manager.main_pid("container-app.service");

        env.load_image(&crate::autoupdate::second_app());
        let fmt = "{{.Unit}} {{.ContainerName}} {{.Policy}} {{.Updated}}";
        let o = manager
            .coracle()
            .args(["auto-update", "--format", fmt])
            .ok();
        assert_eq!(o.stdout(), "container-app.service app local true\n");
        assert!(!o.stderr().contains("no systemd user manager"), "{o}");
        assert_eq!(
            manager.ok(&["is-active", "container-app.service"]).trim(),
            "active"
        );
        let after = manager.main_pid("container-app.service");
        assert!(after != 0 && after != before, "MainPID {before} -> {after}");
        assert_eq!(env.ok(&["exec", "app", "sh", "-c", "echo $APP"]), "2\n");
        manager.ok(&["stop", "container-app.service"]);
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    });
}

/// A Quadlet file converted by `coracle quadlet` (into `~/.config/systemd/user`) is a unit
/// the manager keeps across `daemon-reload`, starts (READY=1 once the container runs) and
/// stops.
#[test]
fn a_quadlet_unit_survives_reload_and_starts_and_stops() {
    for_users(&[User::Sub], |env| {
        let manager = match UserManager::start(env) {
            Ok(m) => m,
            Err(reason) => return skip(&env.test, env.user.name(), &reason),
        };
        env.load_image(busybox());
        let quadlet = env.write(
            "hello.container",
            format!(
                "[Container]\nImage=busybox\nContainerName=hello\nNetwork=none\n\
                 GlobalArgs=--root {} --runroot {}\n\
                 Exec=sh -c \"trap 'exit 0' TERM; echo up; while :; do sleep 1; done\"\n\n\
                 [Install]\nWantedBy=default.target\n",
                env.root().display(),
                env.runroot().display()
            ),
        );
        let written = env.coracle().arg("quadlet").arg(&quadlet).ok();
        assert!(
            written
                .stdout()
                .contains(".config/systemd/user/hello.service"),
            "{written}"
        );
        manager.ok(&["daemon-reload"]);
        manager.ok(&["daemon-reload"]);
        manager.ok(&["start", "hello.service"]);
        assert_eq!(manager.ok(&["is-active", "hello.service"]).trim(), "active");
        let ps = env.ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
        assert_eq!(ps, "hello running\n");
        // [Install] WantedBy= became the link `enable` makes.
        assert_eq!(
            manager.ok(&["is-enabled", "hello.service"]).trim(),
            "enabled"
        );
        manager.ok(&["stop", "hello.service"]);
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    });
}
