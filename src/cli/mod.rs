//! Command-line definitions (clap derive structs only), spelled as Podman spells them.

pub mod autoupdate;
pub mod build;
pub mod complete;
pub mod complete_fields;
pub mod complete_index;
pub mod container;
pub mod control;
pub mod docs;
pub mod exec;
pub mod generate;
pub mod health;
pub mod image;
pub mod isolation;
pub mod kube;
pub mod lifecycle;
pub mod manifest;
pub mod network;
pub mod overlay;
pub mod pod;
pub mod pull;
pub mod push;
pub mod quadlet;
pub mod registry;
pub mod registry_flags;
pub mod run;
pub mod search;
pub mod system;
pub mod unshare;
pub mod volume;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

pub use container::{ContainerCommand, ContainerInspectArgs, PsArgs, RmArgs};
pub use image::*;
pub use overlay::OverlayMountArgs;
pub use registry::{LoginArgs, LogoutArgs};

#[derive(Debug, Parser)]
#[command(
    name = "coracle",
    about = "Manage images and containers without a daemon, as an ordinary user",
    version,
    disable_version_flag = true,
    propagate_version = true
)]
pub struct Cli {
    /// Path to the graph root directory where images and containers are stored
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Path to the 'run directory' where all state information is stored
    #[arg(long, global = true, value_name = "DIR")]
    pub runroot: Option<PathBuf>,
    /// Select which storage driver is used to manage storage of images and containers (overlay, vfs)
    #[arg(long, global = true, value_name = "DRIVER")]
    pub storage_driver: Option<String>,
    /// Log messages above specified level (trace, debug, info, warn, error, fatal, panic)
    #[arg(long, global = true, default_value = "warn", value_name = "LEVEL")]
    pub log_level: String,
    /// Print the version
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage images
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// List images in local storage
    Images(ImagesArgs),
    /// Load image(s) from a tar archive
    Load(LoadArgs),
    /// Pull an image from a registry
    Pull(pull::PullArgs),
    /// Save image(s) to an archive
    Save(SaveArgs),
    /// Push an image to a specified destination
    Push(push::PushArgs),
    /// Import a tarball to create a filesystem image
    Import(ImportArgs),
    /// Show history of a specified image
    History(HistoryArgs),
    /// Display the changes to the object's file system
    Diff(DiffArgs),
    /// Display the configuration of object denoted by ID
    Inspect(InspectArgs),
    /// Add an additional name to a local image
    Tag(TagArgs),
    /// Remove a name from a local image
    Untag(UntagArgs),
    /// Remove one or more images from local storage
    Rmi(RmiArgs),
    /// Display coracle related system information
    Info(FormatArgs),
    /// Display the coracle version information
    Version(FormatArgs),
    /// Run a command in a new container
    Run(Box<run::RunArgs>),
    /// Create but do not start a container
    Create(Box<run::RunArgs>),
    /// Create new image based on the changed container
    Commit(CommitArgs),
    /// Build an image using instructions from Containerfiles
    Build(Box<build::BuildArgs>),
    /// Manipulate manifest lists and image indexes
    Manifest {
        #[command(subcommand)]
        command: manifest::ManifestCommand,
    },
    /// Manage containers
    Container {
        #[command(subcommand)]
        command: ContainerCommand,
    },
    /// List containers
    Ps(PsArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// Monitor coracle events
    Events(system::EventsArgs),
    /// Start one or more containers
    Start(lifecycle::StartArgs),
    /// Attach to a running container
    Attach(lifecycle::AttachArgs),
    /// Fetch the logs of one or more containers
    Logs(lifecycle::LogsArgs),
    /// Run a process in a running container
    Exec(Box<exec::ExecArgs>),
    /// Copy files/folders between a container and the local filesystem
    Cp(exec::CpArgs),
    /// Export a container's filesystem contents as a tar archive
    Export(exec::ExportArgs),
    /// Stop one or more containers
    Stop(control::StopArgs),
    /// Kill one or more running containers with a specific signal
    Kill(control::KillArgs),
    /// Block on one or more containers
    Wait(control::WaitArgs),
    /// Restart one or more containers
    Restart(control::RestartArgs),
    /// Rename an existing container
    Rename(control::RenameArgs),
    /// Display the running processes of a container
    Top(control::TopArgs),
    /// Pause all the processes in one or more containers (needs a delegated cgroup v2)
    Pause(control::PauseArgs),
    /// Unpause the processes in one or more containers (needs a delegated cgroup v2)
    Unpause(control::PauseArgs),
    /// List port mappings of a container, or of every running one
    Port(network::PortArgs),
    /// Search a registry for an image
    Search(search::SearchArgs),
    /// Log in to a container registry
    Login(LoginArgs),
    /// Log out of a container registry
    Logout(LogoutArgs),
    /// Run a command in a modified user namespace
    Unshare(unshare::UnshareArgs),
    /// Manage coracle
    System {
        #[command(subcommand)]
        command: system::SystemCommand,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        command: volume::VolumeCommand,
    },
    /// Generate structured data (systemd units) for containers
    Generate {
        #[command(subcommand)]
        command: generate::GenerateCommand,
    },
    /// Convert Podman Quadlet .container files into systemd user units
    Quadlet(quadlet::QuadletArgs),
    /// Auto update containers according to their auto-update policy
    #[command(name = "auto-update")]
    AutoUpdate(autoupdate::AutoUpdateArgs),
    /// Manage pods
    Pod {
        #[command(subcommand)]
        command: pod::PodCommand,
    },
    /// Generate Kubernetes YAML from containers and pods
    Kube {
        #[command(subcommand)]
        command: kube::KubeCommand,
    },
    /// Mount coracle's overlay filesystem in the foreground (tests and development)
    #[command(name = "overlay-mount", hide = true)]
    Overlay(OverlayMountArgs),
    /// Manage health checks on containers
    Healthcheck {
        #[command(subcommand)]
        command: health::HealthcheckCommand,
    },
    /// Run a container's health check once (the monitor's probe)
    #[command(name = "healthcheck-probe", hide = true)]
    HealthProbe(health::HealthProbeArgs),
    /// Generate the shell completion script (bash, zsh or fish)
    Completion(CompletionArgs),
    /// Write a man page for every command into a directory
    #[command(name = "generate-man", hide = true)]
    GenerateMan(GenerateManArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionArgs {
    /// The shell to generate the script for
    pub shell: Shell,
}

/// The shells `coracle completion` writes scripts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Shell {
    Bash,
    Zsh,
    Fish,
}

#[derive(Debug, clap::Args)]
pub struct GenerateManArgs {
    /// The directory to write the pages into (created if missing)
    #[arg(value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// List images in local storage
    #[command(alias = "ls")]
    List(ImagesArgs),
    /// Display the configuration of an image
    #[command(mut_arg("names", |a| a.add(ArgValueCompleter::new(complete::images))))]
    #[command(mut_arg("format", |a| a.add(ArgValueCompleter::new(complete_fields::image_inspect_format))))]
    Inspect(InspectArgs),
    /// Show history of a specified image
    History(HistoryArgs),
    /// Build an image using instructions from Containerfiles
    Build(Box<build::BuildArgs>),
    /// Inspect changes to the image's file systems
    Diff(DiffArgs),
    /// Print layer hierarchy of an image in a tree format
    Tree(TreeArgs),
    /// Add an additional name to a local image
    Tag(TagArgs),
    /// Remove a name from a local image
    Untag(UntagArgs),
    /// Load image(s) from a tar archive
    Load(LoadArgs),
    /// Pull an image from a registry
    Pull(pull::PullArgs),
    /// Save image(s) to an archive
    Save(SaveArgs),
    /// Push an image to a specified destination
    Push(Box<push::PushArgs>),
    /// Import a tarball to create a filesystem image
    Import(ImportArgs),
    /// Remove one or more images from local storage
    Rm(RmiArgs),
    /// Remove unused images
    Prune(PruneArgs),
    /// Check if an image exists in local storage
    Exists(ExistsArgs),
}

/// `--format` alone (info, version).
#[derive(Debug, clap::Args)]
pub struct FormatArgs {
    /// Change the output format to JSON or a Go template
    #[arg(short, long)]
    pub format: Option<String>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    /// clap's own consistency checks over every command (what completion and the man
    /// pages are generated from).
    #[test]
    fn definitions_are_consistent() {
        super::Cli::command().debug_assert();
    }
}
