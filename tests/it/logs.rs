//! `logs` of the `k8s-file` log the monitor writes: the format, streams, `--tail`,
//! `--since`/`--until`, `-t`, `-n`, partial lines, rotation at `max-size`, `-f`, other drivers.

use std::fs;

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};
use crate::lifecycle::wait_for;

fn coracle(env: &TestEnv) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", "vfs"]);
    c
}

#[test]
fn logs_are_k8s_files_and_read_back() {
    for_each_user(|env| {
        env.load_image(busybox());
        coracle(env)
            .args(["run", "--name", "l", "busybox", "sh", "-c"])
            .arg("echo one; echo two >&2; printf 'part'; sleep 0.2; echo ial; printf end")
            .ok();
        let id = coracle(env).args(["ps", "-aq", "--no-trunc"]).stdout();
        let log = env
            .root()
            .join("containers")
            .join(id.trim())
            .join("userdata/ctr.log");
        let text = fs::read_to_string(&log).unwrap();
        let entries: Vec<Vec<&str>> = text.lines().map(|l| l.splitn(4, ' ').collect()).collect();
        for e in &entries {
            assert!(chrono::DateTime::parse_from_rfc3339(e[0]).is_ok(), "{text}");
        }
        // Each stream in its order (the two pipes are read as output comes).
        let tags = |stream: &str| -> Vec<String> {
            entries
                .iter()
                .filter(|e| e[1] == stream)
                .map(|e| format!("{} {}", e[2], e[3]))
                .collect()
        };
        assert_eq!(
            tags("stdout"),
            ["F one", "P part", "F ial", "P end"],
            "{text}"
        );
        assert_eq!(tags("stderr"), ["F two"], "{text}");
        let o = coracle(env).args(["logs", "l"]).ok();
        assert_eq!(o.stdout(), "one\npartial\nend");
        assert_eq!(o.stderr(), "two\n");
        let o = coracle(env).args(["logs", "--tail", "2", "l"]).ok();
        assert_eq!(o.stdout(), "partial\nend");
        let o = coracle(env).args(["logs", "--tail", "0", "l"]).ok();
        assert_eq!(o.stdout(), "");
        let o = coracle(env).args(["logs", "-t", "-n", "l"]).ok();
        let first = o.stdout().lines().next().unwrap().to_string();
        let parts: Vec<&str> = first.splitn(3, ' ').collect();
        assert_eq!(parts[0], "l");
        assert!(
            chrono::DateTime::parse_from_rfc3339(parts[1]).is_ok(),
            "{first}"
        );
        assert_eq!(parts[2], "one");
        let o = coracle(env).args(["logs", "--since", "1h", "l"]).ok();
        assert_eq!(o.stdout(), "one\npartial\nend");
        let o = coracle(env).args(["logs", "--until", "1h", "l"]).ok();
        assert_eq!(o.stdout(), "");
        let o = coracle(env)
            .args(["logs", "--since", "2000-01-01", "l"])
            .ok();
        assert_eq!(o.stderr(), "two\n");
        coracle(env)
            .args(["logs", "--since", "whenever", "l"])
            .fails(125);
        coracle(env).args(["logs", "nosuch"]).fails(125);
    });
}

#[test]
fn logs_rotate_at_max_size_and_other_drivers() {
    for_each_user(|env| {
        env.load_image(busybox());
        coracle(env)
            .args([
                "run",
                "--name",
                "big",
                "--log-opt",
                "max-size=10k",
                "busybox",
                "sh",
                "-c",
            ])
            .arg("i=0; while [ $i -lt 2000 ]; do echo line $i; i=$((i+1)); done")
            .ok();
        let id = coracle(env)
            .args(["ps", "-aq", "--no-trunc", "--filter", "name=big"])
            .stdout();
        let dir = env
            .root()
            .join("containers")
            .join(id.trim())
            .join("userdata");
        let size = |n: &str| fs::metadata(dir.join(n)).map(|m| m.len()).unwrap_or(0);
        assert!(size("ctr.log") <= 10_000, "{}", size("ctr.log"));
        assert!(size("ctr.log.1") > 0 && size("ctr.log.1") <= 10_000);
        let out = coracle(env).args(["logs", "big"]).stdout();
        assert!(out.ends_with("line 1999\n"), "{out}");
        assert!(!out.starts_with("line 0\n"));

        // A log somewhere else.
        let path = env.path("elsewhere.log");
        coracle(env)
            .args(["run", "--rm", "--log-opt"])
            .arg(format!("path={}", path.display()))
            .args(["busybox", "echo", "there"])
            .ok();
        assert!(
            fs::read_to_string(&path)
                .unwrap()
                .ends_with(" stdout F there\n")
        );

        // No log: output still reaches the attached command.
        let o = coracle(env)
            .args([
                "run",
                "--name",
                "quiet",
                "--log-driver",
                "none",
                "busybox",
                "echo",
                "hi",
            ])
            .ok();
        assert_eq!(o.stdout(), "hi\n");
        coracle(env)
            .args(["logs", "quiet"])
            .fails(125)
            .assert_stderr_contains("none log driver");
        // Passthrough: the command's own streams.
        let o = coracle(env)
            .args([
                "run",
                "--rm",
                "--log-driver",
                "passthrough",
                "busybox",
                "sh",
                "-c",
            ])
            .arg("echo out; echo err >&2; exit 3")
            .fails(3);
        assert_eq!(
            (o.stdout().as_str(), o.stderr().as_str()),
            ("out\n", "err\n")
        );
    });
}

#[test]
fn logs_follow_a_running_container_to_its_end() {
    for_each_user(|env| {
        env.load_image(busybox());
        coracle(env)
            .args(["run", "-d", "--name", "f", "busybox", "sh", "-c"])
            .arg("echo first; sleep 2; echo second; exit 0")
            .ok();
        wait_for("the first line", || {
            coracle(env).args(["logs", "f"]).stdout() == "first\n"
        });
        // Returns once the container ended, with what came meanwhile.
        let out = coracle(env).args(["logs", "-f", "f"]).stdout();
        assert_eq!(out, "first\nsecond\n");
    });
}
