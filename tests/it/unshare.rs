//! `unshare`: a command in a fresh user + mount namespace with the containers' mapping.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use crate::harness::{TestEnv, User, for_each_user, for_users};

/// The user's ranges in a subordinate id file, in file order (as `start`, `count`).
fn subids(file: &str, env: &TestEnv) -> Vec<(u32, u32)> {
    let text = fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            let mine = f[0] == env.account.name || f[0] == env.account.uid.to_string();
            let (start, count) = (f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?);
            (mine && count > 0).then_some((start, count))
        })
        .collect()
}

/// The map the user's namespace must show, one `container host size` triple a line.
fn expected_map(env: &TestEnv, file: &str, own: u32) -> Vec<[u64; 3]> {
    if env.user.is_root() {
        return vec![[0, 0, u64::from(u32::MAX)]];
    }
    let mut lines = vec![[0, u64::from(own), 1]];
    let mut next = 1;
    for (start, count) in subids(file, env) {
        lines.push([next, u64::from(start), u64::from(count)]);
        next += u64::from(count);
    }
    lines
}

fn parse_map(text: &str) -> Vec<[u64; 3]> {
    text.lines()
        .map(|l| {
            let n: Vec<u64> = l.split_whitespace().map(|f| f.parse().unwrap()).collect();
            [n[0], n[1], n[2]]
        })
        .collect()
}

#[test]
fn unshare_is_root_inside() {
    for_each_user(|env| {
        assert_eq!(env.ok(&["unshare", "id", "-u"]), "0\n");
        assert_eq!(env.ok(&["unshare", "id", "-g"]), "0\n");
    });
}

#[test]
fn unshare_maps_the_subordinate_ranges() {
    for_each_user(|env| {
        let uid_map = env.ok(&["unshare", "cat", "/proc/self/uid_map"]);
        let gid_map = env.ok(&["unshare", "cat", "/proc/self/gid_map"]);
        let want_uid = expected_map(env, "/etc/subuid", env.account.uid);
        let want_gid = expected_map(env, "/etc/subgid", env.account.gid);
        assert_eq!(parse_map(&uid_map), want_uid, "uid_map:\n{uid_map}");
        assert_eq!(parse_map(&gid_map), want_gid, "gid_map:\n{gid_map}");
        match env.user {
            User::Sub => assert!(want_uid.len() > 1 && want_gid.len() > 1),
            User::NoSub => assert_eq!(want_uid.len(), 1),
            User::Root => {}
        }
        // The single mapping can only be written after setgroups was denied; the helpers
        // leave it allowed (as Podman's namespace has it).
        let setgroups = env.ok(&["unshare", "cat", "/proc/self/setgroups"]);
        let want = if env.user == User::NoSub {
            "deny"
        } else {
            "allow"
        };
        assert_eq!(setgroups.trim(), want);
    });
}

#[test]
fn unshare_makes_fresh_namespaces() {
    for_each_user(|env| {
        let ns = |kind: &str| fs::read_link(format!("/proc/self/ns/{kind}")).unwrap();
        let out = env.ok(&[
            "unshare",
            "readlink",
            "/proc/self/ns/user",
            "/proc/self/ns/mnt",
        ]);
        let inside: Vec<&str> = out.lines().collect();
        assert_eq!(inside.len(), 2, "{out}");
        // Root's mapping is the identity: no user namespace, only a mount namespace.
        let host_user = ns("user").display().to_string();
        assert_eq!(inside[0] == host_user, env.user.is_root(), "{out}");
        assert_ne!(inside[1], ns("mnt").display().to_string(), "{out}");
    });
}

#[test]
fn unshare_mounts_stay_inside() {
    for_each_user(|env| {
        // Under a shared mount (as / is on a systemd host), a mount inside would propagate
        // to the host unless the namespace's mounts are made private.
        let shared = env.mkdir("shared");
        let run = |args: &[&std::ffi::OsStr]| {
            let st = Command::new("mount").args(args).status().unwrap();
            assert!(st.success(), "mount {args:?}: {st}");
        };
        run(&["--bind".as_ref(), shared.as_os_str(), shared.as_os_str()]);
        run(&["--make-shared".as_ref(), shared.as_os_str()]);
        let dir = env.mkdir("shared/mnt");
        let script = format!(
            "mount -t tmpfs tmpfs {d} && touch {d}/inside && ls {d}",
            d = dir.display()
        );
        let out = env.ok(&["unshare", "sh", "-c", &script]);
        let mounts = fs::read_to_string("/proc/self/mounts").unwrap();
        let leaked = dir.join("inside").exists();
        let _ = Command::new("umount").arg("-R").arg(&shared).status();
        assert_eq!(out, "inside\n");
        assert!(!leaked, "the tmpfs leaked to the host");
        assert!(
            !mounts.contains(&format!(" {} ", dir.display())),
            "{mounts}"
        );
    });
}

#[test]
fn unshare_exit_status_passes_through() {
    for_each_user(|env| {
        env.coracle()
            .args(["unshare", "sh", "-c", "exit 3"])
            .fails(3);
        env.coracle().args(["unshare", "false"]).fails(1);
        // Killed by a signal: 128 + the signal, as shells report it.
        env.coracle()
            .args(["unshare", "sh", "-c", "kill -TERM $$"])
            .fails(143);
    });
}

#[test]
fn unshare_not_found_127_cannot_invoke_126() {
    for_each_user(|env| {
        let o = env
            .coracle()
            .args(["unshare", "no-such-command-coracle"])
            .fails(127);
        o.assert_stderr_contains("Error: ")
            .assert_stderr_contains("no-such-command-coracle")
            .assert_stderr_contains("No such file or directory");
        // A path through a file (ENOTDIR) is not found either.
        let file = env.write("plain", "not a program\n");
        let through = file.join("x");
        env.coracle()
            .args(["unshare".as_ref(), through.as_os_str()])
            .fails(127);
        // A directory and a file without execute permission exist but cannot be run.
        env.coracle()
            .args(["unshare", "/etc"])
            .fails(126)
            .assert_stderr_contains("Permission denied");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        env.coracle()
            .args(["unshare".as_ref(), file.as_os_str()])
            .fails(126);
    });
}

#[test]
fn unshare_default_command_is_the_shell() {
    for_each_user(|env| {
        // No $SHELL in the harness's environment: /bin/sh.
        let out = env
            .coracle()
            .arg("unshare")
            .stdin("echo \"$0\"; id -u\n")
            .stdout();
        assert_eq!(out, "/bin/sh\n0\n");
        let out = env
            .coracle()
            .env("SHELL", "/bin/bash")
            .arg("unshare")
            .stdin("echo \"$0\"; id -u\n")
            .stdout();
        assert_eq!(out, "/bin/bash\n0\n");
    });
}

#[test]
fn unshare_sets_the_store_paths() {
    for_each_user(|env| {
        let out = env.ok(&[
            "unshare",
            "sh",
            "-c",
            "printf '%s\\n' \"$CORACLE_GRAPHROOT\" \"$CORACLE_RUNROOT\"",
        ]);
        assert_eq!(
            out,
            format!("{}\n{}\n", env.root().display(), env.runroot().display())
        );
    });
}

#[test]
fn unshare_chown_needs_subordinate_ids() {
    for_each_user(|env| {
        let file = env.write("owned", "x");
        let o = env
            .coracle()
            .args([
                "unshare".as_ref(),
                "chown".as_ref(),
                "1:1".as_ref(),
                file.as_os_str(),
            ])
            .output();
        let meta = fs::metadata(&file).unwrap();
        match env.user {
            User::Root => {
                assert_eq!(o.code(), Some(0), "{o}");
                assert_eq!((meta.uid(), meta.gid()), (1, 1));
            }
            User::Sub => {
                // Container id 1 is the first subordinate id.
                assert_eq!(o.code(), Some(0), "{o}");
                let uid = subids("/etc/subuid", env)[0].0;
                let gid = subids("/etc/subgid", env)[0].0;
                assert_eq!((meta.uid(), meta.gid()), (uid, gid));
            }
            User::NoSub => {
                // Only container root is mapped: chown's own failure, status 1, passes through.
                assert_eq!(o.code(), Some(1), "{o}");
                o.assert_stderr_contains("Invalid argument");
                assert_eq!((meta.uid(), meta.gid()), (env.account.uid, env.account.gid));
            }
        }
    });
}

#[test]
fn unshare_reports_a_failing_helper() {
    for_users(&[User::Sub], |env| {
        // A newuidmap that refuses, as the real one does for a range it does not allow.
        let bin = env.mkdir("fakebin");
        let helper = env.write(
            "fakebin/newuidmap",
            "#!/bin/sh\necho 'newuidmap: uid range not allowed' >&2\nexit 1\n",
        );
        fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
        let marker = env.path("ran");
        let o = env
            .coracle()
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .args(["unshare".as_ref(), "touch".as_ref(), marker.as_os_str()])
            .output();
        o.assert_error()
            .assert_stderr_contains("newuidmap")
            .assert_stderr_contains("uid range not allowed")
            .assert_stderr_contains("/etc/subuid");
        let (start, count) = subids("/etc/subuid", env)[0];
        o.assert_stderr_contains(&format!("{start}:{count}"));
        assert!(!marker.exists(), "the command ran without its maps");
    });
}

#[test]
fn unshare_without_helpers() {
    // Without newuidmap on PATH: the user with ranges is told what to install; the single
    // mapping needs no helper.
    for_each_user(|env| {
        let o = env
            .coracle()
            .env("PATH", "/nonexistent")
            .args(["unshare", "/usr/bin/id", "-u"])
            .output();
        if env.user == User::Sub {
            o.assert_error()
                .assert_stderr_contains("newuidmap")
                .assert_stderr_contains("uidmap");
        } else {
            assert_eq!(o.code(), Some(0), "{o}");
            assert_eq!(o.stdout(), "0\n");
        }
    });
}

#[test]
fn unshare_rootless_netns_is_refused() {
    for_each_user(|env| {
        env.coracle()
            .args(["unshare", "--rootless-netns", "true"])
            .output()
            .assert_error()
            .assert_stderr_contains("--rootless-netns");
        // Options after the command belong to the command.
        assert_eq!(
            env.ok(&["unshare", "echo", "--rootless-netns"]),
            "--rootless-netns\n"
        );
    });
}
