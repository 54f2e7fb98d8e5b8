//! `inspect`'s `NetworkSettings`, as Podman 5 shows it for pasta and slirp4netns: no
//! addresses (the container shares the host's, or slirp4netns' fixed ones, and Podman
//! reports none), the published ports, and the namespace's path while it runs.

use serde_json::{Value, json};

use super::ports::inspect_ports;
use crate::store::containers::ContainerRecord;

pub fn network_settings(rec: &ContainerRecord, running: bool) -> Value {
    let sandbox_key = match (running, rec.pid, rec.network_mode.as_str()) {
        (true, Some(pid), mode) if mode != "host" => format!("/proc/{pid}/ns/net"),
        _ => String::new(),
    };
    json!({
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "MacAddress": "",
        "Bridge": "",
        "SandboxID": "",
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "Ports": inspect_ports(&rec.ports),
        "SandboxKey": sandbox_key,
    })
}
