//! Health-check flags of `run`/`create`, `healthcheck run`, and the hidden probe the monitor
//! starts for each check.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use clap_complete::engine::ArgValueCompleter;

use super::complete;

/// `run`/`create` flags about the container's health check (Podman's spelling). Each given
/// flag overrides the image's `Healthcheck` field of the same meaning.
#[derive(Debug, Args, Default)]
pub struct HealthArgs {
    /// Command to check the container's health: a string run by /bin/sh -c, or a JSON
    /// array (["CMD", "prog", "arg"]); none disables the image's check
    #[arg(long, value_name = "COMMAND")]
    pub health_cmd: Option<String>,
    /// Time between two checks (default 30s); disable: checks run only with `healthcheck run`
    #[arg(long, value_name = "INTERVAL")]
    pub health_interval: Option<String>,
    /// Consecutive failures before the container is unhealthy (default 3)
    #[arg(long, value_name = "RETRIES")]
    pub health_retries: Option<u32>,
    /// Time to let the container start before failures count (default 0s)
    #[arg(long, value_name = "PERIOD")]
    pub health_start_period: Option<String>,
    /// Longest a check may run before it is killed and counts as failed (default 30s)
    #[arg(long, value_name = "TIMEOUT")]
    pub health_timeout: Option<String>,
    /// What to do when the container becomes unhealthy: none, kill, restart, stop
    #[arg(long, value_name = "ACTION", add = ArgValueCompleter::new(complete::health_actions))]
    pub health_on_failure: Option<String>,
    /// Disable any health check, the image's included
    #[arg(long)]
    pub no_healthcheck: bool,
    /// Command of a startup check that runs instead of the regular one until it passes (a
    /// string run by /bin/sh -c, or a JSON array)
    #[arg(long, value_name = "COMMAND")]
    pub health_startup_cmd: Option<String>,
    /// Time between two startup checks (default 30s); disable: only with `healthcheck run`
    #[arg(long, value_name = "INTERVAL")]
    pub health_startup_interval: Option<String>,
    /// Failed startup checks before the container is restarted (default 0: never)
    #[arg(long, value_name = "RETRIES")]
    pub health_startup_retries: Option<u32>,
    /// Passed startup checks before the regular check starts (default 0: the first pass)
    #[arg(long, value_name = "RETRIES")]
    pub health_startup_success: Option<u32>,
    /// Longest a startup check may run before it counts as failed (default 30s)
    #[arg(long, value_name = "TIMEOUT")]
    pub health_startup_timeout: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum HealthcheckCommand {
    /// Run a container's health check now
    Run(HealthcheckRunArgs),
}

#[derive(Debug, Args)]
pub struct HealthcheckRunArgs {
    /// The container (name or ID)
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub container: String,
}

/// The monitor's probe: the check command of the container in `dir`, run in it once, with
/// its output on this process's own and its exit status as this process's.
#[derive(Debug, Args)]
pub struct HealthProbeArgs {
    /// The container's directory in the store
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Run the startup check's command instead of the regular one
    #[arg(long)]
    pub startup: bool,
}
