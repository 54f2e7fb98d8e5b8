//! `restart`: each container stopped as `stop` does (`--time`, else its stop timeout), then
//! started again detached (`start::start_detached`, shared with `start`). Prints each
//! container as it was named.

use anyhow::Context as _;

use crate::cli::control::RestartArgs;
use crate::cmd::control::{Failures, Selection};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::store::containers::State;

pub fn run(ctx: &Context, args: &RestartArgs) -> anyhow::Result<ExitStatus> {
    let selection = Selection {
        filters: &[],
        all: args.all,
        latest: args.latest,
        cidfiles: &[],
        names: &args.containers,
    };
    let running_only = args.running;
    let (targets, containers) = selection.resolve(ctx, "restart", |v| {
        !running_only || v.state == State::Running
    })?;
    let mut failures = Failures::default();
    for t in targets {
        let v = match t.found {
            Ok(v) => v,
            Err(e) => {
                failures.push(e.into());
                continue;
            }
        };
        let restarted = crate::cmd::stop::stop_one(&containers.path(v.id()), &t.input, args.time)
            .and_then(|()| crate::cmd::start::start_detached(ctx, v.id()))
            .with_context(|| format!("restarting container {}", v.id()));
        match restarted {
            Ok(()) => out(&format!("{}\n", t.input))?,
            Err(e) => failures.push(e),
        }
    }
    failures.finish()?;
    Ok(ExitStatus::Success)
}
