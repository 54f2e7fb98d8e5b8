//! The container's `/etc/hosts` and `/etc/resolv.conf`, generated as Podman generates them
//! (containers/common `etchosts` and `resolvconf`).
//!
//! `/etc/hosts`: `--add-host` entries first (the first match wins in a resolver), then the
//! base (the localhost lines, or the host's own file with `--network host`), the container's
//! own address with its hostname and name, and `host.containers.internal` (with Docker's
//! `host.docker.internal`) for the address that reaches the host.
//!
//! `/etc/resolv.conf`: `--dns` servers, else the helper's DNS forwarder (pasta's
//! `--dns-forward` address, slirp4netns' 10.0.2.3), else the host's nameservers without the
//! loopback ones (unreachable from another network namespace), else Google's, as Podman
//! falls back; `--dns-search` (`.` for none) and `--dns-option` replace the host's search
//! list and options.

use std::net::IpAddr;

/// The names Podman gives the host inside a container.
pub const HOST_NAMES: &str = "host.containers.internal host.docker.internal";

/// Podman's nameservers when the host has none a container can reach.
const FALLBACK_DNS: &[&str] = &["8.8.8.8", "8.8.4.4"];

const LOCALHOST: &str = "127.0.0.1\tlocalhost localhost.localdomain localhost4 localhost4.localdomain4\n\
                         ::1\tlocalhost localhost.localdomain localhost6 localhost6.localdomain6\n";

/// An `--add-host NAME:IP` entry (`host-gateway` as the IP: the host's address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    pub names: Vec<String>,
    pub ip: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtcError {
    #[error("invalid --add-host {0:?}: expected NAME:IP")]
    AddHost(String),
    #[error("invalid --add-host {value:?}: {ip:?} is not an IP address")]
    AddHostIp { value: String, ip: String },
    #[error(
        "--add-host {0:?}: host-gateway needs a network that reaches the host (not none or host)"
    )]
    NoGateway(String),
    #[error("invalid --dns {0:?}: not an IP address")]
    Dns(String),
}

/// Parses `--add-host` values; `host_ip` replaces `host-gateway`.
pub fn parse_add_hosts(
    values: &[String],
    host_ip: Option<IpAddr>,
) -> Result<Vec<ExtraHost>, EtcError> {
    values
        .iter()
        .map(|v| {
            // Names hold no colon; an IPv6 address does (Podman takes `NAME:IP` split once).
            let (names, ip) = v
                .split_once(':')
                .or_else(|| v.split_once('='))
                .filter(|(n, ip)| !n.is_empty() && !ip.is_empty())
                .ok_or_else(|| EtcError::AddHost(v.clone()))?;
            let ip = if ip == "host-gateway" {
                host_ip
                    .ok_or_else(|| EtcError::NoGateway(v.clone()))?
                    .to_string()
            } else {
                let bare = ip.trim_start_matches('[').trim_end_matches(']');
                bare.parse::<IpAddr>()
                    .map_err(|_| EtcError::AddHostIp {
                        value: v.clone(),
                        ip: ip.to_string(),
                    })?
                    .to_string()
            };
            Ok(ExtraHost {
                names: names.split(';').map(str::to_string).collect(),
                ip,
            })
        })
        .collect()
}

/// What `/etc/hosts` is made of.
#[derive(Debug, Clone, Default)]
pub struct Hosts<'a> {
    /// The host's `/etc/hosts` (`--network host`); else the localhost lines.
    pub base: Option<&'a str>,
    pub extra: &'a [ExtraHost],
    pub hostname: &'a str,
    pub name: &'a str,
    /// The container's own address (none: 127.0.1.1, as Podman without a network).
    pub own_ip: Option<IpAddr>,
    /// The address that reaches the host, for `host.containers.internal`.
    pub host_ip: Option<IpAddr>,
}

impl Hosts<'_> {
    pub fn render(&self) -> String {
        let mut s = String::new();
        for e in self.extra {
            s.push_str(&format!("{}\t{}\n", e.ip, e.names.join(" ")));
        }
        match self.base {
            Some(b) => {
                s.push_str(b);
                if !b.is_empty() && !b.ends_with('\n') {
                    s.push('\n');
                }
            }
            None => s.push_str(LOCALHOST),
        }
        let names = if self.hostname == self.name {
            self.hostname.to_string()
        } else {
            format!("{} {}", self.hostname, self.name)
        };
        let own = self
            .own_ip
            .map_or_else(|| "127.0.1.1".to_string(), |ip| ip.to_string());
        s.push_str(&format!("{own}\t{names}\n"));
        if let Some(ip) = self.host_ip {
            s.push_str(&format!("{ip}\t{HOST_NAMES}\n"));
        }
        s
    }
}

/// What `/etc/resolv.conf` is made of.
#[derive(Debug, Clone, Default)]
pub struct Resolv<'a> {
    /// The host's `/etc/resolv.conf`.
    pub host: &'a str,
    /// The helper's DNS forwarder, if it has one.
    pub forwarder: Option<IpAddr>,
    pub dns: &'a [String],
    pub search: &'a [String],
    pub options: &'a [String],
}

impl Resolv<'_> {
    pub fn render(&self) -> Result<String, EtcError> {
        let mut servers = Vec::new();
        let (mut search, mut options) = (Vec::new(), Vec::new());
        for line in self.host.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                        servers.push(ip);
                    }
                }
                // The last search or domain line wins (resolv.conf(5)).
                Some("search" | "domain") => search = words.map(str::to_string).collect(),
                Some("options") => options.extend(words.map(str::to_string)),
                _ => {}
            }
        }
        let servers: Vec<String> = if !self.dns.is_empty() {
            self.dns
                .iter()
                .map(|d| {
                    d.parse::<IpAddr>()
                        .map(|ip| ip.to_string())
                        .map_err(|_| EtcError::Dns(d.clone()))
                })
                .collect::<Result<_, _>>()?
        } else if let Some(f) = self.forwarder {
            vec![f.to_string()]
        } else {
            let reachable: Vec<String> = servers
                .iter()
                .filter(|ip| !ip.is_loopback())
                .map(IpAddr::to_string)
                .collect();
            if reachable.is_empty() {
                FALLBACK_DNS.iter().map(|s| s.to_string()).collect()
            } else {
                reachable
            }
        };
        if !self.search.is_empty() {
            search = if self.search.iter().any(|s| s == ".") {
                Vec::new()
            } else {
                self.search.to_vec()
            };
        }
        if !self.options.is_empty() {
            options = self.options.to_vec();
        }
        let mut s = String::new();
        if !search.is_empty() {
            s.push_str(&format!("search {}\n", search.join(" ")));
        }
        for ns in servers {
            s.push_str(&format!("nameserver {ns}\n"));
        }
        if !options.is_empty() {
            s.push_str(&format!("options {}\n", options.join(" ")));
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn hosts_files() {
        let extra = parse_add_hosts(
            &strings(&["db:10.1.2.3", "v6:fd00::5", "gw:host-gateway"]),
            Some("192.0.2.1".parse().unwrap()),
        )
        .unwrap();
        let h = Hosts {
            base: None,
            extra: &extra,
            hostname: "abc",
            name: "web",
            own_ip: Some("192.0.2.2".parse().unwrap()),
            host_ip: Some("192.0.2.1".parse().unwrap()),
        }
        .render();
        assert!(h.starts_with("10.1.2.3\tdb\nfd00::5\tv6\n192.0.2.1\tgw\n127.0.0.1\tlocalhost"));
        assert!(h.ends_with(
            "192.0.2.2\tabc web\n192.0.2.1\thost.containers.internal host.docker.internal\n"
        ));
        let h = Hosts {
            base: Some("10.0.0.1 host"),
            hostname: "x",
            name: "x",
            ..Default::default()
        }
        .render();
        assert_eq!(h, "10.0.0.1 host\n127.0.1.1\tx\n");
        for bad in ["nocolon", ":1.2.3.4", "a:notanip", "a:"] {
            assert!(parse_add_hosts(&strings(&[bad]), None).is_err(), "{bad}");
        }
        assert!(matches!(
            parse_add_hosts(&strings(&["a:host-gateway"]), None),
            Err(EtcError::NoGateway(_))
        ));
    }

    #[test]
    fn resolv_files() {
        let host = "# generated\nnameserver 127.0.0.53\nnameserver 10.0.0.53\nsearch a.example b.example\noptions edns0\n";
        let r = |forwarder: Option<&str>, dns: &[&str], search: &[&str], options: &[&str]| {
            Resolv {
                host,
                forwarder: forwarder.map(|f| f.parse().unwrap()),
                dns: &strings(dns),
                search: &strings(search),
                options: &strings(options),
            }
            .render()
        };
        assert_eq!(
            r(None, &[], &[], &[]).unwrap(),
            "search a.example b.example\nnameserver 10.0.0.53\noptions edns0\n"
        );
        assert_eq!(
            r(Some("169.254.1.1"), &[], &["."], &["ndots:2"]).unwrap(),
            "nameserver 169.254.1.1\noptions ndots:2\n"
        );
        assert_eq!(
            r(Some("169.254.1.1"), &["1.1.1.1"], &["c.example"], &[]).unwrap(),
            "search c.example\nnameserver 1.1.1.1\noptions edns0\n"
        );
        assert!(r(None, &["bogus"], &[], &[]).is_err());
        let only_loopback = Resolv {
            host: "nameserver 127.0.0.53\n",
            ..Default::default()
        };
        assert_eq!(
            only_loopback.render().unwrap(),
            "nameserver 8.8.8.8\nnameserver 8.8.4.4\n"
        );
    }
}
