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
                tar::EntryType::Link => 'h',
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

/// busybox and a layer of files owned by other users than root, one linked twice.
fn owned_image() -> crate::harness::images::Image {
    use crate::harness::images::{History, Image, busybox_layer, busybox_run_config};
    use crate::harness::layer::{Entry, LayerBuilder};
    let layer = LayerBuilder::new()
        .extend([
            Entry::dir("home/u").owner(1000, 1000),
            Entry::file("home/u/file", b"mine\n".to_vec()).owner(1000, 1000),
            Entry::hardlink("home/u/again", "home/u/file"),
            Entry::file("srv-file", b"group\n".to_vec()).owner(0, 5678),
        ])
        .finish();
    Image::new(
        vec![busybox_layer().clone(), layer],
        vec![
            History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
            History::layer("/bin/sh -c #(nop) COPY owned files"),
        ],
        busybox_run_config(),
        &["localhost/owned:latest"],
    )
}

/// The image's owners come out of `export` for every user, whatever ids the user namespace
/// maps (a single mapping shows them as the overflow id inside), hard links as hard links;
/// `import` of the tar and `export` again gives the same owners: the round trip keeps them.
#[test]
fn export_writes_true_owners_and_hard_links() {
    for_each_user(|env| {
        env.load_image(&owned_image());
        for driver in DRIVERS {
            let setup = "echo made > /tmp/made; ln /tmp/made /tmp/made-too";
            coracle(
                env,
                driver,
                &["run", "--name", "own", "localhost/owned", "sh", "-c", setup],
            )
            .ok();
            let tar = coracle(env, driver, &["export", "own"]).ok().stdout.clone();
            let list = listing(&tar);
            let check = |list: &BTreeMap<String, (char, u64, u64)>, what: &str| {
                assert_eq!(
                    list.get("home/u"),
                    Some(&('d', 1000, 1000)),
                    "{driver} {what}"
                );
                assert_eq!(
                    list.get("home/u/file"),
                    Some(&('h', 1000, 1000)),
                    "{driver} {what}"
                );
                assert_eq!(
                    list.get("home/u/again"),
                    Some(&('f', 1000, 1000)),
                    "{driver} {what}"
                );
                assert_eq!(
                    list.get("srv-file"),
                    Some(&('f', 0, 5678)),
                    "{driver} {what}"
                );
                assert_eq!(list.get("bin/busybox").map(|e| (e.1, e.2)), Some((0, 0)));
            };
            check(&list, "export");
            // The first name in the walk's order is the file, the others links to it.
            assert_eq!(list.get("tmp/made").map(|e| e.0), Some('f'), "{driver}");
            assert_eq!(list.get("tmp/made-too").map(|e| e.0), Some('h'), "{driver}");
            coracle(env, driver, &["rm", "own"]).ok();

            let path = env.write(format!("owned-{driver}.tar"), &tar);
            coracle(
                env,
                driver,
                &["import", path.to_str().unwrap(), "localhost/reimported"],
            )
            .ok();
            coracle(
                env,
                driver,
                &["create", "--name", "again", "localhost/reimported", "true"],
            )
            .ok();
            let tar = coracle(env, driver, &["export", "again"])
                .ok()
                .stdout
                .clone();
            check(&listing(&tar), "round trip");
            coracle(env, driver, &["rm", "again"]).ok();
            coracle(
                env,
                driver,
                &["rmi", "localhost/reimported", "localhost/owned"],
            )
            .ok();
            env.load_image(&owned_image());
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
