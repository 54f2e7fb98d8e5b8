//! Arguments of `unshare`.

use std::ffi::OsString;

use clap::Args;

#[derive(Debug, Args)]
pub struct UnshareArgs {
    /// Join the rootless network namespace of CNI/netavark (refused: coracle keeps none)
    #[arg(long, alias = "rootless-cni")]
    pub rootless_netns: bool,
    /// The command to run and its arguments (default: $SHELL)
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 0..
    )]
    pub command: Vec<OsString>,
}
