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
    /// Username or UID, optionally with a group (user[:group])
    #[arg(short = 'u', long = "user", value_name = "USER")]
    pub user: Option<String>,
    /// Assign a name to the container
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Set the container's hostname (default: the short container ID)
    #[arg(short = 'h', long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Network mode: pasta[:OPTIONS] (the default, as root too: coracle has no bridge),
    /// slirp4netns[:OPTIONS] (the default where pasta is missing), private (the default),
    /// none (only lo), host (the host's network)
    #[arg(long = "network", alias = "net", value_name = "MODE")]
    pub network: Option<String>,
    /// Overwrite the image's ENTRYPOINT (a string, or a JSON array)
    #[arg(long, value_name = "CMD")]
    pub entrypoint: Option<String>,
    /// Keep standard input open (without it the container reads /dev/null)
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY (not supported yet)
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Run the container in the background (not supported yet)
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Add Linux capabilities (a name with or without CAP_, or ALL; comma-separated lists too)
    #[arg(long = "cap-add", value_name = "CAP")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities (a name with or without CAP_, or ALL)
    #[arg(long = "cap-drop", value_name = "CAP")]
    pub cap_drop: Vec<String>,
    /// Give the container every capability, no masked or read-only paths and no seccomp filter
    #[arg(long)]
    pub privileged: bool,
    /// Security options: seccomp=unconfined, no-new-privileges (always on)
    #[arg(long = "security-opt", value_name = "OPT")]
    pub security_opt: Vec<String>,
    /// Tell systemd (NOTIFY_SOCKET) when the container runs: conmon (coracle sends READY=1;
    /// the default), ignore; container and healthy are not supported yet
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
    pub registry: super::registry_flags::RegistryFlags,
    #[command(flatten)]
    pub net: super::network::NetworkFlags,
    /// Print help
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,
    /// The image to run
    #[arg(value_name = "IMAGE", add = ArgValueCompleter::new(complete::images))]
    pub image: String,
    /// The command and its arguments (default: the image's)
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..
    )]
    pub command: Vec<String>,
}
