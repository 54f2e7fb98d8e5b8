//! Arguments of the `system` group (`coracle system doctor`, ...).

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Check this machine's setup for rootless containers and print the fix for each problem
    #[command(
        long_about = "Check this machine's setup for rootless containers and print the fix for \
                      each problem.\n\nChecks user namespaces (and AppArmor's restriction), the \
                      user's /etc/subuid and /etc/subgid ranges, newuidmap/newgidmap (setuid or \
                      file capabilities), /dev/fuse and /dev/net/tun, pasta/slirp4netns, the \
                      store's file system, XDG_RUNTIME_DIR, linger for user units and cgroup v2 \
                      delegation. Each check is ok, warn (coracle works, something is lost) or \
                      fail (something coracle needs is missing); every problem comes with the \
                      command that fixes it and who must run it. Nothing is changed.",
        after_help = "Exit status: 0 when no check fails (warnings allowed), 1 when at least one \
                      fails, 125 when coracle itself cannot run the checks."
    )]
    Doctor(DoctorArgs),
    /// Perform consistency checks on image and container storage
    Check(SystemCheckArgs),
    /// Reset storage back to initial state
    Reset(SystemResetArgs),
    /// Monitor coracle events
    Events(EventsArgs),
    /// Show coracle disk usage
    Df(SystemDfArgs),
    /// Remove unused data
    Prune(SystemPruneArgs),
}

#[derive(Debug, Args)]
pub struct SystemDfArgs {
    /// Pretty-print images using a Go template or json (fields: .Type, .Total, .Active,
    /// .Size, .Reclaimable, .RawSize, .RawReclaimable)
    #[arg(long)]
    pub format: Option<String>,
    /// Show detailed information on disk usage
    #[arg(short, long)]
    pub verbose: bool,
}

#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Prune volumes
    #[arg(long)]
    pub volumes: bool,
    /// Provide filter values (e.g. 'label=<key>=<value>', 'until=<timestamp>')
    #[arg(long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Change the output format to JSON or a Go template (fields: .Check, .Status, .Details,
    /// .Fix, .RunAs)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Do not print headers
    #[arg(short = 'n', long)]
    pub noheading: bool,
}

#[derive(Debug, Args)]
pub struct SystemCheckArgs {
    /// Remove damaged images, layers and blobs (images containers use are kept unless --force)
    #[arg(short, long)]
    pub repair: bool,
    /// With --repair, also remove containers which depend on damaged images, and those images
    #[arg(short, long)]
    pub force: bool,
    /// Skip checks which are known to be time-consuming (blob digests, rebuilding layers)
    #[arg(short, long)]
    pub quick: bool,
}

#[derive(Debug, Args)]
pub struct SystemResetArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output (container=, event=/status=, image=, label=, type=, volume=)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Format the output using the given Go template, or json (JSON lines)
    #[arg(long)]
    pub format: Option<String>,
    /// Show all events created since the timestamp (RFC 3339, a date, Unix seconds, or a
    /// duration such as 10m before now)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Show all events created until the timestamp (stops streaming)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Stream new events as they happen; --stream=false prints past events and exits
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub stream: bool,
    /// Do not truncate the output (the default)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub no_trunc: bool,
}
