//! Network flags of `run` and `create`, and `port`'s arguments.

use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::complete;

#[derive(Debug, Clone, Default, Args)]
pub struct NetworkFlags {
    /// Publish a container's port, or a range of ports, to the host
    /// ([ip:][hostPort:]containerPort[/tcp|udp]; a random host port when hostPort is omitted)
    #[arg(short = 'p', long = "publish", value_name = "PORT")]
    pub publish: Vec<String>,
    /// Publish every exposed port (the image's and --expose's) to a random host port
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports (port[-last][/tcp|udp]), published with -P
    #[arg(long, value_name = "PORT")]
    pub expose: Vec<String>,
    /// Add a line to /etc/hosts (NAME:IP; host-gateway for the host's address)
    #[arg(long = "add-host", value_name = "HOST:IP")]
    pub add_host: Vec<String>,
    /// Set a custom DNS server
    #[arg(long, value_name = "IP")]
    pub dns: Vec<String>,
    /// Set custom DNS search domains (. for none)
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    pub dns_search: Vec<String>,
    /// Set custom DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "OPTION")]
    pub dns_option: Vec<String>,
    /// Do not create /etc/hosts for the container (the image's stays)
    #[arg(long = "no-hosts")]
    pub no_hosts: bool,
}

impl NetworkFlags {
    /// The flags as the runtime takes them, with `--network`'s value.
    pub fn runtime<'a>(&'a self, network: Option<&'a str>) -> crate::runtime::network::Flags<'a> {
        crate::runtime::network::Flags {
            network,
            publish: &self.publish,
            publish_all: self.publish_all,
            expose: &self.expose,
            add_host: &self.add_host,
            dns: &self.dns,
            dns_search: &self.dns_search,
            dns_option: &self.dns_option,
            no_hosts: self.no_hosts,
        }
    }
}

/// `port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// Display port information for all running containers
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Act on the latest container coracle is aware of
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// The container, and optionally one private port (PORT[/PROTO])
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub args: Vec<String>,
}
