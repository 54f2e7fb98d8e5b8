//! Arguments of the `system` group (`coracle system doctor`, ...).

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Check this machine's setup for rootless containers and print the fix for each problem
    #[command(
        long_about = "Check this machine's setup for rootless containers and print the fix for \
                      each problem.\n\nChecks user namespaces (and AppArmor's restriction), the \
                      user's /etc/subuid and /etc/subgid ranges, newuidmap/newgidmap (setuid or \
                      file capabilities), /dev/fuse and /dev/net/tun, pasta/slirp4netns, the \
                      store's file system, XDG_RUNTIME_DIR, linger for user units and cgroup v2 \
                      delegation. Each check is ok, warn (coracle works, something is lost) or \
                      fail (something coracle needs is missing); every problem comes with the \
                      command that fixes it and who must run it. Nothing is changed.",
        after_help = "Exit status: 0 when no check fails (warnings allowed), 1 when at least one \
                      fails, 125 when coracle itself cannot run the checks."
    )]
    Doctor(DoctorArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Change the output format to JSON or a Go template (fields: .Check, .Status, .Details,
    /// .Fix, .RunAs)
    #[arg(short, long)]
    pub format: Option<String>,
    /// Do not print headers
    #[arg(short = 'n', long)]
    pub noheading: bool,
}
