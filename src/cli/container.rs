//! Arguments of the container lifecycle commands: `ps`, `rm`, `container inspect`.

use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCompleter;

use super::complete;

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(name = "list", aliases = ["ls", "ps"])]
    List(PsArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Display the configuration of a container
    Inspect(ContainerInspectArgs),
    /// List port mappings of a container, or of every running one
    Port(super::network::PortArgs),
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all the containers, default is only running containers
    #[arg(short, long)]
    pub all: bool,
    /// Filter output based on conditions given
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Pretty-print containers to JSON or using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Print the n last created containers (all states)
    #[arg(short = 'n', long, value_name = "N", allow_negative_numbers = true, default_value_t = -1)]
    pub last: i64,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// Display the extended information
    #[arg(long)]
    pub no_trunc: bool,
    /// Do not print headers
    #[arg(long)]
    pub noheading: bool,
    /// Print the numeric IDs of the containers only
    #[arg(short, long)]
    pub quiet: bool,
    /// Display the total file sizes
    #[arg(short, long)]
    pub size: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Remove all containers
    #[arg(short, long)]
    pub all: bool,
    /// Force removal of a running container (it is killed first)
    #[arg(short, long)]
    pub force: bool,
    /// Ignore errors when a specified container is missing
    #[arg(short, long)]
    pub ignore: bool,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// Remove anonymous volumes associated with the container (there are none yet)
    #[arg(short, long)]
    pub volumes: bool,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format the output to a Go template or json
    #[arg(short, long)]
    pub format: Option<String>,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub names: Vec<String>,
}
