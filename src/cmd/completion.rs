//! `coracle completion SHELL` and `coracle generate-man DIR` (both hidden): the shell
//! registration scripts and the man pages, made from the same clap definitions as the
//! parser. `completions/` and `man/` in the source tree are their committed output.

use std::path::Path;

use anyhow::Context as _;
use clap::CommandFactory as _;
use clap_complete::env::{Bash, EnvCompleter, Fish, Zsh};

use crate::cli::{Cli, CompletionArgs, GenerateManArgs, Shell};
use crate::error::ExitStatus;

/// The variable that turns a run of `coracle` into a completion request (clap_complete's
/// default, which the scripts pass on).
pub const COMPLETE_VAR: &str = "COMPLETE";

/// The script a shell sources to ask `coracle` for completions on every TAB; the same text
/// `COMPLETE=<shell> coracle` prints. It calls `coracle` through `$PATH`, never the absolute
/// path of the binary that wrote it.
pub fn registration(shell: Shell) -> Vec<u8> {
    let completer: &dyn EnvCompleter = match shell {
        Shell::Bash => &Bash,
        Shell::Zsh => &Zsh,
        Shell::Fish => &Fish,
    };
    let mut buf = Vec::new();
    // Writing into a Vec cannot fail.
    let _ = completer.write_registration(COMPLETE_VAR, "coracle", "coracle", "coracle", &mut buf);
    buf
}

pub fn completion(args: &CompletionArgs) -> anyhow::Result<ExitStatus> {
    let script = registration(args.shell);
    super::out(&String::from_utf8_lossy(&script))?;
    Ok(ExitStatus::Success)
}

/// Writes `coracle.1` and a page per visible command (`coracle-image-inspect.1`, ...).
pub fn write_man_pages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))
}

pub fn generate_man(args: &GenerateManArgs) -> anyhow::Result<ExitStatus> {
    write_man_pages(&args.dir)?;
    Ok(ExitStatus::Success)
}
