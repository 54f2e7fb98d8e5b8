//! `port`: the published ports of a running container (`80/tcp -> 0.0.0.0:8080`), the host
//! address of one private port (`port web 80/tcp` → `0.0.0.0:8080`), or with `-a` those of
//! every running container, each line led by its short ID, as Podman prints them.

use anyhow::bail;

use crate::cli::network::PortArgs;
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::runtime::network::ports::{self, Protocol};
use crate::store::LockMode;
use crate::store::containers::State;

/// `PRIVATE_PORT[/PROTO]`.
fn parse_private(s: &str) -> anyhow::Result<(u16, Option<Protocol>)> {
    let (port, proto) = match s.split_once('/') {
        Some((p, proto)) => {
            let proto = match proto {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                _ => bail!("unknown protocol {proto:?} in {s:?} (tcp or udp)"),
            };
            (p, Some(proto))
        }
        None => (s, None),
    };
    match port.parse::<u16>() {
        Ok(n) if n > 0 => Ok((n, proto)),
        _ => bail!("invalid port {s:?}: expected PORT[/tcp|udp]"),
    }
}

pub fn run(ctx: &Context, args: &PortArgs) -> anyhow::Result<ExitStatus> {
    let (name, private) = match (args.all || args.latest, args.args.as_slice()) {
        (false, []) => bail!("you must supply a running container name or id"),
        (false, [c]) => (Some(c.as_str()), None),
        (false, [c, p]) => (Some(c.as_str()), Some(parse_private(p)?)),
        (true, []) => (None, None),
        (true, [p]) if args.latest => (None, Some(parse_private(p)?)),
        _ => bail!("too many arguments: port [-a | -l | CONTAINER] [PRIVATE_PORT[/PROTO]]"),
    };
    let store = ctx.open_store(LockMode::Shared, "port")?;
    let views = containers::all(&store)?;
    drop(store);
    let targets: Vec<&ContainerView> = match name {
        Some(n) => vec![
            containers::find(&views, n)
                .map_err(|e| StatusError::wrap(ExitStatus::OWN_ERROR, anyhow::Error::new(e)))?,
        ],
        None if args.latest => views.iter().take(1).collect(),
        None => views.iter().collect(),
    };
    let mut text = String::new();
    for v in targets.iter().filter(|v| v.state == State::Running) {
        let mappings = &v.rec.ports;
        match private {
            Some((port, proto)) => match ports::lookup(mappings, port, proto) {
                Some(addr) => text.push_str(&format!("{addr}\n")),
                None => bail!(
                    "failed to find published port \"{}\"",
                    args.args.last().map_or("", String::as_str)
                ),
            },
            None => {
                let prefix = if args.all {
                    format!("{}\t", v.short_id())
                } else {
                    String::new()
                };
                for line in ports::port_lines(mappings) {
                    text.push_str(&format!("{prefix}{line}\n"));
                }
            }
        }
    }
    out(&text)?;
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_ports() {
        assert_eq!(parse_private("80").unwrap(), (80, None));
        assert_eq!(parse_private("53/udp").unwrap(), (53, Some(Protocol::Udp)));
        assert!(parse_private("80/sctp").is_err());
        assert!(parse_private("0").is_err());
        assert!(parse_private("x").is_err());
    }
}
