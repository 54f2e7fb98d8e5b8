//! `stop`: the container's stop signal (its image's `StopSignal`, `--stop-signal`, else
//! SIGTERM) to its init, `--time` seconds (else its `--stop-timeout`, else 10), then
//! SIGKILL; done once its monitor recorded the exit (`runtime::control::stop`). Prints each
//! container as it was named; a container that does not run is stopped already (exit 0).

use std::path::Path;

use anyhow::Context as _;

use crate::cli::control::StopArgs;
use crate::cmd::control::{Failures, Selection};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::runtime::control::{self, Stopped};
use crate::runtime::sdnotify::Notifier;
use crate::runtime::signals;
use crate::store::containers::{LookupError, State};

pub fn run(ctx: &Context, args: &StopArgs) -> anyhow::Result<ExitStatus> {
    let selection = Selection {
        filters: &args.filters,
        all: args.all,
        latest: args.latest,
        cidfiles: &args.cidfile,
        names: &args.containers,
    };
    let (targets, containers) = selection.resolve(ctx, "stop", |v| v.state == State::Running)?;
    // Under a unit (`ExecStop=coracle stop ...` of a generated unit, `NotifyAccess=all`),
    // systemd hears that the service is stopping, as it does from a foreground `run`.
    if let Ok(Some(n)) = Notifier::from_env() {
        let _ = n.notify("STOPPING=1");
    }
    let mut failures = Failures::default();
    for t in targets {
        match t.found {
            Ok(v) => {
                let dir = containers.path(v.id());
                match stop_one(&dir, &t.input, args.time) {
                    Ok(()) => out(&format!("{}\n", t.input))?,
                    Err(e) => failures.push(e.context(format!("stopping container {}", v.id()))),
                }
            }
            Err(LookupError::NotFound(_)) if args.ignore => {}
            Err(e) => failures.push(e.into()),
        }
    }
    failures.finish()?;
    Ok(ExitStatus::Success)
}

/// Stops the container in `dir` (named `shown` in the warning Podman prints when the stop
/// signal was not enough).
pub fn stop_one(dir: &Path, shown: &str, time: Option<i64>) -> anyhow::Result<()> {
    let outcome = control::stop(dir, time).context("stopping the container")?;
    if let Stopped::Killed { signal, timeout } = outcome {
        crate::output::eprint(&format!(
            "WARN: StopSignal {} failed to stop container {shown} in {timeout} seconds, \
             resorting to SIGKILL\n",
            signals::name(signal)
        ));
    }
    Ok(())
}
