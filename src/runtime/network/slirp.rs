//! slirp4netns against the container's network namespace, where pasta is missing or asked
//! for by `--network slirp4netns[:opts]`.
//!
//! Started by the monitor like pasta (see `pasta.rs`: same namespaces, the network namespace
//! as inherited descriptor 3, `PR_SET_PDEATHSIG`). `--ready-fd` says when `tap0` is up with
//! 10.0.2.100, routed through 10.0.2.2, DNS at 10.0.2.3; `--exit-fd` is a pipe whose write end
//! the monitor holds, so slirp4netns ends with the monitor's handle on it. Published ports are
//! added through its API socket (`add_hostfwd`, one request per connection), which lives in
//! the container's `userdata/`, reached through a directory descriptor so that the socket
//! path stays short whatever the store's path.
//!
//! Options (`slirp4netns:opt=value,...`, Podman's names): `allow_host_loopback` (default true
//! here, unlike Podman: 10.0.2.2 then reaches the host's loopback, as pasta's gateway does),
//! `mtu` (65520), `cidr`, `enable_ipv6`, `outbound_addr`, `outbound_addr6`.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

use super::NetError;
use super::ports::PortMapping;

const SOCKET: &str = "slirp4netns.sock";

/// slirp4netns's network (`cidr`), from which its addresses follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlirpNet {
    pub base: Ipv4Addr,
}

impl Default for SlirpNet {
    fn default() -> Self {
        SlirpNet {
            base: Ipv4Addr::new(10, 0, 2, 0),
        }
    }
}

impl SlirpNet {
    fn nth(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + n)
    }
    /// The container's address.
    pub fn guest(&self) -> Ipv4Addr {
        self.nth(100)
    }
    /// The gateway, which is the host's loopback when that is allowed.
    pub fn gateway(&self) -> Ipv4Addr {
        self.nth(2)
    }
    /// The DNS forwarder.
    pub fn dns(&self) -> Ipv4Addr {
        self.nth(3)
    }
}

/// The options as slirp4netns arguments, and the network they give.
pub fn args(user: &[String]) -> Result<(Vec<String>, SlirpNet), NetError> {
    let bad = |o: &str| NetError::Option {
        helper: "slirp4netns",
        option: o.to_string(),
    };
    let mut a: Vec<String> = vec!["--configure".into(), "--enable-sandbox".into()];
    let (mut mtu, mut loopback, mut net) = ("65520".to_string(), true, SlirpNet::default());
    for o in user {
        let (k, v) = o.split_once('=').ok_or_else(|| bad(o))?;
        let flag = |v: &str| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(bad(o)),
        };
        match k {
            "allow_host_loopback" => loopback = flag(v)?,
            "mtu" => {
                v.parse::<u32>().map_err(|_| bad(o))?;
                mtu = v.to_string();
            }
            "cidr" => {
                let base = v.split_once('/').map_or(v, |(b, _)| b);
                net.base = base.parse().map_err(|_| bad(o))?;
                a.push(format!("--cidr={v}"));
            }
            "enable_ipv6" => {
                if flag(v)? {
                    a.push("--enable-ipv6".into());
                }
            }
            "outbound_addr" => a.push(format!("--outbound-addr={v}")),
            "outbound_addr6" => a.push(format!("--outbound-addr6={v}")),
            _ => return Err(bad(o)),
        }
    }
    a.push(format!("--mtu={mtu}"));
    if !loopback {
        a.push("--disable-host-loopback".into());
    }
    a.extend(
        [
            "--ready-fd=4",
            "--exit-fd=5",
            "--netns-type=path",
            "--api-socket",
            "/proc/self/fd/6/slirp4netns.sock",
            "/proc/self/fd/3",
            "tap0",
        ]
        .map(String::from),
    );
    Ok((a, net))
}

/// A running slirp4netns: the child and the pipe whose closing ends it.
pub struct Slirp {
    pub child: std::process::Child,
    pub exit: OwnedFd,
}

/// Spawns slirp4netns on `netns`; [`Pending::ready`] waits until the interface is up and
/// publishes `ports`.
pub fn start(
    program: &Path,
    netns: impl AsFd,
    ports: &[PortMapping],
    user: &[String],
    userdata: &Path,
) -> Result<Pending, NetError> {
    let (args, net) = args(user)?;
    let dir = File::open(userdata).map_err(|source| NetError::Io {
        what: format!("opening {}", userdata.display()),
        source,
    })?;
    let _ = std::fs::remove_file(userdata.join(SOCKET));
    let (ready_r, ready_w) = super::pipe("slirp4netns")?;
    let (exit_r, exit_w) = super::pipe("slirp4netns")?;
    let mut cmd = Command::new(program);
    cmd.args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let spawned = crate::sys::net::spawn_helper(
        &mut cmd,
        &[
            (netns.as_fd(), 3),
            (ready_w.as_fd(), 4),
            (exit_r.as_fd(), 5),
            (dir.as_fd(), 6),
        ],
    );
    drop((ready_w, exit_r));
    let child = spawned.map_err(|source| NetError::Spawn {
        program: program.display().to_string(),
        source,
    })?;
    Ok(Pending {
        slirp: Some(Slirp {
            child,
            exit: exit_w,
        }),
        ready_r,
        dir,
        net,
        ports: ports.to_vec(),
    })
}

/// slirp4netns spawned, not yet ready (ended when dropped so: its exit pipe closes).
pub struct Pending {
    slirp: Option<Slirp>,
    ready_r: OwnedFd,
    dir: File,
    net: SlirpNet,
    ports: Vec<PortMapping>,
}

impl Pending {
    /// Waits until `tap0` is configured, then publishes the ports.
    pub fn ready(mut self) -> Result<Slirp, NetError> {
        let Some(mut slirp) = self.slirp.take() else {
            unreachable!("a pending slirp4netns has its process until ready");
        };
        let mut said = [0u8; 1];
        let ready = File::from(self.ready_r).read(&mut said).unwrap_or(0) == 1;
        if !ready {
            let mut output = String::new();
            if let Some(mut e) = slirp.child.stderr.take() {
                let _ = e.read_to_string(&mut output);
            }
            let status = slirp
                .child
                .wait()
                .map(|s| s.to_string())
                .unwrap_or_default();
            return Err(NetError::Failed {
                program: "slirp4netns".into(),
                status,
                output: super::pasta::last_lines(&output),
            });
        }
        // Nothing reads its stderr from now on: a write there must not block or kill it.
        drop(slirp.child.stderr.take());
        let socket = format!("/proc/self/fd/{}/{SOCKET}", self.dir.as_raw_fd());
        for m in &self.ports {
            for i in 0..m.range {
                add_hostfwd(&socket, m, i, self.net.guest())?;
            }
        }
        Ok(slirp)
    }
}

fn add_hostfwd(socket: &str, m: &PortMapping, i: u16, guest: Ipv4Addr) -> Result<(), NetError> {
    let host_addr = if m.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        &m.host_ip
    };
    let req = serde_json::json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": m.protocol.as_str(),
            "host_addr": host_addr,
            "host_port": m.host_port + i,
            "guest_addr": guest.to_string(),
            "guest_port": m.container_port + i,
        }
    });
    let io = |source| NetError::Io {
        what: "talking to slirp4netns's API socket".into(),
        source,
    };
    let mut conn = UnixStream::connect(socket).map_err(io)?;
    conn.write_all(req.to_string().as_bytes()).map_err(io)?;
    conn.shutdown(std::net::Shutdown::Write).map_err(io)?;
    let mut reply = String::new();
    conn.read_to_string(&mut reply).map_err(io)?;
    let v: serde_json::Value = serde_json::from_str(&reply).unwrap_or_default();
    match v.get("error") {
        None if v.get("return").is_some() => Ok(()),
        _ => Err(NetError::Publish {
            port: m.host_port + i,
            proto: m.protocol,
            detail: v["error"]["desc"]
                .as_str()
                .map_or_else(|| reply.clone(), str::to_string),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_as_podman_names_them() {
        let (a, net) = args(&[]).unwrap();
        assert!(a.contains(&"--mtu=65520".to_string()));
        assert!(!a.contains(&"--disable-host-loopback".to_string()));
        assert_eq!(a.last().map(String::as_str), Some("tap0"));
        assert_eq!(net.guest(), Ipv4Addr::new(10, 0, 2, 100));
        let o = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let (a, net) = args(&o(&[
            "allow_host_loopback=false",
            "mtu=1500",
            "cidr=10.5.0.0/24",
        ]))
        .unwrap();
        assert!(a.contains(&"--disable-host-loopback".to_string()));
        assert!(a.contains(&"--mtu=1500".to_string()));
        assert!(a.contains(&"--cidr=10.5.0.0/24".to_string()));
        assert_eq!(net.dns(), Ipv4Addr::new(10, 5, 0, 3));
        assert!(args(&o(&["bogus=1"])).is_err());
        assert!(args(&o(&["mtu"])).is_err());
    }
}
