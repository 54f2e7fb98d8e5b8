//! A container's network, as Podman 5 does it rootless: `--network none` (a namespace with
//! only `lo`), `host` (the host's), and by default a namespace of its own connected by pasta
//! (slirp4netns where pasta is missing, or when asked for). coracle has no bridge (no
//! netavark): as root the default is pasta too, where Podman would use a bridge.
//!
//! - `ports`: `-p`, `-P`, `--expose`, random host ports, and how they are shown;
//! - `etc`: `/etc/hosts` and `/etc/resolv.conf`;
//! - `host`: the host's default route and address, which pasta copies into the container;
//! - `pasta`, `slirp`: the helpers.
//!
//! When. `create` resolves the mode (which helper exists), the ports (random ones are chosen
//! then, as Podman does) and writes the `/etc` files ([`Settings`]). The monitor makes a
//! [`Gate`] first thing, before the root file system: a network namespace of its own
//! ([`netns`]) and the helper spawned against it, without waiting. The init is cloned
//! without a network namespace and enters that one ([`InitGate::enter`]) before its mounts.
//! Once the overlay is served, the monitor waits until the helper says the network is
//! configured ([`Starting::finish`]); meanwhile the init does its mounts and waits at the
//! gate only just before its exec ([`InitGate::wait`]). The monitor ends the helper when
//! the container ends ([`Helper`]'s drop); the helper also dies with the monitor
//! (`PR_SET_PDEATHSIG`). No process of coracle's own stays for the network.

pub mod etc;
pub mod host;
pub mod inspect;
pub mod netns;
pub mod pasta;
pub mod ports;
pub mod slirp;

use std::fs::File;
use std::io::{self, Read as _, Write as _};
use std::net::IpAddr;
use std::os::fd::{AsFd as _, OwnedFd};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::channel::{Report, Step};
use super::spec::{ContainerSpec, Network};
use ports::{PortMapping, Protocol};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error(
        "--network {0}: unknown network mode (coracle supports none, host, private, pasta[:OPTIONS] \
         and slirp4netns[:OPTIONS]; it has no bridge networks)"
    )]
    UnknownMode(String),
    #[error(
        "no program for the container's network: {wanted} was not found in PATH (install the \
         passt package for pasta, or slirp4netns; or use --network none or host)"
    )]
    NoHelper { wanted: String },
    #[error("invalid {helper} option {option:?}")]
    Option {
        helper: &'static str,
        option: String,
    },
    #[error(transparent)]
    Port(#[from] ports::PortError),
    #[error(transparent)]
    Etc(#[from] etc::EtcError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("starting {program}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("{program} failed ({status}): {output}")]
    Failed {
        program: String,
        status: String,
        output: String,
    },
    #[error(transparent)]
    PortInUse(#[from] ports::PortInUse),
    #[error("cannot publish port {port}/{proto}: {detail}")]
    Publish {
        port: u16,
        proto: Protocol,
        detail: String,
    },
}

/// What the monitor needs to connect the container (in [`ContainerSpec`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetSpec {
    /// The helper program (pasta or slirp4netns) for those modes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helper: Option<PathBuf>,
    /// The options after `pasta:` or `slirp4netns:`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    /// The published ports, host ports chosen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortMapping>,
}

/// The network flags `create` reads (`cli::network::NetworkFlags` gives them).
#[derive(Debug, Clone, Default)]
pub struct Flags<'a> {
    pub network: Option<&'a str>,
    pub publish: &'a [String],
    pub publish_all: bool,
    pub expose: &'a [String],
    pub add_host: &'a [String],
    pub dns: &'a [String],
    pub dns_search: &'a [String],
    pub dns_option: &'a [String],
    pub no_hosts: bool,
}

/// The network of a container being created.
#[derive(Debug, Clone)]
pub struct Settings {
    pub mode: Network,
    pub spec: NetSpec,
}

/// A program in `PATH`.
fn find_program(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            use std::os::unix::fs::PermissionsExt as _;
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

impl Settings {
    /// The mode and its helper from `--network`, and the ports from `-p`/`--expose`.
    pub fn from_flags(flags: &Flags<'_>) -> Result<Settings, NetError> {
        let value = flags.network.unwrap_or("private");
        let (name, opts) = value.split_once(':').unwrap_or((value, ""));
        let options: Vec<String> = opts
            .split(',')
            .filter(|o| !o.is_empty())
            .map(str::to_string)
            .collect();
        let need = |program: &str| {
            find_program(program).ok_or_else(|| NetError::NoHelper {
                wanted: program.to_string(),
            })
        };
        let (mode, helper) = match name {
            "none" if opts.is_empty() => (Network::None, None),
            "host" if opts.is_empty() => (Network::Host, None),
            "private" | "default" if opts.is_empty() => match find_program("pasta") {
                Some(p) => (Network::Pasta, Some(p)),
                None => match find_program("slirp4netns") {
                    Some(p) => (Network::Slirp4netns, Some(p)),
                    None => {
                        return Err(NetError::NoHelper {
                            wanted: "pasta (or slirp4netns)".into(),
                        });
                    }
                },
            },
            "pasta" => (Network::Pasta, Some(need("pasta")?)),
            "slirp4netns" => {
                slirp::args(&options)?;
                (Network::Slirp4netns, Some(need("slirp4netns")?))
            }
            _ => return Err(NetError::UnknownMode(value.to_string())),
        };
        let mut ports = flags
            .publish
            .iter()
            .map(|p| ports::parse_publish(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut exposed = Vec::new();
        for e in flags.expose {
            exposed.extend(ports::parse_expose(e)?);
        }
        if flags.publish_all {
            ports::publish_all(&mut ports, &exposed);
        }
        Ok(Settings {
            mode,
            spec: NetSpec {
                helper,
                options,
                ports,
            },
        })
    }

    /// Whether published ports mean anything (Podman discards them for none and host).
    pub fn publishes(&self) -> bool {
        matches!(self.mode, Network::Pasta | Network::Slirp4netns)
    }

    /// `-P` over the image's `ExposedPorts`, then free host ports for the ports without one.
    /// Returns a warning when ports were given to a mode that cannot publish them.
    pub fn publish(
        &mut self,
        flags: &Flags<'_>,
        image_config: &serde_json::Value,
    ) -> Result<Option<String>, NetError> {
        if flags.publish_all {
            ports::publish_all(&mut self.spec.ports, &ports::image_exposed(image_config));
        }
        if !self.publishes() {
            if self.spec.ports.is_empty() || flags.publish.is_empty() {
                self.spec.ports.clear();
                return Ok(None);
            }
            self.spec.ports.clear();
            return Ok(Some(
                "Port mappings have been discarded as one of the Host, Container, Pod, and \
                 None network modes are in use"
                    .into(),
            ));
        }
        ports::assign_random(&mut self.spec.ports)?;
        Ok(None)
    }

    /// The name `inspect` shows as `HostConfig.NetworkMode`.
    pub fn mode_name(&self) -> &'static str {
        mode_name(self.mode)
    }

    /// `/etc/hosts` (none with `--no-hosts`) and `/etc/resolv.conf`.
    pub fn etc_files(
        &self,
        flags: &Flags<'_>,
        hostname: &str,
        name: &str,
    ) -> Result<(Option<String>, String), NetError> {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let (own_ip, host_ip, forwarder): (Option<IpAddr>, Option<IpAddr>, Option<IpAddr>) =
            match self.mode {
                Network::Pasta => {
                    let view = host::pasta_view();
                    (
                        view.map(|v| v.0.into()),
                        view.map(|v| v.1.into()),
                        pasta::DNS_FORWARD.parse().ok(),
                    )
                }
                Network::Slirp4netns => {
                    let (_, net) = slirp::args(&self.spec.options)?;
                    (
                        Some(net.guest().into()),
                        Some(net.gateway().into()),
                        Some(net.dns().into()),
                    )
                }
                Network::None | Network::Host => (None, None, None),
            };
        let extra = etc::parse_add_hosts(flags.add_host, host_ip)?;
        let host_hosts = read("/etc/hosts");
        let hosts = (!flags.no_hosts).then(|| {
            etc::Hosts {
                base: (self.mode == Network::Host).then_some(host_hosts.as_str()),
                extra: &extra,
                hostname,
                name,
                own_ip,
                host_ip,
            }
            .render()
        });
        let host_resolv = read("/etc/resolv.conf");
        let custom =
            !(flags.dns.is_empty() && flags.dns_search.is_empty() && flags.dns_option.is_empty());
        let resolv = if self.mode == Network::Host && !custom {
            host_resolv
        } else {
            etc::Resolv {
                host: &host_resolv,
                forwarder,
                dns: flags.dns,
                search: flags.dns_search,
                options: flags.dns_option,
            }
            .render()?
        };
        Ok((hosts, resolv))
    }
}

/// `none`, `host`, `pasta` or `slirp4netns`.
pub fn mode_name(mode: Network) -> &'static str {
    match mode {
        Network::None => "none",
        Network::Host => "host",
        Network::Pasta => "pasta",
        Network::Slirp4netns => "slirp4netns",
    }
}

/// A close-on-exec pipe (read end, write end).
fn pipe(for_what: &str) -> Result<(OwnedFd, OwnedFd), NetError> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| NetError::Io {
        what: format!("creating a pipe for {for_what}"),
        source: e.into(),
    })
}

const GO: u8 = b'G';

/// The go-ahead from the monitor to the init, with the network namespace and its helper:
/// made before the root file system, when the network has a helper to wait for.
///
/// The helper starts while the monitor mounts the root and the init builds the container:
/// the init waits at the gate just before its exec, not before its mounts, so they overlap.
pub struct Gate {
    pipe: Option<(OwnedFd, OwnedFd)>,
    netns: Option<netns::Netns>,
    pending: Option<Pending>,
    publishes: bool,
}

/// The init's end of the [`Gate`].
pub struct InitGate {
    read: Option<OwnedFd>,
    netns: Option<OwnedFd>,
}

impl Gate {
    /// A gate for `spec`'s network (an open one for none and host): for pasta and
    /// slirp4netns, a new network namespace and the helper spawned against it, not waited
    /// for. Call single-threaded.
    pub fn new(spec: &ContainerSpec) -> Result<Gate, Report> {
        match spec.network {
            Network::Pasta | Network::Slirp4netns => {}
            Network::None | Network::Host => {
                return Ok(Gate {
                    pipe: None,
                    netns: None,
                    pending: None,
                    publishes: false,
                });
            }
        }
        let pipe = pipe("the network go-ahead")
            .map_err(|e| Report::failed_io(Step::Clone, &io_of(&e), e.to_string()))?;
        let ns = netns::Netns::create().map_err(|e| {
            Report::failed_io(
                Step::Clone,
                &e,
                "creating the container's network namespace",
            )
        })?;
        let pending = start_helper(spec, &ns).map_err(net_report)?;
        Ok(Gate {
            pipe: Some(pipe),
            netns: Some(ns),
            pending: Some(pending),
            publishes: !spec.net.ports.is_empty(),
        })
    }

    /// Whether the gate brings the network namespace (the init's clone must then not make
    /// one).
    pub fn has_netns(&self) -> bool {
        self.netns.is_some()
    }

    /// In the init, first thing: keeps only the reading end, so that the monitor's giving
    /// up is an end of file, and the namespace to enter.
    pub fn into_init(self) -> InitGate {
        // The helper and the namespace's first child are the monitor's: this copy must
        // neither kill the one nor wait for the other.
        if let Some(p) = self.pending {
            std::mem::forget(p);
        }
        InitGate {
            read: self.pipe.map(|(r, w)| {
                drop(w);
                r
            }),
            netns: self.netns.map(netns::Netns::into_fd),
        }
    }

    /// In the monitor, once the init is cloned: the helper runs; [`Starting::finish`] waits
    /// for it.
    pub fn start(self) -> Starting {
        let (Some((r, w)), Some(pending)) = (self.pipe, self.pending) else {
            return Starting {
                go: None,
                pending: None,
                netns: None,
                publishes: false,
            };
        };
        drop(r);
        Starting {
            go: Some(w),
            pending: Some(pending),
            netns: self.netns,
            publishes: self.publishes,
        }
    }
}

impl InitGate {
    /// Moves the init into the container's network namespace (when the gate made one).
    pub fn enter(&mut self) -> io::Result<()> {
        match self.netns.take() {
            Some(ns) => {
                use std::os::fd::AsFd as _;
                netns::enter(ns.as_fd())
            }
            None => Ok(()),
        }
    }

    /// Waits until the monitor has the network configured. When the monitor gives up (end
    /// of file), the init ends quietly: the monitor reports why.
    pub fn wait(self) {
        let Some(r) = self.read else { return };
        let mut b = [0u8; 1];
        let mut r = File::from(r);
        loop {
            match r.read(&mut b) {
                Ok(1) if b[0] == GO => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => crate::sys::process::exit_child(125),
            }
        }
    }
}

/// A helper spawned, not yet ready.
pub struct Starting {
    go: Option<OwnedFd>,
    pending: Option<Pending>,
    netns: Option<netns::Netns>,
    publishes: bool,
}

impl Starting {
    /// Waits until the helper has the namespace configured and opens the gate.
    pub fn finish(mut self) -> Result<Helper, Report> {
        // The init holds the namespace now; its first child ended long ago.
        drop(self.netns.take());
        let Some(pending) = self.pending else {
            return Ok(Helper {
                running: None,
                publishes: false,
            });
        };
        let running = match pending {
            Pending::Pasta(p) => p.ready_watched().map(Running::Pasta),
            Pending::Slirp(p) => p.ready().map(Running::Slirp),
        }
        .map_err(net_report)?;
        let helper = Helper {
            running: Some(running),
            publishes: self.publishes,
        };
        if let Some(w) = self.go {
            // An init that failed in its set-up is gone: its report tells why, not this.
            let _ = File::from(w).write_all(&[GO]);
        }
        Ok(helper)
    }
}

/// The whole chain goes into the text: an errno alone would not name the port.
fn net_report(e: NetError) -> Report {
    Report::Failed {
        step: Step::Network,
        errno: 0,
        detail: format!("{:#}", anyhow::Error::new(e)),
    }
}

fn io_of(e: &NetError) -> io::Error {
    match e {
        NetError::Io { source, .. } | NetError::Spawn { source, .. } => {
            io::Error::new(source.kind(), source.to_string())
        }
        _ => io::Error::other(e.to_string()),
    }
}

fn start_helper(spec: &ContainerSpec, netns: &netns::Netns) -> Result<Pending, NetError> {
    let netns = netns.as_fd();
    let program = spec
        .net
        .helper
        .clone()
        .unwrap_or_else(|| PathBuf::from(mode_name(spec.network)));
    ports::check_free(&spec.net.ports)?;
    Ok(match spec.network {
        Network::Pasta => Pending::Pasta(pasta::start(
            &program,
            netns,
            &spec.net.ports,
            &spec.net.options,
            &spec.userdata,
        )?),
        _ => Pending::Slirp(slirp::start(
            &program,
            netns,
            &spec.net.ports,
            &spec.net.options,
            &spec.userdata,
        )?),
    })
}

enum Pending {
    Pasta(pasta::Pending),
    Slirp(slirp::Pending),
}

enum Running {
    Pasta(pasta::Running),
    Slirp(slirp::Slirp),
}

/// The running helper; dropping it ends it (the container has ended) and waits for its
/// exit.
pub struct Helper {
    running: Option<Running>,
    /// It publishes ports, which must be free again when the container's end is reported.
    publishes: bool,
}

impl Helper {
    /// The process, killed.
    fn kill(&mut self) -> Option<std::process::Child> {
        let mut child = match self.running.take()? {
            Running::Pasta(p) => p.child,
            Running::Slirp(s) => {
                drop(s.exit);
                s.child
            }
        };
        let _ = child.kill();
        Some(child)
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        if let Some(mut child) = self.kill() {
            let _ = child.wait();
        }
    }
}

/// The network across a monitor's starts of its container: the first start's [`Gate`], made
/// as the monitor starts, and the helpers of ended starts.
///
/// A helper's whole exit is slow: pasta's tap device is unregistered as its descriptor
/// closes, which waits for an RCU barrier (~20 ms, measured). So an ended helper is killed
/// at once ([`Starts::retire`]) and only waited for, while the monitor cleans up, until it
/// holds nothing anyone may look for once the end is reported ([`Starts::settle`]): its
/// published ports (its whole exit then) or its descriptors (its log, in the container's
/// directory: [`pasta::Running::files`], ~3 ms after the kill). It is reaped before the
/// next start, or by whoever reaps the monitor once it exits.
pub struct Starts {
    first: Option<Result<Gate, Report>>,
    ended: Vec<Ended>,
}

struct Ended {
    child: std::process::Child,
    /// pasta's [`pasta::Running::files`], when its exit need not be waited for.
    files: Option<File>,
}

impl Starts {
    /// As the monitor starts, single-threaded: the first start's gate.
    pub fn begin(spec: &ContainerSpec) -> Starts {
        Starts {
            first: Some(Gate::new(spec)),
            ended: Vec::new(),
        }
    }

    /// The gate of a start: the first one, or (a restart) a new one once the helpers of
    /// earlier starts are gone (the ports they published are free again).
    pub fn gate(&mut self, spec: &ContainerSpec) -> Result<Gate, Report> {
        if let Some(first) = self.first.take() {
            return first;
        }
        self.reap();
        Gate::new(spec)
    }

    /// Ends a start's helper without waiting for it.
    pub fn retire(&mut self, mut helper: Helper) {
        let files = match &mut helper.running {
            Some(Running::Pasta(p)) if !helper.publishes => p.files.take(),
            _ => None,
        };
        if let Some(child) = helper.kill() {
            self.ended.push(Ended { child, files });
        }
    }

    /// Waits until the ended helpers hold nothing of the container's: their files closed,
    /// or (published ports, slirp4netns) their exit.
    pub fn settle(&mut self) {
        let mut still = Vec::new();
        for mut e in self.ended.drain(..) {
            match e.files.take() {
                Some(mut files) => {
                    let mut buf = [0u8; 64];
                    loop {
                        match files.read(&mut buf) {
                            Ok(0) => break,
                            Err(e) if e.kind() != io::ErrorKind::Interrupted => break,
                            _ => {}
                        }
                    }
                    if !matches!(e.child.try_wait(), Ok(Some(_))) {
                        still.push(e);
                    }
                }
                None => {
                    let _ = e.child.wait();
                }
            }
        }
        self.ended = still;
    }

    /// Waits for the ended helpers' exits.
    fn reap(&mut self) {
        for mut e in self.ended.drain(..) {
            let _ = e.child.wait();
        }
    }
}
