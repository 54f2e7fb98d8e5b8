//! `coracle overlay-mount` (hidden): mounts coracle's FUSE overlay for tests and developers.

use std::path::PathBuf;

/// Mount coracle's overlay filesystem and serve it in the foreground
#[derive(Debug, clap::Args)]
pub struct OverlayMountArgs {
    /// A read-only layer directory (repeat; the first is the top-most)
    #[arg(long = "lower", value_name = "DIR")]
    pub lowers: Vec<PathBuf>,
    /// The layers of this image from the store, below any --lower
    #[arg(long, value_name = "NAME", add = clap_complete::engine::ArgValueCompleter::new(super::complete::images))]
    pub image: Option<String>,
    /// The writable layer (without it the mount is read-only)
    #[arg(long, value_name = "DIR", requires = "work")]
    pub upper: Option<PathBuf>,
    /// A work directory on the upper layer's filesystem
    #[arg(long, value_name = "DIR", requires = "upper")]
    pub work: Option<PathBuf>,
    /// FUSE worker threads
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Where to mount
    pub mountpoint: PathBuf,
}
