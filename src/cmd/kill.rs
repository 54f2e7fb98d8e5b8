//! `kill`: a signal (default SIGKILL; names with or without `SIG`, numbers) to the init of
//! running containers, as Podman sends it, without waiting for them to end. Prints each
//! container as it was named. A container that does not run is an error (125).

use crate::cli::control::KillArgs;
use crate::cmd::control::{Failures, Selection, state_improper};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::runtime::{control, signals};
use crate::store::containers::{self, State};

pub fn run(ctx: &Context, args: &KillArgs) -> anyhow::Result<ExitStatus> {
    let signal = signals::parse(&args.signal)?;
    let selection = Selection {
        filters: &[],
        all: args.all,
        latest: args.latest,
        cidfiles: &args.cidfile,
        names: &args.containers,
    };
    let (targets, containers) = selection.resolve(ctx, "kill", |v| v.state == State::Running)?;
    let mut failures = Failures::default();
    for t in targets {
        let v = match t.found {
            Ok(v) => v,
            Err(e) => {
                failures.push(e.into());
                continue;
            }
        };
        let not_running = |state: &str| {
            state_improper(&format!(
                "can only kill running containers. {} is in state {state}",
                v.id()
            ))
        };
        if v.state != State::Running {
            failures.push(not_running(v.state_name()));
            continue;
        }
        // Recorded before the signal, as `stop` does: a container a user killed is not
        // restarted (`--restart`; Podman's StoppedByUser).
        if let Err(e) = containers::update(&containers.path(v.id()), |r| r.stop_requested = true) {
            failures.push(anyhow::Error::new(e).context(format!("killing container {}", v.id())));
            continue;
        }
        match control::kill(&v.rec, signal) {
            Ok(true) => out(&format!("{}\n", t.input))?,
            // It ended between the look-up and the signal.
            Ok(false) => failures.push(not_running("exited")),
            Err(e) => failures
                .push(anyhow::Error::new(e).context(format!("killing container {}", v.id()))),
        }
    }
    failures.finish()?;
    Ok(ExitStatus::Success)
}
