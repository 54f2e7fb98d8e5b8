//! `run --sdnotify` under a systemd-like supervisor: the test binds the datagram socket a
//! `Type=notify` unit's `NOTIFY_SOCKET` names and reads what coracle sends, in order.

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::net::UnixDatagram;

use crate::harness::images::busybox;
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
            // Without the flag, conmon is the default (container mode is not there yet).
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
fn ignore_sends_nothing_and_unsupported_modes_are_125() {
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
        for mode in ["container", "healthy"] {
            env.coracle()
                .env("NOTIFY_SOCKET", &path)
                .args([
                    "run",
                    "--rm",
                    &format!("--sdnotify={mode}"),
                    "busybox",
                    "true",
                ])
                .fails(125)
                .assert_stderr_contains("not supported yet");
        }
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
