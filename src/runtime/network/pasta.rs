//! pasta (the `passt` package) against the container's network namespace.
//!
//! pasta is started by the monitor, so it lives where the monitor does: in the container's
//! user namespace (rootless) or the host's (root), and in the host's network namespace, where
//! it binds the published ports. It is given the container's network namespace as an
//! inherited descriptor (`--netns /proc/self/fd/3`): opening `/proc/PID/ns/net` itself would
//! need ptrace access to the init, which pasta, having dropped its capabilities, lacks when
//! coracle runs as root. It runs in the foreground (`-f`), a child of the monitor with
//! `PR_SET_PDEATHSIG`, so it never outlives the container's monitor; the monitor ends it when
//! the container ends (`--no-netns-quit`: a descriptor has no file to watch).
//!
//! `--pid` names a pipe (`/proc/self/fd/4`): pasta writes its pid and a newline there once the
//! interface, addresses, routes and port forwards are set up (Debian 12's pasta writes it just
//! before its event loop); end of file before a line means pasta exited, and its log (stderr,
//! kept in the container's `userdata/pasta.log`) says why.
//!
//! Options as Podman 5 passes them: `--config-net`, `--dns-forward 169.254.1.1`, `-t`/`-u`
//! for each published range (`none` without any), `-T none -U none` (nothing of the host is
//! forwarded into the container by itself), and the user's `pasta:` options last. Unlike
//! Podman 5, the gateway stays mapped to the host (pasta's default; this pasta predates
//! `--map-guest-addr`), so `host.containers.internal` is the gateway address.
//!
//! `--runas UID:GID`, the monitor's own ids (`0:0` unless `--userns=keep-id` or `--uidmap`
//! put the user elsewhere): pasta otherwise switches to `nobody` before it enters the
//! namespace, and `nobody` may enter neither the namespace (as root) nor exist in it (a
//! single-id mapping); nor may another id than the monitor's open the pid pipe. A monitor
//! that is not uid 0 hands its capabilities on as ambient ones (`sys::net::spawn_helper`).

use std::fs::{File, OpenOptions};
use std::io::Read as _;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::NetError;
use super::ports::{PortMapping, Protocol, pasta_spec};

/// The address pasta answers DNS queries on, forwarding them to the host's resolver.
pub const DNS_FORWARD: &str = "169.254.1.1";

const LOG: &str = "pasta.log";

/// pasta's arguments (without the program name).
pub fn args(ports: &[PortMapping], user: &[String]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--config-net",
        "--dns-forward",
        DNS_FORWARD,
        "--quiet",
        "-f",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (flag, proto) in [("-t", Protocol::Tcp), ("-u", Protocol::Udp)] {
        let specs: Vec<String> = ports
            .iter()
            .filter(|m| m.protocol == proto)
            .map(pasta_spec)
            .collect();
        if specs.is_empty() {
            a.extend([flag.to_string(), "none".to_string()]);
        }
        for s in specs {
            a.extend([flag.to_string(), s]);
        }
    }
    a.extend(["-T", "none", "-U", "none", "--no-netns-quit", "--runas"].map(String::from));
    a.push(format!(
        "{}:{}",
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw()
    ));
    a.extend(user.iter().cloned());
    a.extend(["--netns", "/proc/self/fd/3", "--pid", "/proc/self/fd/4"].map(String::from));
    a
}

/// pasta spawned, not yet known to be ready (killed when dropped so).
pub struct Pending {
    child: Option<std::process::Child>,
    pid_r: Option<OwnedFd>,
    watch_r: Option<OwnedFd>,
    log_path: std::path::PathBuf,
}

/// The descriptor number of the pipe that tells when pasta's descriptors are closed: the
/// highest a process may have, up to 1023 (pasta opens ~250 of its own without published
/// ports).
///
/// Why the highest: an exiting process closes its descriptors in order, but the kernel
/// releases the files in the reverse order, after the process let go of its whole table.
/// pasta's tap device is among them, and its release waits for an RCU barrier (~20 ms):
/// the end of file of a pipe above it comes before that, once pasta holds no descriptor
/// any more. A lower number only makes the end of file later (at worst, at the exit).
fn watch_fd() -> i32 {
    let soft = rustix::process::getrlimit(rustix::process::Resource::Nofile)
        .current
        .unwrap_or(1024);
    i32::try_from(soft.saturating_sub(1))
        .map_or(1023, |n| n.min(1023))
        .max(5)
}

/// Spawns pasta on `netns`; [`Pending::ready`] waits until it has set the namespace up.
pub fn start(
    program: &Path,
    netns: impl AsFd,
    ports: &[PortMapping],
    user: &[String],
    userdata: &Path,
) -> Result<Pending, NetError> {
    let log_path = userdata.join(LOG);
    let log = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&log_path)
        .map_err(|source| NetError::Io {
            what: format!("creating {}", log_path.display()),
            source,
        })?;
    let (pid_r, pid_w) = super::pipe("pasta")?;
    let (watch_r, watch_w) = super::pipe("pasta")?;
    // argv[0] keeps its name (pasta or pasta.avx2: both say "pasta mode").
    let mut cmd = Command::new(direct_program(program));
    cmd.args(args(ports, user))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let spawned = crate::sys::net::spawn_helper(
        &mut cmd,
        &[
            (netns.as_fd(), 3),
            (pid_w.as_fd(), 4),
            (watch_w.as_fd(), watch_fd()),
        ],
    );
    drop((pid_w, watch_w));
    let child = spawned.map_err(|source| NetError::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    Ok(Pending {
        child: Some(child),
        pid_r: Some(pid_r),
        watch_r: Some(watch_r),
        log_path,
    })
}

/// pasta re-executes itself as `pasta.avx2` when the processor has AVX2 (a second exec and
/// dynamic link, about a millisecond): that program directly when it is beside `program`.
fn direct_program(program: &Path) -> std::path::PathBuf {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        let mut name = program.as_os_str().to_owned();
        name.push(".avx2");
        let avx2 = std::path::PathBuf::from(name);
        if avx2.exists() {
            return avx2;
        }
    }
    program.to_path_buf()
}

/// A pasta that has configured the namespace.
pub struct Running {
    pub child: std::process::Child,
    /// A pipe whose only writer is a descriptor of pasta's above its own ([`watch_fd`]):
    /// its end of file, once pasta is killed, means pasta holds no descriptor any more (its
    /// log among them); the release of its files may still be going on. `None` when this
    /// pasta closed it itself (then only its exit says so).
    pub files: Option<File>,
}

impl Pending {
    /// Waits until pasta has configured the namespace; its log says why when it exited.
    pub fn ready(self) -> Result<std::process::Child, NetError> {
        self.ready_watched().map(|r| r.child)
    }

    /// [`Pending::ready`], keeping the pid pipe to learn when pasta's files are closed.
    pub fn ready_watched(mut self) -> Result<Running, NetError> {
        let (Some(mut child), Some(pid_r)) = (self.child.take(), self.pid_r.take()) else {
            unreachable!("a pending pasta has its child and pipe until ready");
        };
        // pasta keeps the inherited descriptor 4 open (it writes through its own open of the
        // path): the pid ends with a newline, end of file means it exited.
        if read_line(&File::from(pid_r)).is_some_and(|l| !l.trim().is_empty()) {
            // A pasta that closes descriptors it inherited would make the end of file
            // meaningless: already there means so.
            let files = self.watch_r.take().map(File::from).filter(|w| {
                crate::sys::poll::poll(&[(w.as_fd(), crate::sys::poll::IN)], Some(Duration::ZERO))
                    .is_ok_and(|r| r[0] == 0)
            });
            return Ok(Running { child, files });
        }
        let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
        let log = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        Err(NetError::Failed {
            program: "pasta".into(),
            status,
            output: last_lines(&log),
        })
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One line from `f`, up to its newline; `None` at end of file before one.
fn read_line(mut f: &File) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match f.read(&mut b) {
            Ok(0) => return None,
            Ok(_) if b[0] == b'\n' => return String::from_utf8(line).ok(),
            Ok(_) => line.push(b[0]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}

/// The helper's last meaningful lines, for an error (pasta also logs syslog failures).
pub fn last_lines(log: &str) -> String {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("Failed to send"))
        .collect();
    lines[lines.len().saturating_sub(3)..].join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::network::ports::parse_publish;

    #[test]
    fn arguments_as_podman_passes_them() {
        let a = args(&[], &[]).join(" ");
        assert!(a.contains("--config-net --dns-forward 169.254.1.1"), "{a}");
        assert!(a.contains("-t none -u none -T none -U none"), "{a}");
        assert!(
            a.ends_with("--netns /proc/self/fd/3 --pid /proc/self/fd/4"),
            "{a}"
        );
        let ports = vec![
            parse_publish("8080:80").unwrap(),
            parse_publish("127.0.0.1:5353:53/udp").unwrap(),
        ];
        let a = args(&ports, &["--mtu".into(), "1500".into()]).join(" ");
        assert!(a.contains("-t 8080:80 -u 127.0.0.1/5353:53 -T none"), "{a}");
        assert!(a.contains("--mtu 1500 --netns"), "{a}");
    }

    #[test]
    fn log_lines_for_errors() {
        let log = "Failed to send 47 bytes to syslog\nDon't run as root.\n\nCouldn't open network namespace /proc/self/fd/3\n";
        assert_eq!(
            last_lines(log),
            "Don't run as root.; Couldn't open network namespace /proc/self/fd/3"
        );
    }
}
