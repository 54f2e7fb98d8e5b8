//! `-t`: the container's terminal driven from a real one. The test opens a pty pair, runs
//! `coracle` on its slave as the session's controlling terminal (`setsid -c`), types on the
//! master and reads what the user would see: raw mode, the container's own `/dev/pts`, the
//! window size and its changes, ^P^Q detaching, `attach` and the exit status.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use coracle::runtime::terminal::set_window_size;
use coracle::sys::pty::openpty;

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user, users};
use crate::lifecycle::state;

pub(crate) struct Terminal {
    pub(crate) master: File,
    slave: OwnedFd,
    seen: Arc<Mutex<Vec<u8>>>,
    child: Child,
}

impl Terminal {
    /// `coracle ARGS` (on the test's store) with a new terminal of `rows` x `cols`.
    pub(crate) fn spawn(env: &TestEnv, args: &[&str], rows: u16, cols: u16) -> Terminal {
        let pty = openpty().unwrap();
        set_window_size(&pty.master, rows, cols).unwrap();
        let mut cmd = if env.user.is_root() {
            Command::new("setsid")
        } else {
            let mut c = Command::new("/usr/bin/setpriv");
            c.arg(format!("--reuid={}", env.account.uid))
                .arg(format!("--regid={}", env.account.gid))
                .args(["--init-groups", "--", "setsid"]);
            c
        };
        cmd.arg("-c")
            .arg(users::binary())
            .arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args(args)
            .env_clear()
            .envs(env.environment())
            .current_dir(env.dir());
        let fd = |f: &OwnedFd| Stdio::from(f.try_clone().unwrap());
        cmd.stdin(fd(&pty.slave))
            .stdout(fd(&pty.slave))
            .stderr(fd(&pty.slave));
        let child = cmd.spawn().expect("starting coracle on a terminal");
        let master = File::from(pty.master);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let sink = Arc::clone(&seen);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Terminal {
            master,
            slave: pty.slave,
            seen,
            child,
        }
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.seen.lock().unwrap()).into_owned()
    }

    /// Waits until the screen shows `needle` (at most 60 s).
    pub(crate) fn expect(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no {needle:?} on the terminal: {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn type_(&mut self, s: &str) {
        self.master.write_all(s.as_bytes()).unwrap();
    }

    /// Waits for coracle to end; its exit code.
    pub(crate) fn wait(mut self) -> (i32, OwnedFd) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return (st.code().unwrap_or(-1), self.slave);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("coracle did not end: {:?}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

pub(crate) fn echo_on(fd: &OwnedFd) -> bool {
    let t = rustix::termios::tcgetattr(fd).unwrap();
    t.local_modes.contains(rustix::termios::LocalModes::ECHO)
}

#[test]
fn run_it_is_a_terminal_that_detaches_and_reattaches() {
    for_each_user(|env| {
        env.load_image(busybox());
        let args = [
            "--storage-driver",
            "vfs",
            "run",
            "-it",
            "--name",
            "t",
            "busybox",
            "sh",
        ];
        let mut term = Terminal::spawn(env, &args, 30, 100);
        term.expect("# ");
        term.type_("tty; stty size; echo $((6*7))\r");
        term.expect("/dev/pts/0");
        term.expect("30 100");
        term.expect("42");
        // The user's terminal is raw: what is typed shows once, echoed by the container's.
        assert_eq!(term.text().matches("6*7").count(), 1, "{:?}", term.text());
        set_window_size(&term.master, 40, 120).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        term.type_("stty size\r");
        term.expect("40 120");
        term.type_("\x10\x11");
        let (code, slave) = term.wait();
        assert_eq!(code, 0);
        assert!(echo_on(&slave), "the terminal was left in raw mode");
        assert_eq!(state(env, "vfs", "t"), "running");

        let mut term = Terminal::spawn(env, &["--storage-driver", "vfs", "attach", "t"], 24, 80);
        std::thread::sleep(Duration::from_millis(300));
        term.type_("echo back-$((1+1))\r");
        term.expect("back-2");
        term.type_("exit 3\r");
        let (code, slave) = term.wait();
        assert_eq!(code, 3);
        assert!(echo_on(&slave));
        assert_eq!(state(env, "vfs", "t"), "exited");
        let logs = env
            .coracle()
            .args(["--storage-driver", "vfs", "logs", "t"])
            .stdout();
        assert!(logs.contains("back-2"), "{logs}");
        env.coracle()
            .args(["--storage-driver", "vfs", "rm", "t"])
            .ok();
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn run_t_without_a_terminal_still_gives_the_container_one() {
    for_each_user(|env| {
        env.load_image(busybox());
        let o = env
            .coracle()
            .args(["run", "--rm", "-t", "busybox", "sh", "-c"])
            .arg("tty; test -t 1 && echo is-a-tty; exit 2")
            .fails(2);
        // The terminal's line discipline ends lines with \r\n.
        assert_eq!(o.stdout(), "/dev/pts/0\r\nis-a-tty\r\n");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
