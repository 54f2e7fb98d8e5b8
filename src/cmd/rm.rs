//! `rm` / `container rm`, with Podman's exit codes: 1 when a container is not known, 2 when
//! one runs and `--force` was not given, 125 otherwise. Prints the full ID of each container
//! removed. `--force` stops a running container first as `stop` does (its stop signal,
//! `--time` or its stop timeout, then SIGKILL), without holding the store lock meanwhile.
//!
//! A container is removed in two steps under the exclusive store lock: its directory is
//! renamed to a hidden `.removing-ID` beside the others (from then on it does not exist for
//! any command), then deleted. A `vfs` root holds files the container gave to subordinate
//! ids, which only container root in a user namespace with the containers' mapping may
//! delete, so the deletion runs there (as `run --rm` does in the monitor). Removals a crash
//! interrupted are finished by the next `rm`.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
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
    let explicit = !args.containers.is_empty() || !args.cidfile.is_empty();
    if (args.all || args.latest) && explicit {
        bail!("--all and --latest and containers cannot be used together");
    }
    if !args.all && !args.latest && !explicit {
        bail!("must specify at least one container");
    }
    if args.time.is_some() && !args.force {
        bail!("--force option must be specified to use the --time option");
    }
    let mut inputs = Vec::new();
    for f in &args.cidfile {
        let text = std::fs::read_to_string(f)
            .with_context(|| format!("reading CIDFile {}", f.display()))?;
        inputs.push(text.trim().to_string());
    }
    inputs.extend(args.containers.iter().cloned());
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    // Running containers are stopped first (stop signal, --time, SIGKILL), without the store
    // lock: a stop may take seconds.
    let stopped = if args.force {
        stop_running(ctx, args, &inputs)?
    } else {
        Vec::new()
    };
    let store = ctx.open_store(LockMode::Exclusive, "rm")?;
    crate::failpoint!("rm.store-locked");
    let views = containers::all(&store)?;
    let targets: Vec<String> = if args.all {
        views.iter().map(|v| v.id().to_string()).collect()
    } else if args.latest {
        views.iter().take(1).map(|v| v.id().to_string()).collect()
    } else {
        inputs
    };
    let mut failures: Vec<(u8, String)> = Vec::new();
    let mut chosen: Vec<&ContainerView> = Vec::new();
    let mut gone_meanwhile: Vec<String> = Vec::new();
    for input in &targets {
        match containers::find(&views, input) {
            Ok(v) if !args.force && monitor_lives(&store, v)? => failures.push((
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
            // Stopped here and removed by its own `run --rm` meanwhile.
            Err(LookupError::NotFound(_)) if stopped.iter().any(|(i, _)| i == input) => {
                if let Some((_, id)) = stopped.iter().find(|(i, _)| i == input) {
                    gone_meanwhile.push(id.clone());
                }
            }
            Err(LookupError::NotFound(_)) if args.ignore => {}
            Err(e @ LookupError::NotFound(_)) => failures.push((1, e.to_string())),
            Err(e) => failures.push((ExitStatus::OWN_ERROR, e.to_string())),
        }
    }
    let mut removed = remove(&store, &mapping, &chosen)?;
    if args.volumes {
        let records: Vec<_> = chosen.iter().map(|v| &v.rec).collect();
        crate::cmd::volume::remove_anonymous(&store, &records)?;
    }
    crate::failpoint!("rm.done");
    removed.extend(gone_meanwhile);
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

/// `rm -f`: stops the running containers among `inputs` (or all, with `--all`/`--latest`);
/// returns `(input, ID)` of each one stopped.
fn stop_running(
    ctx: &Context,
    args: &RmArgs,
    inputs: &[String],
) -> anyhow::Result<Vec<(String, String)>> {
    let store = ctx.open_store(LockMode::Shared, "rm")?;
    let views = containers::all(&store)?;
    let dirs: Vec<(String, String, PathBuf)> = {
        let chosen: Vec<(String, &ContainerView)> = if args.all {
            views.iter().map(|v| (v.id().to_string(), v)).collect()
        } else if args.latest {
            views
                .iter()
                .take(1)
                .map(|v| (v.id().to_string(), v))
                .collect()
        } else {
            inputs
                .iter()
                .filter_map(|i| containers::find(&views, i).ok().map(|v| (i.clone(), v)))
                .collect()
        };
        let mut live = Vec::new();
        for (i, v) in chosen {
            if monitor_lives(&store, v)? {
                live.push((i, v.id().to_string(), store.containers().path(v.id())));
            }
        }
        live
    };
    drop(store);
    let mut stopped = Vec::new();
    for (input, id, dir) in dirs {
        crate::cmd::stop::stop_one(&dir, &input, args.time)
            .with_context(|| format!("stopping container {id}"))?;
        stopped.push((input, id));
    }
    Ok(stopped)
}

/// `--replace`: the container named `name`, if there is one, stopped and removed.
pub fn replace(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let store = ctx.open_store(LockMode::Shared, "run --replace")?;
    let views = containers::all(&store)?;
    let Some(v) = views.iter().find(|v| v.rec.names.iter().any(|n| n == name)) else {
        return Ok(());
    };
    let (id, dir) = (v.id().to_string(), store.containers().path(v.id()));
    let running = monitor_lives(&store, v)?;
    drop(store);
    if running {
        crate::cmd::stop::stop_one(&dir, name, None)?;
    }
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    let store = ctx.open_store(LockMode::Exclusive, "run --replace")?;
    let views = containers::all(&store)?;
    if let Some(v) = views.iter().find(|v| v.id() == id) {
        remove(&store, &mapping, &[v])?;
    }
    Ok(())
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
        // Running or not: a monitor between restarts, or building the root, lives too.
        if let Some(monitor) = crate::runtime::control::monitor_of(&v.rec) {
            let dir = store.containers().path(v.id());
            stop_monitor(monitor, &dir).with_context(|| format!("killing container {}", v.id()))?;
        }
        store
            .containers()
            .begin_remove(v.id())
            .with_context(|| format!("removing container {}", v.id()))?;
        crate::failpoint!("rm.dir-hidden");
        crate::cmd::control::remove_cidfile(&v.rec.control, v.id());
        removed.push(v.id().to_string());
    }
    let doomed = store.containers().pending_removals();
    if !doomed.is_empty() {
        delete_dirs(mapping, &doomed)?;
    }
    crate::failpoint!("rm.dirs-deleted");
    Ok(removed)
}

/// Whether the container `v` has a live monitor: it runs, or its lifetime lock is held (being
/// started, or between restarts). Under the store lock a holder has recorded itself (the
/// monitor keeps the starter's store lock until after that).
fn monitor_lives(store: &Store, v: &ContainerView) -> anyhow::Result<bool> {
    if v.state == State::Running {
        return Ok(true);
    }
    // A container that just exited keeps its monitor a moment longer (its cleanup): that is
    // not a live container. One between restarts holds the lock far longer.
    let released = crate::runtime::monitor_lock::wait_released(
        &store.containers().path(v.id()),
        CLEANUP_WAIT,
    )?;
    Ok(!released)
}

/// How long `rm` gives the monitor of a container that just exited to finish its cleanup.
const CLEANUP_WAIT: Duration = Duration::from_secs(2);

/// SIGKILL to a container's monitor (if it still lives), then its end and the release of
/// its lifetime lock (an init not yet exec'd may hold it a moment longer) awaited.
fn stop_monitor(monitor: crate::sys::process::ProcessIdentity, dir: &Path) -> anyhow::Result<()> {
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
    if !crate::runtime::monitor_lock::wait_released(dir, KILL_WAIT)? {
        bail!(
            "its lifetime lock ({}) is still held {} seconds after its monitor was killed",
            dir.join(crate::runtime::monitor_lock::LOCK_FILE).display(),
            KILL_WAIT.as_secs()
        );
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
