//! `run --sdnotify` under a systemd-like supervisor: the test binds the datagram socket a
//! `Type=notify` unit's `NOTIFY_SOCKET` names and reads what coracle sends, in order.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;

use std::sync::OnceLock;

use crate::harness::images::{History, Image, busybox, busybox_layer, busybox_run_config};
use crate::harness::layer::{Entry, LayerBuilder};
use crate::harness::registry::{Fault, RegistryOpts, RegistryServer};
use crate::harness::{TestEnv, as_root, for_each_user};

/// A socket in the test's directory that the test user may send to.
fn listener(env: &TestEnv) -> (UnixDatagram, std::path::PathBuf) {
    let path = env.path("notify.sock");
    let socket = UnixDatagram::bind(&path).expect("binding the notify socket");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    socket.set_nonblocking(true).unwrap();
    (socket, path)
}

/// Every message waiting on the socket.
fn received(socket: &UnixDatagram) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = socket.recv(&mut buf) {
        out.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    out
}

#[test]
fn conmon_mode_says_ready_while_the_container_runs_then_stopping() {
    for_each_user(|env| {
        env.load_image(busybox());
        let (socket, path) = listener(env);
        for flags in [&["--sdnotify=conmon"][..], &[][..]] {
            // Without the flag, conmon is the default.
            let o = env
                .coracle()
                .env("NOTIFY_SOCKET", &path)
                .args(["--storage-driver", "vfs", "run", "--rm"])
                .args(flags)
                .args(["busybox", "echo", "running"])
                .ok();
            assert_eq!(o.stdout(), "running\n", "{o}");
            let got = received(&socket);
            assert_eq!(got.len(), 2, "{flags:?}: {got:?}");
            let ready: Vec<&str> = got[0].lines().collect();
            assert_eq!(ready.len(), 2, "{got:?}");
            let pid = ready[0].strip_prefix("MAINPID=").expect("MAINPID first");
            assert!(pid.parse::<u32>().is_ok_and(|p| p > 1), "{got:?}");
            assert_eq!(ready[1], "READY=1", "{got:?}");
            assert_eq!(got[1], "STOPPING=1", "{got:?}");
        }
        // The container's exit status is still the command's.
        env.coracle()
            .env("NOTIFY_SOCKET", &path)
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--rm",
                "busybox",
                "sh",
                "-c",
                "exit 3",
            ])
            .fails(3);
        assert_eq!(received(&socket).len(), 2);
    });
}

#[test]
fn ignore_sends_nothing_and_healthy_needs_a_check() {
    for_each_user(|env| {
        env.load_image(busybox());
        let (socket, path) = listener(env);
        env.coracle()
            .env("NOTIFY_SOCKET", &path)
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--rm",
                "--sdnotify=ignore",
                "busybox",
                "true",
            ])
            .ok();
        assert_eq!(received(&socket), Vec::<String>::new());
        env.coracle()
            .env("NOTIFY_SOCKET", &path)
            .args(["run", "--rm", "--sdnotify=healthy", "busybox", "true"])
            .fails(125)
            .assert_stderr_contains("requires a healthcheck");
        // A socket nobody listens on is a warning, not a failure.
        let gone = env.path("nobody.sock");
        let o = env
            .coracle()
            .env("NOTIFY_SOCKET", &gone)
            .args(["--storage-driver", "vfs", "run", "--rm", "busybox", "true"])
            .ok();
        o.assert_stderr_contains("notifying");
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// Waits up to `secs` for a message containing `what`; all messages received until then.
fn wait_for(socket: &UnixDatagram, what: &str, secs: u64) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut got = Vec::new();
    while std::time::Instant::now() < deadline {
        got.extend(received(socket));
        if got.iter().any(|m| m.contains(what)) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    got
}

/// `healthy`, detached: `run -d` returns and the monitor (which holds NOTIFY_SOCKET from
/// then on) sends MAINPID (itself) and READY=1 once the check passes, not before.
#[test]
fn healthy_mode_says_ready_from_the_monitor_once_the_check_passes() {
    for_each_user(|env| {
        env.load_image(busybox());
        let (socket, path) = listener(env);
        env.coracle()
            .env("NOTIFY_SOCKET", &path)
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "-d",
                "--name",
                "svc",
                "--sdnotify=healthy",
                "--health-cmd",
                "test -f /tmp/up",
                "--health-interval",
                "1s",
                "busybox",
                "sh",
                "-c",
                "sleep 2; touch /tmp/up; sleep 1000",
            ])
            .ok();
        let early = received(&socket);
        assert!(early.iter().all(|m| !m.contains("READY=1")), "{early:?}");
        let got = wait_for(&socket, "READY=1", 20);
        let ready = got
            .iter()
            .find(|m| m.contains("READY=1"))
            .unwrap_or_else(|| panic!("no READY=1: {got:?}"));
        let lines: Vec<&str> = ready.lines().collect();
        let monitor = env
            .coracle()
            .args(["inspect", "--format", "{{.State.ConmonPid}}", "svc"])
            .stdout();
        assert_eq!(
            lines,
            [format!("MAINPID={}", monitor.trim()).as_str(), "READY=1"]
        );
        let health = env
            .coracle()
            .args(["inspect", "--format", "{{.State.Health.Status}}", "svc"])
            .stdout();
        assert_eq!(health.trim(), "healthy");
        env.coracle().args(["rm", "-f", "svc"]).ok();
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

const NOTIFY_C: &str = r#"
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || argc < 2) return 2;
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int s = socket(AF_UNIX, SOCK_DGRAM, 0);
    if (s < 0) return 3;
    if (sendto(s, argv[1], strlen(argv[1]), 0, (struct sockaddr *)&a, sizeof a) < 0) return 4;
    return 0;
}
"#;

/// `notify:latest`: busybox with `/bin/notify MESSAGE` (sd_notify's datagram to
/// `$NOTIFY_SOCKET`, which busybox's nc cannot send).
fn notify_image() -> &'static Image {
    static I: OnceLock<Image> = OnceLock::new();
    I.get_or_init(|| {
        let dir = tempfile::tempdir().expect("a directory for notify.c");
        let src = dir.path().join("notify.c");
        std::fs::write(&src, NOTIFY_C).unwrap();
        let out = dir.path().join("notify");
        let status = std::process::Command::new("cc")
            .args(["-static", "-O", "-o"])
            .arg(&out)
            .arg(&src)
            .status()
            .expect("running cc (apt-get install gcc libc6-dev)");
        assert!(status.success(), "cc failed building notify.c");
        let layer = LayerBuilder::new()
            .push(Entry::dir("bin"))
            .push(Entry::file("bin/notify", std::fs::read(&out).unwrap()).mode(0o755))
            .finish();
        Image::new(
            vec![busybox_layer().clone(), layer],
            vec![
                History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
                History::layer("/bin/sh -c #(nop) COPY notify /bin/notify"),
            ],
            busybox_run_config(),
            &["notify:latest"],
        )
    })
}

/// `container`: the socket is in the container at /run/notify/notify.sock, named by its
/// NOTIFY_SOCKET; the service's READY=1 arrives, and coracle sends MAINPID only.
#[test]
fn container_mode_passes_the_socket_in() {
    for_each_user(|env| {
        env.load_image(notify_image());
        let (socket, path) = listener(env);
        for driver in ["vfs", "overlay"] {
            let o = env
                .coracle()
                .env("NOTIFY_SOCKET", &path)
                .args([
                    "--storage-driver",
                    driver,
                    "run",
                    "--rm",
                    "--sdnotify=container",
                ])
                .args([
                    "notify",
                    "sh",
                    "-c",
                    "echo $NOTIFY_SOCKET; notify READY=1 && notify STATUS=serving",
                ])
                .ok();
            assert_eq!(o.stdout(), "/run/notify/notify.sock\n", "{o}");
            let got = received(&socket);
            let mainpid = got.iter().position(|m| m.starts_with("MAINPID="));
            let ready = got.iter().position(|m| m == "READY=1");
            assert!(mainpid.is_some() && ready.is_some(), "{driver}: {got:?}");
            assert!(got.contains(&"STATUS=serving".to_string()), "{got:?}");
            // coracle itself never says READY=1 in this mode.
            assert_eq!(
                got.iter().filter(|m| m.contains("READY=1")).count(),
                1,
                "{got:?}"
            );
            assert!(!got[mainpid.unwrap()].contains("READY"), "{got:?}");
        }
        assert_eq!(env.container_leftovers(), Vec::<String>::new());
    });
}

/// A slow pull before the container starts: systemd is asked to wait longer
/// (`EXTEND_TIMEOUT_USEC`) until READY=1 comes.
#[test]
fn a_slow_pull_extends_the_start_timeout() {
    if !crate::harness::registry::available() {
        return;
    }
    let reg = RegistryServer::start(RegistryOpts::http());
    reg.push_image_oci(busybox(), "slow/bb:1");
    // The busybox layer (about 1 MiB compressed or more) takes several seconds at this rate.
    let proxy = reg.fault_proxy(Fault::SlowBlobs {
        bytes_per_sec: 128 << 10,
    });
    let name = proxy.image_ref("slow/bb:1");
    as_root(|env| {
        let (socket, path) = listener(env);
        env.coracle()
            .env("NOTIFY_SOCKET", &path)
            .args([
                "--storage-driver",
                "vfs",
                "run",
                "--rm",
                "-q",
                "--tls-verify=false",
            ])
            .args([&name, "true"])
            .ok();
        let got = received(&socket);
        let ready = got
            .iter()
            .position(|m| m.contains("READY=1"))
            .unwrap_or_else(|| panic!("no READY=1: {got:?}"));
        assert!(ready > 0, "{got:?}");
        assert!(
            got[..ready]
                .iter()
                .all(|m| m.starts_with("EXTEND_TIMEOUT_USEC=")),
            "{got:?}"
        );
    });
}
