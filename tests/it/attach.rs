//! `attach` to a running container without a terminal: input in, output out, the exit
//! status; and `--sig-proxy`: signals to the foreground command reach the container.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user, users};
use crate::lifecycle::{state, wait_for};

fn coracle(env: &TestEnv) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", "vfs"]);
    c
}

#[test]
fn attach_relays_input_output_and_the_exit_status() {
    for_each_user(|env| {
        env.load_image(busybox());
        coracle(env)
            .args(["run", "-d", "-i", "--name", "a", "busybox", "sh", "-c"])
            .arg("read x; echo got $x; echo to-err >&2; exit 5")
            .ok();
        let o = coracle(env).args(["attach", "a"]).stdin("line\n").fails(5);
        assert_eq!(o.stdout(), "got line\n");
        assert_eq!(o.stderr(), "to-err\n");
        assert_eq!(state(env, "vfs", "a"), "exited");
        coracle(env)
            .args(["attach", "a"])
            .fails(125)
            .assert_stderr_contains("only attach to running containers");
        coracle(env).args(["attach", "nosuch"]).fails(125);
    });
}

#[test]
fn signals_to_the_foreground_command_reach_the_container() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut cmd = if env.user.is_root() {
            Command::new(users::binary())
        } else {
            let mut c = Command::new("/usr/bin/setpriv");
            c.arg(format!("--reuid={}", env.account.uid))
                .arg(format!("--regid={}", env.account.gid))
                .args(["--init-groups", "--"])
                .arg(users::binary());
            c
        };
        cmd.arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--name",
                "s",
                "busybox",
                "sh",
                "-c",
            ])
            .arg("trap 'echo got-term; exit 7' TERM; echo ready; while true; do sleep 0.1; done")
            .env_clear()
            .envs(env.environment())
            .current_dir(env.dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        wait_for("the container", || {
            coracle(env).args(["logs", "s"]).output().stdout() == "ready\n"
        });
        // setpriv execs coracle: the child's pid is coracle's.
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "run did not end after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(7));
        assert_eq!(
            coracle(env).args(["logs", "s"]).stdout(),
            "ready\ngot-term\n"
        );
    });
}
