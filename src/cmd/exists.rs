//! `container exists`: exit 0 when the container exists, 1 when it does not (nothing
//! printed); 125 for anything else (an ambiguous ID prefix, an unreadable store).

use crate::cli::control::ContainerExistsArgs;
use crate::cmd::Context;
use crate::cmd::containers;
use crate::error::ExitStatus;
use crate::store::LockMode;
use crate::store::containers::LookupError;

pub fn run(ctx: &Context, args: &ContainerExistsArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Shared, "container exists")?;
    let views = containers::all(&store)?;
    drop(store);
    match containers::find(&views, &args.container) {
        Ok(_) => Ok(ExitStatus::Success),
        Err(LookupError::NotFound(_)) => Ok(ExitStatus::Code(1)),
        Err(e) => Err(e.into()),
    }
}
