//! systemd's readiness protocol (sd_notify(3)) for `run --sdnotify`: datagrams such as
//! `READY=1` to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` for the abstract
//! namespace). coracle's `run` is itself the unit's main process and waits for the container,
//! so no helper stands between systemd and the container to swallow a message.
//!
//! Who sends what, by mode: `conmon`: `run`, `MAINPID=` (the monitor) and `READY=1` once the
//! container's command runs; `healthy`: the monitor (which outlives `run -d` and inherited
//! its `NOTIFY_SOCKET`), `MAINPID=` itself and `READY=1` at the first passing health check;
//! `container`: `run` sends `MAINPID=` only, the socket is bind-mounted into the container
//! at [`CONTAINER_SOCKET`] and named by the container's `NOTIFY_SOCKET`, and the service
//! sends `READY=1` itself.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Where the socket is in a container of `--sdnotify=container`, as in Podman.
pub const CONTAINER_SOCKET: &str = "/run/notify/notify.sock";

/// `--sdnotify`, with Podman's names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum SdNotifyMode {
    /// The container's own service sends READY=1 (the socket is passed into the container)
    Container,
    /// coracle sends READY=1 once the container's command runs
    Conmon,
    /// READY=1 once the container's health check passes
    Healthy,
    /// Nothing is sent, and the container does not see the socket
    Ignore,
}

/// This process's `$NOTIFY_SOCKET`, when it was started with a non-empty one.
pub fn socket_from_env() -> Option<String> {
    std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty())
}

/// The socket of `$NOTIFY_SOCKET`, when the process was started with one.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    address: SocketAddr,
    shown: String,
}

impl Notifier {
    /// The notifier for `NOTIFY_SOCKET=value`; `None` when it is unset or empty.
    pub fn new(value: Option<&str>) -> io::Result<Option<Notifier>> {
        let Some(value) = value.filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let address = match value.strip_prefix('@') {
            Some(name) => SocketAddr::from_abstract_name(name.as_bytes())?,
            None => SocketAddr::from_pathname(value)?,
        };
        Ok(Some(Notifier {
            socket: UnixDatagram::unbound()?,
            address,
            shown: value.to_string(),
        }))
    }

    /// The notifier of this process's `$NOTIFY_SOCKET` ([`socket_from_env`]); the error
    /// names the socket.
    pub fn from_env() -> io::Result<Option<Notifier>> {
        let value = socket_from_env();
        Notifier::new(value.as_deref()).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("NOTIFY_SOCKET={}: {e}", value.unwrap_or_default()),
            )
        })
    }

    /// Sends one message (newline-separated assignments).
    pub fn notify(&self, message: &str) -> io::Result<()> {
        self.socket
            .send_to_addr(message.as_bytes(), &self.address)
            .map(drop)
            .map_err(|e| io::Error::new(e.kind(), format!("notifying {}: {e}", self.shown)))
    }
}

/// The notifier of this process's `$NOTIFY_SOCKET` for a container of `mode`, when it is
/// the monitor's to send `READY=1` (`healthy`).
pub fn monitor_notifier(mode: Option<SdNotifyMode>) -> Option<Notifier> {
    if mode != Some(SdNotifyMode::Healthy) {
        return None;
    }
    Notifier::from_env().ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sends_to_a_path_and_an_abstract_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify");
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier::new(Some(path.to_str().unwrap()))
            .unwrap()
            .unwrap();
        n.notify("READY=1").unwrap();
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");

        let name = format!("coracle-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier::new(Some(&format!("@{name}"))).unwrap().unwrap();
        n.notify("STOPPING=1").unwrap();
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"STOPPING=1");

        assert!(Notifier::new(None).unwrap().is_none());
        assert!(Notifier::new(Some("")).unwrap().is_none());
    }
}
