//! Health checks run by the container's own monitor (no systemd): `--health-*` and the
//! image's `Healthcheck`, the status in `ps`, `inspect` and events, `healthcheck run`,
//! time-outs, `--health-on-failure`, and bad flags.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::exec::Background;
use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::{TestEnv, for_each_user};

/// Polls `cond` every 100 ms for up to `secs`; whether it became true.
fn eventually(secs: u64, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    cond()
}

fn health(c: &Background<'_>) -> Value {
    let o = c
        .coracle(&["inspect", "--format", "{{json .State.Health}}", &c.name])
        .ok();
    serde_json::from_str(o.stdout().trim()).unwrap_or_else(|e| o.fail(e))
}

#[test]
fn the_monitor_runs_checks_and_ps_inspect_and_healthcheck_run_show_them() {
    for_each_user(|env| {
        env.load_image(busybox());
        let c = Background::start(
            env,
            "vfs",
            "hc",
            &[
                "--health-cmd",
                "echo checking; test -f /tmp/ok",
                "--health-interval",
                "1s",
                "--health-retries",
                "2",
                "busybox",
                "sleep",
                "1000",
            ],
        );
        assert!(
            eventually(15, || health(&c)["Status"] == "unhealthy"),
            "{}",
            health(&c)
        );
        let h = health(&c);
        assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
        let log = h["Log"].as_array().unwrap();
        assert!(!log.is_empty() && log.len() <= 5, "{h}");
        assert_eq!(log[0]["ExitCode"], 1, "{h}");
        assert_eq!(log[0]["Output"], "checking\n", "{h}");
        let ps = c.coracle(&["ps", "--format", "{{.Status}}"]).stdout();
        assert!(ps.trim().ends_with("(unhealthy)"), "{ps}");
        let listed = c
            .coracle(&["ps", "-q", "--filter", "health=unhealthy"])
            .stdout();
        assert_eq!(listed.lines().count(), 1, "{listed}");

        // Run by hand: Podman's exit codes and output.
        let o = c.coracle(&["healthcheck", "run", "hc"]).fails(1);
        assert_eq!(o.stdout(), "unhealthy\n", "{o}");
        c.exec(&[], &["touch", "/tmp/ok"]).ok();
        let o = c.coracle(&["healthcheck", "run", "hc"]).ok();
        assert_eq!(o.stdout(), "", "{o}");
        let h = health(&c);
        assert_eq!(
            (h["Status"].as_str(), h["FailingStreak"].as_u64()),
            (Some("healthy"), Some(0)),
            "{h}"
        );
        let ps = c
            .coracle(&[
                "ps",
                "--filter",
                "health=healthy",
                "--format",
                "{{.Names}} {{.Status}}",
            ])
            .stdout();
        assert!(
            ps.starts_with("hc Up ") && ps.trim().ends_with("(healthy)"),
            "{ps}"
        );
        assert_eq!(
            c.coracle(&["ps", "-q", "--filter", "health=none"]).stdout(),
            ""
        );
        let events = c
            .coracle(&[
                "events",
                "--stream=false",
                "--filter",
                "event=health_status",
            ])
            .stdout();
        assert!(events.contains("health_status=healthy"), "{events}");
        assert!(events.contains("health_status=unhealthy"), "{events}");
        let hc = c
            .coracle(&["inspect", "--format", "{{json .Config.Healthcheck}}", "hc"])
            .stdout();
        assert!(
            hc.contains("CMD-SHELL") && hc.contains("1000000000"),
            "{hc}"
        );
        c.remove();
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn a_check_over_its_timeout_is_killed_and_fails() {
    for_each_user(|env| {
        env.load_image(busybox());
        let c = Background::start(
            env,
            "vfs",
            "slow",
            &[
                "--health-cmd",
                "sleep 30",
                "--health-interval",
                "disable",
                "--health-timeout",
                "1s",
                "busybox",
                "sleep",
                "1000",
            ],
        );
        let started = Instant::now();
        let o = c.coracle(&["healthcheck", "run", "slow"]).fails(1);
        assert!(started.elapsed() < Duration::from_secs(10), "{o}");
        // Still starting: one failure of three.
        assert_eq!(o.stdout(), "starting\n", "{o}");
        let h = health(&c);
        let out = h["Log"][0]["Output"].as_str().unwrap_or_default();
        assert!(out.contains("Health check exceeded timeout of 1s"), "{h}");
        // The check's process is gone with its group.
        let ps = c
            .exec(
                &[],
                &[
                    "sh",
                    "-c",
                    "for p in /proc/[0-9]*; do cat $p/cmdline; echo; done",
                ],
            )
            .stdout();
        assert!(ps.contains("sleep\u{0}1000"), "{ps:?}");
        assert!(!ps.contains("sleep\u{0}30"), "{ps:?}");
        c.remove();
    });
}

#[test]
fn unhealthy_with_on_failure_kill_ends_the_container() {
    for_each_user(|env| {
        env.load_image(busybox());
        let c = Background::start(
            env,
            "vfs",
            "doomed",
            &[
                "--health-cmd",
                "false",
                "--health-interval",
                "1s",
                "--health-retries",
                "1",
                "--health-on-failure",
                "kill",
                // Failures count only after it: the container is seen running first.
                "--health-start-period",
                "2s",
                "busybox",
                "sleep",
                "1000",
            ],
        );
        let state = || {
            c.coracle(&[
                "ps",
                "-a",
                "--format",
                "{{.State}}",
                "--filter",
                "name=doomed",
            ])
            .stdout()
        };
        assert!(eventually(15, || state().trim() == "exited"), "{}", state());
        c.remove();
    });
}

/// `busybox` with a `HEALTHCHECK` in its config.
fn image_with_check() -> Image {
    let mut config = busybox_run_config();
    config["Healthcheck"] = serde_json::json!({
        "Test": ["CMD-SHELL", "exit 0"],
        "Interval": 1_000_000_000u64,
        "Timeout": 5_000_000_000u64,
        "Retries": 1,
    });
    Image::new(
        vec![busybox_layer().clone()],
        vec![History::layer("/bin/sh -c #(nop) ADD file:busybox in / ")],
        config,
        &["checked:latest"],
    )
}

#[test]
fn the_images_healthcheck_runs_unless_disabled() {
    for_each_user(|env: &TestEnv| {
        env.load_image(&image_with_check());
        let c = Background::start(env, "vfs", "img", &["checked", "sleep", "1000"]);
        assert!(
            eventually(15, || health(&c)["Status"] == "healthy"),
            "{}",
            health(&c)
        );
        c.remove();
        let c = Background::start(
            env,
            "vfs",
            "off",
            &["--no-healthcheck", "checked", "sleep", "1000"],
        );
        let none = c.coracle(&["ps", "-q", "--filter", "health=none"]).stdout();
        assert_eq!(none.lines().count(), 1, "{none}");
        c.coracle(&["healthcheck", "run", "off"])
            .fails(125)
            .assert_stderr_contains("has no defined healthcheck");
        c.remove();
    });
}

#[test]
fn bad_health_flags_and_stopped_containers_are_125() {
    for_each_user(|env| {
        env.load_image(busybox());
        for flags in [
            &["--health-cmd", "true", "--health-interval", "5"][..],
            &["--health-cmd", "true", "--health-on-failure", "explode"][..],
            &["--health-cmd", "true", "--health-retries", "0"][..],
            &["--health-cmd", "true", "--health-timeout", "10ms"][..],
        ] {
            env.coracle()
                .args(["create"])
                .args(flags)
                .args(["busybox", "true"])
                .fails(125);
        }
        env.coracle()
            .args([
                "create",
                "--name",
                "idle",
                "--health-cmd",
                "true",
                "busybox",
                "true",
            ])
            .ok();
        env.coracle()
            .args(["healthcheck", "run", "idle"])
            .fails(125)
            .assert_stderr_contains("is not running");
        env.coracle()
            .args(["healthcheck", "run", "nosuch"])
            .fails(125);
        env.coracle().args(["rm", "idle"]).ok();
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// `--health-startup-*`: the startup check runs instead of the regular one (its failures
/// keep the container `starting`, `healthcheck run` runs it too) until it passed
/// `--health-startup-success` times, then the regular check takes over; with
/// `--health-startup-retries` failures the container is restarted; the flags need a
/// regular check and a startup command.
#[test]
fn startup_checks_gate_the_regular_one() {
    for_each_user(|env| {
        env.load_image(busybox());
        let c = Background::start(
            env,
            "vfs",
            "slow",
            &[
                "--health-cmd",
                "echo regular",
                "--health-interval",
                "1s",
                "--health-startup-cmd",
                "echo startup; test -f /tmp/up",
                "--health-startup-interval",
                "1s",
                "--health-startup-success",
                "2",
                "--health-startup-timeout",
                "5s",
                "busybox",
                "sleep",
                "1000",
            ],
        );
        let outputs = |h: &Value| -> Vec<String> {
            h["Log"]
                .as_array()
                .map(|l| {
                    l.iter()
                        .map(|e| {
                            format!("{}:{}", e["ExitCode"], e["Output"].as_str().unwrap_or(""))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        assert!(
            eventually(15, || health(&c)["Log"]
                .as_array()
                .is_some_and(|l| l.len() >= 2)),
            "{}",
            health(&c)
        );
        let h = health(&c);
        assert_eq!(h["Status"], "starting", "{h}");
        assert_eq!(h["FailingStreak"], 0, "{h}");
        assert!(
            outputs(&h).iter().all(|o| o == "1:startup\n"),
            "only the startup check ran: {h}"
        );
        let o = c.coracle(&["healthcheck", "run", "slow"]).fails(1);
        assert_eq!(o.stdout(), "starting\n", "{o}");
        let cfg = c
            .coracle(&[
                "inspect",
                "--format",
                "{{json .Config.StartupHealthCheck}}",
                "slow",
            ])
            .stdout();
        assert!(
            cfg.contains("\"Successes\":2") && cfg.contains("test -f /tmp/up"),
            "{cfg}"
        );

        c.exec(&[], &["touch", "/tmp/up"]).ok();
        assert!(
            eventually(15, || outputs(&health(&c))
                .iter()
                .any(|o| o == "0:regular\n")),
            "{}",
            health(&c)
        );
        let h = health(&c);
        assert_eq!(h["Status"], "healthy", "{h}");
        let log = outputs(&h);
        let first_regular = log.iter().position(|o| o == "0:regular\n").unwrap();
        assert!(
            log[first_regular..].iter().all(|o| o == "0:regular\n"),
            "once the regular check ran, the startup check is over: {h}"
        );
        c.coracle(&["healthcheck", "run", "slow"]).ok();
        c.remove();

        // Failing its retries, the container is restarted.
        let c = Background::start(
            env,
            "vfs",
            "restarted",
            &[
                "--health-cmd",
                "true",
                "--health-startup-cmd",
                "false",
                "--health-startup-interval",
                "1s",
                "--health-startup-retries",
                "2",
                "busybox",
                "sh",
                "-c",
                "echo x >> /starts; exec sleep 1000",
            ],
        );
        let starts = || {
            c.exec(&[], &["cat", "/starts"])
                .output()
                .stdout()
                .lines()
                .count()
        };
        assert!(eventually(20, || starts() >= 2), "{}", starts());
        c.remove();

        for flags in [
            &["--health-startup-cmd", "true"][..],
            &["--no-healthcheck", "--health-startup-cmd", "true"][..],
            &["--health-cmd", "true", "--health-startup-interval", "1s"][..],
            &[
                "--health-cmd",
                "true",
                "--health-startup-cmd",
                "true",
                "--health-startup-timeout",
                "10ms",
            ][..],
            &[
                "--health-cmd",
                "true",
                "--health-startup-cmd",
                "true",
                "--health-startup-interval",
                "0s",
            ][..],
        ] {
            env.coracle()
                .args(["create"])
                .args(flags)
                .args(["busybox", "true"])
                .fails(125)
                .assert_stderr_contains("--health-startup");
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
