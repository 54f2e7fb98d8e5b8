//! Published ports: `-p/--publish [ip:][hostPort:]containerPort[/tcp|udp]` with ranges,
//! `-P` over the image's `ExposedPorts` and `--expose`, random host ports, the probe that
//! finds a host port already in use before the network helper starts, and the forms Podman
//! shows them in (`ps`'s PORTS column, `port`, `inspect`'s `NetworkSettings.Ports`).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// `tcp` or `udp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            _ => None,
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One published range, as Podman's `types.PortMapping`: `range` consecutive container
/// ports from `container_port` on as many host ports from `host_port`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    /// The host address to bind (empty: every address).
    #[serde(default)]
    pub host_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    pub range: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("invalid port specification {spec:?}: {why}")]
    Invalid { spec: String, why: String },
    #[error("finding a free host port for container port {port}/{proto}")]
    NoFreePort { port: u16, proto: Protocol },
}

fn invalid(spec: &str, why: impl Into<String>) -> PortError {
    PortError::Invalid {
        spec: spec.to_string(),
        why: why.into(),
    }
}

/// A port or `first-last` range.
fn parse_range(spec: &str, s: &str) -> Result<(u16, u16), PortError> {
    let port = |p: &str| -> Result<u16, PortError> {
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(invalid(
                spec,
                format!("{p:?} is not a port number (1-65535)"),
            )),
            Ok(n) => Ok(n),
        }
    };
    let (first, last) = match s.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(s)?;
            (p, p)
        }
    };
    if last < first {
        return Err(invalid(
            spec,
            format!("the range {s} ends before it starts"),
        ));
    }
    Ok((first, last - first + 1))
}

/// A `-p` value. A missing host port is 0 here: [`assign_random`] picks one.
pub fn parse_publish(spec: &str) -> Result<PortMapping, PortError> {
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) => (
            r,
            Protocol::parse(p).ok_or_else(|| invalid(spec, format!("unknown protocol {p:?}")))?,
        ),
        None => (spec, Protocol::Tcp),
    };
    // An IPv6 host address is written in brackets: [::1]:8080:80.
    let (host_ip, rest) = if let Some(r) = rest.strip_prefix('[') {
        let (ip, after) = r
            .split_once(']')
            .ok_or_else(|| invalid(spec, "missing ] after the IPv6 address"))?;
        let after = after
            .strip_prefix(':')
            .ok_or_else(|| invalid(spec, "expected : after the host address"))?;
        (Some(ip.to_string()), after)
    } else {
        (None, rest)
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match (host_ip, parts.as_slice()) {
        (None, [c]) => (String::new(), None, *c),
        (None, [h, c]) => (String::new(), Some(*h), *c),
        (None, [ip, h, c]) => (ip.to_string(), Some(*h), *c),
        (Some(ip), [c]) => (ip, None, *c),
        (Some(ip), [h, c]) => (ip, Some(*h), *c),
        _ => return Err(invalid(spec, "too many colons")),
    };
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(invalid(spec, format!("{ip:?} is not an IP address")));
    }
    let (container_port, range) = parse_range(spec, container)?;
    let host_port = match host.filter(|h| !h.is_empty()) {
        None => 0,
        Some(h) => {
            let (first, n) = parse_range(spec, h)?;
            if n != range {
                return Err(invalid(
                    spec,
                    "the host and container port ranges differ in length",
                ));
            }
            first
        }
    };
    if u32::from(host_port) + u32::from(range) - 1 > 65535 {
        return Err(invalid(spec, "the host port range goes past 65535"));
    }
    Ok(PortMapping {
        host_ip: if ip == "0.0.0.0" { String::new() } else { ip },
        container_port,
        host_port,
        range,
        protocol: proto,
    })
}

/// An `--expose` value or an `ExposedPorts` key: `port[-last][/proto]`, each port.
pub fn parse_expose(spec: &str) -> Result<Vec<(u16, Protocol)>, PortError> {
    let (ports, proto) = match spec.split_once('/') {
        Some((p, proto)) => (
            p,
            Protocol::parse(proto)
                .ok_or_else(|| invalid(spec, format!("unknown protocol {proto:?}")))?,
        ),
        None => (spec, Protocol::Tcp),
    };
    let (first, n) = parse_range(spec, ports)?;
    Ok((0..n).map(|i| (first + i, proto)).collect())
}

/// The ports the image exposes (`config.ExposedPorts` keys such as `80/tcp`); bad keys are
/// skipped, as Podman does not refuse an image for them.
pub fn image_exposed(config: &Value) -> Vec<(u16, Protocol)> {
    config
        .get("ExposedPorts")
        .and_then(Value::as_object)
        .map(|m| {
            m.keys()
                .filter_map(|k| parse_expose(k).ok())
                .flatten()
                .collect()
        })
        .unwrap_or_default()
}

/// `-P`: every exposed port not already published, each to a random host port.
pub fn publish_all(published: &mut Vec<PortMapping>, exposed: &[(u16, Protocol)]) {
    for &(port, protocol) in exposed {
        let covered = published.iter().any(|m| {
            m.protocol == protocol
                && (m.container_port..=m.container_port + (m.range - 1)).contains(&port)
        });
        if !covered {
            published.push(PortMapping {
                host_ip: String::new(),
                container_port: port,
                host_port: 0,
                range: 1,
                protocol,
            });
        }
    }
}

fn bind_addr(ip: &str) -> IpAddr {
    ip.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

/// Binds `port` as the helper will (0: any free port); returns the bound port.
fn probe(ip: &str, port: u16, proto: Protocol) -> io::Result<u16> {
    let addr = SocketAddr::new(bind_addr(ip), port);
    match proto {
        // std sets SO_REUSEADDR on Unix listeners: a connection of an earlier container in
        // TIME_WAIT does not count as in use, a listener does.
        Protocol::Tcp => TcpListener::bind(addr)?.local_addr().map(|a| a.port()),
        Protocol::Udp => UdpSocket::bind(addr)?.local_addr().map(|a| a.port()),
    }
}

/// Gives every mapping without a host port a free one (a range gets consecutive ports), as
/// Podman does when the container is created.
pub fn assign_random(mappings: &mut [PortMapping]) -> Result<(), PortError> {
    for m in mappings.iter_mut().filter(|m| m.host_port == 0) {
        let no_port = PortError::NoFreePort {
            port: m.container_port,
            proto: m.protocol,
        };
        let mut found = None;
        for _ in 0..32 {
            let Ok(first) = probe(&m.host_ip, 0, m.protocol) else {
                continue;
            };
            if u32::from(first) + u32::from(m.range) - 1 > 65535 {
                continue;
            }
            if (1..m.range).all(|i| probe(&m.host_ip, first + i, m.protocol).is_ok()) {
                found = Some(first);
                break;
            }
        }
        m.host_port = found.ok_or(no_port)?;
    }
    Ok(())
}

/// A host port that cannot be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot publish port {port}/{proto} on {addr}")]
pub struct PortInUse {
    pub port: u16,
    pub proto: Protocol,
    pub addr: String,
    #[source]
    pub source: io::Error,
}

/// Checks that every host port can be bound now, just before the helper binds them (the old
/// pasta of Debian 12 only warns when it cannot bind a port, and goes on without it).
pub fn check_free(mappings: &[PortMapping]) -> Result<(), PortInUse> {
    for m in mappings {
        for i in 0..m.range {
            let port = m.host_port + i;
            if let Err(source) = probe(&m.host_ip, port, m.protocol) {
                return Err(PortInUse {
                    port,
                    proto: m.protocol,
                    addr: shown_ip(&m.host_ip).to_string(),
                    source,
                });
            }
        }
    }
    Ok(())
}

fn shown_ip(ip: &str) -> &str {
    if ip.is_empty() { "0.0.0.0" } else { ip }
}

fn span(first: u16, range: u16) -> String {
    if range > 1 {
        format!("{first}-{}", first + (range - 1))
    } else {
        first.to_string()
    }
}

/// pasta's `-t`/`-u` value: `[addr/]host[-last]:container[-last]`.
pub fn pasta_spec(m: &PortMapping) -> String {
    let addr = if m.host_ip.is_empty() {
        String::new()
    } else {
        format!("{}/", m.host_ip)
    };
    format!(
        "{addr}{}:{}",
        span(m.host_port, m.range),
        span(m.container_port, m.range)
    )
}

/// `ps`'s PORTS column: `0.0.0.0:8080->80/tcp, 0.0.0.0:8000-8010->80-90/udp`.
pub fn ps_column(mappings: &[PortMapping]) -> String {
    mappings
        .iter()
        .map(|m| {
            format!(
                "{}:{}->{}/{}",
                shown_ip(&m.host_ip),
                span(m.host_port, m.range),
                span(m.container_port, m.range),
                m.protocol
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every published port as `(container port, protocol, host ip, host port)`.
pub fn each_port(mappings: &[PortMapping]) -> impl Iterator<Item = (u16, Protocol, &str, u16)> {
    mappings.iter().flat_map(|m| {
        (0..m.range).map(move |i| {
            (
                m.container_port + i,
                m.protocol,
                shown_ip(&m.host_ip),
                m.host_port + i,
            )
        })
    })
}

/// `port`'s lines for every published port: `80/tcp -> 0.0.0.0:8080`.
pub fn port_lines(mappings: &[PortMapping]) -> Vec<String> {
    each_port(mappings)
        .map(|(c, proto, ip, h)| format!("{c}/{proto} -> {ip}:{h}"))
        .collect()
}

/// `port CONTAINER PRIVATE_PORT[/PROTO]`: the host address and port, if published.
pub fn lookup(mappings: &[PortMapping], port: u16, proto: Option<Protocol>) -> Option<String> {
    each_port(mappings)
        .find(|&(c, p, _, _)| c == port && proto.is_none_or(|want| want == p))
        .map(|(_, _, ip, h)| format!("{ip}:{h}"))
}

/// `inspect`'s `NetworkSettings.Ports` (and `HostConfig.PortBindings`): `{"80/tcp":
/// [{"HostIp": "", "HostPort": "8080"}]}`.
pub fn inspect_ports(mappings: &[PortMapping]) -> Value {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for m in mappings {
        for i in 0..m.range {
            map.entry(format!("{}/{}", m.container_port + i, m.protocol))
                .or_default()
                .push(json!({
                    "HostIp": m.host_ip,
                    "HostPort": (m.host_port + i).to_string(),
                }));
        }
    }
    json!(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(ip: &str, c: u16, h: u16, range: u16, protocol: Protocol) -> PortMapping {
        PortMapping {
            host_ip: ip.into(),
            container_port: c,
            host_port: h,
            range,
            protocol,
        }
    }

    #[test]
    fn publish_specs() {
        use Protocol::*;
        let cases = [
            ("80", pm("", 80, 0, 1, Tcp)),
            ("8080:80", pm("", 80, 8080, 1, Tcp)),
            ("8080:80/udp", pm("", 80, 8080, 1, Udp)),
            ("127.0.0.1:8080:80", pm("127.0.0.1", 80, 8080, 1, Tcp)),
            ("127.0.0.1::80/tcp", pm("127.0.0.1", 80, 0, 1, Tcp)),
            ("0.0.0.0:8080:80", pm("", 80, 8080, 1, Tcp)),
            ("8000-8010:80-90", pm("", 80, 8000, 11, Tcp)),
            ("80-82", pm("", 80, 0, 3, Tcp)),
            ("[::1]:8080:80", pm("::1", 80, 8080, 1, Tcp)),
        ];
        for (spec, want) in cases {
            assert_eq!(parse_publish(spec).unwrap(), want, "{spec}");
        }
        for bad in [
            "",
            "abc",
            "0:80",
            "80/sctp",
            "8000-8001:80",
            "90-80",
            "1.2.3:80:80",
            "a:b:c:d",
            "65535-65536:1-2",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expose_and_publish_all() {
        let cfg = json!({"ExposedPorts": {"80/tcp": {}, "53/udp": {}, "bogus": {}}});
        let mut exposed = image_exposed(&cfg);
        exposed.extend(parse_expose("9000-9001").unwrap());
        let mut published = vec![parse_publish("8080:80").unwrap()];
        publish_all(&mut published, &exposed);
        let got: Vec<(u16, Protocol, u16)> = published
            .iter()
            .map(|m| (m.container_port, m.protocol, m.host_port))
            .collect();
        assert_eq!(
            got,
            vec![
                (80, Protocol::Tcp, 8080),
                (53, Protocol::Udp, 0),
                (9000, Protocol::Tcp, 0),
                (9001, Protocol::Tcp, 0),
            ]
        );
    }

    #[test]
    fn shown_as_podman_shows_them() {
        let ms = vec![
            pm("", 80, 8080, 1, Protocol::Tcp),
            pm("127.0.0.1", 53, 5353, 1, Protocol::Udp),
            pm("", 80, 8000, 3, Protocol::Tcp),
        ];
        assert_eq!(
            ps_column(&ms),
            "0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp, 0.0.0.0:8000-8002->80-82/tcp"
        );
        assert_eq!(pasta_spec(&ms[0]), "8080:80");
        assert_eq!(pasta_spec(&ms[1]), "127.0.0.1/5353:53");
        assert_eq!(pasta_spec(&ms[2]), "8000-8002:80-82");
        assert_eq!(port_lines(&ms)[0], "80/tcp -> 0.0.0.0:8080");
        assert_eq!(port_lines(&ms).len(), 5);
        assert_eq!(lookup(&ms, 81, None).as_deref(), Some("0.0.0.0:8001"));
        assert_eq!(
            lookup(&ms, 53, Some(Protocol::Udp)).as_deref(),
            Some("127.0.0.1:5353")
        );
        assert_eq!(lookup(&ms, 53, Some(Protocol::Tcp)), None);
        let v = inspect_ports(&ms);
        assert_eq!(v["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(v["80/tcp"][1]["HostPort"], "8000");
        assert_eq!(v["53/udp"][0]["HostIp"], "127.0.0.1");
    }

    #[test]
    fn random_ports_are_free_and_a_taken_port_is_named() {
        let mut ms = vec![pm("127.0.0.1", 80, 0, 2, Protocol::Tcp)];
        assign_random(&mut ms).unwrap();
        assert_ne!(ms[0].host_port, 0);
        let held = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let err = check_free(&[pm("127.0.0.1", 80, port, 1, Protocol::Tcp)]).unwrap_err();
        assert_eq!(err.port, port);
        assert!(err.to_string().contains(&port.to_string()));
    }
}
