//! The seccomp filter: containers' default profile (system calls it denies fail with its
//! errno inside the container, a normal workload passes), `--security-opt seccomp=FILE` in
//! containers' JSON format, `seccomp=unconfined`, `--privileged`, and `no-new-privileges`.
//!
//! System calls busybox has no applet for are made by `sys`, a small static C program built
//! here with the machine's compiler: `sys NR [ARG...]` prints the errno (0 on success).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::layer::{Entry, LayerBuilder};
use crate::harness::{TestEnv, for_each_user};

const SYS_C: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
    long a[6] = {0};
    for (int i = 2; i < argc && i < 8; i++) a[i - 2] = strtol(argv[i], 0, 0);
    long r = syscall(strtol(argv[1], 0, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
    printf("%d\n", r < 0 ? errno : 0);
    return 0;
}
"#;

/// The `sys` binary, built once per test run.
fn sys_binary() -> &'static [u8] {
    static BIN: OnceLock<Vec<u8>> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a directory for sys.c");
        let src = dir.path().join("sys.c");
        std::fs::write(&src, SYS_C).expect("writing sys.c");
        let out: PathBuf = dir.path().join("sys");
        let status = Command::new("cc")
            .args(["-static", "-O", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("running cc (apt-get install gcc libc6-dev)");
        assert!(status.success(), "cc failed building sys.c");
        std::fs::read(&out).expect("reading the built sys")
    })
}

/// `sys:latest`: busybox with `/bin/sys`.
pub fn sys_image() -> &'static Image {
    static I: OnceLock<Image> = OnceLock::new();
    I.get_or_init(|| {
        let layer = LayerBuilder::new()
            .push(Entry::dir("bin"))
            .push(Entry::file("bin/sys", sys_binary()).mode(0o755))
            .finish();
        Image::new(
            vec![busybox_layer().clone(), layer],
            vec![
                History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
                History::layer("/bin/sh -c #(nop) COPY sys /bin/sys"),
            ],
            busybox_run_config(),
            &["sys:latest"],
        )
    })
}

fn run(env: &TestEnv, args: &[&str]) -> crate::harness::Cmd {
    let mut c = env.coracle();
    c.args(["run", "--rm"]).args(args);
    c
}

/// The errnos `sys` prints for each call, one container for all of them.
fn errnos(env: &TestEnv, flags: &[&str], calls: &[String]) -> Vec<i32> {
    let script = calls
        .iter()
        .map(|c| format!("sys {c}"))
        .collect::<Vec<_>>()
        .join("; ");
    let mut args = flags.to_vec();
    args.extend(["sys:latest", "sh", "-c", &script]);
    let out = run(env, &args).stdout();
    out.lines()
        .map(|l| l.parse().unwrap_or_else(|_| panic!("sys printed {out:?}")))
        .collect()
}

/// `/proc/self/status`'s value of `key` inside the container with `flags`.
fn status_field(env: &TestEnv, flags: &[&str], key: &str) -> String {
    let mut args = flags.to_vec();
    args.extend(["busybox", "grep", key, "/proc/self/status"]);
    let out = run(env, &args).stdout();
    out.split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// (name for messages, the call's arguments, errno under the default profile).
fn denied_calls() -> Vec<(&'static str, String, i32)> {
    vec![
        // Denied outright by the profile (EPERM); the kernel itself would allow it with
        // UFFD_USER_MODE_ONLY.
        (
            "userfaultfd",
            format!("{} 1", libc::SYS_userfaultfd),
            libc::EPERM,
        ),
        (
            "kexec_load",
            format!("{} 0 0 0 0", libc::SYS_kexec_load),
            libc::EPERM,
        ),
        // Needs CAP_SYS_ADMIN (not a default capability).
        ("bpf", format!("{} 0 0 0", libc::SYS_bpf), libc::EPERM),
        (
            "open_by_handle_at",
            format!("{} 0 0 0", libc::SYS_open_by_handle_at),
            libc::EPERM,
        ),
        // Not in the allow-list: the default action, ENOSYS.
        (
            "add_key",
            format!("{} 0 0 0 0 0", libc::SYS_add_key),
            libc::ENOSYS,
        ),
        (
            "io_uring_setup",
            format!("{} 1 0", libc::SYS_io_uring_setup),
            libc::ENOSYS,
        ),
        // A persona other than the few allowed.
        (
            "personality(ADDR_COMPAT_LAYOUT)",
            format!("{} 0x200000", libc::SYS_personality),
            libc::ENOSYS,
        ),
        // An audit netlink socket without CAP_AUDIT_WRITE.
        (
            "socket(AF_NETLINK, SOCK_RAW, NETLINK_AUDIT)",
            format!("{} 16 3 9", libc::SYS_socket),
            libc::EINVAL,
        ),
    ]
}

#[test]
fn default_profile_denies_as_podman() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(sys_image());
        let calls = denied_calls();
        let args: Vec<String> = calls.iter().map(|c| c.1.clone()).collect();
        let got = errnos(env, &[], &args);
        for ((name, _, want), got) in calls.iter().zip(&got) {
            assert_eq!(got, want, "{name} under the default profile");
        }
        assert_eq!(status_field(env, &[], "^Seccomp:"), "2");
        // Unconfined, the same calls reach the kernel: userfaultfd succeeds, and nothing
        // reports the profile's ENOSYS.
        for flags in [
            &["--security-opt", "seccomp=unconfined"][..],
            &["--privileged"],
        ] {
            let got = errnos(env, flags, &args);
            assert_eq!(got[0], 0, "userfaultfd with {flags:?}");
            for ((name, _, want), got) in calls.iter().zip(&got) {
                if *want != libc::EPERM {
                    assert_ne!(got, want, "{name} with {flags:?}");
                }
            }
            assert_eq!(status_field(env, flags, "^Seccomp:"), "0", "{flags:?}");
        }
    });
}

#[test]
fn capabilities_open_what_the_profile_reserves_for_them() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(sys_image());
        let sethostname = ["busybox", "/bin/busybox", "hostname", "newname"];
        run(env, &sethostname)
            .fails(1)
            .assert_stderr_contains("Operation not permitted");
        let mut admin = vec!["--cap-add", "SYS_ADMIN"];
        admin.extend(sethostname);
        run(env, &admin).ok();
        // chroot is allowed with CAP_SYS_CHROOT (a default capability) and denied without.
        run(
            env,
            &["busybox", "/bin/busybox", "chroot", "/", "/bin/true"],
        )
        .ok();
        run(
            env,
            &[
                "--cap-drop",
                "SYS_CHROOT",
                "busybox",
                "/bin/busybox",
                "chroot",
                "/",
                "/bin/true",
            ],
        )
        .fails(1)
        .assert_stderr_contains("Operation not permitted");
    });
}

#[test]
fn a_normal_workload_passes() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(sys_image());
        let script = "set -e; i=0; while [ $i -lt 100 ]; do i=$((i+1)); done; \
            mkdir -p /tmp/a/b; echo hello > /tmp/a/b/f; ln -s f /tmp/a/b/l; \
            busybox tar -C /tmp -cf /tmp/t.tar a; busybox gzip /tmp/t.tar; rm -r /tmp/a; \
            busybox gunzip /tmp/t.tar.gz; busybox tar -C /tmp -xf /tmp/t.tar; \
            cat /tmp/a/b/l; busybox sha256sum /tmp/t.tar >/dev/null; busybox ps >/dev/null; \
            (sleep 0.1 & wait); busybox find / -xdev -name passwd >/dev/null; \
            busybox wget -q -T 1 -O /dev/null http://127.0.0.1:9/ 2>/dev/null || true; \
            echo $i";
        let out = run(env, &["busybox", "sh", "-c", script]).stdout();
        assert_eq!(out, "hello\n100\n");
    });
}

#[test]
fn a_profile_file_in_containers_format() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(sys_image());
        let deny_mkdir = env.write(
            "deny-mkdir.json",
            r#"{"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
                "syscalls": [{"names": ["mkdir", "mkdirat", "not_a_syscall"],
                              "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
                              "args": [], "comment": "", "includes": {}, "excludes": {}}]}"#,
        );
        let opt = format!("seccomp={}", deny_mkdir.display());
        run(env, &["--security-opt", &opt, "busybox", "mkdir", "/tmp/x"])
            .fails(1)
            .assert_stderr_contains("Permission denied");
        run(env, &["busybox", "mkdir", "/tmp/x"]).ok();
        // A later seccomp=unconfined wins, as in Podman.
        run(
            env,
            &[
                "--security-opt",
                &opt,
                "--security-opt",
                "seccomp=unconfined",
                "busybox",
                "mkdir",
                "/tmp/x",
            ],
        )
        .ok();

        let bad = env.write(
            "bad.json",
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_SOMETIMES"}]}"#,
        );
        let opt = format!("seccomp={}", bad.display());
        let o = run(env, &["--security-opt", &opt, "busybox", "true"]).fails(125);
        o.assert_stderr_contains(&bad.display().to_string());
        o.assert_stderr_contains("unknown action \"SCMP_ACT_SOMETIMES\"");
        let broken = env.write("broken.json", "{\"defaultAction\": ");
        let opt = format!("seccomp={}", broken.display());
        run(env, &["--security-opt", &opt, "busybox", "true"])
            .fails(125)
            .assert_stderr_contains("broken.json");
        run(
            env,
            &[
                "--security-opt",
                "seccomp=/no/such/profile.json",
                "busybox",
                "true",
            ],
        )
        .fails(125)
        .assert_stderr_contains("/no/such/profile.json");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

#[test]
fn no_new_privileges_only_when_asked() {
    for_each_user(|env| {
        env.load_image(busybox());
        env.load_image(sys_image());
        assert_eq!(status_field(env, &[], "^NoNewPrivs:"), "0");
        let flags = ["--security-opt", "no-new-privileges"];
        assert_eq!(status_field(env, &flags, "^NoNewPrivs:"), "1");
        // The filter is installed after no_new_privs then, for a non-root user too.
        assert_eq!(status_field(env, &flags, "^Seccomp:"), "2");
        let flags = ["--security-opt", "no-new-privileges=true", "-u", "0:0"];
        assert_eq!(status_field(env, &flags, "^NoNewPrivs:"), "1");
        let mut calls = vec!["--security-opt", "no-new-privileges"];
        calls.extend(["sys:latest", "sys"]);
        let nr = libc::SYS_userfaultfd.to_string();
        calls.extend([nr.as_str(), "1"]);
        assert_eq!(run(env, &calls).stdout(), "1\n");
    });
}
