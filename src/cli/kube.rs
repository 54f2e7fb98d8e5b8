//! Arguments of `kube`.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum KubeCommand {
    /// Generate Kubernetes YAML based on containers or pods
    Generate(KubeGenerateArgs),
    /// Create pods and containers based on Kubernetes YAML
    Play(KubePlayArgs),
    /// Remove pods based on Kubernetes YAML
    Down(KubeDownArgs),
}

#[derive(Debug, Args)]
pub struct KubePlayArgs {
    /// Remove the pods the YAML creates (as `kube down`)
    #[arg(long)]
    pub down: bool,
    /// Replace pods of the same names that exist
    #[arg(long)]
    pub replace: bool,
    /// Build images even if they are found in the local storage (--build=false: never build)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub build: Option<bool>,
    /// Path of the directory holding the images' build directories (default: the YAML's)
    #[arg(long = "context-dir", value_name = "PATH")]
    pub context_dir: Option<std::path::PathBuf>,
    /// The Kubernetes YAML file, or - for standard input
    #[arg(value_name = "FILE")]
    pub file: String,
}

#[derive(Debug, Args)]
pub struct KubeDownArgs {
    /// Also remove the volumes of the YAML's PersistentVolumeClaims
    #[arg(long)]
    pub force: bool,
    /// The Kubernetes YAML file, or - for standard input
    #[arg(value_name = "FILE")]
    pub file: String,
}

#[derive(Debug, Args)]
pub struct KubeGenerateArgs {
    /// Write the output to the specified path
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub filename: Option<std::path::PathBuf>,
    /// Generate YAML for a Kubernetes service object
    #[arg(short = 's', long)]
    pub service: bool,
    /// The kind of object to generate (pod; deployment and others are not supported yet)
    #[arg(short = 't', long = "type", default_value = "pod", value_name = "TYPE")]
    pub kind: String,
    /// Containers or one pod (names or IDs)
    #[arg(value_name = "CONTAINER|POD", required = true)]
    pub names: Vec<String>,
}
