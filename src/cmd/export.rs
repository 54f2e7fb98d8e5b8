//! `export`.
use crate::cli::exec::ExportArgs;
use crate::cmd::Context;
use crate::error::ExitStatus;

pub fn run(_ctx: &Context, _args: &ExportArgs) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("export: not supported yet")
}
