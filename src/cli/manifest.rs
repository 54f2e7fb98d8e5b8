//! `manifest` subcommands (lists and indexes), spelled as Podman 4.3 spells them.

use std::path::PathBuf;

use clap::{ArgAction, Args, Subcommand};
use clap_complete::engine::ArgValueCompleter;

use super::complete;
use super::registry_flags::RegistryFlags;

#[derive(Debug, Subcommand)]
pub enum ManifestCommand {
    /// Add images to a manifest list or image index
    Add(ManifestAddArgs),
    /// Add or update information about an entry in a manifest list or image index
    Annotate(ManifestAnnotateArgs),
    /// Create manifest list or image index
    Create(ManifestCreateArgs),
    /// Check if a manifest list exists in local storage
    Exists(ManifestExistsArgs),
    /// Display the contents of a manifest list or image index
    Inspect(ManifestInspectArgs),
    /// Push a manifest list or image index to a registry
    Push(ManifestPushArgs),
    /// Remove an entry from a manifest list or image index
    Remove(ManifestRemoveArgs),
    /// Remove manifest list or image index from local storage
    Rm(ManifestRmArgs),
}

#[derive(Debug, Args)]
pub struct ManifestCreateArgs {
    /// Add all of the lists' images if the images to add are lists
    #[arg(long)]
    pub all: bool,
    /// Modify an existing list if one with the desired name already exists
    #[arg(short, long)]
    pub amend: bool,
    /// Set an annotation on the new list (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// The list's name
    pub list: String,
    /// Images to add: local images, or [docker://]REFERENCE in a registry
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub images: Vec<String>,
}

/// What `add` and `annotate` may set on an instance.
#[derive(Debug, Clone, Default, Args)]
pub struct InstanceFlags {
    /// Set an annotation for the specified image (KEY=VALUE)
    #[arg(long, value_name = "KEY=VALUE")]
    pub annotation: Vec<String>,
    /// Override the architecture of the specified image
    #[arg(long, value_name = "ARCH")]
    pub arch: Option<String>,
    /// Override the features of the specified image
    #[arg(long, value_name = "FEATURES", value_delimiter = ',')]
    pub features: Vec<String>,
    /// Override the OS of the specified image
    #[arg(long, value_name = "OS")]
    pub os: Option<String>,
    /// Override the OS version of the specified image
    #[arg(long, value_name = "VERSION")]
    pub os_version: Option<String>,
    /// Override the Variant of the specified image
    #[arg(long, value_name = "VARIANT")]
    pub variant: Option<String>,
}

#[derive(Debug, Args)]
pub struct ManifestAddArgs {
    /// Add all of the list's images if the image is a list
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub instance: InstanceFlags,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// The list to add to
    #[arg(add = ArgValueCompleter::new(complete::lists))]
    pub list: String,
    /// Images to add: local images, or [docker://]REFERENCE in a registry
    #[arg(required = true, add = ArgValueCompleter::new(complete::images))]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ManifestAnnotateArgs {
    #[command(flatten)]
    pub instance: InstanceFlags,
    /// Override the OS features of the specified image
    #[arg(long, value_name = "FEATURES", value_delimiter = ',')]
    pub os_features: Vec<String>,
    /// The list
    #[arg(add = ArgValueCompleter::new(complete::lists))]
    pub list: String,
    /// The instance: its manifest digest, or the local image it was added from
    pub image: String,
}

#[derive(Debug, Args)]
pub struct ManifestInspectArgs {
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// A local list, else an image or index in a registry
    #[arg(add = ArgValueCompleter::new(complete::lists))]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct ManifestPushArgs {
    /// Also push the images in the list
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = ArgAction::Set)]
    pub all: bool,
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Compression format to use (gzip, zstd; default: as the images have it, else gzip)
    #[arg(long, value_name = "FORMAT")]
    pub compression_format: Option<String>,
    /// After copying the list, write its digest to the file
    #[arg(long, value_name = "FILE")]
    pub digestfile: Option<PathBuf>,
    /// Manifest type (oci or v2s2) to use when pushing the list (default: as Podman chooses)
    #[arg(short, long, value_name = "FORMAT")]
    pub format: Option<String>,
    /// Don't output progress information when pushing lists
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't copy signatures when pushing images
    #[arg(long)]
    pub remove_signatures: bool,
    /// Remove the manifest list if push succeeds
    #[arg(long)]
    pub rm: bool,
    /// Sign the image using a GPG key with the specified FINGERPRINT (not supported)
    #[arg(long, value_name = "FINGERPRINT")]
    pub sign_by: Option<String>,
    /// Sign the image using a sigstore private key at PATH (not supported)
    #[arg(long, value_name = "PATH")]
    pub sign_by_sigstore_private_key: Option<String>,
    /// Read a passphrase for signing an image from PATH (not supported)
    #[arg(long, value_name = "PATH")]
    pub sign_passphrase_file: Option<String>,
    /// The list to push
    #[arg(add = ArgValueCompleter::new(complete::lists))]
    pub list: String,
    /// Where to push it: [docker://]REFERENCE (default: the list's name)
    pub destination: Option<String>,
}

#[derive(Debug, Args)]
pub struct ManifestRemoveArgs {
    /// The list
    #[arg(add = ArgValueCompleter::new(complete::lists))]
    pub list: String,
    /// The digest of the instance to remove
    pub digest: String,
}

#[derive(Debug, Args)]
pub struct ManifestRmArgs {
    /// The lists to remove
    #[arg(required = true, add = ArgValueCompleter::new(complete::lists))]
    pub lists: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ManifestExistsArgs {
    /// The list
    #[arg(add = ArgValueCompleter::new(complete::lists))]
    pub manifest: String,
}
