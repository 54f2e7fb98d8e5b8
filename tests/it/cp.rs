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
