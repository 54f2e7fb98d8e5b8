//! `pause` / `unpause`: freezing a container needs its own cgroup (cgroup v2's
//! `cgroup.freeze`), which a rootless container has only in a cgroup v2 delegated to the
//! user; coracle does not place containers in cgroups, so `pause` is refused with what this
//! machine lacks (`runtime::cgroups`), never pretended. No container is ever paused, so
//! `unpause` answers as Podman does for a container that is not paused.

use crate::cli::control::PauseArgs;
use crate::cmd::Context;
use crate::cmd::control::{Failures, Selection, cgroup_refusal, state_improper};
use crate::error::ExitStatus;
use crate::store::containers::State;

pub fn pause(ctx: &Context, args: &PauseArgs) -> anyhow::Result<ExitStatus> {
    each(ctx, args, "pause", |state| match state {
        State::Running => cgroup_refusal("pausing a container", Some("freezer")),
        _ => state_improper(&format!(
            "\"{}\" is not running, can't pause",
            state_word(state)
        )),
    })
}

pub fn unpause(ctx: &Context, args: &PauseArgs) -> anyhow::Result<ExitStatus> {
    each(ctx, args, "unpause", |state| {
        state_improper(&format!(
            "\"{}\" is not paused, can't unpause",
            state_word(state)
        ))
    })
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Created => "created",
        State::Running => "running",
        State::Exited => "exited",
    }
}

fn each(
    ctx: &Context,
    args: &PauseArgs,
    purpose: &str,
    refusal: impl Fn(State) -> anyhow::Error,
) -> anyhow::Result<ExitStatus> {
    let selection = Selection {
        filters: &[],
        all: args.all,
        latest: args.latest,
        cidfiles: &[],
        names: &args.containers,
    };
    let (targets, _) = selection.resolve(ctx, purpose, |v| v.state == State::Running)?;
    if args.all && targets.is_empty() {
        // Podman: nothing to do is no error.
        return Ok(ExitStatus::Success);
    }
    let mut failures = Failures::default();
    for t in targets {
        match t.found {
            Ok(v) => failures.push(refusal(v.state)),
            Err(e) => failures.push(e.into()),
        }
    }
    failures.finish()?;
    Ok(ExitStatus::Success)
}
