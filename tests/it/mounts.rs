//! Bind mounts (`-v HOST:CTR[:opts]`, `--mount type=bind`), `:O` overlays, `:U`, tmpfs,
//! `--read-only`, `--device`, `--ulimit`, destinations that an image's symlinks cannot lead
//! outside the root, and bad input: one line, exit 125, no container left behind.

use std::fs;

use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::layer::{Entry, LayerBuilder};
use crate::harness::{TestEnv, User, for_each_user};

const DRIVERS: [&str; 2] = ["vfs", "overlay"];

fn run(env: &TestEnv, driver: &str) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver, "run", "--rm"]);
    c
}

/// A host directory `dir` of the test holding `f` ("host\n"), given to the user.
fn host_dir(env: &TestEnv, name: &str) -> std::path::PathBuf {
    let d = env.mkdir(name);
    env.write(format!("{name}/f"), "host\n");
    d
}

#[test]
fn bind_mounts_rw_ro_relative() {
    for_each_user(|env| {
        env.load_image(busybox());
        let dir = host_dir(env, "shared");
        for driver in DRIVERS {
            let spec = format!("{}:/mnt", dir.display());
            let out = run(env, driver)
                .args(["-v", &spec, "busybox", "sh", "-c"])
                .arg(format!("cat /mnt/f; echo {driver} > /mnt/new-{driver}"))
                .stdout();
            assert_eq!(out, "host\n");
            assert_eq!(
                fs::read_to_string(dir.join(format!("new-{driver}"))).unwrap(),
                format!("{driver}\n")
            );
            // A relative source, a nested destination that does not exist in the image.
            let out = run(env, driver)
                .args(["-v", "./shared:/a/b/c:ro,z", "busybox", "sh", "-c"])
                .arg("cat /a/b/c/f; echo x > /a/b/c/g")
                .fails(1);
            assert_eq!(out.stdout(), "host\n");
            assert!(
                out.stderr().contains("Read-only file system"),
                "{}",
                out.stderr()
            );
            assert!(!dir.join("g").exists());
            // --mount, a single file.
            let file = format!("type=bind,src={}/f,dst=/etc/motd,readonly", dir.display());
            let out = run(env, driver)
                .args(["--mount", &file, "busybox", "cat", "/etc/motd"])
                .stdout();
            assert_eq!(out, "host\n");
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn overlay_option_throws_writes_away() {
    for_each_user(|env| {
        env.load_image(busybox());
        let dir = host_dir(env, "lower");
        for driver in DRIVERS {
            let spec = format!("{}:/mnt:O", dir.display());
            let out = run(env, driver)
                .args(["-v", &spec, "busybox", "sh", "-c"])
                .arg("echo changed > /mnt/f; echo more > /mnt/g; cat /mnt/f /mnt/g")
                .stdout();
            assert_eq!(out, "changed\nmore\n", "{driver}");
            assert_eq!(fs::read_to_string(dir.join("f")).unwrap(), "host\n");
            assert!(!dir.join("g").exists());
        }
    });
}

#[test]
fn chown_option_gives_the_source_to_the_container_user() {
    for_each_user(|env| {
        env.load_image(busybox());
        let dir = host_dir(env, "owned");
        // Only ids the namespace maps: a user without subordinate ids has only root.
        let (user, want) = match env.user {
            User::NoSub => ("0:0", "0:0"),
            _ => ("1000:1001", "1000:1001"),
        };
        let spec = format!("{}:/mnt:U", dir.display());
        let out = run(env, "vfs")
            .args(["-u", user, "-v", &spec, "busybox", "sh", "-c"])
            .arg("stat -c %u:%g /mnt /mnt/f; echo ok > /mnt/written; cat /mnt/written")
            .stdout();
        assert_eq!(out, format!("{want}\n{want}\nok\n"));
        if env.user == User::Sub {
            // Container 1000 is the user's subordinate uid 165536 + 999 on the host.
            use std::os::unix::fs::MetadataExt as _;
            assert_eq!(fs::metadata(&dir).unwrap().uid(), 165536 + 999);
        }
    });
}

#[test]
fn tmpfs_and_read_only_root() {
    for_each_user(|env| {
        env.load_image(busybox());
        for driver in DRIVERS {
            let out = run(env, driver)
                .args(["--tmpfs", "/scratch", "--tmpfs", "/sized:size=1m,mode=700"])
                .args(["--mount", "type=tmpfs,dst=/m,tmpfs-size=2m"])
                .args(["busybox", "sh", "-c"])
                .arg("grep -E ' /(scratch|sized|m) ' /proc/mounts; stat -c %a /sized")
                .stdout();
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), 4, "{out}");
            let line = |dest: &str| {
                *lines
                    .iter()
                    .find(|l| l.split(' ').nth(1) == Some(dest))
                    .unwrap_or_else(|| panic!("{dest} in {out}"))
            };
            let scratch = line("/scratch");
            assert!(scratch.starts_with("tmpfs "), "{scratch}");
            for flag in ["nosuid", "nodev", "noexec"] {
                assert!(scratch.contains(flag), "{scratch}");
            }
            assert!(line("/sized").contains("size=1024k"), "{out}");
            assert!(line("/m").contains("size=2048k"), "{out}");
            assert_eq!(lines[3], "700");

            // --read-only: the root refuses writes; /tmp, /var/tmp, /run are tmpfs.
            let o = run(env, driver)
                .args(["--read-only", "busybox", "sh", "-c"])
                .arg("touch /tmp/a /var/tmp/b /run/c && echo tmp-ok; touch /x")
                .fails(1);
            assert_eq!(o.stdout(), "tmp-ok\n", "{driver}");
            assert!(
                o.stderr().contains("Read-only file system"),
                "{}",
                o.stderr()
            );
            run(env, driver)
                .args(["--read-only", "--read-only-tmpfs=false", "busybox"])
                .args(["touch", "/tmp/a"])
                .fails(1);
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn tmpfs_copies_the_image_and_propagation_is_set() {
    for_each_user(|env| {
        env.load_image(busybox());
        let dir = host_dir(env, "p");
        for driver in DRIVERS {
            // tmpcopyup (the default of --tmpfs): /etc's files are there, on a tmpfs.
            let out = run(env, driver)
                .args(["--tmpfs", "/etc", "busybox", "sh", "-c"])
                .arg("grep -c root /etc/passwd; grep ' /etc ' /proc/mounts | cut -d' ' -f1")
                .stdout();
            assert_eq!(out, "1\ntmpfs\n", "{driver}");
            let out = run(env, driver)
                .args(["--tmpfs", "/etc:notmpcopyup", "busybox", "ls", "/etc"])
                .stdout();
            // An empty tmpfs (mounted after the generated /etc files, which it hides).
            assert!(!out.contains("passwd"), "{driver}: {out}");
            let spec = format!("{}:/mnt:rshared", dir.display());
            let out = run(env, driver)
                .args(["-v", &spec, "busybox", "sh", "-c"])
                .arg("grep ' /mnt ' /proc/self/mountinfo")
                .stdout();
            assert!(out.contains("shared:"), "{driver}: {out}");
        }
    });
}

#[test]
fn devices_and_ulimits() {
    for_each_user(|env| {
        env.load_image(busybox());
        let out = run(env, "vfs")
            .args([
                "--device",
                "/dev/null:/dev/mynull:rw",
                "busybox",
                "sh",
                "-c",
            ])
            .arg("test -c /dev/mynull && echo hi > /dev/mynull && echo ok")
            .stdout();
        assert_eq!(out, "ok\n");
        if env.user != User::Root {
            // /dev/loop-control is root's alone.
            env.coracle()
                .args([
                    "run",
                    "--rm",
                    "--device",
                    "/dev/loop-control",
                    "busybox",
                    "true",
                ])
                .fails(125)
                .assert_stderr_contains("device /dev/loop-control: the user cannot open it");
            env.coracle()
                .args([
                    "run",
                    "--rm",
                    "--ulimit",
                    "nofile=1024:999999999",
                    "busybox",
                    "true",
                ])
                .fails(125)
                .assert_stderr_contains("above the hard limit");
        }
        let out = run(env, "vfs")
            .args(["--ulimit", "nofile=100:200", "busybox", "sh", "-c"])
            .arg("ulimit -n; ulimit -Hn")
            .stdout();
        assert_eq!(out, "100\n200\n");
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
    });
}

/// busybox with `/escape` → a path outside any root (`../../..` up to `/`, then the test's
/// own directory), and `/abs` → `/`.
fn symlink_image(target: &str) -> Image {
    let mut b = LayerBuilder::new();
    b.push(Entry::symlink("escape", target));
    b.push(Entry::symlink("abs", "/"));
    Image::new(
        vec![busybox_layer().clone(), b.finish()],
        vec![
            History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
            History::layer("/bin/sh -c #(nop) ADD links"),
        ],
        busybox_run_config(),
        &["links:latest"],
    )
}

#[test]
fn symlinks_in_the_image_stay_inside_the_root() {
    for_each_user(|env| {
        let outside = env.path("outside");
        let target = format!("../../../../../../../..{}", outside.display());
        env.load_image(&symlink_image(&target));
        let dir = host_dir(env, "src");
        for driver in DRIVERS {
            let spec = format!("{}:/escape/mnt", dir.display());
            let out = run(env, driver)
                .args(["-v", &spec, "--tmpfs", "/abs/t", "links", "sh", "-c"])
                .arg(format!(
                    "cat {}/mnt/f; grep -c ' /t ' /proc/mounts",
                    outside.display()
                ))
                .stdout();
            assert_eq!(out, "host\n1\n", "{driver}");
            assert!(
                !outside.exists(),
                "{driver}: a mount point was made outside the root"
            );
        }
    });
}

#[test]
fn bad_mount_input_is_refused_and_leaves_nothing() {
    for_each_user(|env| {
        env.load_image(busybox());
        let missing = env.path("nosuch");
        let cases: Vec<(Vec<String>, String)> = vec![
            (
                vec!["-v".into(), format!("{}:/data", missing.display())],
                format!("statfs {}: no such file or directory", missing.display()),
            ),
            (
                vec!["-v".into(), "/tmp:data".into()],
                "invalid container path \"data\", must be an absolute path".into(),
            ),
            (
                vec!["-v".into(), "/tmp:/data:bogus".into()],
                "invalid option type \"bogus\"".into(),
            ),
            (
                vec!["-v".into(), "a:b:c:d".into()],
                "incorrect volume format \"a:b:c:d\"".into(),
            ),
            (
                vec!["--mount".into(), "type=nfs,dst=/x".into()],
                "invalid filesystem type \"nfs\"".into(),
            ),
            (
                vec!["-v".into(), "/tmp:/d".into(), "--tmpfs".into(), "/d".into()],
                "\"/d\": duplicate mount destination".into(),
            ),
            (
                vec!["--tmpfs".into(), "/t:bogus".into()],
                "invalid option type \"bogus\"".into(),
            ),
            (
                vec!["--ulimit".into(), "nofile=9:1".into()],
                "the soft limit is above the hard limit".into(),
            ),
            (
                vec!["--device".into(), "/dev/nosuch".into()],
                "device /dev/nosuch: no such file or directory".into(),
            ),
        ];
        for (args, want) in cases {
            let o = env
                .coracle()
                .arg("run")
                .args(&args)
                .args(["busybox", "true"])
                .fails(125);
            o.assert_stderr_contains(&want);
            assert_eq!(o.stderr().trim_end().lines().count(), 1, "{}", o.stderr());
        }
        assert_eq!(env.ok(&["ps", "-a", "-q"]), "");
        assert!(env.ok(&["volume", "ls", "-q"]).is_empty());
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn inspect_shows_mounts() {
    for_each_user(|env| {
        env.load_image(busybox());
        let dir = host_dir(env, "h");
        env.coracle()
            .args(["create", "--name", "c", "-v"])
            .arg(format!("{}:/mnt:ro", dir.display()))
            .args(["-v", "named:/n", "--tmpfs", "/t", "busybox", "true"])
            .ok();
        let format = "{{range .Mounts}}{{.Type}} {{.Source}} {{.Destination}} {{.RW}};{{end}}";
        let out = env.ok(&["container", "inspect", "--format", format, "c"]);
        let canon = fs::canonicalize(&dir).unwrap();
        assert!(
            out.contains(&format!("bind {} /mnt false;", canon.display())),
            "{out}"
        );
        assert!(out.contains("tmpfs tmpfs /t true;"), "{out}");
        assert!(
            out.contains("volume ") && out.contains("/volumes/named/_data /n true;"),
            "{out}"
        );
        let o = env.coracle().args(["container", "inspect", "c"]).ok();
        let m = &o.json()[0]["Mounts"];
        let named = m
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["Type"] == "volume")
            .unwrap();
        assert_eq!(named["Name"], "named");
        assert_eq!(named["Driver"], "local");
        assert_eq!(named["Propagation"], "rprivate");
        assert_eq!(
            env.ok(&["ps", "-a", "--format", "{{.Names}} {{.Mounts}}"]),
            "c /mnt,/n,/t\n"
        );
        // --volumes-from: the same volume and bind, read-only as asked.
        let out = env
            .coracle()
            .args([
                "run",
                "--rm",
                "--volumes-from",
                "c:ro",
                "busybox",
                "sh",
                "-c",
            ])
            .arg("echo x > /n/new; cat /mnt/f; grep -E ' /(mnt|n) ' /proc/mounts | cut -d' ' -f2,4")
            .ok();
        assert!(
            out.stderr().contains("Read-only file system"),
            "{}",
            out.stderr()
        );
        let stdout = out.stdout();
        let lines: Vec<&str> = stdout.lines().collect();
        assert_eq!(lines[0], "host", "{}", out.stdout());
        assert!(
            lines[1..]
                .iter()
                .all(|l| l.split(' ').nth(1).unwrap().starts_with("ro")),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 3, "{lines:?}");
    });
}
