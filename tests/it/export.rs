//! `export`: a container's root file system as a tar, running or stopped, on both drivers;
//! `import` of it gives an image that runs.

use std::collections::BTreeMap;

use crate::exec::{Background, DRIVERS};
use crate::harness::archive::tar_files;
use crate::harness::images::{APPLETS, busybox};
use crate::harness::{TestEnv, for_each_user};

fn coracle(env: &TestEnv, driver: &str, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver]).args(args);
    c
}

/// Every entry's name, type and owner.
fn listing(tar: &[u8]) -> BTreeMap<String, (char, u64, u64)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Regular => 'f',
                _ => '?',
            };
            let name = e
                .path()
                .unwrap()
                .to_string_lossy()
                .trim_end_matches('/')
                .to_string();
            (name, (kind, h.uid().unwrap(), h.gid().unwrap()))
        })
        .collect()
}

fn check_export(env: &TestEnv, driver: &str, tar: &[u8]) {
    let files = tar_files(tar);
    assert_eq!(
        files.get("tmp/made").map(Vec::as_slice),
        Some(&b"made\n"[..])
    );
    assert!(files.get("bin/busybox").is_some_and(|b| b.len() > 100_000));
    let list = listing(tar);
    for a in APPLETS {
        assert_eq!(list.get(&format!("bin/{a}")).map(|e| e.0), Some('l'), "{a}");
    }
    assert_eq!(list.get("tmp").map(|e| e.0), Some('d'));
    // No mounted file system was entered.
    assert!(
        !list
            .keys()
            .any(|k| k.starts_with("proc/") || k.starts_with("sys/"))
    );
    // The container's own ids: what it made as root is root's.
    assert_eq!(list.get("tmp/made"), Some(&('f', 0, 0)), "{driver}");
    if env.user.is_root() || crate::harness::users::has_subids(env.user.name()) {
        assert_eq!(list.get("tmp/owned"), Some(&('f', 1234, 5678)), "{driver}");
    }
    // An image imported from it runs.
    let path = env.write(format!("export-{driver}.tar"), tar);
    coracle(
        env,
        driver,
        &["import", path.to_str().unwrap(), "localhost/exported"],
    )
    .ok();
    let out = coracle(
        env,
        driver,
        &["run", "--rm", "localhost/exported", "cat", "/tmp/made"],
    )
    .stdout();
    assert_eq!(out, "made\n");
    coracle(env, driver, &["rmi", "localhost/exported"]).ok();
}

const SETUP: &str =
    "echo made > /tmp/made; touch /tmp/owned; chown 1234:5678 /tmp/owned 2>/dev/null; true";

#[test]
fn export_stopped_and_running_containers() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            coracle(
                env,
                driver,
                &["run", "--name", "done", "busybox", "sh", "-c", SETUP],
            )
            .ok();
            let out = env.path(format!("done-{driver}.tar"));
            coracle(
                env,
                driver,
                &["export", "-o", out.to_str().unwrap(), "done"],
            )
            .ok();
            check_export(env, driver, &std::fs::read(&out).unwrap());
            coracle(env, driver, &["rm", "done"]).ok();

            let script = format!("{SETUP}; exec sleep 1000");
            let c = Background::start(env, driver, "live", &["busybox", "sh", "-c", &script]);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while c.exec(&[], &["test", "-f", "/tmp/made"]).output().code() != Some(0) {
                assert!(std::time::Instant::now() < deadline);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            let tar = coracle(env, driver, &["export", "live"])
                .ok()
                .stdout
                .clone();
            check_export(env, driver, &tar);
            c.remove();
        }
        coracle(env, "vfs", &["export", "nosuch"]).fails(125);
    });
}
