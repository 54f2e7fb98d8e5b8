//! `top`: the processes of a running container, found through its PID namespace, in
//! Podman's default columns or the descriptors asked for.

use crate::harness::for_each_user;
use crate::harness::images::busybox;
use crate::stop::Background;

#[test]
fn top_lists_the_containers_processes() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut bg = Background::start(
            env,
            "busy",
            &["busybox", "sh", "-c", "sleep 1001 & sleep 1002 & wait"],
        );
        // The children may take a moment to exec.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        let table = loop {
            let t = env.ok(&["top", "busy"]);
            if t.contains("sleep 1002") && t.contains("sleep 1001") {
                break t;
            }
            assert!(std::time::Instant::now() < deadline, "{t}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            rows[0],
            [
                "USER", "PID", "PPID", "%CPU", "ELAPSED", "TTY", "TIME", "COMMAND"
            ],
            "{table}"
        );
        assert_eq!(rows.len(), 4, "{table}");
        // PID 1 is the shell, its parent outside is shown as 0; the sleeps are its children.
        assert_eq!(&rows[1][..3], ["root", "1", "0"], "{table}");
        assert_eq!(rows[1][5], "?", "{table}");
        assert_eq!(
            &rows[1][7..],
            [
                "sh", "-c", "sleep", "1001", "&", "sleep", "1002", "&", "wait"
            ]
        );
        for r in &rows[2..] {
            assert_eq!(r[0], "root", "{table}");
            assert_eq!(r[2], "1", "{table}");
            assert_eq!(r[7], "sleep", "{table}");
        }
        // Descriptors, by name and in their AIX form.
        let custom = env.ok(&["top", "busy", "pid", "%c", "user"]);
        let first: Vec<&str> = custom.lines().nth(1).unwrap().split_whitespace().collect();
        assert_eq!(first, ["1", "sh", "root"], "{custom}");
        assert!(custom.starts_with("PID "), "{custom}");
        let hpid = env.ok(&["top", "busy", "hpid"]);
        let init_pid = crate::stop::record(env, "busy")["pid"].as_i64().unwrap();
        assert_eq!(hpid.lines().nth(1).unwrap().trim(), init_pid.to_string());
        env.coracle()
            .args(["top", "busy", "bogus"])
            .output()
            .assert_error()
            .assert_stderr_contains("unknown descriptor: bogus");
        env.ok(&["stop", "-t", "0", "busy"]);
        assert_eq!(bg.exit_code(), 137);
        env.coracle()
            .args(["top", "busy"])
            .output()
            .assert_error()
            .assert_stderr_contains("top can only be used on running containers");
        env.ok(&["rm", "busy"]);
    });
}
