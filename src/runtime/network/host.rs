//! What the host's network looks like to a container whose helper copies it: the IPv4
//! default route (`/proc/net/route`) and the address of its interface. pasta gives the
//! container the host's address and gateway (and, with its `--map-gw`, takes connections to
//! the gateway to the host itself); `/etc/hosts` names them.

use std::net::Ipv4Addr;

/// The IPv4 default route: its interface and gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    pub iface: String,
    pub gateway: Ipv4Addr,
}

/// The first default route with a gateway in the text of `/proc/net/route` (addresses are
/// hexadecimal in the machine's byte order, which is little-endian where coracle runs).
pub fn parse_default_route(text: &str) -> Option<DefaultRoute> {
    text.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (iface, dest, gw, mask) = (f.first()?, f.get(1)?, f.get(2)?, f.get(7)?);
        if *dest != "00000000" || *mask != "00000000" {
            return None;
        }
        let gw = u32::from_str_radix(gw, 16).ok()?;
        if gw == 0 {
            return None;
        }
        Some(DefaultRoute {
            iface: iface.to_string(),
            gateway: Ipv4Addr::from(gw.swap_bytes()),
        })
    })
}

/// The host's IPv4 default route, if it has one.
pub fn default_route() -> Option<DefaultRoute> {
    parse_default_route(&std::fs::read_to_string("/proc/net/route").ok()?)
}

/// The host's address and gateway as a pasta container sees them (pasta copies both).
pub fn pasta_view() -> Option<(Ipv4Addr, Ipv4Addr)> {
    let route = default_route()?;
    let addr = crate::sys::net::ipv4_address(&route.iface)?;
    Some((addr, route.gateway))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_route_from_proc() {
        let text = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(
            parse_default_route(text),
            Some(DefaultRoute {
                iface: "eth0".into(),
                gateway: Ipv4Addr::new(192, 0, 2, 1),
            })
        );
        assert_eq!(parse_default_route("Iface\tDestination\n"), None);
    }
}
