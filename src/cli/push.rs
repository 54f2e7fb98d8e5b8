//! `push` arguments, as Podman spells them.

use std::path::PathBuf;

use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::complete;
use super::registry_flags::RegistryFlags;

#[derive(Debug, Args)]
pub struct PushArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Compression format to use (gzip, zstd); by default layers go compressed as the image has them, else gzip
    #[arg(long, value_name = "FORMAT")]
    pub compression_format: Option<String>,
    /// Compression level to use (gzip 0-9, zstd 1-22)
    #[arg(long, value_name = "LEVEL")]
    pub compression_level: Option<i32>,
    /// Write the digest of the pushed image to the specified file
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Manifest type (oci, v2s2, or docker) to use in the destination (default is manifest type of source)
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Suppress output information when pushing images
    #[arg(short, long)]
    pub quiet: bool,
    /// Discard any pre-existing signatures in the image
    #[arg(long)]
    pub remove_signatures: bool,
    /// Sign the image using a GPG key with the specified FINGERPRINT (not supported)
    #[arg(long, value_name = "FINGERPRINT")]
    pub sign_by: Option<String>,
    /// Sign the image using a sigstore signature with the specified key file (not supported)
    #[arg(long, value_name = "PATH")]
    pub sign_by_sigstore_private_key: Option<String>,
    /// Sign the image using a sigstore parameter file (not supported)
    #[arg(long, value_name = "PATH")]
    pub sign_by_sigstore: Option<String>,
    /// Read a passphrase for signing an image from PATH (not supported)
    #[arg(long, value_name = "PATH")]
    pub sign_passphrase_file: Option<String>,
    /// Key to encrypt the image with (not supported)
    #[arg(long, value_name = "KEY")]
    pub encryption_key: Vec<String>,
    /// This is a Docker specific option and is a NOOP
    #[arg(long, hide = true)]
    pub disable_content_trust: bool,
    /// The local image to push
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub image: String,
    /// Where to push it (default: the image's name): [docker://]REFERENCE, oci:DIR[:REF],
    /// oci-archive:PATH[:REF], docker-archive:PATH[:REF] or dir:PATH
    pub destination: Option<String>,
}
