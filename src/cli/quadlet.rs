//! `quadlet`: Podman Quadlet `.container` files converted into systemd user units.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct QuadletArgs {
    /// Print the units instead of writing them
    #[arg(long)]
    pub dryrun: bool,
    /// Generate user units (the default; coracle is rootless)
    #[arg(long, default_value_t = true)]
    pub user: bool,
    /// Quadlet files (NAME.container)
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The directory to write the units into (default: $XDG_CONFIG_HOME/systemd/user, where
    /// `systemctl --user daemon-reload` finds them)
    #[arg(long, value_name = "DIR")]
    pub output: Option<PathBuf>,
}
