//! `run` in the foreground on a `vfs` root: exit statuses, namespaces, mounts, users,
//! environment, the image's files, and nothing left behind with `--rm`.

use std::fs;

use serde_json::Value;

use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::layer::{Entry, LayerBuilder};
use crate::harness::{TestEnv, User, for_each_user};

/// Loads busybox into the test's store.
fn with_busybox(env: &TestEnv) {
    env.load_image(busybox());
}

/// The storage drivers every behaviour is checked with: a copy of the layers, and coracle's
/// FUSE overlay (the default).
const DRIVERS: [&str; 2] = ["vfs", "overlay"];

/// `coracle --storage-driver DRIVER run --rm ARGS`, asserting success; its stdout.
fn run_ok_with(env: &TestEnv, driver: &str, args: &[&str]) -> String {
    run_with(env, driver).args(args).stdout()
}

fn run_with(env: &TestEnv, driver: &str) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["--storage-driver", driver, "run", "--rm"]);
    c
}

/// [`run_ok_with`] the `vfs` driver.
fn run_ok(env: &TestEnv, args: &[&str]) -> String {
    run_ok_with(env, "vfs", args)
}

fn run(env: &TestEnv) -> crate::harness::Cmd {
    run_with(env, "vfs")
}

#[test]
fn run_echo_prints_and_leaves_nothing() {
    for_each_user(|env| {
        with_busybox(env);
        for driver in DRIVERS {
            assert_eq!(run_ok_with(env, driver, &["busybox", "echo", "hi"]), "hi\n");
            assert_eq!(env.container_leftovers(), Vec::<String>::new(), "{driver}");
        }
    });
}

#[test]
fn run_exit_status_is_the_commands() {
    for_each_user(|env| {
        with_busybox(env);
        for driver in DRIVERS {
            let run = |env| run_with(env, driver);
            run(env).args(["busybox", "sh", "-c", "exit 3"]).fails(3);
            run(env).args(["busybox", "false"]).fails(1);
            assert_eq!(env.container_leftovers(), Vec::<String>::new(), "{driver}");
        }
    });
}

#[test]
fn run_not_found_127_cannot_invoke_126() {
    for_each_user(|env| {
        with_busybox(env);
        for driver in DRIVERS {
            let run = |env| run_with(env, driver);
            let o = run(env).args(["busybox", "nosuch-command"]).fails(127);
            o.assert_stderr_contains("nosuch-command");
            run(env).args(["busybox", "/no/such/file"]).fails(127);
            // A file without execute permission, and a directory.
            let o = run(env).args(["busybox", "/etc/passwd"]).fails(126);
            o.assert_stderr_contains("Permission denied");
            run(env).args(["busybox", "/etc"]).fails(126);
            assert_eq!(env.container_leftovers(), Vec::<String>::new(), "{driver}");
        }
    });
}

#[test]
fn run_errors_of_coracle_are_125() {
    for_each_user(|env| {
        with_busybox(env);
        let o = run(env)
            .args(["--pull=never", "no-such-image", "true"])
            .fails(125);
        o.assert_stderr_contains("image not known");
        run(env)
            .args(["--network", "bridge", "busybox", "true"])
            .fails(125);
        run(env)
            .args(["--entrypoint", "", "busybox"])
            .fails(125)
            .assert_stderr_contains("no command");
        run(env)
            .args(["-w", "relative", "busybox", "true"])
            .fails(125);
        run(env)
            .args(["-u", "nosuchuser", "busybox", "true"])
            .fails(125)
            .assert_stderr_contains("nosuchuser");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn run_maps_users_as_unshare_does() {
    for_each_user(|env| {
        with_busybox(env);
        let map = run_ok(env, &["busybox", "cat", "/proc/self/uid_map"]);
        let lines: Vec<Vec<u64>> = map
            .lines()
            .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
            .collect();
        let own = u64::from(env.account.uid);
        match env.user {
            User::Root => assert_eq!(lines, vec![vec![0, 0, u64::from(u32::MAX)]], "{map}"),
            User::Sub => {
                assert_eq!(lines[0], vec![0, own, 1], "{map}");
                assert!(lines.len() > 1 && lines[1][0] == 1, "{map}");
            }
            User::NoSub => assert_eq!(lines, vec![vec![0, own, 1]], "{map}"),
        }
        assert_eq!(run_ok(env, &["busybox", "id", "-u"]), "0\n");
        assert_eq!(run_ok(env, &["busybox", "id", "-g"]), "0\n");
    });
}

#[test]
fn run_as_another_user() {
    for_each_user(|env| {
        with_busybox(env);
        if env.user == User::NoSub {
            // Without subordinate ids only root exists in the container.
            let o = run(env)
                .args(["-u", "1000", "busybox", "id", "-u"])
                .fails(125);
            o.assert_stderr_contains("not mapped");
            o.assert_stderr_contains("/etc/subuid");
            assert_eq!(env.container_leftovers(), Vec::<String>::new());
            return;
        }
        assert_eq!(
            run_ok(env, &["-u", "1000", "busybox", "id", "-u"]),
            "1000\n"
        );
        assert_eq!(
            run_ok(env, &["-u", "1000:1000", "busybox", "id", "-g"]),
            "1000\n"
        );
        // A name from the image's /etc/passwd.
        assert_eq!(
            run_ok(env, &["-u", "nobody", "busybox", "id", "-u"]),
            "65534\n"
        );
        // The new user has no capabilities: root's files stay root's.
        let o = run(env)
            .args(["-u", "1000", "busybox", "sh", "-c", "echo x >> /etc/passwd"])
            .fails(1);
        o.assert_stderr_contains("Permission denied");
    });
}

#[test]
fn run_hostname_is_the_short_id_or_the_flag() {
    for_each_user(|env| {
        with_busybox(env);
        let h = run_ok(env, &["busybox", "/bin/busybox", "hostname"]);
        let h = h.trim();
        assert_eq!(h.len(), 12, "{h}");
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()), "{h}");
        let out = run_ok(
            env,
            &[
                "--hostname",
                "box",
                "busybox",
                "sh",
                "-c",
                "/bin/busybox hostname; cat /etc/hostname; grep -c box /etc/hosts; echo $HOSTNAME",
            ],
        );
        assert_eq!(out, "box\nbox\n1\nbox\n");
    });
}

#[test]
fn run_environment_workdir_entrypoint() {
    for_each_user(|env| {
        with_busybox(env);
        let file = env.write("vars.env", "# comment\nFROM_FILE=f\nBOTH=file\n");
        let out = run(env)
            .arg("--env-file")
            .arg(&file)
            .args(["-e", "FOO=bar baz", "-e", "BOTH=cli", "busybox"])
            .args([
                "sh",
                "-c",
                "echo $FOO; echo $FROM_FILE; echo $BOTH; echo $PATH; echo $HOME",
            ])
            .stdout();
        assert_eq!(
            out,
            "bar baz\nf\ncli\n/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/root\n"
        );
        assert_eq!(
            run_ok(env, &["-w", "/tmp", "busybox", "sh", "-c", "pwd"]),
            "/tmp\n"
        );
        // A missing working directory is made, as Podman does.
        assert_eq!(
            run_ok(env, &["-w", "/new/dir", "busybox", "sh", "-c", "pwd"]),
            "/new/dir\n"
        );
        assert_eq!(run_ok(env, &["busybox", "sh", "-c", "pwd"]), "/\n");
        assert_eq!(
            run_ok(env, &["--entrypoint", "echo", "busybox", "a", "b"]),
            "a b\n"
        );
        assert_eq!(
            run_ok(
                env,
                &["--entrypoint", r#"["sh","-c"]"#, "busybox", "echo json"]
            ),
            "json\n"
        );
    });
}

#[test]
fn run_image_config_decides_the_defaults() {
    for_each_user(|env| {
        let mut cfg = busybox_run_config();
        cfg["Entrypoint"] = serde_json::json!(["/bin/sh", "-c"]);
        cfg["Cmd"] = serde_json::json!(["echo from-cmd $IMG; pwd"]);
        cfg["Env"] = serde_json::json!(["PATH=/bin", "IMG=image-env"]);
        cfg["WorkingDir"] = Value::from("/tmp");
        let img = Image::new(
            vec![busybox_layer().clone()],
            vec![History::layer("ADD busybox")],
            cfg,
            &["configured:latest"],
        );
        env.load_image(&img);
        assert_eq!(run_ok(env, &["configured"]), "from-cmd image-env\n/tmp\n");
        assert_eq!(
            run_ok(env, &["-e", "IMG=cli", "configured", "echo $IMG"]),
            "cli\n"
        );
    });
}

#[test]
fn run_standard_input_only_with_i() {
    for_each_user(|env| {
        with_busybox(env);
        assert_eq!(run(env).args(["busybox", "cat"]).stdin("abc").stdout(), "");
        assert_eq!(
            run(env)
                .args(["-i", "busybox", "cat"])
                .stdin("abc")
                .stdout(),
            "abc"
        );
    });
}

#[test]
fn run_dev_has_the_standard_nodes() {
    for_each_user(|env| {
        with_busybox(env);
        let out = run_ok(env, &["busybox", "ls", "/dev"]);
        let names: Vec<&str> = out.lines().collect();
        for want in [
            "full", "null", "ptmx", "pts", "random", "shm", "tty", "urandom", "zero", "fd",
            "stdin", "stdout", "stderr", "mqueue",
        ] {
            assert!(names.contains(&want), "{want} missing from /dev: {out}");
        }
        let out = run_ok(
            env,
            &[
                "busybox",
                "sh",
                "-c",
                "echo x > /dev/null && head -c 5 /dev/zero | wc -c && head -c 3 /dev/urandom | wc -c \
                 && touch /dev/shm/f && ls /dev/pts && stat -c %F /dev/null",
            ],
        );
        let lines: Vec<&str> = out.lines().map(str::trim).collect();
        assert_eq!(lines[0], "5", "{out}");
        assert_eq!(lines[1], "3", "{out}");
        assert!(lines.contains(&"ptmx"), "{out}");
        assert_eq!(lines.last(), Some(&"character special file"), "{out}");
    });
}

#[test]
fn run_command_is_pid_1_in_its_own_namespaces() {
    for_each_user(|env| {
        with_busybox(env);
        let out = run_ok(
            env,
            &[
                "busybox",
                "sh",
                "-c",
                "echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '",
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "1", "{out}");
        // PID 1 and `ls`, `grep`, `cat` at most: nothing of the host's.
        assert!(lines[1].trim().parse::<u32>().unwrap() <= 4, "{out}");
        assert_eq!(
            lines[2].trim(),
            "sh -c echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline | tr '\\0' ' '"
        );
        // Other namespaces than the host's.
        let host = |kind: &str| fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        for kind in ["mnt", "pid", "uts", "ipc", "net"] {
            let inside = run_ok(
                env,
                &[
                    "busybox",
                    "sh",
                    "-c",
                    &format!("ls -l /proc/self/ns/{kind}"),
                ],
            );
            assert!(
                !inside.contains(&host(kind).display().to_string()),
                "{kind}: {inside}"
            );
        }
    });
}

#[test]
fn run_network_none_has_only_loopback_up_host_shares() {
    for_each_user(|env| {
        with_busybox(env);
        let out = run_ok(
            env,
            &[
                "--network",
                "none",
                "busybox",
                "sh",
                "-c",
                "ls /sys/class/net; cat /sys/class/net/lo/flags",
            ],
        );
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "lo", "{out}");
        let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16).unwrap();
        assert_eq!(flags & 1, 1, "lo is not up: {out}");
        // The default is pasta: lo and the interface pasta made (tests/it/network.rs).
        let ifs = run_ok(env, &["busybox", "ls", "/sys/class/net"]);
        assert!(
            ifs.lines().count() == 2 && ifs.lines().any(|l| l == "lo"),
            "{ifs}"
        );
        let host_ifaces = fs::read_dir("/sys/class/net").unwrap().count();
        let out = run_ok(
            env,
            &["--network", "host", "busybox", "ls", "/sys/class/net"],
        );
        assert_eq!(out.lines().count(), host_ifaces, "{out}");
        // /sys is read-only either way.
        for net in ["none", "host"] {
            run(env)
                .args(["--network", net, "busybox", "touch", "/sys/x"])
                .fails(1)
                .assert_stderr_contains("Read-only");
        }
    });
}

/// With the host's network, /sys is the host's bound recursively (a sysfs mount is refused
/// rootless): every mount below it (`/sys/fs/cgroup`, ...) is read-only too, not only the top.
#[test]
fn run_network_host_sys_submounts_are_read_only() {
    let host_subs = fs::read_to_string("/proc/self/mounts")
        .unwrap()
        .lines()
        .filter(|l| l.split(' ').nth(1).is_some_and(|m| m.starts_with("/sys/")))
        .count();
    for_each_user(|env| {
        with_busybox(env);
        let out = run_ok(
            env,
            &["--network", "host", "busybox", "cat", "/proc/mounts"],
        );
        // `DEVICE MOUNTPOINT TYPE OPTIONS ...`: the mount point and options of /sys's.
        let mounts: Vec<String> = out
            .lines()
            .map(|l| l.split(' ').skip(1).collect::<Vec<_>>())
            .filter(|f| f.len() > 2 && (f[0] == "/sys" || f[0].starts_with("/sys/")))
            .map(|f| format!("{} {}", f[0], f[2]))
            .collect();
        assert!(!mounts.is_empty(), "no /sys in the container: {out}");
        if host_subs > 0 {
            assert!(mounts.len() > 1, "the host has mounts below /sys: {out}");
        }
        for m in &mounts {
            let opts = m.split(' ').nth(1).unwrap_or_default();
            assert!(
                opts.split(',').any(|o| o == "ro"),
                "writable in the container: {m} ({out})"
            );
        }
    });
}

/// busybox plus a layer with owners, modes, a hard link, a symlink, whiteouts and an
/// opaque directory.
fn layered() -> Image {
    let mut b = LayerBuilder::new();
    b.push(Entry::dir("data").owner(1000, 1000).mode(0o750));
    b.push(
        Entry::file("data/hello", "hello\n")
            .owner(1000, 1000)
            .mode(0o640)
            .mtime(1_000_000_000),
    );
    b.push(Entry::hardlink("data/link", "data/hello"));
    b.push(Entry::symlink("data/sym", "hello"));
    b.push(Entry::dir("etc"));
    b.push(Entry::file("etc/suid", "x").mode(0o4755));
    b.push(Entry::whiteout("home"));
    b.push(Entry::dir("usr"));
    b.push(Entry::opaque("usr"));
    b.push(Entry::file("usr/new", "new\n"));
    b.push(Entry::fifo("data/fifo"));
    let top = b.finish();
    Image::new(
        vec![busybox_layer().clone(), top],
        vec![History::layer("ADD busybox"), History::layer("COPY data")],
        busybox_run_config(),
        &["layered:latest"],
    )
}

#[test]
fn run_sees_the_images_files_with_their_owners() {
    for_each_user(|env| {
        env.load_image(&layered());
        for driver in DRIVERS {
            let out = run_ok_with(
                env,
                driver,
                &[
                    "layered",
                    "sh",
                    "-c",
                    "cat /data/hello /data/link /data/sym; \
                     stat -c '%u:%g %a %h %Y' /data/hello; stat -c '%u:%g %a' /data; \
                     stat -c %a /etc/suid; stat -c %F /data/fifo; \
                     ls /usr; test -e /home && echo home-exists; ls / | grep -c bin",
                ],
            );
            // The owners: 1000 exists with subordinate ids (and for root). In the single
            // mapping it cannot be represented: the vfs copy leaves the file the user's (root
            // inside, as Podman's ignore_chown_errors does); the overlay shows the kernel's
            // overflow id (nobody, DESIGN.md), and container root has no override over an
            // unmapped owner: the 0750 directory stays closed to it.
            let want = match (env.user, driver) {
                (User::NoSub, "overlay") => "65534:65534 750\n4755\nnew\n1\n".to_string(),
                (user, _) => {
                    let owner = if user == User::NoSub {
                        "0:0"
                    } else {
                        "1000:1000"
                    };
                    format!(
                        "hello\nhello\nhello\n{owner} 640 2 1000000000\n{owner} 750\n4755\n\
                         fifo\nnew\n1\n"
                    )
                }
            };
            assert_eq!(out, want, "{driver}");
            assert_eq!(env.container_leftovers(), Vec::<String>::new(), "{driver}");
        }
    });
}

#[test]
fn run_without_rm_keeps_the_record() {
    for_each_user(|env| {
        with_busybox(env);
        env.coracle()
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--name",
                "keep",
                "busybox",
            ])
            .args(["sh", "-c", "exit 7"])
            .fails(7);
        let dirs: Vec<_> = fs::read_dir(env.root().join("containers"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(dirs.len(), 1);
        let rec: Value =
            serde_json::from_slice(&fs::read(dirs[0].path().join("container.json")).unwrap())
                .unwrap();
        assert_eq!(rec["names"], serde_json::json!(["keep"]));
        assert_eq!(rec["state"], "exited");
        assert_eq!(rec["exit_code"], 7);
        assert_eq!(rec["id"].as_str().unwrap().len(), 64);
        assert!(dirs[0].path().join("rootfs/bin/busybox").exists());
        // The name is taken now.
        env.coracle()
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--rm",
                "--name",
                "keep",
                "busybox",
            ])
            .arg("true")
            .fails(125)
            .assert_stderr_contains("already in use");
    });
}

#[test]
fn run_default_driver_is_the_fuse_overlay() {
    for_each_user(|env| {
        with_busybox(env);
        let out = env
            .coracle()
            .args(["run", "--rm", "busybox", "sh", "-c"])
            .arg("grep ' / ' /proc/self/mounts; echo new > /etc/new; cat /etc/new; rm /etc/group; test -e /etc/group || echo gone")
            .stdout();
        assert!(out.starts_with("coracle / fuse"), "{out}");
        assert!(out.ends_with("new\ngone\n"), "{out}");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
        // Without --rm the changes stay in the container's upper layer, OCI-native.
        env.coracle()
            .args([
                "run",
                "busybox",
                "sh",
                "-c",
                "echo kept > /kept; rm /etc/group",
            ])
            .ok();
        let dirs: Vec<_> = fs::read_dir(env.root().join("containers"))
            .unwrap()
            .flatten()
            .collect();
        assert_eq!(dirs.len(), 1);
        let upper = dirs[0].path().join("upper");
        assert_eq!(fs::read_to_string(upper.join("kept")).unwrap(), "kept\n");
        assert!(upper.join("etc/.wh.group").exists());
    });
}

#[test]
fn run_lifecycle_flags_are_checked() {
    for_each_user(|env| {
        with_busybox(env);
        for bad in [
            &["-d", "-a", "stdout"][..],
            &["-d", "--log-driver", "passthrough"],
            &["--log-driver", "journald"],
            &["--log-opt", "max-size=lots"],
            &["--restart", "sometimes"],
            &["--restart", "always"],
            &["-a", "stdfoo"],
            &["--detach-keys", "ctrl-1"],
        ] {
            run(env).args(bad).args(["busybox", "true"]).fails(125);
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// The container runs in a session of its own with no controlling terminal, so it cannot
/// push input into the caller's terminal (TIOCSTI) or take its job control.
#[test]
fn run_container_has_its_own_session() {
    for_each_user(|env| {
        with_busybox(env);
        // /proc/self/stat fields 6 and 7: session ID and controlling terminal.
        let out = run_ok(
            env,
            &["busybox", "sh", "-c", "cut -d' ' -f6,7 /proc/self/stat"],
        );
        assert_eq!(out, "1 0\n");
    });
}
