//! `volume` and its subcommands, and the storage flags of `run`/`create` ([`MountFlags`],
//! flattened into `RunArgs`).

use clap::{Args, Subcommand};

/// Volumes, binds, tmpfs, devices and limits of `run` and `create`.
#[derive(Debug, Clone, Default, Args)]
pub struct MountFlags {
    /// Bind mount a volume into the container ([SOURCE-VOLUME|HOST-DIR:]CONTAINER-DIR[:OPTIONS])
    #[arg(short = 'v', long = "volume", value_name = "VOLUME", add = clap_complete::engine::ArgValueCompleter::new(super::complete_fields::volume_flag))]
    pub volume: Vec<String>,
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs|devpts,src=,dst=,...)
    #[arg(long = "mount", value_name = "MOUNT")]
    pub mount: Vec<String>,
    /// Mount a temporary filesystem (tmpfs) into the container (CONTAINER-DIR[:OPTIONS])
    #[arg(long = "tmpfs", value_name = "TMPFS")]
    pub tmpfs: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|rw])
    #[arg(long = "volumes-from", value_name = "CONTAINER")]
    pub volumes_from: Vec<String>,
    /// Make the container's root filesystem read-only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// When running --read-only containers, mount read-write tmpfs on /dev, /dev/shm, /run,
    /// /tmp, and /var/tmp
    #[arg(
        long = "read-only-tmpfs",
        value_name = "BOOL",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        require_equals = true
    )]
    pub read_only_tmpfs: bool,
    /// Add a host device to the container (HOST-DEVICE[:CONTAINER-DEVICE][:PERMISSIONS])
    #[arg(long = "device", value_name = "DEVICE")]
    pub device: Vec<String>,
    /// Ulimit options (NAME=SOFT[:HARD], -1 for unlimited, or host)
    #[arg(long = "ulimit", value_name = "ULIMIT")]
    pub ulimit: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a new volume
    Create(VolumeCreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(VolumeLsArgs),
    /// Display detailed information on one or more volumes
    Inspect(VolumeInspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(VolumeRmArgs),
    /// Remove all unused volumes
    Prune(VolumePruneArgs),
    /// Check if the given volume exists
    Exists(VolumeExistsArgs),
}

#[derive(Debug, Args)]
pub struct VolumeCreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, default_value = "local", value_name = "DRIVER")]
    pub driver: String,
    /// Set metadata for a volume (e.g., --label mykey=value)
    #[arg(short = 'l', long = "label", value_name = "LABEL")]
    pub label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "OPT")]
    pub opt: Vec<String>,
    /// Don't fail if volume already exists
    #[arg(long)]
    pub ignore: bool,
    /// The volume's name (default: a random ID)
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct VolumeLsArgs {
    /// Filter volume output (name=, label=, driver=, dangling=)
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Format volume output using Go template
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Do not print headers
    #[arg(short = 'n', long)]
    pub noheading: bool,
    /// Print volume output in quiet mode
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct VolumeInspectArgs {
    /// Inspect all volumes
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Format volume output using Go template
    #[arg(short = 'f', long, value_name = "FORMAT")]
    pub format: Option<String>,
    #[arg(value_name = "VOLUME", add = clap_complete::engine::ArgValueCompleter::new(super::complete::volumes))]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumeRmArgs {
    /// Remove all volumes
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Remove a volume by force, even if it is being used by a container
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(value_name = "VOLUME", add = clap_complete::engine::ArgValueCompleter::new(super::complete::volumes))]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct VolumePruneArgs {
    /// Provide filter values (e.g. 'label=<key>=<value>')
    #[arg(long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct VolumeExistsArgs {
    #[arg(value_name = "VOLUME", add = clap_complete::engine::ArgValueCompleter::new(super::complete::volumes))]
    pub name: String,
}
