//! Arguments of a container's life: how `run` attaches (`-a`, `--detach-keys`,
//! `--sig-proxy`), its logs (`--log-driver`, `--log-opt`) and restarts (`--restart`); and
//! the `start`, `attach` and `logs` commands.

use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::complete;
use crate::runtime::attach::AttachOptions;
use crate::runtime::lifecycle::{DetachKeys, Lifecycle, LogConfig, RestartPolicy};

/// Flattened into `run` and `create`.
#[derive(Debug, Args, Default)]
pub struct LifecycleArgs {
    /// Attach to STDIN, STDOUT or STDERR (default: stdout and stderr, stdin with -i)
    #[arg(short = 'a', long = "attach", value_name = "STREAM")]
    pub attach: Vec<String>,
    /// Override the key sequence for detaching a container (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the container process
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// Logging driver for the container: k8s-file (default), none or passthrough
    #[arg(long = "log-driver", value_name = "DRIVER")]
    pub log_driver: Option<String>,
    /// Logging driver options: max-size=SIZE (the log is rotated at that size), path=FILE
    #[arg(long = "log-opt", value_name = "OPT")]
    pub log_opt: Vec<String>,
    /// Restart policy when the container exits: no, on-failure[:N], always, unless-stopped
    #[arg(long, value_name = "POLICY", add = ArgValueCompleter::new(complete::restart_policies))]
    pub restart: Option<String>,
}

impl LifecycleArgs {
    /// The settings the container keeps in its spec.
    pub fn spec(&self, tty: bool, rm: bool) -> anyhow::Result<Lifecycle> {
        let restart = RestartPolicy::parse(self.restart.as_deref().unwrap_or("no"))?;
        if rm && restart != RestartPolicy::No {
            anyhow::bail!(
                "the --rm option conflicts with --restart: a container is removed when it exits"
            );
        }
        Ok(Lifecycle {
            tty,
            log: LogConfig::parse(self.log_driver.as_deref(), &self.log_opt)?,
            restart,
        })
    }

    /// The streams `-a` names (`None`: the defaults).
    pub fn streams(&self) -> anyhow::Result<Option<AttachOptions>> {
        if self.attach.is_empty() {
            return Ok(None);
        }
        let mut o = AttachOptions::default();
        for s in self.attach.iter().flat_map(|a| a.split(',')) {
            match s.to_ascii_lowercase().as_str() {
                "stdin" => o.stdin = true,
                "stdout" => o.stdout = true,
                "stderr" => o.stderr = true,
                _ => anyhow::bail!(
                    "invalid stream {s:?} for --attach - must be one of stdin, stdout, or stderr"
                ),
            }
        }
        Ok(Some(o))
    }

    pub fn detach_keys(&self) -> anyhow::Result<DetachKeys> {
        parse_detach_keys(self.detach_keys.as_deref())
    }
}

pub fn parse_detach_keys(keys: Option<&str>) -> anyhow::Result<DetachKeys> {
    DetachKeys::parse(keys.unwrap_or(crate::runtime::lifecycle::DEFAULT_DETACH_KEYS))
        .map_err(|e| anyhow::anyhow!("--detach-keys: {e}"))
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach container's STDOUT and STDERR
    #[arg(short, long)]
    pub attach: bool,
    /// Keep STDIN open even if not attached
    #[arg(short, long)]
    pub interactive: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process (default true when attaching)
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: Option<bool>,
    /// Start all containers that are not running
    #[arg(long)]
    pub all: bool,
    /// Start the containers that pass the filter (e.g. restart-policy=always; can be given
    /// several times)
    #[arg(short, long = "filter", value_name = "FILTER",
          add = ArgValueCompleter::new(complete::container_filters))]
    pub filters: Vec<String>,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// The containers (names or IDs)
    #[arg(value_name = "CONTAINER", required_unless_present_any = ["all", "filters", "latest"],
          add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(long = "sig-proxy", value_name = "BOOL", num_args = 0..=1, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub sig_proxy: bool,
    /// The container (name or ID)
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short, long)]
    pub follow: bool,
    /// Show logs since TIMESTAMP (RFC 3339, a date, or a duration such as 10m)
    #[arg(long, value_name = "TIMESTAMP")]
    pub since: Option<String>,
    /// Show logs until TIMESTAMP
    #[arg(long, value_name = "TIMESTAMP")]
    pub until: Option<String>,
    /// Output the specified number of LINES at the end of the logs (-1: all)
    #[arg(long, value_name = "LINES", default_value_t = -1, allow_negative_numbers = true)]
    pub tail: i64,
    /// Output the timestamps in the log
    #[arg(short, long)]
    pub timestamps: bool,
    /// Output the container name in the log
    #[arg(short = 'n', long)]
    pub names: bool,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// The containers (names or IDs)
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub containers: Vec<String>,
}
