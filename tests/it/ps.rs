//! `ps`, `rm`, `container inspect` and `rmi` of an image in use, on containers left by `run`
//! without `--rm`, with both storage drivers.

use std::fs;

use serde_json::Value;

use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};

const DRIVERS: [&str; 2] = ["vfs", "overlay"];

fn coracle(env: &TestEnv, driver: &str, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver]).args(args);
    c
}

fn ok(env: &TestEnv, driver: &str, args: &[&str]) -> String {
    coracle(env, driver, args).stdout()
}

fn lines(s: &str) -> Vec<&str> {
    s.lines().collect()
}

/// Two containers: `zero` (exit 0) and `three` (exit 3, after giving a file to another id
/// of the user's range where there is one).
fn two_containers(env: &TestEnv, driver: &str) -> (String, String) {
    ok(env, driver, &["run", "--name", "zero", "busybox", "true"]);
    coracle(
        env,
        driver,
        &[
            "run",
            "--name",
            "three",
            "busybox",
            "sh",
            "-c",
            "mkdir /d && touch /d/f && chown -R 1000:1000 /d 2>/dev/null; chmod 500 /d; exit 3",
        ],
    )
    .fails(3);
    let ids = ok(env, driver, &["ps", "-a", "--no-trunc", "-q"]);
    let ids = lines(&ids);
    assert_eq!(ids.len(), 2, "{ids:?}");
    // Newest first.
    (ids[1].to_string(), ids[0].to_string())
}

#[test]
fn ps_lists_exited_containers_and_rm_removes_them() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let (zero, three) = two_containers(env, driver);
            assert!(zero.len() == 64 && three.len() == 64, "{zero} {three}");

            // Without -a only running containers: just the header.
            let running = ok(env, driver, &["ps"]);
            assert_eq!(lines(&running).len(), 1, "{running}");
            let header: Vec<&str> = running.split_whitespace().collect();
            assert_eq!(
                header,
                [
                    "CONTAINER",
                    "ID",
                    "IMAGE",
                    "COMMAND",
                    "CREATED",
                    "STATUS",
                    "PORTS",
                    "NAMES"
                ]
            );
            let table = ok(env, driver, &["ps", "-a"]);
            let rows = lines(&table);
            assert_eq!(rows.len(), 3, "{table}");
            assert!(rows[1].starts_with(&three[..12]), "{table}");
            assert!(rows[1].contains("busybox"), "{table}");
            assert!(rows[1].contains("Exited (3) "), "{table}");
            assert!(rows[1].ends_with("three"), "{table}");
            assert!(
                rows[2].contains("Exited (0) ") && rows[2].ends_with("zero"),
                "{table}"
            );
            let noheading = ok(env, driver, &["ps", "-a", "--noheading"]);
            assert_eq!(lines(&noheading).len(), 2, "{noheading}");

            let short = ok(env, driver, &["ps", "-aq"]);
            assert_eq!(short, format!("{}\n{}\n", &three[..12], &zero[..12]));

            let statuses = ok(
                env,
                driver,
                &["ps", "-a", "--format", "{{.Names}} {{.Status}}"],
            );
            let statuses = lines(&statuses);
            assert!(
                statuses[0].starts_with("three Exited (3) ") && statuses[0].ends_with(" ago"),
                "{statuses:?}"
            );
            assert!(statuses[1].starts_with("zero Exited (0) "), "{statuses:?}");
            let fields = ok(
                env,
                driver,
                &[
                    "ps",
                    "-a",
                    "--format",
                    "{{.State}} {{.ExitCode}} {{.Command}}",
                    "-n",
                    "1",
                ],
            );
            assert!(fields == "exited 3 sh -c mkdir /d &&...\n", "{fields}");
            assert_eq!(
                ok(env, driver, &["ps", "-l", "--format", "{{.Names}}"]),
                "three\n"
            );

            let names = |filters: &[&str]| {
                let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
                for f in filters {
                    args.extend(["--filter", f]);
                }
                ok(env, driver, &args)
            };
            assert_eq!(names(&["status=exited"]), "three\nzero\n");
            assert_eq!(names(&["status=running"]), "");
            assert_eq!(names(&["exited=3"]), "three\n");
            assert_eq!(names(&["exited=3", "exited=0"]), "three\nzero\n");
            assert_eq!(names(&["name=zero"]), "zero\n");
            assert_eq!(names(&[&format!("id={}", &zero[..8])]), "zero\n");
            assert_eq!(names(&["ancestor=busybox", "exited=0"]), "zero\n");
            assert_eq!(names(&["ancestor=nosuchimage"]), "");
            coracle(env, driver, &["ps", "--filter", "bogus=1"]).fails(125);

            let json: Value =
                serde_json::from_str(&ok(env, driver, &["ps", "-a", "--format", "json"])).unwrap();
            assert_eq!(json[0]["Id"], three.as_str());
            assert_eq!(json[0]["ExitCode"], 3);
            assert_eq!(json[0]["State"], "exited");
            assert_eq!(json[0]["Names"], serde_json::json!(["three"]));
            assert_eq!(json[1]["Exited"], true);

            // inspect, by name, by ID prefix, and through `inspect`.
            let doc: Value =
                serde_json::from_str(&ok(env, driver, &["container", "inspect", "three"])).unwrap();
            assert_eq!(doc[0]["Id"], three.as_str());
            assert_eq!(doc[0]["Name"], "three");
            assert_eq!(doc[0]["Path"], "sh");
            assert_eq!(doc[0]["State"]["Status"], "exited");
            assert_eq!(doc[0]["State"]["ExitCode"], 3);
            assert_eq!(doc[0]["State"]["Running"], false);
            assert_eq!(doc[0]["GraphDriver"]["Name"], driver);
            assert_eq!(
                ok(
                    env,
                    driver,
                    &[
                        "inspect",
                        "--format",
                        "{{.State.ExitCode}} {{.Name}}",
                        &zero[..10]
                    ]
                ),
                "0 zero\n"
            );
            coracle(env, driver, &["container", "inspect", "nosuch"]).fails(125);

            // The image is in use.
            coracle(env, driver, &["rmi", "busybox"])
                .fails(2)
                .assert_stderr_contains("image is in use by a container");

            // rm: a missing container, then each of ours.
            coracle(env, driver, &["rm", "nosuch"])
                .fails(1)
                .assert_stderr_contains("no such container");
            assert_eq!(ok(env, driver, &["rm", "-i", "nosuch"]), "");
            assert_eq!(ok(env, driver, &["rm", "three"]), format!("{three}\n"));
            assert_eq!(ok(env, driver, &["rm", &zero[..12]]), format!("{zero}\n"));
            coracle(env, driver, &["rm", "zero"]).fails(1);
            assert_eq!(ok(env, driver, &["ps", "-aq"]), "");
            assert_eq!(env.container_leftovers(), Vec::<String>::new(), "{driver}");
        }
        // Nothing uses the image any more.
        env.ok(&["rmi", "busybox"]);
    });
}

#[test]
fn a_running_record_without_its_monitor_is_exited() {
    for_each_user(|env| {
        env.load_image(busybox());
        ok(env, "vfs", &["run", "--name", "ghost", "busybox", "true"]);
        let id = ok(env, "vfs", &["ps", "-aq", "--no-trunc"]);
        let record = env
            .root()
            .join("containers")
            .join(id.trim())
            .join("container.json");
        let mut rec: Value = serde_json::from_slice(&fs::read(&record).unwrap()).unwrap();
        rec["state"] = "running".into();
        rec["exit_code"] = Value::Null;
        // Our own pid, with a start time it never had: a reused pid.
        rec["monitor_pid"] = std::process::id().into();
        rec["monitor_start"] = 1.into();
        fs::write(&record, serde_json::to_vec(&rec).unwrap()).unwrap();
        assert_eq!(ok(env, "vfs", &["ps", "-q"]), "");
        let status = ok(
            env,
            "vfs",
            &["ps", "-a", "--format", "{{.State}} {{.Status}}"],
        );
        assert!(status.starts_with("exited Exited (137) "), "{status}");
        ok(env, "vfs", &["rm", "ghost"]);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn rmi_force_removes_the_containers_using_the_image() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let (zero, three) = two_containers(env, driver);
            let out = ok(env, driver, &["rmi", "-f", "busybox"]);
            assert!(out.contains("Deleted: "), "{out}");
            assert_eq!(ok(env, driver, &["ps", "-aq"]), "", "{zero} {three}");
            assert_eq!(env.container_leftovers(), Vec::<String>::new(), "{driver}");
            env.load_image(busybox());
        }
    });
}

/// As root only (the harness runs other users' commands to completion): a running
/// container is listed as running, refused by `rm` (2) and killed and removed by `rm -f`.
#[test]
fn rm_force_kills_a_running_container() {
    crate::harness::for_users(&[crate::harness::User::Root], |env| {
        env.load_image(busybox());
        let mut child = std::process::Command::new(crate::harness::users::binary())
            .arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot())
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--name",
                "sleeper",
                "busybox",
                "sleep",
                "60",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while ok(env, "vfs", &["ps", "--format", "{{.Names}}"]) != "sleeper\n" {
            assert!(std::time::Instant::now() < deadline, "never running");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let status = ok(env, "vfs", &["ps", "--format", "{{.State}} {{.Status}}"]);
        assert!(status.starts_with("running Up "), "{status}");
        let doc: Value =
            serde_json::from_str(&ok(env, "vfs", &["container", "inspect", "sleeper"])).unwrap();
        assert_eq!(doc[0]["State"]["Running"], true);
        coracle(env, "vfs", &["rm", "sleeper"])
            .fails(2)
            .assert_stderr_contains("as it is running");
        ok(env, "vfs", &["rm", "-f", "-t", "0", "sleeper"]);
        let _ = child.wait();
        assert_eq!(ok(env, "vfs", &["ps", "-aq"]), "");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// A container that another process runs: `Up`, filtered by status, and shown exited as
/// soon as its monitor is killed (its init dies with it).
#[test]
fn ps_shows_running_containers_and_dead_monitors() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.ok(&["create", "--name", "fresh", "busybox", "true"]);
        let bg = crate::stop::Background::start(env, "live", &["busybox", "sleep", "1000"]);
        let status = ok(
            env,
            "overlay",
            &["ps", "--format", "{{.Names}} {{.Status}}"],
        );
        assert!(status.starts_with("live Up "), "{status}");
        assert_eq!(lines(&status).len(), 1, "{status}");
        let all = ok(
            env,
            "overlay",
            &["ps", "-a", "--format", "{{.Names}} {{.Status}}"],
        );
        assert_eq!(lines(&all)[1], "fresh Created", "{all}");
        let f = |s: &str| {
            ok(
                env,
                "overlay",
                &["ps", "-a", "--format", "{{.Names}}", "--filter", s],
            )
        };
        assert_eq!(f("status=running"), "live\n");
        assert_eq!(f("status=created"), "fresh\n");
        assert_eq!(f("status=exited"), "");
        let id = ok(env, "overlay", &["ps", "-q", "--no-trunc"]);
        assert_eq!(id.trim().len(), 64, "{id}");
        assert_eq!(
            ok(env, "overlay", &["ps", "-q"]),
            format!("{}\n", &id[..12])
        );
        assert_eq!(
            ok(env, "overlay", &["ps", "-l", "--format", "{{.Names}}"]),
            "live\n"
        );
        let rec = crate::stop::record(env, "live");
        let monitor = rec["monitor_pid"].as_i64().unwrap() as i32;
        let init = rec["pid"].as_i64().unwrap();
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(monitor),
            nix::sys::signal::Signal::SIGKILL,
        )
        .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while crate::stop::alive(init) || crate::stop::alive(i64::from(monitor)) {
            assert!(
                std::time::Instant::now() < deadline,
                "the init outlived its monitor"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let status = ok(
            env,
            "overlay",
            &["ps", "-a", "--format", "{{.Names}} {{.Status}}"],
        );
        assert!(
            lines(&status)[0].starts_with("live Exited (137) "),
            "{status}"
        );
        assert_eq!(ok(env, "overlay", &["ps", "-q"]), "");
        drop(bg);
        ok(env, "overlay", &["rm", "live", "fresh"]);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// `--filter label=` and `restart-policy=` select in `ps`, `start` and `stop` alike, as
/// Podman's do; a filter with names, or an unknown key, is an error (125).
#[test]
fn label_and_restart_policy_filters_select_for_ps_start_and_stop() {
    for_each_user(|env| {
        env.load_image(busybox());
        let trap = "trap 'exit 0' TERM; while :; do sleep 1; done";
        env.ok(&[
            "create",
            "--name",
            "web",
            "--label",
            "tier=front",
            "--restart=always",
            "busybox",
            "sh",
            "-c",
            trap,
        ]);
        env.ok(&[
            "create",
            "--name",
            "db",
            "--label",
            "tier=back",
            "--restart=on-failure:3",
            "busybox",
            "sh",
            "-c",
            trap,
        ]);
        let names = |filters: &[&str]| {
            let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
            for f in filters {
                args.extend(["--filter", f]);
            }
            let mut v: Vec<String> = env.ok(&args).lines().map(String::from).collect();
            v.sort();
            v
        };
        assert_eq!(names(&["label=tier"]), ["db", "web"]);
        assert_eq!(names(&["label=tier=front"]), ["web"]);
        assert_eq!(
            names(&["label=tier=front", "label=tier=back"]),
            ["db", "web"]
        );
        assert_eq!(names(&["restart-policy=on-failure"]), ["db"]);
        assert_eq!(names(&["restart-policy=no"]), Vec::<String>::new());
        assert_eq!(names(&["label=tier", "restart-policy=always"]), ["web"]);

        env.ok(&["start", "--filter", "restart-policy=always"]);
        assert_eq!(names(&["status=running"]), ["web"]);
        env.ok(&["start", "--all"]);
        assert_eq!(names(&["status=running"]), ["db", "web"]);
        env.ok(&["stop", "--filter", "label=tier=back"]);
        assert_eq!(names(&["status=running"]), ["web"]);

        let o = env
            .coracle()
            .args(["stop", "--filter", "label=x", "web"])
            .output();
        assert_eq!(o.code(), Some(125), "{o}");
        let o = env.coracle().args(["ps", "--filter", "volume=x"]).output();
        assert_eq!(o.code(), Some(125), "{o}");
        assert!(o.stderr().contains("restart-policy"), "{o}");
        env.ok(&["rm", "-f", "-a"]);
    });
}
