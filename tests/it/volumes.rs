//! Named and anonymous volumes: `volume create|ls|inspect|rm|prune|exists`, `-v NAME:/dir`
//! filled from the image on first use (owners kept), surviving the container, `rm -v` and
//! `run --rm` removing anonymous ones, `volume rm` refusing a volume in use.

use serde_json::json;

use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::layer::{Entry, LayerBuilder};
use crate::harness::{TestEnv, User, for_each_user};

const DRIVERS: [&str; 2] = ["vfs", "overlay"];

/// busybox with `/data/hello` (owned by 1000:1000) and `/data/sub/`, `VOLUME /cache`, and
/// `/cache/seed`.
fn data_image() -> Image {
    let mut b = LayerBuilder::new();
    b.push(Entry::dir("data").owner(1000, 1000).mode(0o750));
    b.push(Entry::file("data/hello", "from the image\n").owner(1000, 1000));
    b.push(Entry::dir("data/sub"));
    b.push(Entry::dir("cache"));
    b.push(Entry::file("cache/seed", "seed\n"));
    let mut run = busybox_run_config();
    run["Volumes"] = json!({"/cache": {}});
    Image::new(
        vec![busybox_layer().clone(), b.finish()],
        vec![
            History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
            History::layer("/bin/sh -c #(nop) COPY data"),
        ],
        run,
        &["data:latest"],
    )
}

fn volume_names(env: &TestEnv) -> Vec<String> {
    let out = env.ok(&["volume", "ls", "-q"]);
    out.lines().map(str::to_string).collect()
}

#[test]
fn volume_commands() {
    for_each_user(|env| {
        assert_eq!(
            env.ok(&["volume", "create", "--label", "k=v", "one"]),
            "one\n"
        );
        assert_eq!(env.ok(&["volume", "create", "two"]), "two\n");
        let o = env.coracle().args(["volume", "create", "one"]).fails(125);
        o.assert_stderr_contains("volume with name one already exists");
        assert_eq!(env.ok(&["volume", "create", "--ignore", "one"]), "one\n");
        env.coracle()
            .args(["volume", "create", "bad/name"])
            .fails(125)
            .assert_stderr_contains("invalid volume name");

        let table = env.ok(&["volume", "ls"]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 3, "{table}");
        assert!(lines[0].starts_with("DRIVER") && lines[0].contains("VOLUME NAME"));
        assert!(lines[1].starts_with("local") && lines[1].ends_with("one"));
        assert_eq!(volume_names(env), ["one", "two"]);
        assert_eq!(
            env.ok(&[
                "volume",
                "ls",
                "--filter",
                "label=k=v",
                "--format",
                "{{.Name}}"
            ]),
            "one\n"
        );
        assert_eq!(
            env.ok(&["volume", "ls", "-q", "--filter", "name=tw"]),
            "two\n"
        );

        let o = env.coracle().args(["volume", "inspect", "one"]).ok();
        let v = &o.json()[0];
        assert_eq!(v["Name"], "one");
        assert_eq!(v["Driver"], "local");
        assert_eq!(v["Labels"]["k"], "v");
        assert_eq!(v["Scope"], "local");
        let mountpoint = v["Mountpoint"].as_str().unwrap().to_string();
        assert!(mountpoint.ends_with("/volumes/one/_data"), "{mountpoint}");
        assert!(std::path::Path::new(&mountpoint).is_dir());
        assert_eq!(
            env.ok(&[
                "volume",
                "inspect",
                "--format",
                "{{.Name}} {{.Driver}}",
                "two"
            ]),
            "two local\n"
        );
        env.coracle()
            .args(["volume", "inspect", "nosuch"])
            .fails(125)
            .assert_stderr_contains("no such volume nosuch");

        env.coracle().args(["volume", "exists", "one"]).ok();
        env.coracle().args(["volume", "exists", "nosuch"]).fails(1);
        assert_eq!(env.ok(&["volume", "rm", "one"]), "one\n");
        env.coracle()
            .args(["volume", "rm", "one"])
            .fails(1)
            .assert_stderr_contains("no volume with name \"one\" found: no such volume");
        assert_eq!(env.ok(&["volume", "prune", "-f"]), "two\n");
        assert!(volume_names(env).is_empty());
    });
}

#[test]
fn named_volume_filled_from_image_and_kept() {
    for_each_user(|env| {
        env.load_image(&data_image());
        for driver in DRIVERS {
            // Without subordinate ids the overlay shows 1000's files as owned by an unmapped
            // id, which not even the container's root may read (a vfs copy is the user's).
            if env.user == User::NoSub && driver == "overlay" {
                continue;
            }
            let vol = format!("v{driver}");
            let run = |args: &[&str]| {
                env.coracle()
                    .args(["--storage-driver", driver, "run", "--rm"])
                    .args(args)
                    .stdout()
            };
            let spec = format!("{vol}:/data");
            // First use: the image's files, their owners and the directory's mode.
            let out = run(&[
                "-v",
                &spec,
                "data",
                "sh",
                "-c",
                "cat /data/hello; stat -c '%u:%g %a' /data/hello /data; echo new > /data/added",
            ]);
            let mut lines = out.lines();
            assert_eq!(lines.next(), Some("from the image"), "{driver}: {out}");
            if env.user != User::NoSub {
                assert_eq!(lines.next(), Some("1000:1000 644"), "{driver}: {out}");
                assert_eq!(lines.next(), Some("1000:1000 750"), "{driver}: {out}");
            }
            // Kept after the container; not filled again.
            assert!(volume_names(env).contains(&vol), "{driver}");
            let out = run(&[
                "-v",
                &spec,
                "data",
                "sh",
                "-c",
                "cat /data/added; rm /data/hello; ls /data",
            ]);
            assert_eq!(out, "new\nadded\nsub\n", "{driver}");
            let out = run(&["-v", &spec, "data", "ls", "/data"]);
            assert_eq!(out, "added\nsub\n", "{driver}");
            // A volume created empty beforehand is filled too; nocopy leaves it empty.
            env.ok(&["volume", "create", &format!("{vol}-pre")]);
            let out = run(&["-v", &format!("{vol}-pre:/data"), "data", "ls", "/data"]);
            assert_eq!(out, "hello\nsub\n", "{driver}");
            let out = run(&[
                "-v",
                &format!("{vol}-nocopy:/data:nocopy"),
                "data",
                "ls",
                "/data",
            ]);
            assert_eq!(out, "", "{driver}");
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_run_rm() {
    for_each_user(|env| {
        env.load_image(&data_image());
        env.load_image(busybox());
        // The image's VOLUME /cache and -v /anon: two anonymous volumes, /cache filled.
        let out = env
            .coracle()
            .args(["run", "--name", "c1", "-v", "/anon", "data", "sh", "-c"])
            .arg("cat /cache/seed; touch /anon/x")
            .stdout();
        assert_eq!(out, "seed\n");
        assert_eq!(volume_names(env).len(), 2);
        let o = env.coracle().args(["container", "inspect", "c1"]).ok();
        let mounts = o.json()[0]["Mounts"].as_array().unwrap().clone();
        let dests: Vec<&str> = mounts
            .iter()
            .map(|m| m["Destination"].as_str().unwrap())
            .collect();
        assert_eq!(dests.len(), 2, "{mounts:?}");
        assert!(dests.contains(&"/anon") && dests.contains(&"/cache"));
        assert!(
            mounts
                .iter()
                .all(|m| m["Type"] == "volume" && m["RW"] == true)
        );
        // A named volume in use cannot be removed without --force.
        env.coracle()
            .args(["create", "--name", "c2", "-v", "kept:/k", "busybox", "true"])
            .ok();
        env.coracle()
            .args(["volume", "rm", "kept"])
            .fails(2)
            .assert_stderr_contains("volume kept is being used by the following container(s)");
        env.ok(&["rm", "-v", "c1"]);
        assert_eq!(volume_names(env), ["kept"]);
        // --force removes the container that uses it, as Podman does.
        assert_eq!(env.ok(&["volume", "rm", "-f", "kept"]), "kept\n");
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
        // run --rm removes its anonymous volumes.
        env.coracle()
            .args(["run", "--rm", "-v", "/anon", "data", "true"])
            .ok();
        assert!(volume_names(env).is_empty());
        // Without -v, rm keeps them; prune then removes the unused ones.
        env.coracle()
            .args(["run", "--name", "c3", "busybox", "true"])
            .ok();
        env.coracle()
            .args(["run", "--name", "c4", "-v", "/anon", "busybox", "true"])
            .ok();
        env.ok(&["rm", "c4"]);
        assert_eq!(volume_names(env).len(), 1);
        env.ok(&["volume", "prune", "-f"]);
        assert!(volume_names(env).is_empty());
        env.ok(&["rm", "c3"]);
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn busybox_without_volumes_has_no_mounts() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.coracle()
            .args(["create", "--name", "plain", "busybox", "true"])
            .ok();
        assert_eq!(
            env.ok(&[
                "container",
                "inspect",
                "--format",
                "{{len .Mounts}}",
                "plain"
            ]),
            "0\n"
        );
    });
}
