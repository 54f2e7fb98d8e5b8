//! Arguments of the commands that reach into a container: `exec`, `cp`, `export`.

use std::path::PathBuf;

use clap::Args;
use clap_complete::engine::ArgValueCompleter;

use super::complete;

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Run the command in the background and print the ID of the exec session
    #[arg(short, long)]
    pub detach: bool,
    /// Override the key sequence for detaching from the exec session (default ctrl-p,ctrl-q)
    #[arg(long = "detach-keys", value_name = "KEYS")]
    pub detach_keys: Option<String>,
    /// Set an environment variable (NAME=VALUE, or NAME to take coracle's own value)
    #[arg(short = 'e', long = "env", value_name = "ENV")]
    pub env: Vec<String>,
    /// Read environment variables from a file (NAME=VALUE lines, # comments)
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Keep standard input open (without it the command reads /dev/null)
    #[arg(short, long)]
    pub interactive: bool,
    /// Act on the latest container coracle is aware of (every argument is the command)
    #[arg(short, long)]
    pub latest: bool,
    /// Pass N additional file descriptors (3 to 3+N-1) to the process
    #[arg(long = "preserve-fds", value_name = "N", default_value_t = 0)]
    pub preserve_fds: u32,
    /// Give the process every capability
    #[arg(long)]
    pub privileged: bool,
    /// Allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// Username or UID, optionally with a group (user[:group]); default: the container's
    #[arg(short, long, value_name = "USER")]
    pub user: Option<String>,
    /// Working directory inside the container (default: the container's)
    #[arg(short, long = "workdir", value_name = "DIR")]
    pub workdir: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub container: String,
    /// The command and its arguments
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..
    )]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Chown copied files to the primary uid/gid of the destination container (false:
    /// keep the source's owners)
    #[arg(
        short,
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pub archive: bool,
    /// Allow a directory to be overwritten by a file and the other way round
    #[arg(long)]
    pub overwrite: bool,
    /// CONTAINER:PATH, a host path, or - (a tar stream on standard input)
    #[arg(value_name = "SRC")]
    pub source: String,
    /// CONTAINER:PATH, a host path, or - (a tar stream on standard output)
    #[arg(value_name = "DEST")]
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file (default: standard output, which must not be a terminal)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The container
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ContainerDiffArgs {
    /// Change the output format (json)
    #[arg(long)]
    pub format: Option<String>,
    /// Act on the latest container coracle is aware of
    #[arg(short, long)]
    pub latest: bool,
    /// The container whose changes to its image are listed
    #[arg(value_name = "CONTAINER", add = ArgValueCompleter::new(complete::containers))]
    pub container: Option<String>,
}
