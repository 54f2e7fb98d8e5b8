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
    /// Start one or more containers
    Start(super::lifecycle::StartArgs),
    /// Attach to a running container
    Attach(super::lifecycle::AttachArgs),
    /// Fetch the logs of one or more containers
    Logs(super::lifecycle::LogsArgs),
    /// Run a process in a running container
    Exec(Box<super::exec::ExecArgs>),
    /// Copy files/folders between a container and the local filesystem
    Cp(super::exec::CpArgs),
    /// Export a container's filesystem contents as a tar archive
    Export(super::exec::ExportArgs),
    /// Inspect changes to the container's file systems
    Diff(super::exec::ContainerDiffArgs),
    /// Stop one or more containers
    Stop(super::control::StopArgs),
    /// Kill one or more running containers with a specific signal
    Kill(super::control::KillArgs),
    /// Block on one or more containers
    Wait(super::control::WaitArgs),
    /// Restart one or more containers
    Restart(super::control::RestartArgs),
    /// Rename an existing container
    Rename(super::control::RenameArgs),
    /// Display the running processes of a container
    Top(super::control::TopArgs),
    /// Pause all the processes in one or more containers (needs a delegated cgroup v2)
    Pause(super::control::PauseArgs),
    /// Unpause the processes in one or more containers (needs a delegated cgroup v2)
    Unpause(super::control::PauseArgs),
    /// Check if a container exists in local storage
    Exists(super::control::ContainerExistsArgs),
    /// Remove all non running containers
    Prune(ContainerPruneArgs),
    /// List port mappings of a container, or of every running one
    Port(super::network::PortArgs),
}

#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>', 'until=<timestamp>')
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all the containers, default is only running containers
    #[arg(short, long)]
    pub all: bool,
    /// Filter output based on conditions given
    #[arg(short, long = "filter", value_name = "FILTER",
          add = ArgValueCompleter::new(complete::container_filters))]
    pub filters: Vec<String>,
    /// Pretty-print containers to JSON or using a Go template
    #[arg(long, add = ArgValueCompleter::new(super::complete_fields::ps_format))]
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
    /// Print the ID and name of the pod the containers are associated with
    #[arg(short = 'p', long)]
    pub pod: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Remove all containers
    #[arg(short, long)]
    pub all: bool,
    /// Force removal of a running container (it is stopped first)
    #[arg(short, long)]
    pub force: bool,
    /// Ignore errors when a specified container is missing
    #[arg(short, long)]
    pub ignore: bool,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short, long)]
    pub volumes: bool,
    /// Seconds to wait for stop before killing a running container (with --force; -1: wait
    /// forever)
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    /// Read the container ID from the file (can be given several times)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Vec<std::path::PathBuf>,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format the output to a Go template or json
    #[arg(short, long, add = ArgValueCompleter::new(super::complete_fields::container_inspect_format))]
    pub format: Option<String>,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub names: Vec<String>,
}
