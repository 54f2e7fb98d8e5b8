//! `events`: what image and container commands did, from the store's own log, in Podman's
//! text and JSON forms, filtered, bounded by --since/--until, and streamed as it happens.

use crate::harness::for_each_user;
use crate::harness::images::busybox;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

fn statuses(json_lines: &str) -> Vec<(String, String)> {
    json_lines
        .lines()
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"));
            (
                v["Type"].as_str().unwrap_or_default().to_string(),
                v["Status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[test]
fn image_and_container_commands_are_recorded_in_order() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["tag", "busybox", "localhost/mine:1"]);
        env.ok(&["untag", "localhost/mine:1", "localhost/mine:1"]);
        let cid = env
            .ok(&["create", "--name", "ev", "busybox", "true"])
            .trim()
            .to_string();
        env.ok(&["commit", "-q", "ev", "localhost/committed:1"]);
        let saved = env.path("b.tar");
        env.ok(&["save", "-o", saved.to_str().unwrap(), "busybox"]);
        env.ok(&["rmi", "localhost/committed:1"]);
        let json = env.ok(&["events", "--stream=false", "--format", "json"]);
        let got = statuses(&json);
        let want: Vec<(String, String)> = [
            ("image", "loadFromArchive"),
            ("image", "tag"),
            ("image", "untag"),
            ("container", "create"),
            ("container", "commit"),
            ("image", "save"),
            ("image", "untag"),
            ("image", "remove"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(got, want, "{json}");
        let text = env.ok(&["events", "--stream=false", "--filter", "type=container"]);
        assert!(
            text.lines()
                .any(|l| l.contains(&format!("container create {cid} (image=busybox, name=ev"))),
            "{text}"
        );
        assert_eq!(text.lines().count(), 2, "{text}");
        let tags = env.ok(&[
            "events",
            "--stream=false",
            "--filter",
            "event=tag",
            "--format",
            "{{.Status}} {{.Name}}",
        ]);
        assert_eq!(tags.trim(), "tag localhost/mine:1");
    });
}

#[test]
fn since_and_until_bound_the_past() {
    for_each_user(|env| {
        env.load_image(busybox());
        let future = "2999-01-01T00:00:00Z";
        assert_eq!(env.ok(&["events", "--since", future, "--stream=false"]), "");
        assert_eq!(
            env.ok(&["events", "--until", "2000-01-01"]),
            "",
            "--until stops streaming"
        );
        let recent = env.ok(&["events", "--since", "10m", "--stream=false"]);
        assert!(recent.contains("image loadFromArchive"), "{recent}");
        env.coracle()
            .args(["events", "--since", "not a time", "--stream=false"])
            .fails(125)
            .assert_stderr_contains("--since");
        env.coracle()
            .args(["events", "--filter", "bogus=1", "--stream=false"])
            .fails(125)
            .assert_stderr_contains("invalid filter");
    });
}

#[test]
fn events_stream_as_they_happen() {
    for_each_user(|env| {
        env.load_image(busybox());
        let mut follower = env
            .coracle()
            .args(["events", "--format", "{{.Type}} {{.Status}} {{.Name}}"])
            .command()
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning events");
        let stdout = follower.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        // The past comes first...
        let first = lines.next().expect("a line").expect("read");
        assert!(first.starts_with("image loadFromArchive"), "{first}");
        // ...then what happens while it follows.
        env.ok(&["tag", "busybox", "localhost/live:1"]);
        let next = lines.next().expect("a line").expect("read");
        let _ = follower.kill();
        let _ = follower.wait();
        assert_eq!(next, "image tag localhost/live:1");
    });
}

#[test]
fn the_monitor_records_start_and_died_with_the_exit_code() {
    for_each_user(|env| {
        env.load_image(busybox());
        let since = chrono::Utc::now().to_rfc3339();
        let o = env
            .coracle()
            .args(["run", "--name", "dies", "--label", "team=a", "busybox"])
            .args(["sh", "-c", "exit 3"])
            .output();
        assert_eq!(o.code(), Some(3), "{o}");
        let died = |filter: &str| {
            env.ok(&[
                "events",
                "--since",
                &since,
                "--stream=false",
                "--filter",
                filter,
                "--format",
                "{{.Status}} {{.Name}} {{.ContainerExitCode}}",
            ])
        };
        assert_eq!(died("event=died"), "died dies 3\n");
        let start = died("event=start");
        assert!(start.starts_with("start dies "), "{start}");
        assert_eq!(start.lines().count(), 1, "{start}");
        // started again: a second start and died, in order after the create
        env.ok(&["start", "dies"]);
        env.ok(&["wait", "dies"]);
        let json = env.ok(&[
            "events",
            "--since",
            &since,
            "--stream=false",
            "--filter",
            "type=container",
            "--format",
            "json",
        ]);
        let got: Vec<String> = statuses(&json).into_iter().map(|(_, s)| s).collect();
        assert_eq!(got, ["create", "start", "died", "start", "died"], "{json}");
        // the container's labels are among the attributes, as Podman's
        let text = env.ok(&[
            "events",
            "--since",
            &since,
            "--stream=false",
            "--filter",
            "event=died",
        ]);
        assert!(text.lines().all(|l| l.contains("team=a")), "{text}");
        // killed by a signal: 128+N
        env.ok(&["run", "-d", "--name", "killed", "busybox", "sleep", "1000"]);
        env.ok(&["kill", "-s", "KILL", "killed"]);
        env.ok(&["wait", "killed"]);
        let out = env.ok(&[
            "events",
            "--since",
            &since,
            "--stream=false",
            "--filter",
            "container=killed",
            "--filter",
            "event=died",
            "--format",
            "{{.ContainerExitCode}}",
        ]);
        assert_eq!(out, "137\n");
        env.ok(&["rm", "-f", "dies", "killed"]);
    });
}
