//! Arguments of the commands that control a container from outside its monitor (`stop`,
//! `kill`, `wait`, `restart`, `rename`, `top`, `pause`, `unpause`, `container exists`) and
//! the `run`/`create` flags they depend on.

use std::path::PathBuf;

use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::complete;

/// `run`/`create` flags about identifying, replacing and stopping the container, and the
/// resource limits (refused: no delegated cgroup v2, see `runtime::cgroups`).
#[derive(Debug, Args, Default)]
pub struct RunControlArgs {
    /// Write the container ID to the file (it must not exist)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Option<PathBuf>,
    /// If a container with the same name exists, replace it (it is removed, forcibly)
    #[arg(long)]
    pub replace: bool,
    /// Signal to stop the container with (default: the image's StopSignal, else SIGTERM)
    #[arg(long, value_name = "SIGNAL")]
    pub stop_signal: Option<String>,
    /// Seconds to wait after the stop signal before SIGKILL (default 10)
    #[arg(long, value_name = "SECONDS")]
    pub stop_timeout: Option<u32>,
    /// Memory limit (refused: needs a delegated cgroup v2)
    #[arg(short = 'm', long, value_name = "NUMBER[UNIT]")]
    pub memory: Option<String>,
    /// Memory soft limit (refused: needs a delegated cgroup v2)
    #[arg(long, value_name = "NUMBER[UNIT]")]
    pub memory_reservation: Option<String>,
    /// Memory plus swap limit (refused: needs a delegated cgroup v2)
    #[arg(long, value_name = "NUMBER[UNIT]")]
    pub memory_swap: Option<String>,
    /// Number of CPUs (refused: needs a delegated cgroup v2)
    #[arg(long, value_name = "NUMBER")]
    pub cpus: Option<String>,
    /// CPU shares, relative weight (refused: needs a delegated cgroup v2)
    #[arg(short = 'c', long, value_name = "SHARES")]
    pub cpu_shares: Option<String>,
    /// CPU CFS period (refused: needs a delegated cgroup v2)
    #[arg(long, value_name = "MICROSECONDS")]
    pub cpu_period: Option<String>,
    /// CPU CFS quota (refused: needs a delegated cgroup v2)
    #[arg(long, value_name = "MICROSECONDS")]
    pub cpu_quota: Option<String>,
    /// CPUs in which to allow execution (refused: needs a delegated cgroup v2)
    #[arg(long, value_name = "CPUS")]
    pub cpuset_cpus: Option<String>,
    /// Tune the container's pids limit (refused: needs a delegated cgroup v2)
    #[arg(long, value_name = "LIMIT")]
    pub pids_limit: Option<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Stop all running containers
    #[arg(short, long)]
    pub all: bool,
    /// Read the container ID from the file (can be given several times)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Vec<PathBuf>,
    /// Ignore errors when a specified container is missing
    #[arg(short, long)]
    pub ignore: bool,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// Stop the containers that pass the filter (e.g. restart-policy=always; can be given
    /// several times)
    #[arg(short, long = "filter", value_name = "FILTER",
          add = ArgValueCompleter::new(complete::container_filters))]
    pub filters: Vec<String>,
    /// Seconds to wait for stop before killing the container (-1: wait forever)
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal all running containers
    #[arg(short, long)]
    pub all: bool,
    /// Read the container ID from the file (can be given several times)
    #[arg(long, value_name = "FILE")]
    pub cidfile: Vec<PathBuf>,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// Signal to send to the container (a name, SIG-prefixed or not, or a number)
    #[arg(short, long, default_value = "KILL", value_name = "SIGNAL")]
    pub signal: String,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Condition to wait on: running, stopped, exited, created... (default: stopped)
    #[arg(long, value_name = "CONDITION")]
    pub condition: Vec<String>,
    /// Ignore a missing container (its exit code is printed as -1)
    #[arg(long)]
    pub ignore: bool,
    /// Time interval between polls for completion (e.g. 250ms, 1s; a number is milliseconds)
    #[arg(short, long, default_value = "250ms", value_name = "DURATION")]
    pub interval: String,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    /// Restart all containers
    #[arg(short, long)]
    pub all: bool,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// Restart only running containers
    #[arg(long)]
    pub running: bool,
    /// Seconds to wait for stop before killing the container (-1: wait forever)
    #[arg(
        short = 't',
        long = "time",
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub time: Option<i64>,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container to rename
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub container: String,
    /// Its new name
    #[arg(value_name = "NAME")]
    pub name: String,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// The container, then format descriptors (user, pid, ppid, pcpu, etime, tty, time,
    /// args, comm, ... or their AIX forms %U, %p, ...)
    #[arg(value_name = "CONTAINER [DESCRIPTORS]", add = ArgValueCompleter::new(complete::containers))]
    pub args: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Pause (unpause) all containers
    #[arg(short, long)]
    pub all: bool,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ContainerExistsArgs {
    /// Check external containers as well (coracle has none)
    #[arg(long)]
    pub external: bool,
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub container: String,
}
