//! `build`: an image from a Containerfile ([`crate::build`]).

use anyhow::Context as _;

use crate::build::context::BuildContext;
use crate::build::parse;
use crate::cli::build::BuildArgs;
use crate::cmd::Context;
use crate::error::ExitStatus;

pub fn run(ctx: &Context, args: &BuildArgs) -> anyhow::Result<ExitStatus> {
    let _ = ctx;
    let context = BuildContext::open(args.context.as_deref())?;
    let file = context.containerfile(args.file.as_deref())?;
    let parsed = parse::parse(&file.text, &file.name)?;
    let _ = parsed;
    Err(anyhow::anyhow!("running the steps is not implemented yet"))
        .with_context(|| format!("building from {}", file.name))
}
