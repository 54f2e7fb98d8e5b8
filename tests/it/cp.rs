//! `cp` both ways, with running containers (joined) and stopped ones (their root file
//! system in a user namespace), on both drivers: naming as `docker cp`, owners, tar streams,
//! and symlinks that must resolve inside the container.

use std::fs;
use std::os::unix::fs::MetadataExt as _;

use crate::exec::{Background, DRIVERS};
use crate::harness::archive::tar_files;
use crate::harness::images::busybox;
use crate::harness::{TestEnv, for_each_user};

fn coracle(env: &TestEnv, driver: &str, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver]).args(args);
    c
}

/// The checks every container state shares: `name` has `/tmp/made` ("made\n"), a symlink
/// `/tmp/abs` -> `/etc/passwd` and `/tmp/up` -> `../../../../etc`.
fn copies_both_ways(env: &TestEnv, driver: &str, name: &str) {
    let out = env.mkdir(format!("out-{driver}-{name}"));
    let o = |rel: &str| out.join(rel);
    let cp = |a: &str, b: &str| coracle(env, driver, &["cp", a, b]).ok();
    // A file into a directory, and to a new name.
    cp(&format!("{name}:/tmp/made"), out.to_str().unwrap());
    assert_eq!(fs::read_to_string(o("made")).unwrap(), "made\n");
    cp(&format!("{name}:/tmp/made"), o("renamed").to_str().unwrap());
    assert_eq!(fs::read_to_string(o("renamed")).unwrap(), "made\n");
    // Copied out, files belong to the caller.
    assert_eq!(fs::metadata(o("made")).unwrap().uid(), env.account.uid);
    // A directory to a new name, and its contents into an existing one.
    cp(&format!("{name}:/etc"), o("etc-copy").to_str().unwrap());
    assert!(o("etc-copy/passwd").is_file());
    fs::create_dir(o("into")).unwrap();
    env.give(&o("into"));
    cp(&format!("{name}:/etc/."), o("into").to_str().unwrap());
    assert!(o("into/group").is_file());
    // A symlink is copied as a link; through a trailing slash its target (resolved in
    // the container: `..` stops at its root).
    cp(&format!("{name}:/tmp/abs"), o("abs").to_str().unwrap());
    assert_eq!(
        fs::read_link(o("abs")).unwrap().to_str(),
        Some("/etc/passwd")
    );
    cp(&format!("{name}:/tmp/up/"), o("up").to_str().unwrap());
    let passwd = fs::read_to_string(o("up/passwd")).unwrap();
    assert!(passwd.starts_with("root:x:0:0:root:/root"), "{passwd}");
    assert!(
        !passwd.contains("coracle-sub"),
        "the host's /etc was copied"
    );
    // A tar stream on standard output.
    let tar = coracle(env, driver, &["cp", &format!("{name}:/tmp/made"), "-"])
        .ok()
        .stdout
        .clone();
    assert_eq!(
        tar_files(&tar).get("made").map(Vec::as_slice),
        Some(&b"made\n"[..])
    );

    // Into the container: a file, a directory, a tar stream.
    let src = env.write(format!("src-{driver}-{name}/file.txt"), "host data\n");
    env.write(format!("src-{driver}-{name}/sub/inner"), "inner\n");
    cp(src.to_str().unwrap(), &format!("{name}:/tmp/"));
    cp(src.to_str().unwrap(), &format!("{name}:/tmp/named.txt"));
    let dir = src.parent().unwrap();
    cp(dir.to_str().unwrap(), &format!("{name}:/tmp/tree"));
    let tar = crate::harness::images::tar_of_files(&[("streamed".into(), b"s\n".to_vec())]);
    coracle(env, driver, &["cp", "-", &format!("{name}:/tmp")])
        .stdin(tar)
        .ok();
    // Seen in the container, owned by its root.
    let back = env.mkdir(format!("back-{driver}-{name}"));
    for (inside, want) in [
        ("/tmp/file.txt", "host data\n"),
        ("/tmp/named.txt", "host data\n"),
        ("/tmp/tree/sub/inner", "inner\n"),
        ("/tmp/streamed", "s\n"),
    ] {
        let tar = coracle(env, driver, &["cp", &format!("{name}:{inside}"), "-"])
            .ok()
            .stdout
            .clone();
        let mut a = tar::Archive::new(&tar[..]);
        let e = a.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(
            (e.header().uid().unwrap(), e.header().gid().unwrap()),
            (0, 0)
        );
        assert_eq!(
            tar_files(&tar).into_values().next().unwrap(),
            want.as_bytes()
        );
    }
    // A symlink in the container is followed inside it: writing through `/tmp/up/` lands
    // in the container's /etc, never the host's.
    cp(src.to_str().unwrap(), &format!("{name}:/tmp/up/"));
    assert!(!std::path::Path::new("/etc/file.txt").exists());
    cp(&format!("{name}:/etc/file.txt"), back.to_str().unwrap());
    assert_eq!(
        fs::read_to_string(back.join("file.txt")).unwrap(),
        "host data\n"
    );
    // Errors: a missing path, a directory onto a file.
    coracle(
        env,
        driver,
        &["cp", &format!("{name}:/no/such"), out.to_str().unwrap()],
    )
    .fails(125)
    .assert_stderr_contains("/no/such");
    coracle(
        env,
        driver,
        &["cp", &format!("{name}:/etc"), o("made").to_str().unwrap()],
    )
    .fails(125);
    coracle(env, driver, &["cp", "a", "b"]).fails(125);
}

const SETUP: &str =
    "echo made > /tmp/made; ln -s /etc/passwd /tmp/abs; ln -s ../../../../etc /tmp/up";

#[test]
fn cp_with_running_containers() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let script = format!("{SETUP}; exec sleep 1000");
            let c = Background::start(env, driver, "live", &["busybox", "sh", "-c", &script]);
            // The setup runs before the sleep: wait for it.
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            while c.exec(&[], &["test", "-L", "/tmp/up"]).output().code() != Some(0) {
                assert!(std::time::Instant::now() < deadline);
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            copies_both_ways(env, driver, "live");
            // What was copied in is there for the container's processes.
            assert_eq!(
                c.exec(&[], &["cat", "/tmp/named.txt"]).stdout(),
                "host data\n"
            );
            c.remove();
        }
    });
}

#[test]
fn cp_with_stopped_containers() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            coracle(
                env,
                driver,
                &["run", "--name", "done", "busybox", "sh", "-c", SETUP],
            )
            .ok();
            copies_both_ways(env, driver, "done");
            coracle(env, driver, &["rm", "done"]).ok();
            assert_eq!(env.container_leftovers(), Vec::<String>::new(), "{driver}");
        }
    });
}

/// `cp` into a container created but never started: its root exists (overlay: the upper
/// directory; vfs: the copy is made for it, and the start then keeps it) and the file is
/// there once it runs.
#[test]
fn cp_into_a_created_container() {
    for_each_user(|env| {
        env.load_image(busybox());
        let src = env.dir().join("seed.txt");
        fs::write(&src, "seeded\n").unwrap();
        env.give(&src);
        for driver in DRIVERS {
            coracle(
                env,
                driver,
                &["create", "--name", "fresh", "busybox", "cat", "/seed.txt"],
            )
            .ok();
            coracle(
                env,
                driver,
                &["cp", src.to_str().unwrap(), "fresh:/seed.txt"],
            )
            .ok();
            let o = coracle(env, driver, &["start", "-a", "fresh"]).ok();
            assert_eq!(o.stdout(), "seeded\n", "{driver}");
            coracle(env, driver, &["rm", "fresh"]).ok();
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// busybox and a layer of files owned by other users than root, and a symlink to them.
fn owned_image() -> crate::harness::images::Image {
    use crate::harness::images::{History, Image, busybox_layer, busybox_run_config};
    use crate::harness::layer::{Entry, LayerBuilder};
    let layer = LayerBuilder::new()
        .extend([
            Entry::dir("home/u").owner(1000, 1000),
            Entry::file("home/u/file", b"mine\n".to_vec()).owner(1000, 1000),
            Entry::file("srv-file", b"group\n".to_vec()).owner(0, 5678),
            Entry::symlink("u-link", "/home/u"),
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

/// The (uid, gid) of each entry of a tar, by name.
fn owners(tar: &[u8]) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let h = e.header();
            (
                name.trim_end_matches('/').to_string(),
                (h.uid().unwrap(), h.gid().unwrap()),
            )
        })
        .collect()
}

/// Owners both ways, running and stopped, on both drivers, for every user. Out as a tar
/// stream: as the container sees them, the true ones where its user namespace cannot show
/// them (a single mapping shows the image's uid 1000 as the overflow id), through a symlink
/// too (`podman cp CTR:PATH -`); out to a directory: the caller's. In: the container's
/// user's (`--archive`, the default; `-u` where the ids are mapped), or the tar's with
/// `--archive=false` (refused where the namespace does not map them).
#[test]
fn cp_owners_both_ways() {
    for_each_user(|env| {
        env.load_image(&owned_image());
        let mapped = env.user != crate::harness::User::NoSub;
        let stream = |driver: &str, path: &str| {
            owners(&coracle(env, driver, &["cp", path, "-"]).ok().stdout.clone())
        };
        let tar_in = crate::harness::images::tar_of_files(&[("in-tar".into(), b"t\n".to_vec())]);
        // The tar's entry belongs to 1000:1000.
        let tar_in = {
            let mut a = tar::Archive::new(&tar_in[..]);
            let mut b = tar::Builder::new(Vec::new());
            for e in a.entries().unwrap() {
                let mut e = e.unwrap();
                let mut h = e.header().clone();
                h.set_uid(1000);
                h.set_gid(1000);
                let path = e.path().unwrap().into_owned();
                b.append_data(&mut h, path, &mut e).unwrap();
            }
            b.into_inner().unwrap()
        };
        let src = env.write("owners-src/file.txt", "host\n");
        for driver in DRIVERS {
            for running in [true, false] {
                let user_flags: &[&str] = if mapped { &["-u", "2:3"] } else { &[] };
                let mut run_args = user_flags.to_vec();
                run_args.push("localhost/owned");
                let bg = if running {
                    run_args.extend(["sleep", "1000"]);
                    Some(Background::start(env, driver, "own", &run_args))
                } else {
                    let mut args = vec!["run", "--name", "own"];
                    args.extend(&run_args);
                    args.push("true");
                    coracle(env, driver, &args).ok();
                    None
                };
                let what = format!("{driver} running={running}");
                let out = stream(driver, "own:/home/u");
                assert_eq!(out.get("u"), Some(&(1000, 1000)), "{what}: {out:?}");
                assert_eq!(out.get("u/file"), Some(&(1000, 1000)), "{what}: {out:?}");
                let out = stream(driver, "own:/u-link/");
                assert_eq!(
                    out.get("u-link/file"),
                    Some(&(1000, 1000)),
                    "{what}: {out:?}"
                );
                let out = stream(driver, "own:/srv-file");
                assert_eq!(out.get("srv-file"), Some(&(0, 5678)), "{what}: {out:?}");
                assert_eq!(
                    stream(driver, "own:/bin/busybox").get("busybox"),
                    Some(&(0, 0)),
                    "{what}"
                );
                // Extracted on the host: the caller's.
                let host = env.mkdir(format!("owners-out-{driver}-{running}"));
                coracle(env, driver, &["cp", "own:/home/u", host.to_str().unwrap()]).ok();
                assert_eq!(
                    fs::metadata(host.join("u/file")).unwrap().uid(),
                    env.account.uid,
                    "{what}"
                );
                // In: the container's user (2:3 where mapped), or the tar's ids.
                coracle(env, driver, &["cp", src.to_str().unwrap(), "own:/tmp/in-a"]).ok();
                let want = if mapped { (2, 3) } else { (0, 0) };
                assert_eq!(
                    stream(driver, "own:/tmp/in-a").get("in-a"),
                    Some(&want),
                    "{what}"
                );
                let o = coracle(env, driver, &["cp", "--archive=false", "-", "own:/tmp"])
                    .stdin(tar_in.clone())
                    .output();
                if mapped {
                    assert_eq!(o.code(), Some(0), "{what}: {o}");
                    assert_eq!(
                        stream(driver, "own:/tmp/in-tar").get("in-tar"),
                        Some(&(1000, 1000)),
                        "{what}"
                    );
                } else {
                    assert_eq!(o.code(), Some(125), "{what}: {o}");
                    o.assert_stderr_contains("1000:1000 of the tar stream is not mapped");
                }
                match bg {
                    Some(bg) => bg.remove(),
                    None => {
                        coracle(env, driver, &["rm", "own"]).ok();
                    }
                }
            }
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}
