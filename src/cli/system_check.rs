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
}

#[derive(Debug, Args)]
pub struct SystemResetArgs {
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
}
