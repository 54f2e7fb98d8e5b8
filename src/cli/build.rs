//! `build` (and `image build`): Podman's flags.

use std::path::PathBuf;

use clap::Args;

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag (format: "name:tag") for the image; repeat for more names
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// Pathname or URL of a Dockerfile/Containerfile (default: Containerfile, else Dockerfile, in the context)
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<String>,
    /// Argument=value for the build (ARG); a name alone takes the value from the environment
    #[arg(long = "build-arg", value_name = "ARG=VALUE")]
    pub build_args: Vec<String>,
    /// A file of ARG=VALUE lines for the build
    #[arg(long = "build-arg-file", value_name = "PATH")]
    pub build_arg_files: Vec<PathBuf>,
    /// Set the target build stage to build
    #[arg(long, value_name = "STAGE")]
    pub target: Option<String>,
    /// Do not use existing cached images for the container build
    #[arg(long)]
    pub no_cache: bool,
    /// Pull image policy (always, missing, never, newer)
    #[arg(long, value_enum, default_value_t, value_name = "POLICY", num_args = 0..=1, default_missing_value = "always")]
    pub pull: super::pull::PullPolicy,
    /// Squash all newly built layers into a single new layer
    #[arg(long)]
    pub squash: bool,
    /// Squash all layers, the base image's too, into a single layer
    #[arg(long)]
    pub squash_all: bool,
    /// Cache intermediate images during the build process (Default is true)
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub layers: bool,
    /// Refrain from announcing build instructions and image read/write progress
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Format of the built image's manifest and metadata (oci, docker)
    #[arg(
        long,
        value_name = "FORMAT",
        env = "BUILDAH_FORMAT",
        default_value = "oci"
    )]
    pub format: String,
    /// Set metadata for an image (LABEL=VALUE)
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Set metadata for an image (ANNOTATION=VALUE)
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// Set environment variables in the image (ENV=VALUE)
    #[arg(long = "env", value_name = "ENV=VALUE")]
    pub env: Vec<String>,
    /// Secret file to expose to RUN --mount=type=secret (id=ID,src=PATH or id=ID,env=VAR)
    #[arg(long = "secret", value_name = "id=ID,src=PATH")]
    pub secrets: Vec<String>,
    /// Set the created timestamp to the given number of seconds since the epoch (also the files' times)
    #[arg(long, value_name = "SECONDS")]
    pub timestamp: Option<i64>,
    /// Remote repository to push each step's layer to, tagged by its cache key
    #[arg(long = "cache-to", value_name = "REPO")]
    pub cache_to: Vec<String>,
    /// Remote repository to look a step's layer up in before running it
    #[arg(long = "cache-from", value_name = "REPO")]
    pub cache_from: Vec<String>,
    /// Network mode for RUN instructions (pasta, slirp4netns, host, none, private)
    #[arg(long, value_name = "MODE")]
    pub network: Option<String>,
    /// Remove intermediate containers after a successful build (default true)
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub rm: bool,
    /// Always remove intermediate containers, also after a failed step (default true)
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub force_rm: bool,
    /// Path to an alternate .containerignore/.dockerignore file
    #[arg(long, value_name = "PATH")]
    pub ignorefile: Option<PathBuf>,
    /// Do not create /etc/hosts for RUN instructions; use the image's
    #[arg(long)]
    pub no_hosts: bool,
    #[command(flatten)]
    pub platform: super::pull::PlatformArgs,
    #[command(flatten)]
    pub registry: super::registry_flags::RegistryFlags,
    /// The build context: a directory, a tar archive, - (a tar or a Containerfile on stdin), or an http(s) URL of a tar or git repository
    #[arg(value_name = "CONTEXT")]
    pub context: Option<String>,
}
