//! `coracle system doctor`: each check is broken on purpose and must fail (or warn) with the
//! command that fixes it, and pass when the condition holds.
//!
//! Nothing shared is changed: a test builds a small tree of the system files a check reads
//! (`/proc/sys/...`, `/etc/subuid`, `/dev/fuse`, `/usr/bin/newuidmap`...) in its own
//! directory and points `CORACLE_DOCTOR_ROOT` at it, so other tests running at the same time
//! keep the real `/dev/fuse` and `/etc/subuid`. The subordinate-id check also runs against the
//! real files, as the users that have (and lack) ranges.

use std::fs;
use std::os::unix::fs::{PermissionsExt as _, chown};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness::images::busybox;
use crate::harness::{TestEnv, User, for_users};

/// A fake system tree in the test's directory.
struct SysRoot {
    dir: PathBuf,
}

impl SysRoot {
    fn new(env: &TestEnv, name: &str) -> SysRoot {
        let dir = env.path(name);
        fs::create_dir_all(&dir).unwrap();
        SysRoot { dir }
    }

    fn path(&self, abs: &str) -> PathBuf {
        self.dir.join(abs.trim_start_matches('/'))
    }

    /// Writes a root-owned file (mode 0644) at the absolute path `abs` of the fake tree.
    fn write(&self, abs: &str, text: &str) -> PathBuf {
        let p = self.path(abs);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, text).unwrap();
        p
    }

    fn mkdir(&self, abs: &str) -> PathBuf {
        let p = self.path(abs);
        fs::create_dir_all(&p).unwrap();
        p
    }

    fn remove(&self, abs: &str) {
        let p = self.path(abs);
        let _ = fs::remove_file(&p);
        let _ = fs::remove_dir_all(&p);
    }

    /// A character device node `major:minor` with `mode` at `abs`.
    fn mknod(&self, abs: &str, major: u32, minor: u32, mode: u32) {
        self.remove(abs);
        let p = self.path(abs);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        let st = Command::new("mknod")
            .arg("-m")
            .arg(format!("{mode:o}"))
            .arg(&p)
            .args(["c", &major.to_string(), &minor.to_string()])
            .status()
            .unwrap();
        assert!(st.success(), "mknod {}", p.display());
    }
}

/// `coracle system doctor --format json` as the test's user (with `CORACLE_DOCTOR_ROOT` when
/// `root` is given); every finding by check name.
fn doctor(env: &TestEnv, root: Option<&SysRoot>, extra_env: &[(&str, &str)]) -> Vec<Value> {
    let mut c = env.coracle();
    if let Some(r) = root {
        c.env("CORACLE_DOCTOR_ROOT", &r.dir);
    }
    for (k, v) in extra_env {
        c.env(k, v);
    }
    let o = c.args(["system", "doctor", "--format", "json"]).output();
    let v = o.json();
    let findings = v
        .as_array()
        .unwrap_or_else(|| o.fail("not a JSON array"))
        .clone();
    let failed = findings.iter().any(|f| f["status"] == "fail");
    let expected = if failed { 1 } else { 0 };
    if o.code() != Some(expected) {
        o.fail(format!("exit status should be {expected}"));
    }
    findings
}

fn finding<'a>(findings: &'a [Value], check: &str) -> &'a Value {
    findings
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no check {check} in {findings:#?}"))
}

/// The finding of `check` has `status`, details containing `details`, and (unless ok) a fix
/// run by `run_as` containing `fix`.
fn assert_finding(
    f: &[Value],
    check: &str,
    status: &str,
    details: &str,
    fix: Option<(&str, &str)>,
) {
    let v = finding(f, check);
    assert_eq!(v["status"], status, "{check}: {v:#}");
    assert!(
        v["details"].as_str().unwrap().contains(details),
        "{check}: details should contain {details:?}: {v:#}"
    );
    match fix {
        Some((run_as, command)) => {
            assert_eq!(v["fix"]["runAs"], run_as, "{check}: {v:#}");
            assert!(
                v["fix"]["command"].as_str().unwrap_or("").contains(command),
                "{check}: the fix should contain {command:?}: {v:#}"
            );
        }
        None => assert!(v.get("fix").is_none(), "{check}: no fix expected: {v:#}"),
    }
}

#[test]
fn userns_sysctls_that_forbid_namespaces_fail_with_the_sysctl() {
    for_users(&[User::Sub], |env| {
        let r = SysRoot::new(env, "sys");
        r.write("/proc/sys/user/max_user_namespaces", "0\n");
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "userns",
            "fail",
            "user.max_user_namespaces is 0",
            Some(("root", "sysctl -w user.max_user_namespaces=15000")),
        );
        r.write("/proc/sys/user/max_user_namespaces", "15000\n");
        r.write("/proc/sys/kernel/unprivileged_userns_clone", "0\n");
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "userns",
            "fail",
            "kernel.unprivileged_userns_clone is 0",
            Some(("root", "sysctl -w kernel.unprivileged_userns_clone=1")),
        );
        r.write("/proc/sys/kernel/unprivileged_userns_clone", "1\n");
        let f = doctor(env, Some(&r), &[]);
        assert_finding(&f, "userns", "ok", "user.max_user_namespaces = 15000", None);
    });
}

#[test]
fn apparmor_restricted_userns_fails_with_a_profile() {
    for_users(&[User::Sub], |env| {
        let r = SysRoot::new(env, "sys");
        r.write(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "1\n",
        );
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "apparmor-userns",
            "fail",
            "apparmor_restrict_unprivileged_userns is 1",
            Some(("root", "apparmor_parser -r /etc/apparmor.d/coracle")),
        );
        assert!(
            finding(&f, "apparmor-userns")["fix"]["command"]
                .as_str()
                .unwrap()
                .contains("userns,"),
        );
        r.write(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
            "0\n",
        );
        let f = doctor(env, Some(&r), &[]);
        assert_finding(&f, "apparmor-userns", "ok", "is 0", None);
    });
}

/// `FIRST-LAST` from a `usermod --add-subuids FIRST-LAST` command.
fn suggested_range(command: &str) -> (u64, u64) {
    let range = command
        .split_whitespace()
        .skip_while(|w| *w != "--add-subuids")
        .nth(1)
        .unwrap_or_else(|| panic!("no --add-subuids in {command}"));
    let (a, b) = range.split_once('-').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn subids_missing_fail_with_usermod_and_present_pass() {
    for_users(&[User::Sub, User::NoSub], |env| {
        let f = doctor(env, None, &[]);
        if env.user == User::Sub {
            assert_finding(&f, "subuid", "ok", "coracle-sub: ", None);
            assert_finding(&f, "subgid", "ok", "65536 ids", None);
            return;
        }
        let fix = "--add-subgids";
        assert_finding(
            &f,
            "subuid",
            "fail",
            "coracle-nosub has no range in /etc/subuid",
            Some(("root", fix)),
        );
        assert_finding(
            &f,
            "subgid",
            "fail",
            "no range in /etc/subgid",
            Some(("root", fix)),
        );
        let command = finding(&f, "subuid")["fix"]["command"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(command.starts_with("usermod --add-subuids "), "{command}");
        assert!(command.ends_with(" coracle-nosub"), "{command}");
        // The suggested block is 65536 ids that nobody has.
        let (first, last) = suggested_range(&command);
        assert_eq!(last - first + 1, 65536);
        for file in ["/etc/subuid", "/etc/subgid"] {
            for line in fs::read_to_string(file).unwrap().lines() {
                let p: Vec<&str> = line.split(':').collect();
                let (Ok(s), Ok(c)) = (p[1].parse::<u64>(), p[2].parse::<u64>()) else {
                    continue;
                };
                assert!(
                    s + c <= first || last < s,
                    "{command} overlaps {file}: {line}"
                );
            }
        }
        // The table shows the same fix once, for both checks, and exits 1.
        let o = env.coracle().args(["system", "doctor"]).fails(1);
        let out = o.stdout();
        assert!(out.starts_with("CHECK"), "{o}");
        assert!(out.lines().next().unwrap().contains("STATUS"), "{o}");
        assert!(out.lines().next().unwrap().contains("DETAILS"), "{o}");
        assert!(
            out.contains(&format!(
                "To fix:\n  subuid, subgid (fail, as root):\n    {command}\n"
            )),
            "{o}"
        );
    });
}

#[test]
fn subid_ranges_shared_with_another_user_fail() {
    for_users(&[User::Sub], |env| {
        let r = SysRoot::new(env, "sys");
        r.write(
            "/etc/subuid",
            "other:100000:65536\ncoracle-sub:150000:65536\n",
        );
        r.write("/etc/subgid", "coracle-sub:300000:1000\n");
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "subuid",
            "fail",
            "coracle-sub's range 150000-215535 (line 2) overlaps other's range 100000-165535 (line 1)",
            Some((
                "root",
                "usermod --del-subuids 150000-215535 --add-subuids 215536-281071 coracle-sub",
            )),
        );
        // Too few ids for ordinary images: a warning with a range to add.
        assert_finding(
            &f,
            "subgid",
            "warn",
            "only 1000 ids",
            Some(("root", "usermod --add-subgids 215536-281071 coracle-sub")),
        );
    });
}

#[test]
fn newuidmap_without_setuid_or_capabilities_fails() {
    for_users(&[User::Sub], |env| {
        let r = SysRoot::new(env, "sys");
        let path = [("PATH", "/usr/bin")];
        let f = doctor(env, Some(&r), &path);
        assert_finding(
            &f,
            "newuidmap",
            "fail",
            "not in $PATH",
            Some(("root", "install -y uidmap")),
        );
        for tool in ["newuidmap", "newgidmap"] {
            let p = r.write(&format!("/usr/bin/{tool}"), "#!/bin/sh\n");
            fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let f = doctor(env, Some(&r), &path);
        assert_finding(
            &f,
            "newuidmap",
            "fail",
            "neither setuid root nor has cap_setuid=ep",
            Some(("root", "chmod u+s /usr/bin/newuidmap")),
        );
        assert_finding(
            &f,
            "newgidmap",
            "fail",
            "cap_setgid=ep",
            Some(("root", "chmod u+s /usr/bin/newgidmap")),
        );
        // Setuid root (Debian) or file capabilities (Fedora) both count.
        fs::set_permissions(
            r.path("/usr/bin/newuidmap"),
            fs::Permissions::from_mode(0o4755),
        )
        .unwrap();
        let cap = |bit: u32| -> Vec<u8> {
            [0x0200_0001u32, 1 << bit, 0, 0, 0]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect()
        };
        rustix::fs::setxattr(
            r.path("/usr/bin/newgidmap"),
            "security.capability",
            &cap(6),
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let f = doctor(env, Some(&r), &path);
        assert_finding(&f, "newuidmap", "ok", "setuid root", None);
        assert_finding(&f, "newgidmap", "ok", "file capability cap_setgid=ep", None);
        // cap_setuid on newgidmap is the wrong capability.
        rustix::fs::setxattr(
            r.path("/usr/bin/newgidmap"),
            "security.capability",
            &cap(7),
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
        let f = doctor(env, Some(&r), &path);
        assert_finding(
            &f,
            "newgidmap",
            "fail",
            "cap_setgid=ep",
            Some(("root", "chmod u+s")),
        );
    });
}

#[test]
fn devices_the_user_cannot_open_fail_with_chmod() {
    for_users(&[User::Sub], |env| {
        let r = SysRoot::new(env, "sys");
        for (check, dev, minor, module) in [
            ("fuse", "/dev/fuse", 229, "fuse"),
            ("tun", "/dev/net/tun", 200, "tun"),
        ] {
            let f = doctor(env, Some(&r), &[]);
            assert_finding(
                &f,
                check,
                "fail",
                "does not exist",
                Some(("root", &format!("modprobe {module}"))),
            );
            r.mknod(dev, 10, minor, 0o600);
            let f = doctor(env, Some(&r), &[]);
            assert_finding(
                &f,
                check,
                "fail",
                &format!("{dev} cannot be opened by coracle-sub (mode 600)"),
                Some(("root", &format!("chmod 0666 {dev}"))),
            );
            r.mknod(dev, 10, minor, 0o666);
            let f = doctor(env, Some(&r), &[]);
            assert_finding(&f, check, "ok", "opens for reading and writing", None);
            // Something else at the path.
            r.mknod(dev, 1, 3, 0o666);
            let f = doctor(env, Some(&r), &[]);
            assert_finding(
                &f,
                check,
                "fail",
                "is device 1:3",
                Some(("root", &format!("mknod -m 0666 {dev} c 10 {minor}"))),
            );
            r.remove(dev);
            r.write(dev, "");
            let f = doctor(env, Some(&r), &[]);
            assert_finding(
                &f,
                check,
                "fail",
                "not a character device",
                Some(("root", "mknod")),
            );
            r.mknod(dev, 10, minor, 0o666);
        }
    });
}

#[test]
fn network_helpers_missing_fail_with_the_package() {
    for_users(&[User::Sub], |env| {
        let r = SysRoot::new(env, "sys");
        let path = [("PATH", "/usr/bin:/bin")];
        let f = doctor(env, Some(&r), &path);
        assert_finding(
            &f,
            "network",
            "fail",
            "neither pasta nor slirp4netns",
            Some(("root", "install -y passt")),
        );
        let p = r.write("/usr/bin/slirp4netns", "#!/bin/sh\n");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        let f = doctor(env, Some(&r), &path);
        assert_finding(&f, "network", "ok", "/usr/bin/slirp4netns", None);
    });
}

#[test]
fn store_file_system_is_named() {
    for_users(&[User::Sub], |env| {
        // The test's own store (not made yet: its parent is examined).
        let f = doctor(env, None, &[]);
        assert_finding(&f, "store", "ok", &env.root().display().to_string(), None);
        // A store on tmpfs is local. (NFS and CIFS are checked by their magic numbers in the
        // unit tests: no network file system can be mounted here.)
        let shm = Path::new("/dev/shm");
        if rustix::fs::statfs(shm).is_ok_and(|s| s.f_type as u64 == 0x0102_1994) {
            let o = env
                .coracle_bare()
                .args([
                    "--root",
                    "/dev/shm/coracle-doctor-test/root",
                    "system",
                    "doctor",
                    "--format",
                    "json",
                ])
                .output();
            assert_finding(
                o.json().as_array().unwrap(),
                "store",
                "ok",
                "is on tmpfs",
                None,
            );
        }
        // A store directory left to another user (a `sudo coracle` made it): the owner and
        // a chown.
        let foreign = env.path("roots-store");
        fs::create_dir(&foreign).unwrap();
        let o = env
            .coracle_bare()
            .args(["--root", foreign.to_str().unwrap()])
            .args(["system", "doctor", "--format", "json"])
            .output();
        assert_eq!(o.code(), Some(1), "{}", o.stderr());
        let f = o.json().as_array().unwrap().clone();
        let fix = format!("chown -R coracle-sub: {}", foreign.display());
        assert_finding(
            &f,
            "store",
            "fail",
            "is not writable by coracle-sub",
            Some(("root", &fix)),
        );
        assert_finding(
            &f,
            "store",
            "fail",
            "(it belongs to uid 0)",
            Some(("root", &fix)),
        );
    });
}

#[test]
fn runtime_dir_of_another_user_fails() {
    for_users(&[User::Sub], |env| {
        let f = doctor(env, None, &[]);
        assert_finding(&f, "runtime-dir", "ok", "owned by coracle-sub", None);
        // sudo -u keeps the caller's directory.
        let root_owned = env.path("root-run");
        fs::create_dir(&root_owned).unwrap();
        let f = doctor(
            env,
            None,
            &[
                ("XDG_RUNTIME_DIR", root_owned.to_str().unwrap()),
                ("SUDO_USER", "root"),
            ],
        );
        let v = finding(&f, "runtime-dir");
        assert_eq!(v["status"], "fail", "{v:#}");
        assert!(
            v["details"]
                .as_str()
                .unwrap()
                .contains("belongs to uid 0, not coracle-sub (a sudo session)"),
            "{v:#}"
        );
        let fix = v["fix"]["command"].as_str().unwrap();
        assert!(
            fix.starts_with("export XDG_RUNTIME_DIR=")
                || fix.starts_with("machinectl shell coracle-sub@"),
            "{v:#}"
        );
        // A command refused there says why (as `su` leaves a 0700 directory of the caller's).
        fs::set_permissions(&root_owned, fs::Permissions::from_mode(0o700)).unwrap();
        let o = env
            .coracle()
            .env("XDG_RUNTIME_DIR", &root_owned)
            .args(["pull", "localhost:1/nothing:latest"])
            .output();
        assert_eq!(o.code(), Some(125), "{}", o.stderr());
        assert!(
            o.stderr().contains(&format!(
                "Hint: XDG_RUNTIME_DIR={} belongs to uid 0, not to this user",
                root_owned.display()
            )),
            "{}",
            o.stderr()
        );
        // Unset: run state falls back to /tmp, a warning.
        let f = doctor(env, None, &[("XDG_RUNTIME_DIR", "")]);
        assert_finding(
            &f,
            "runtime-dir",
            "warn",
            "XDG_RUNTIME_DIR is not set",
            Some(("user", "export XDG_RUNTIME_DIR=")),
        );
        // The user's own /run/user/UID, when logind made one, is the fix.
        let r = SysRoot::new(env, "sys");
        let own = r.mkdir(&format!("/run/user/{}", env.account.uid));
        chown(&own, Some(env.account.uid), Some(env.account.gid)).unwrap();
        let f = doctor(
            env,
            Some(&r),
            &[("XDG_RUNTIME_DIR", root_owned.to_str().unwrap())],
        );
        assert_finding(
            &f,
            "runtime-dir",
            "fail",
            "belongs to uid 0",
            Some((
                "user",
                &format!("export XDG_RUNTIME_DIR=/run/user/{}", env.account.uid),
            )),
        );
    });
}

#[test]
fn linger_off_warns_with_loginctl() {
    for_users(&[User::Sub], |env| {
        let r = SysRoot::new(env, "sys");
        let f = doctor(env, Some(&r), &[]);
        assert_finding(&f, "linger", "warn", "systemd is not the init system", None);
        r.mkdir("/run/systemd/system");
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "linger",
            "warn",
            "not enabled for coracle-sub",
            Some(("root", "loginctl enable-linger coracle-sub")),
        );
        r.write("/var/lib/systemd/linger/coracle-sub", "");
        let f = doctor(env, Some(&r), &[]);
        assert_finding(&f, "linger", "ok", "enabled for coracle-sub", None);
    });
}

#[test]
fn cgroup_without_delegation_warns_that_limits_are_refused() {
    for_users(&[User::Sub], |env| {
        let r = SysRoot::new(env, "sys");
        // v1 or hybrid (as on this CI machine).
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "cgroup",
            "warn",
            "resource limits (--memory, --cpus, --pids-limit) are refused",
            Some(("root", "systemd.unified_cgroup_hierarchy=1")),
        );
        // v2, the process's cgroup not the user's.
        r.write(
            "/sys/fs/cgroup/cgroup.controllers",
            "cpuset cpu io memory pids\n",
        );
        r.write(
            "/proc/self/cgroup",
            "0::/user.slice/user-1.slice/session-1.scope\n",
        );
        let uid = env.account.uid;
        let service = format!("/sys/fs/cgroup/user.slice/user-{uid}.slice/user@{uid}.service");
        let dir = r.mkdir(&service);
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "cgroup",
            "warn",
            "no cgroup is delegated to coracle-sub",
            Some(("root", "Delegate=cpu cpuset io memory pids")),
        );
        // systemd's default delegation: memory and pids only.
        r.write(&format!("{service}/cgroup.controllers"), "memory pids\n");
        chown(&dir, Some(uid), Some(env.account.gid)).unwrap();
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "cgroup",
            "warn",
            "delegated controllers: memory pids; limits needing cpu, cpuset, io are refused",
            Some(("root", "user@.service.d/delegate.conf")),
        );
        r.write(
            &format!("{service}/cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        );
        let f = doctor(env, Some(&r), &[]);
        assert_finding(
            &f,
            "cgroup",
            "ok",
            "delegated controllers: cpuset cpu io memory pids",
            None,
        );
    });
}

#[test]
fn root_needs_no_user_setup() {
    for_users(&[User::Root], |env| {
        let f = doctor(env, None, &[]);
        for check in [
            "userns",
            "subuid",
            "subgid",
            "newuidmap",
            "newgidmap",
            "runtime-dir",
            "linger",
        ] {
            assert_finding(&f, check, "ok", "as root", None);
        }
    });
}

#[test]
fn an_unmapped_user_error_names_the_range_to_add() {
    for_users(&[User::NoSub], |env| {
        env.load_image(busybox());
        let o = env
            .coracle()
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--rm",
                "-u",
                "1000",
                "busybox",
                "id",
            ])
            .fails(125);
        o.assert_stderr_contains("user 1000 is not mapped");
        o.assert_stderr_contains("coracle-nosub has no range in /etc/subuid");
        o.assert_stderr_contains("usermod --add-subuids ");
    });
}
