//! Arguments of `system check`.

use clap::Args;

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

#[derive(Debug, clap::Subcommand)]
pub enum SystemCommand {
    /// Perform consistency checks on image and container storage
    Check(SystemCheckArgs),
    /// Reset storage back to initial state
    Reset(SystemResetArgs),
    /// Monitor coracle events
    Events(EventsArgs),
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
