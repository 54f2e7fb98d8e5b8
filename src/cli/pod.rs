//! Arguments of `pod` and its subcommands, and `--pod` of `run`/`create`.

use clap::{Args, Subcommand};

/// `--pod` of `run` and `create`.
#[derive(Debug, Args, Default)]
pub struct PodFlags {
    /// Run the container in an existing pod, or in a new one (new:NAME)
    #[arg(long, value_name = "NAME")]
    pub pod: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum PodCommand {
    /// Create a new empty pod
    Create(Box<PodCreateArgs>),
    /// Start one or more pods
    Start(PodSelectArgs),
    /// Stop one or more pods
    Stop(PodStopArgs),
    /// Send the specified signal or SIGKILL to containers in pod
    Kill(PodKillArgs),
    /// Restart one or more pods
    Restart(PodSelectArgs),
    /// Remove one or more pods
    Rm(PodRmArgs),
    /// List pods
    #[command(alias = "list", alias = "ls")]
    Ps(PodPsArgs),
    /// Display a pod configuration
    Inspect(PodInspectArgs),
    /// Check if a pod exists in local storage
    Exists(PodExistsArgs),
    /// Display the running processes of containers in a pod
    Top(PodTopArgs),
    /// Remove all stopped pods and their containers
    Prune(PodPruneArgs),
}

#[derive(Debug, Args)]
pub struct PodCreateArgs {
    /// Assign a name to the pod
    #[arg(short = 'n', long, value_name = "NAME")]
    pub name: Option<String>,
    /// Set the pod's hostname (default: the pod's name)
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// The namespaces the pod's containers share (of cgroup, ipc, net, pid, uts; +NS adds to
    /// the default ones)
    #[arg(long, value_name = "NAMESPACES", default_value = "ipc,net,uts")]
    pub share: String,
    /// Use the pod as the containers' cgroup parent (refused: coracle manages no cgroups)
    #[arg(long = "share-parent", value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub share_parent: Option<bool>,
    /// Create an infra process (coracle's pods always have one)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub infra: bool,
    /// Network mode of the pod: pasta[:OPTIONS] (the default), slirp4netns is not supported for
    /// pods, none
    #[arg(long = "network", alias = "net", value_name = "MODE")]
    pub network: Option<String>,
    /// Set metadata on the pod (KEY=VALUE)
    #[arg(short = 'l', long = "label", value_name = "LABEL")]
    pub labels: Vec<String>,
    /// What happens when the last container exits: continue (the default) or stop
    #[arg(
        long = "exit-policy",
        value_name = "POLICY",
        default_value = "continue"
    )]
    pub exit_policy: String,
    /// Write the pod ID to the file
    #[arg(long = "pod-id-file", value_name = "FILE")]
    pub pod_id_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub net: super::network::NetworkFlags,
}

#[derive(Debug, Args)]
pub struct PodSelectArgs {
    /// Act on all pods
    #[arg(short, long)]
    pub all: bool,
    /// The pods (names or IDs)
    #[arg(value_name = "POD")]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodStopArgs {
    /// Stop all pods
    #[arg(short, long)]
    pub all: bool,
    /// Ignore errors when a specified pod is missing
    #[arg(short, long)]
    pub ignore: bool,
    /// Seconds to wait for the containers to stop before killing them
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    /// The pods (names or IDs)
    #[arg(value_name = "POD")]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodKillArgs {
    /// Kill all pods
    #[arg(short, long)]
    pub all: bool,
    /// The signal to send (default SIGKILL)
    #[arg(short, long, default_value = "KILL", value_name = "SIGNAL")]
    pub signal: String,
    /// The pods (names or IDs)
    #[arg(value_name = "POD")]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodRmArgs {
    /// Remove all pods
    #[arg(short, long)]
    pub all: bool,
    /// Stop and remove running pods and their containers
    #[arg(short, long)]
    pub force: bool,
    /// Ignore errors when a specified pod is missing
    #[arg(short, long)]
    pub ignore: bool,
    /// Seconds to wait for the containers to stop before killing them (with --force)
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    /// The pods (names or IDs)
    #[arg(value_name = "POD")]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodPsArgs {
    /// Pretty-print pods to JSON or using a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Do not print headers
    #[arg(long)]
    pub noheading: bool,
    /// Do not truncate pod and container IDs
    #[arg(long)]
    pub no_trunc: bool,
    /// Print the IDs of the pods only
    #[arg(short, long)]
    pub quiet: bool,
    /// Filter output based on conditions given (name, id, status, label)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Show the names of the containers in each pod
    #[arg(long = "ctr-names")]
    pub ctr_names: bool,
    /// Show the IDs of the containers in each pod
    #[arg(long = "ctr-ids")]
    pub ctr_ids: bool,
    /// Show the status of the containers in each pod
    #[arg(long = "ctr-status")]
    pub ctr_status: bool,
}

#[derive(Debug, Args)]
pub struct PodInspectArgs {
    /// Format the output using a Go template or json
    #[arg(short, long)]
    pub format: Option<String>,
    /// The pods (names or IDs)
    #[arg(value_name = "POD", required = true)]
    pub pods: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodExistsArgs {
    /// The pod (name or ID)
    #[arg(value_name = "POD")]
    pub pod: String,
}

#[derive(Debug, Args)]
pub struct PodTopArgs {
    /// The pod (name or ID)
    #[arg(value_name = "POD")]
    pub pod: String,
    /// ps(1) format descriptors
    #[arg(value_name = "DESCRIPTORS", num_args = 0..)]
    pub descriptors: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PodPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}
