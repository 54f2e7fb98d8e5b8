//! Arguments of `pull` (and the platform flags `run` shares).

use std::path::PathBuf;

use clap::Args;

use crate::cli::registry_flags::RegistryFlags;

#[derive(Debug, Clone, Default, Args)]
pub struct PlatformArgs {
    /// Specify the platform for selecting the image (OS/ARCH[/VARIANT])
    #[arg(long, value_name = "PLATFORM")]
    pub platform: Option<String>,
    /// Use ARCH instead of the architecture of the machine for choosing images
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Use OS instead of the running OS for choosing images
    #[arg(long, value_name = "OS")]
    pub os: Option<String>,
    /// Use VARIANT instead of the running architecture variant for choosing images
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// All tagged images in the repository will be pulled
    #[arg(short = 'a', long)]
    pub all_tags: bool,
    /// Suppress output information when pulling images
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// This is a Docker specific option and is a NOOP
    #[arg(long, hide = true)]
    pub disable_content_trust: bool,
    /// `Pathname` of signature policy file (not usually used)
    #[arg(long, value_name = "PATH", hide = true)]
    pub signature_policy: Option<PathBuf>,
    #[command(flatten)]
    pub platform: PlatformArgs,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// The images to pull ([docker://]NAME[:TAG|@DIGEST], oci:DIR[:REF], oci-archive:FILE,
    /// docker-archive:FILE)
    #[arg(value_name = "IMAGE", required = true, num_args = 1..)]
    pub images: Vec<String>,
}

/// `--pull` of `run` and `create`, as Podman spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PullPolicy {
    /// Always pull (layers the store has are not downloaded again)
    #[value(alias = "true")]
    Always,
    /// Pull only when the image is not in the store
    #[default]
    Missing,
    /// Never pull; the image must be in the store
    #[value(alias = "false")]
    Never,
    /// Pull when the registry has a different image than the store
    Newer,
}
