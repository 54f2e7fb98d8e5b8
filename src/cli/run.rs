//! Arguments of `run`.

use std::path::PathBuf;

use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::complete;

#[derive(Debug, Args)]
#[command(disable_help_flag = true)]
pub struct RunArgs {
    /// Remove the container and its root file system when it exits
    #[arg(long)]
    pub rm: bool,
    /// Set an environment variable (NAME=VALUE, or NAME to take coracle's own value)
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    pub env: Vec<String>,
    /// Read environment variables from a file (NAME=VALUE lines, # comments)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// Assign a name to the container
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Set the container's hostname (default: the short container ID)
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Network mode: pasta[:OPTIONS] (the default, as root too: coracle has no bridge),
    /// slirp4netns[:OPTIONS] (the default where pasta is missing), private (the default),
    /// none (only lo), host (the host's network)
    #[arg(long = "network", alias = "net", value_name = "MODE",
          add = ArgValueCompleter::new(complete::network_modes))]
    pub network: Option<String>,
    /// Overwrite the image's ENTRYPOINT (a string, or a JSON array)
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Keep standard input open (without it the container reads /dev/null)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run the container in the background and print its ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Tell systemd (NOTIFY_SOCKET) when the container is ready: conmon (coracle sends
    /// READY=1 once it runs; the default), healthy (once its health check passes), container
    /// (the socket is passed in and the container sends READY=1 itself), ignore
    #[arg(long, value_enum, value_name = "MODE")]
    pub sdnotify: Option<crate::runtime::sdnotify::SdNotifyMode>,
    /// Pull image policy (always, missing, never, newer)
    #[arg(long, value_enum, default_value_t, value_name = "POLICY")]
    pub pull: super::pull::PullPolicy,
    /// Suppress output information when pulling images
    #[arg(short = 'q', long)]
    pub quiet: bool,
    #[command(flatten)]
    pub platform: super::pull::PlatformArgs,
    #[command(flatten)]
    pub isolation: super::isolation::IsolationArgs,
    #[command(flatten)]
    pub registry: super::registry_flags::RegistryFlags,
    #[command(flatten)]
    pub mounts: super::volume::MountFlags,
    #[command(flatten)]
    pub lifecycle: super::lifecycle::LifecycleArgs,
    #[command(flatten)]
    pub control: super::control::RunControlArgs,
    #[command(flatten)]
    pub health: super::health::HealthArgs,
    #[command(flatten)]
    pub labels: super::autoupdate::LabelArgs,
    #[command(flatten)]
    pub net: super::network::NetworkFlags,
    #[command(flatten)]
    pub pod: super::pod::PodFlags,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The image to run, then the command and its arguments (default: the image's). One
    /// trailing positional, so that every word after the image is the command's, flags too
    /// (`run IMG -d` passes `-d` to the container), as Podman reads it.
    #[arg(
        value_names = ["IMAGE", "COMMAND"],
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        add = ArgValueCompleter::new(complete::images)
    )]
    pub image_and_command: Vec<String>,
}

impl RunArgs {
    /// The image to run.
    pub fn image(&self) -> &str {
        self.image_and_command.first().map_or("", String::as_str)
    }

    /// The container's command and its arguments (empty: the image's).
    pub fn command(&self) -> &[String] {
        self.image_and_command.get(1..).unwrap_or_default()
    }
}
