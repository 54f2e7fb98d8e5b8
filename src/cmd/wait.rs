//! `wait`: blocks until each container meets a condition and prints, for the default
//! conditions (`stopped`, `exited`), its exit code, else -1 (Podman). Works on any
//! container, whoever started it: the record is re-read every `--interval`, and while the
//! container runs the wait sleeps on its init's pidfd instead, so an exit is seen at once
//! and nothing spins.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;

use crate::cli::control::WaitArgs;
use crate::cmd::containers::ContainerView;
use crate::cmd::control::{Failures, Selection, parse_interval};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::runtime::control::Init;
use crate::store::containers::{self, ContainerError, LookupError, State};

/// What to wait for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Condition {
    /// `stopped`/`exited`: not running (created counts, as in Podman); prints the exit code.
    Stopped,
    /// The container is in this state; prints -1.
    State(State),
}

fn parse_condition(text: &str) -> anyhow::Result<Condition> {
    Ok(match text {
        "stopped" | "exited" => Condition::Stopped,
        "running" => Condition::State(State::Running),
        "created" | "configured" => Condition::State(State::Created),
        "paused" | "healthy" | "unhealthy" | "removing" | "stopping" | "initialized" => bail!(
            "--condition {text}: coracle's containers are never {text} (conditions: running, \
             stopped, exited, created)"
        ),
        _ => bail!("{text:?} is not a valid container state"),
    })
}

pub fn run(ctx: &Context, args: &WaitArgs) -> anyhow::Result<ExitStatus> {
    let interval = parse_interval(&args.interval)?;
    if interval.is_zero() {
        bail!("interval must be greater then 0");
    }
    let mut conditions = args
        .condition
        .iter()
        .map(|c| parse_condition(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if conditions.is_empty() {
        conditions.push(Condition::Stopped);
    }
    let selection = Selection {
        filters: &[],
        all: false,
        latest: args.latest,
        cidfiles: &[],
        names: &args.containers,
    };
    let (targets, containers) = selection.resolve(ctx, "wait", |_| true)?;
    let mut failures = Failures::default();
    for t in targets {
        match t.found {
            Ok(v) => match wait_one(&containers.path(v.id()), &conditions, interval) {
                Ok(Some(code)) => out(&format!("{code}\n"))?,
                Ok(None) if args.ignore => out("-1\n")?,
                Ok(None) => failures.push(LookupError::NotFound(t.input).into()),
                Err(e) => failures.push(e.context(format!("waiting for container {}", v.id()))),
            },
            Err(LookupError::NotFound(_)) if args.ignore => out("-1\n")?,
            Err(e) => failures.push(e.into()),
        }
    }
    failures.finish()?;
    Ok(ExitStatus::Success)
}

/// Waits until the container in `dir` is not running; its exit code (`None` when removed).
pub(crate) fn wait_exit(dir: &Path) -> anyhow::Result<Option<i32>> {
    wait_one(dir, &[Condition::Stopped], Duration::from_millis(250))
}

/// Waits for the container in `dir`; what to print, `None` when it was removed before any
/// condition held (`run --rm`: its exit code went with it).
fn wait_one(
    dir: &Path,
    conditions: &[Condition],
    interval: Duration,
) -> anyhow::Result<Option<i32>> {
    loop {
        let rec = match containers::read(dir) {
            Ok(r) => r,
            Err(ContainerError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let view = ContainerView::new(rec);
        for c in conditions {
            match c {
                Condition::Stopped if view.state != State::Running => {
                    return Ok(Some(view.exit_code));
                }
                Condition::State(s) if view.state == *s => return Ok(Some(-1)),
                _ => {}
            }
        }
        match Init::open(&view.rec)? {
            Some(init) if view.state == State::Running => {
                init.wait(Some(interval))?;
            }
            _ => std::thread::sleep(interval),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        assert_eq!(parse_condition("exited").unwrap(), Condition::Stopped);
        assert_eq!(parse_condition("stopped").unwrap(), Condition::Stopped);
        assert_eq!(
            parse_condition("running").unwrap(),
            Condition::State(State::Running)
        );
        assert!(parse_condition("paused").is_err());
        assert!(parse_condition("bogus").is_err());
    }
}
