//! `run`: a command in a new container, in the foreground; the exit status is the command's,
//! 125 for coracle's own errors, 126 when the command cannot be invoked and 127 when it is not
//! found (from the `execve` errno the init reports, see `runtime::channel`).
//!
//! This command: resolves the image and what to run, writes the container's directory and
//! record under the exclusive store lock, keeps a shared lock for the monitor (which drops it
//! once the layers are copied), forks the monitor into the user namespace and waits for it
//! while relaying signals, then reads the monitor's reports and, with `--rm`, removes the
//! container's directory. See `runtime/mod.rs` for the processes.
//!
//! Not yet: `-d`, `-t`, the default rootless network (the default is `none` until then).

use std::fs::File;
use std::path::Path;

use anyhow::Context as _;
use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::cli::run::RunArgs;
use crate::cmd::Context;
use crate::cmd::create::{self, Created};
use crate::error::{ExitStatus, StatusError};
use crate::runtime::channel::{self, Report, StepError};
use crate::runtime::sdnotify::{Notifier, SdNotifyMode};
use crate::runtime::spec::{self, ContainerSpec, RootFs};
use crate::runtime::{SignalRelay, UserMapping, exec_failure_status, monitor, userns};
use crate::store::LockMode;

pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<ExitStatus> {
    if args.detach {
        anyhow::bail!("--detach: detached containers are not supported yet");
    }
    if args.tty {
        anyhow::bail!("--tty: terminals are not supported yet");
    }
    let notifier = sd_notifier(args.sdnotify)?;
    let Created { spec, mut store } = create::create(ctx, args, notifier.as_ref())?;
    let id = spec.id.clone();
    // From here on the container exists: with --rm it goes away whatever happens next.
    let result = (|| {
        prepare_root_dirs(&spec)?;
        // Readers may come in again; the shared lock keeps the layers until the monitor
        // copied or mounted them (it inherits the lock and drops it then).
        store.lock_shared()?;
        start_and_wait(&spec, &spec.mapping, store, notifier.as_ref())
    })();
    if args.rm {
        let removed = remove_container(ctx, &id);
        if let Err(e) = removed {
            return Err(match result {
                Err(run_err) => run_err.context(format!("also: {e:#}")),
                Ok(_) => e,
            });
        }
    }
    result
}

/// The overlay's directories (`upper`, `work`, `merged`), made before the first start.
pub fn prepare_root_dirs(spec: &ContainerSpec) -> anyhow::Result<()> {
    if let RootFs::Overlay { upper, work } = &spec.root_kind {
        for p in [upper, work, &spec.rootfs] {
            std::fs::create_dir_all(p).with_context(|| format!("creating {}", p.display()))?;
        }
    }
    Ok(())
}

/// Forks the monitor (handing it `store`, whose lock it drops after the copy), waits for it
/// and turns its reports into the exit status.
fn start_and_wait<L>(
    spec: &ContainerSpec,
    mapping: &UserMapping,
    store: L,
    notifier: Option<&Notifier>,
) -> anyhow::Result<ExitStatus> {
    let (rx, tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("creating the monitor's pipe")?;
    let (mut from_monitor, to_cli) = (File::from(rx), File::from(tx));
    let relay = SignalRelay::block()?;
    let mut child = userns::spawn_process(mapping, move || monitor::run(spec, to_cli, store))
        .context("starting the container's monitor")?;
    child
        .wait_exec()
        .context("starting the container's monitor")?;
    // The reports are read as they come, so systemd hears READY=1 while the container runs.
    // (A thread is safe here: the fork is done.)
    let (exit, reports) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_reports(&mut from_monitor, notifier));
        let exit = child.wait(&relay);
        (exit, reader.join())
    });
    let exit = exit.context("waiting for the container's monitor")?;
    drop(relay);
    notify(notifier, "STOPPING=1");
    let reports = reports
        .map_err(|_| anyhow::anyhow!("the thread reading the monitor's reports panicked"))?
        .context("reading the monitor's reports")?;
    outcome(&reports, &spec.process.args[0], exit.status())
}

/// Every report of the monitor until it closes the channel; `READY=1` to systemd as soon as
/// the container's command runs.
fn read_reports(from: &mut File, notifier: Option<&Notifier>) -> std::io::Result<Vec<Report>> {
    let mut all = Vec::new();
    while let Some(report) = channel::recv(from)? {
        if matches!(report, Report::Started { .. }) {
            notify(
                notifier,
                &format!("MAINPID={}\nREADY=1", std::process::id()),
            );
        }
        all.push(report);
    }
    Ok(all)
}

/// Runs `work` (a pull) while telling systemd, every few seconds, to wait longer for READY=1
/// (`EXTEND_TIMEOUT_USEC`), so a slow pull does not hit the unit's start time-out. The
/// ticking thread is gone when this returns: nothing may fork while it runs.
pub fn extending_start_timeout<T>(notifier: Option<&Notifier>, work: impl FnOnce() -> T) -> T {
    const TICK: std::time::Duration = std::time::Duration::from_secs(5);
    let Some(notifier) = notifier else {
        return work();
    };
    let (done, ticks) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = ticks.recv_timeout(TICK) {
                notify(
                    Some(notifier),
                    &format!("EXTEND_TIMEOUT_USEC={}", 3 * TICK.as_micros()),
                );
            }
        });
        let result = work();
        drop(done);
        result
    })
}

/// A notification that fails is reported, never fatal: the container runs either way.
fn notify(notifier: Option<&Notifier>, message: &str) {
    if let Some(n) = notifier
        && let Err(e) = n.notify(message)
    {
        crate::output::eprint(&format!("WARN: {e}\n"));
    }
}

/// The `$NOTIFY_SOCKET` notifier `--sdnotify` asks for (Podman's modes); `conmon` when the
/// flag is absent, as coracle cannot yet pass the socket into the container.
fn sd_notifier(mode: Option<SdNotifyMode>) -> anyhow::Result<Option<Notifier>> {
    let socket = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty());
    match (mode, &socket) {
        (Some(SdNotifyMode::Ignore), _) | (_, None) => Ok(None),
        (Some(SdNotifyMode::Container), Some(_)) => anyhow::bail!(
            "--sdnotify=container: passing the notify socket into the container is not \
             supported yet; use --sdnotify=conmon"
        ),
        (Some(SdNotifyMode::Healthy), Some(_)) => {
            anyhow::bail!("--sdnotify=healthy: health checks are not supported yet")
        }
        (Some(SdNotifyMode::Conmon) | None, Some(s)) => {
            Notifier::new(Some(s)).with_context(|| format!("NOTIFY_SOCKET={s}"))
        }
    }
}

/// The exit status from the monitor's reports (and its own status, when it said nothing).
fn outcome(reports: &[Report], program: &str, monitor_status: u8) -> anyhow::Result<ExitStatus> {
    let mut status = None;
    let mut errors = Vec::new();
    for r in reports {
        match r {
            Report::Failed {
                step,
                errno,
                detail,
            } => errors.push(StepError {
                step: *step,
                errno: *errno,
                detail: detail.clone(),
            }),
            Report::ExecFailed { errno } => {
                let errno = Errno::from_raw(*errno);
                let msg = if errno == Errno::ENOENT && !program.contains('/') {
                    format!("{program}: executable file not found in $PATH")
                } else {
                    format!("{program}: {}", errno.desc())
                };
                return Err(StatusError::wrap(
                    exec_failure_status(errno),
                    anyhow::anyhow!(msg),
                ));
            }
            Report::Started { .. } => {}
            Report::Exited { code } => status = Some((*code & 0xff) as u8),
            Report::Signaled { signal } => status = Some(128u8.wrapping_add(*signal as u8)),
        }
    }
    if let Some(first) = errors.first() {
        let mut err = anyhow::Error::new(first.clone());
        for e in &errors[1..] {
            err = err.context(format!("also: {e}"));
        }
        if let Some(code) = status {
            // The container ran; what failed is the cleanup after it.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("Error: {err:#}");
            }
            return Ok(code_status(code));
        }
        return Err(err);
    }
    match status {
        Some(code) => Ok(code_status(code)),
        None => anyhow::bail!(
            "the container's monitor ended (status {monitor_status}) without reporting the \
             container's end"
        ),
    }
}

fn code_status(code: u8) -> ExitStatus {
    match code {
        0 => ExitStatus::Success,
        c => ExitStatus::Code(c),
    }
}

/// Removes the container's directory (`--rm`), under the store lock.
fn remove_container(ctx: &Context, id: &str) -> anyhow::Result<()> {
    let store = ctx.open_store(LockMode::Shared, "run --rm")?;
    let dir = store.containers().path(id);
    if !Path::new(&dir).exists() {
        return Ok(());
    }
    let record = crate::store::containers::read(&dir).ok();
    let staging = store.staging("rm")?;
    store
        .containers()
        .remove(staging.path(), id)
        .with_context(|| format!("removing container {}", spec::short_id(id)))?;
    // Its anonymous volumes go with it, as in Podman.
    match record {
        Some(r) => crate::cmd::volume::remove_anonymous(&store, &[&r]),
        None => Ok(()),
    }
}
