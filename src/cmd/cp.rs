//! `cp`.
use crate::cli::exec::CpArgs;
use crate::cmd::Context;
use crate::error::ExitStatus;

pub fn run(_ctx: &Context, _args: &CpArgs) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("cp: not supported yet")
}
