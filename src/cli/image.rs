//! Arguments of the image commands.

use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::complete;

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    pub all: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Filter output based on conditions provided (dangling, reference, label, before, since, id)
    #[arg(short, long = "filter", value_name = "FILTER")]
    pub filters: Vec<String>,
    /// Change the output format to JSON or a Go template
    #[arg(long, add = ArgValueCompleter::new(super::complete_fields::images_format))]
    pub format: Option<String>,
    /// Do not print column headings
    #[arg(short, long = "noheading", alias = "noheadings")]
    pub noheading: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Display only image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Sort by created, id, repository, size or tag
    #[arg(long, default_value = "created")]
    pub sort: String,
    /// Show images matching this name
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from specified archive file (default: stdin)
    #[arg(short, long)]
    pub input: Option<String>,
    /// Suppress the output
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a specified file (default: stdout, which must be redirected)
    #[arg(short, long)]
    pub output: Option<String>,
    /// Save image to oci-archive, oci-dir (directory with oci manifest type), docker-archive, docker-dir (directory with v2s2 manifest type)
    #[arg(long, default_value = "docker-archive")]
    pub format: String,
    /// Interpret additional arguments as images not tags and create a multi-image-archive (only for docker-archive)
    #[arg(short, long = "multi-image-archive")]
    pub multi_image_archive: bool,
    /// Suppress the output
    #[arg(short, long)]
    pub quiet: bool,
    /// Compress tarball image layers when saving to a directory using the 'dir' transport
    #[arg(long)]
    pub compress: bool,
    /// The image to save, then more images (with -m) or additional tags
    #[arg(required = true, add = ArgValueCompleter::new(complete::images))]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply the following possible instructions to the created image (default []): CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | ONBUILD | STOPSIGNAL | USER | VOLUME | WORKDIR
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Suppress output
    #[arg(short, long)]
    pub quiet: bool,
    /// The tarball (a path, or - for stdin)
    pub file: String,
    /// Name of the new image
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Change the output format (json)
    #[arg(long)]
    pub format: Option<String>,
    /// The image whose top layer is compared with the layers below it
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Display the numeric IDs... human readable sizes and times (default true)
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub human: bool,
    /// Do not truncate the output
    #[arg(long, alias = "notruncate")]
    pub no_trunc: bool,
    /// Display the numeric IDs only
    #[arg(short, long)]
    pub quiet: bool,
    /// Change the output to JSON or a Go template
    #[arg(long)]
    pub format: Option<String>,
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output to a Go template or json
    #[arg(short, long, add = ArgValueCompleter::new(super::complete_fields::inspect_format))]
    pub format: Option<String>,
    /// Specify inspect-object type (all, image, container)
    #[arg(short, long = "type", default_value = "all")]
    pub kind: String,
    #[arg(required = true, add = ArgValueCompleter::new(complete::containers_and_images))]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TreeArgs {
    /// Show tree of images whose top layer is in this image's layer stack
    #[arg(long)]
    pub whatrequires: bool,
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub image: String,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UntagArgs {
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub image: String,
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Remove all images
    #[arg(short, long)]
    pub all: bool,
    /// Force removal of the image and any containers using it
    #[arg(short, long)]
    pub force: bool,
    /// Ignore errors if a specified image does not exist
    #[arg(short, long)]
    pub ignore: bool,
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all images not in use by containers, not just dangling ones
    #[arg(short, long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    pub force: bool,
    /// Provide filter values (until=, label=, label!=, dangling=)
    #[arg(long = "filter")]
    pub filters: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExistsArgs {
    #[arg(add = ArgValueCompleter::new(complete::images))]
    pub image: String,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Set the author for the image committed
    #[arg(short, long)]
    pub author: Option<String>,
    /// Apply the following possible instructions to the created image (default []): CMD | ENTRYPOINT | ENV | EXPOSE | LABEL | ONBUILD | STOPSIGNAL | USER | VOLUME | WORKDIR
    #[arg(short, long = "change")]
    pub changes: Vec<String>,
    /// Format of the image manifest and metadata
    #[arg(short, long, default_value = "oci")]
    pub format: String,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<std::path::PathBuf>,
    /// Include container volumes as image volumes
    #[arg(long)]
    pub include_volumes: bool,
    /// Set commit message for imported image
    #[arg(short, long)]
    pub message: Option<String>,
    /// Pause container during commit (only stopped containers are committed for now)
    #[arg(short, long)]
    pub pause: bool,
    /// Suppress output
    #[arg(short, long)]
    pub quiet: bool,
    /// Squash newly built layers into a single new layer
    #[arg(short, long)]
    pub squash: bool,
    /// The container to commit
    #[arg(add = ArgValueCompleter::new(complete::containers))]
    pub container: String,
    /// Name of the new image
    pub image: Option<String>,
}
