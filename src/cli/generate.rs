//! `generate systemd`: systemd units for containers.

use clap::{Args, Subcommand, ValueEnum};
use clap_complete::engine::ArgValueCompleter;

use super::complete;

#[derive(Debug, Subcommand)]
pub enum GenerateCommand {
    /// Generate a systemd user unit file for a container
    Systemd(GenerateSystemdArgs),
}

/// systemd's `Restart=` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RestartPolicy {
    No,
    OnSuccess,
    OnFailure,
    OnAbnormal,
    OnWatchdog,
    OnAbort,
    Always,
}

impl RestartPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            RestartPolicy::No => "no",
            RestartPolicy::OnSuccess => "on-success",
            RestartPolicy::OnFailure => "on-failure",
            RestartPolicy::OnAbnormal => "on-abnormal",
            RestartPolicy::OnWatchdog => "on-watchdog",
            RestartPolicy::OnAbort => "on-abort",
            RestartPolicy::Always => "always",
        }
    }
}

#[derive(Debug, Args)]
pub struct GenerateSystemdArgs {
    /// Create a new container when the unit starts (and remove it when it stops) instead of
    /// starting the existing one
    #[arg(long)]
    pub new: bool,
    /// Use the container's name instead of its ID in the unit and its commands
    #[arg(short, long)]
    pub name: bool,
    /// Write the unit into CONTAINER-PREFIX-NAME.service in the current directory and print its path
    #[arg(short, long)]
    pub files: bool,
    /// systemd restart policy (default: the container's --restart policy, else on-failure)
    #[arg(long, value_enum, value_name = "POLICY")]
    pub restart_policy: Option<RestartPolicy>,
    /// Seconds systemd waits before restarting the service (RestartSec)
    #[arg(long, value_name = "SECONDS")]
    pub restart_sec: Option<u32>,
    /// Stop timeout in seconds for the container (default: the container's, else 10)
    #[arg(short = 't', long = "time", value_name = "SECONDS")]
    pub time: Option<u32>,
    /// Start timeout of the unit in seconds (TimeoutStartSec)
    #[arg(long, value_name = "SECONDS")]
    pub start_timeout: Option<u32>,
    /// Systemd unit name prefix for containers
    #[arg(long, default_value = "container", value_name = "PREFIX")]
    pub container_prefix: String,
    /// Systemd unit name separator between the prefix and the name
    #[arg(long, default_value = "-", value_name = "SEP")]
    pub separator: String,
    /// Skip the header with the generating command and the date
    #[arg(long)]
    pub no_header: bool,
    /// Add (weak) requirement dependencies to the unit (Wants=; can be given several times)
    #[arg(long, value_name = "UNIT")]
    pub wants: Vec<String>,
    /// Add ordering dependencies to the unit (After=; can be given several times)
    #[arg(long, value_name = "UNIT")]
    pub after: Vec<String>,
    /// Add (strong) requirement dependencies to the unit (Requires=; can be given several times)
    #[arg(long, value_name = "UNIT")]
    pub requires: Vec<String>,
    /// Set an environment variable in the unit (KEY=VALUE; can be given several times)
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The container
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub container: String,
}
