//! `auto-update`.
use crate::cli::autoupdate::AutoUpdateArgs;
use crate::cmd::Context;
use crate::error::ExitStatus;

pub fn run(_ctx: &Context, _args: &AutoUpdateArgs) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("auto-update: not yet")
}
