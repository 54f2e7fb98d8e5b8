//! `search`.

use clap::Args;

use super::registry_flags::RegistryFlags;

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Filter output based on conditions provided (stars=N, is-automated=BOOL, is-official=BOOL)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Change the output format to JSON or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Limit the number of results (default 25 per registry)
    #[arg(long, default_value_t = 0)]
    pub limit: usize,
    /// List the tags of the input registry
    #[arg(long)]
    pub list_tags: bool,
    /// Do not truncate the output
    #[arg(long)]
    pub no_trunc: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// What to search for: `TERM` in every unqualified-search registry, or `REGISTRY/TERM`
    pub term: String,
}
