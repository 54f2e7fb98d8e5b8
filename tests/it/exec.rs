//! `exec` into containers running in the background (a `coracle run` child of the test):
//! the PID namespace, exit statuses, environment, user, working directory, confinement,
//! `-d`, and processes that die with the container.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::images::busybox;
use crate::harness::users::{binary, has_subids};
use crate::harness::{Cmd, TestEnv, for_each_user};

pub const DRIVERS: [&str; 2] = ["vfs", "overlay"];

/// A container running `sleep 1000` (or `args`) in the background, from a `coracle run`
/// child; removed with `rm -f` when dropped.
pub struct Background<'a> {
    env: &'a TestEnv,
    driver: &'a str,
    pub name: String,
    child: Child,
}

impl<'a> Background<'a> {
    pub fn start(env: &'a TestEnv, driver: &'a str, name: &str, run_args: &[&str]) -> Self {
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
            .args(["--storage-driver", driver, "run", "--name", name])
            .args(run_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let child = cmd.spawn().expect("starting coracle run");
        let bg = Background {
            env,
            driver,
            name: name.to_string(),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let states = bg
                .coracle(&["ps", "--format", "{{.Names}} {{.State}}"])
                .stdout();
            if states.lines().any(|l| l == format!("{name} running")) {
                break;
            }
            assert!(Instant::now() < deadline, "{name} never ran: {states}");
            std::thread::sleep(Duration::from_millis(50));
        }
        bg
    }

    /// Busybox `sleep 1000` as `name`.
    pub fn sleeping(env: &'a TestEnv, driver: &'a str, name: &str) -> Self {
        Self::start(env, driver, name, &["busybox", "sleep", "1000"])
    }

    /// `coracle --storage-driver DRIVER ARGS` on the test's store.
    pub fn coracle(&self, args: &[&str]) -> Cmd {
        let mut c = self.env.coracle();
        c.args(["--storage-driver", self.driver]).args(args);
        c
    }

    /// `coracle exec [FLAGS] NAME COMMAND...`.
    pub fn exec(&self, flags: &[&str], command: &[&str]) -> Cmd {
        let mut c = self.coracle(&["exec"]);
        c.args(flags).arg(&self.name).args(command);
        c
    }

    /// Removes the container (`rm -f`) and reaps the `run` child.
    pub fn remove(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.coracle(&["rm", "-f", &self.name.clone()]).output();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Background<'_> {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

/// Host processes whose command line is exactly `argv`.
fn processes_with(argv: &[&str]) -> Vec<i32> {
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want))
        .collect()
}

#[test]
fn exec_runs_inside_the_containers_namespaces() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let c = Background::start(
                env,
                driver,
                "box",
                &["--hostname", "boxhost", "busybox", "sleep", "1000"],
            );
            assert_eq!(c.exec(&[], &["echo", "hi"]).stdout(), "hi\n", "{driver}");
            // PID 1 is the container's command; this process is in its PID namespace.
            assert_eq!(c.exec(&[], &["cat", "/proc/1/comm"]).stdout(), "sleep\n");
            let ps = c.exec(&[], &["busybox", "ps"]).stdout();
            assert!(
                ps.contains("sleep 1000") && ps.contains("busybox ps"),
                "{ps}"
            );
            assert_eq!(c.exec(&[], &["busybox", "hostname"]).stdout(), "boxhost\n");
            assert_eq!(c.exec(&[], &["cat", "/etc/hostname"]).stdout(), "boxhost\n");
            // The container's root file system, and what the container writes is seen.
            c.exec(&[], &["sh", "-c", "echo data > /tmp/f"]).ok();
            assert_eq!(c.exec(&[], &["cat", "/tmp/f"]).stdout(), "data\n");
            assert_eq!(c.exec(&[], &["id", "-u"]).stdout(), "0\n");
            // The same namespaces as the container's PID 1.
            for ns in ["mnt", "pid", "uts", "ipc", "net", "user"] {
                let link = format!("/proc/1/ns/{ns}");
                let own = format!("/proc/self/ns/{ns}");
                let script = format!("busybox readlink {link}; busybox readlink {own}");
                let both = c.exec(&[], &["sh", "-c", &script]).stdout();
                let l: Vec<&str> = both.lines().collect();
                assert_eq!(l.len(), 2, "{both}");
                assert_eq!(l[0], l[1], "{ns} as {driver}");
            }
            c.remove();
        }
    });
}

#[test]
fn exec_exit_statuses_are_the_commands() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let c = Background::sleeping(env, driver, "st");
            c.exec(&[], &["sh", "-c", "exit 3"]).fails(3);
            c.exec(&[], &["false"]).fails(1);
            c.exec(&[], &["sh", "-c", "kill -TERM $$"]).fails(143);
            c.exec(&[], &["nosuch-command"])
                .fails(127)
                .assert_stderr_contains("nosuch-command");
            c.exec(&[], &["/no/such/file"]).fails(127);
            c.exec(&[], &["/etc/passwd"])
                .fails(126)
                .assert_stderr_contains("Permission denied");
            c.exec(&[], &["/etc"]).fails(126);
            c.coracle(&["exec", "nosuch", "true"])
                .fails(125)
                .assert_stderr_contains("no container");
            c.exec(&["-t"], &["sh", "-c", "exit 9"]).fails(9);
            c.exec(&["-t"], &["nosuch-command"]).fails(127);
            c.remove();
        }
    });
}

#[test]
fn exec_environment_user_and_workdir() {
    for_each_user(|env| {
        env.load_image(busybox());
        let file = env.write("vars.env", "FROM_FILE=f\nB=file\n");
        for driver in DRIVERS {
            let c = Background::start(
                env,
                driver,
                "envs",
                &[
                    "-e", "A=run", "-e", "B=run", "-w", "/tmp", "busybox", "sleep", "1000",
                ],
            );
            let out = c.exec(&[], &["env"]).stdout();
            assert!(out.lines().any(|l| l == "A=run"), "{out}");
            assert!(out.lines().any(|l| l == "HOME=/root"), "{out}");
            assert!(
                out.lines()
                    .any(|l| l == "HOSTNAME=envs" || l.starts_with("HOSTNAME="))
            );
            let out = c
                .exec(
                    &["-e", "B=flag", "--env-file", file.to_str().unwrap()],
                    &["env"],
                )
                .stdout();
            assert!(out.lines().any(|l| l == "B=flag"), "{out}");
            assert!(out.lines().any(|l| l == "FROM_FILE=f"), "{out}");
            assert!(out.lines().any(|l| l == "A=run"), "{out}");
            // The container's working directory, or -w.
            assert_eq!(c.exec(&[], &["sh", "-c", "pwd"]).stdout(), "/tmp\n");
            assert_eq!(
                c.exec(&["-w", "/etc"], &["sh", "-c", "pwd"]).stdout(),
                "/etc\n"
            );
            c.exec(&["-w", "/no/such/dir"], &["true"])
                .fails(125)
                .assert_stderr_contains("/no/such/dir");
            // Users from the container's /etc/passwd.
            c.exec(&["-u", "nosuchuser"], &["true"])
                .fails(125)
                .assert_stderr_contains("nosuchuser");
            if env.user.is_root() || has_subids(env.user.name()) {
                assert_eq!(c.exec(&["-u", "nobody"], &["id", "-u"]).stdout(), "65534\n");
                let out = c.exec(&["-u", "nobody"], &["env"]).stdout();
                assert!(out.lines().any(|l| l == "HOME=/nonexistent"), "{out}");
                // An ordinary user has no capabilities.
                let caps = c
                    .exec(&["-u", "nobody"], &["grep", "CapEff", "/proc/self/status"])
                    .stdout();
                assert_eq!(caps, "CapEff:\t0000000000000000\n");
            } else {
                c.exec(&["-u", "nobody"], &["id", "-u"])
                    .fails(125)
                    .assert_stderr_contains("not mapped");
            }
            // -i: standard input reaches the command; without it, /dev/null.
            let mut cat = c.exec(&["-i"], &["cat"]);
            assert_eq!(cat.stdin("through\n").stdout(), "through\n");
            let mut cat = c.exec(&[], &["cat"]);
            assert_eq!(cat.stdin("lost\n").stdout(), "");
            c.remove();
        }
    });
}

#[test]
fn exec_has_the_containers_confinement() {
    for_each_user(|env| {
        env.load_image(busybox());
        let c = Background::sleeping(env, "vfs", "conf");
        let field = |pid: &str, name: &str, flags: &[&str]| {
            let path = format!("/proc/{pid}/status");
            c.exec(flags, &["grep", &format!("^{name}:"), &path])
                .stdout()
        };
        for name in ["CapEff", "CapBnd", "CapPrm", "Seccomp", "NoNewPrivs"] {
            assert_eq!(field("self", name, &[]), field("1", name, &[]), "{name}");
        }
        assert_eq!(field("self", "Seccomp", &[]), "Seccomp:\t2\n");
        // --privileged: more capabilities than the container's.
        let own = field("self", "CapEff", &["--privileged"]);
        assert_ne!(own, field("1", "CapEff", &[]), "{own}");
        c.remove();
    });
}

#[test]
fn exec_detached_keeps_running_and_dies_with_the_container() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let c = Background::sleeping(env, driver, "det");
            // A number of its own per user: the users' variants run at the same time.
            let secs = (86000 + env.account.uid % 1000).to_string();
            let start = Instant::now();
            let script = format!("sleep 1; touch /tmp/done; exec sleep {secs}");
            let id = c.exec(&["-d"], &["sh", "-c", &script]).stdout();
            assert!(start.elapsed() < Duration::from_secs(5));
            let id = id.trim();
            assert!(
                id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{id}"
            );
            let deadline = Instant::now() + Duration::from_secs(20);
            while c.exec(&[], &["test", "-f", "/tmp/done"]).output().code() != Some(0) {
                assert!(Instant::now() < deadline, "the detached process never ran");
                std::thread::sleep(Duration::from_millis(100));
            }
            let ps = c.exec(&[], &["busybox", "ps"]).stdout();
            assert!(ps.contains(&format!("sleep {secs}")), "{ps}");
            assert!(!processes_with(&["sleep", &secs]).is_empty());
            c.remove();
            let deadline = Instant::now() + Duration::from_secs(10);
            while !processes_with(&["sleep", &secs]).is_empty() {
                assert!(
                    Instant::now() < deadline,
                    "the exec'd process outlived its container ({driver})"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    });
}

#[test]
fn exec_refuses_containers_that_do_not_run() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&[
            "--storage-driver",
            "vfs",
            "create",
            "--name",
            "idle",
            "busybox",
            "true",
        ]);
        let o = env
            .coracle()
            .args(["--storage-driver", "vfs", "exec", "idle", "true"])
            .fails(125);
        o.assert_stderr_contains(
            "can only create exec sessions on running containers: container state improper",
        );
        env.ok(&["--storage-driver", "vfs", "rm", "idle"]);
    });
}

/// `exec -it` from a real terminal (`tty::Terminal`): the process's own terminal in the
/// container's `/dev/pts`, raw mode on the user's, the window size and its changes, the exit
/// status, and the detach keys (default and `--detach-keys`) leaving the process running.
#[test]
fn exec_it_is_a_terminal_that_detaches() {
    use crate::tty::{Terminal, echo_on};
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let c = Background::sleeping(env, driver, "term");
            let exec = |flags: &[&str], command: &[&str]| -> Vec<String> {
                let mut a = vec!["--storage-driver", driver, "exec"];
                a.extend_from_slice(flags);
                a.push("term");
                a.extend_from_slice(command);
                a.into_iter().map(String::from).collect()
            };
            let args = exec(&["-it"], &["sh"]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut term = Terminal::spawn(env, &args, 30, 100);
            term.expect("# ");
            term.type_("tty; stty size; echo $((6*7))\r");
            term.expect("/dev/pts/");
            term.expect("30 100");
            term.expect("42");
            assert_eq!(term.text().matches("6*7").count(), 1, "{:?}", term.text());
            coracle::runtime::terminal::set_window_size(&term.master, 40, 120).unwrap();
            std::thread::sleep(Duration::from_millis(300));
            term.type_("stty size\r");
            term.expect("40 120");
            term.type_("exit 3\r");
            let (code, slave) = term.wait();
            assert_eq!(code, 3, "{driver}");
            assert!(echo_on(&slave), "the terminal was left in raw mode");

            // ^P^Q: the shell runs on (its pid written first), and it can still write.
            let mut term = Terminal::spawn(env, &args, 24, 80);
            term.expect("# ");
            term.type_("echo $$ > /tmp/sh.pid; echo saved-$((1+1))\r");
            term.expect("saved-2");
            term.type_("\x10\x11");
            let (code, slave) = term.wait();
            assert_eq!(code, 0, "{driver}");
            assert!(echo_on(&slave));
            let alive = c
                .exec(
                    &[],
                    &["sh", "-c", "kill -0 $(cat /tmp/sh.pid) && echo alive"],
                )
                .stdout();
            assert_eq!(alive, "alive\n", "{driver}");

            let args = exec(&["-it", "--detach-keys", "ctrl-a,x"], &["sh"]);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut term = Terminal::spawn(env, &args, 24, 80);
            term.expect("# ");
            // The default keys are ordinary input now.
            term.type_("\x10\x11echo still-$((2+3))\r");
            term.expect("still-5");
            term.type_("\x01x");
            assert_eq!(term.wait().0, 0, "{driver}");
            c.remove();
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// `exec -t` with no terminal around it still gives the process one; `--latest` picks the
/// newest container; `exec NAME` without a command is refused.
#[test]
fn exec_t_and_latest() {
    for_each_user(|env| {
        env.load_image(busybox());
        let c = Background::sleeping(env, "vfs", "plain");
        let o = c
            .exec(
                &["-t"],
                &["sh", "-c", "tty; test -t 0 && echo in-tty; exit 4"],
            )
            .fails(4);
        let out = o.stdout();
        assert!(out.starts_with("/dev/pts/"), "{out:?}");
        assert!(out.ends_with("\r\nin-tty\r\n"), "{out:?}");
        let latest = c.coracle(&["exec", "-l", "cat", "/etc/hostname"]).stdout();
        let host = c.exec(&[], &["cat", "/etc/hostname"]).stdout();
        assert_eq!(latest, host);
        // -d -t: the terminal is the joiner's to read; the process still has one.
        c.exec(&["-d", "-t"], &["sh", "-c", "tty > /tmp/dt; echo noise"])
            .ok();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = c.exec(&[], &["cat", "/tmp/dt"]).output();
            if got.code() == Some(0) {
                assert!(got.stdout().starts_with("/dev/pts/"), "{}", got.stdout());
                break;
            }
            assert!(Instant::now() < deadline, "exec -dt never ran");
            std::thread::sleep(Duration::from_millis(50));
        }
        let o = c.coracle(&["exec", "plain"]).fails(125);
        assert!(o.stderr().contains("non-empty command"), "{}", o.stderr());
        c.remove();
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// A process started by `exec` (without `-t`) or by a health check run from the user's
/// terminal must not have that terminal as its controlling terminal: it could open
/// `/dev/tty` and push keystrokes into the user's shell (`TIOCSTI`).
#[test]
fn exec_and_health_checks_do_not_get_the_callers_terminal() {
    use crate::tty::Terminal;
    for_each_user(|env| {
        env.load_image(busybox());
        let c = Background::start(
            env,
            "vfs",
            "ctty",
            &[
                "--health-cmd",
                "exec 3</dev/tty",
                "--health-interval",
                "disable",
                "busybox",
                "sleep",
                "1000",
            ],
        );
        let probe = "if (exec 3</dev/tty) 2>/dev/null; then echo TTY-OPENED; else echo NO-TTY; fi";
        for flags in [&[][..], &["-i"][..]] {
            let mut args = vec!["--storage-driver", "vfs", "exec"];
            args.extend_from_slice(flags);
            args.extend_from_slice(&["ctty", "sh", "-c", probe]);
            let term = Terminal::spawn(env, &args, 24, 80);
            term.expect("TTY");
            let text = term.text();
            assert_eq!(term.wait().0, 0, "{flags:?}: {text:?}");
            assert!(text.contains("NO-TTY"), "{flags:?}: {text:?}");
        }
        // The check opens /dev/tty: it fails (exit 1, unhealthy/starting) when it cannot.
        let args = ["--storage-driver", "vfs", "healthcheck", "run", "ctty"];
        let term = Terminal::spawn(env, &args, 24, 80);
        let (code, _) = term.wait();
        assert_eq!(code, 1, "the health check opened the caller's terminal");
        c.remove();
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
