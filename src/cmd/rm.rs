//! `rm` / `container rm`, with Podman's exit codes: 1 when a container is not known, 2 when
//! one runs and `--force` was not given, 125 otherwise. Prints the full ID of each container
//! removed.
//!
//! A container is removed in two steps under the exclusive store lock: its directory is
//! renamed to a hidden `.removing-ID` beside the others (from then on it does not exist for
//! any command), then deleted. A `vfs` root holds files the container gave to subordinate
//! ids, which only container root in a user namespace with the containers' mapping may
//! delete, so the deletion runs there (as `run --rm` does in the monitor). Removals a crash
//! interrupted are finished by the next `rm`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::cli::RmArgs;
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::runtime::{UserMapping, userns};
use crate::store::containers::{LookupError, State};
use crate::store::{LockMode, Store};

/// How long a killed monitor may take to go.
const KILL_WAIT: Duration = Duration::from_secs(10);

pub fn run(ctx: &Context, args: &RmArgs) -> anyhow::Result<ExitStatus> {
    if (args.all || args.latest) && !args.containers.is_empty() {
        bail!("--all and --latest and containers cannot be used together");
    }
    if !args.all && !args.latest && args.containers.is_empty() {
        bail!("must specify at least one container");
    }
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    let store = ctx.open_store(LockMode::Exclusive, "rm")?;
    let views = containers::all(&store)?;
    let targets: Vec<String> = if args.all {
        views.iter().map(|v| v.id().to_string()).collect()
    } else if args.latest {
        views.iter().take(1).map(|v| v.id().to_string()).collect()
    } else {
        args.containers.clone()
    };
    let mut failures: Vec<(u8, String)> = Vec::new();
    let mut chosen: Vec<&ContainerView> = Vec::new();
    for input in &targets {
        match containers::find(&views, input) {
            Ok(v) if v.state == State::Running && !args.force => failures.push((
                2,
                format!(
                    "cannot remove container {} as it is running - running or paused \
                     containers cannot be removed without force: container state improper",
                    v.id()
                ),
            )),
            Ok(v) => {
                if !chosen.iter().any(|c| c.id() == v.id()) {
                    chosen.push(v);
                }
            }
            Err(LookupError::NotFound(_)) if args.ignore => {}
            Err(e @ LookupError::NotFound(_)) => failures.push((1, e.to_string())),
            Err(e) => failures.push((ExitStatus::OWN_ERROR, e.to_string())),
        }
    }
    let removed = remove(&store, &mapping, &chosen)?;
    if args.volumes {
        let records: Vec<_> = chosen.iter().map(|v| &v.rec).collect();
        crate::cmd::volume::remove_anonymous(&store, &records)?;
    }
    let text: String = removed.iter().map(|id| format!("{id}\n")).collect();
    out(&text)?;
    if let Some(&(status, _)) = failures.first() {
        let message: Vec<String> = failures.into_iter().map(|(_, m)| m).collect();
        return Err(StatusError::wrap(
            status,
            anyhow::anyhow!(message.join("\nError: ")),
        ));
    }
    Ok(ExitStatus::Success)
}

/// Removes `views` (running ones are killed first: their monitors get SIGKILL, and their
/// inits go with them through `PR_SET_PDEATHSIG`), and finishes removals a crash
/// interrupted. Call with the exclusive store lock. Returns the IDs removed.
pub fn remove(
    store: &Store,
    mapping: &UserMapping,
    views: &[&ContainerView],
) -> anyhow::Result<Vec<String>> {
    let mut removed = Vec::new();
    for v in views {
        if let Some(monitor) = v.monitor() {
            stop_monitor(monitor).with_context(|| format!("killing container {}", v.id()))?;
        }
        store
            .containers()
            .begin_remove(v.id())
            .with_context(|| format!("removing container {}", v.id()))?;
        removed.push(v.id().to_string());
    }
    let doomed = store.containers().pending_removals();
    if !doomed.is_empty() {
        delete_dirs(mapping, &doomed)?;
    }
    Ok(removed)
}

fn stop_monitor(monitor: crate::sys::process::ProcessIdentity) -> anyhow::Result<()> {
    monitor.kill().context("sending SIGKILL to its monitor")?;
    let deadline = Instant::now() + KILL_WAIT;
    while monitor.is_alive() {
        if Instant::now() > deadline {
            bail!(
                "its monitor (pid {}) is still there {} seconds after SIGKILL",
                monitor.pid,
                KILL_WAIT.as_secs()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Deletes container directories, as container root in a user namespace with `mapping` (the
/// user's own process for the identity mapping).
pub(crate) fn delete_dirs(mapping: &UserMapping, dirs: &[PathBuf]) -> anyhow::Result<()> {
    let delete = |dirs: &[PathBuf]| -> Result<(), String> {
        for d in dirs {
            match std::fs::remove_dir_all(d) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(format!("removing {}: {e}", d.display()));
                }
                _ => {}
            }
        }
        Ok(())
    };
    if mapping.is_identity() {
        return delete(dirs).map_err(anyhow::Error::msg);
    }
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context("creating a pipe for the removal")?;
    let (mut from_child, mut to_parent) = (File::from(rx), File::from(tx));
    // Blocked before the fork, so that the child's end is not missed (`SignalRelay`).
    let relay = crate::runtime::SignalRelay::block()?;
    let mut child = userns::spawn_process(mapping, move || match delete(dirs) {
        Ok(()) => 0,
        Err(message) => {
            let _ = to_parent.write_all(message.as_bytes());
            1
        }
    })
    .context("entering the user namespace to remove container files")?;
    child
        .wait_exec()
        .context("entering the user namespace to remove container files")?;
    let mut message = String::new();
    let _ = from_child.read_to_string(&mut message);
    let exit = child
        .wait(&relay)
        .context("waiting for the removal in the user namespace")?;
    drop(relay);
    if exit.status() != 0 {
        if message.is_empty() {
            message = format!("status {}", exit.status());
        }
        bail!("removing container files in the user namespace: {message}");
    }
    Ok(())
}
