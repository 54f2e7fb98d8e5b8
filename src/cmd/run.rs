//! `run`: a command in a new container: `create`, then start it with its monitor, then (in
//! the foreground) attach to it; the exit status is the command's, 125 for coracle's own
//! errors, 126 when the command cannot be invoked and 127 when it is not found (from the
//! `execve` errno the init reports, see `runtime::channel`).
//!
//! This command: resolves the image and what to run, writes the container's directory and
//! record under the exclusive store lock, keeps a shared lock for the monitor (which drops it
//! once the layers are copied), forks the monitor (`cmd::start::launch`), reads its reports
//! until the container's command runs, and then either prints the ID and returns (`-d`) or
//! relays its standard streams until the container ends (`runtime::attach`). The monitor
//! outlives it, records the end and, with `--rm`, removes the container. See
//! `runtime/mod.rs` for the processes.

use std::path::Path;

use anyhow::Context as _;
use nix::errno::Errno;

use crate::cli::run::RunArgs;
use crate::cmd::Context;
use crate::cmd::create::{self, Created};
use crate::cmd::start::{self, Launched};
use crate::error::{ExitStatus, StatusError};
use crate::runtime::attach::{self, AttachOptions, ClientConfig, SessionEnd};
use crate::runtime::channel::{Report, StepError};
use crate::runtime::exec_failure_status;
use crate::runtime::sdnotify::{Notifier, SdNotifyMode};
use crate::runtime::spec::{self, ContainerSpec, RootFs};
use crate::store::LockMode;

pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<ExitStatus> {
    let streams = args.lifecycle.streams()?;
    let detach_keys = args.lifecycle.detach_keys()?;
    let passthrough = args.lifecycle.log_driver.as_deref() == Some("passthrough");
    if args.detach && streams.is_some() {
        anyhow::bail!("--attach and --detach cannot be used together");
    }
    if passthrough && args.detach {
        anyhow::bail!(
            "--log-driver passthrough: the container writes to this command's own streams, which a detached container does not have"
        );
    }
    if passthrough && args.tty {
        anyhow::bail!("--log-driver passthrough cannot be used with --tty");
    }
    let notifier = sd_notifier(args.sdnotify)?;
    let Created { spec, mut store } = create::create(ctx, args, notifier.as_ref())?;
    crate::failpoint!("run.created");
    let id = spec.id.clone();
    let hello = if args.detach {
        AttachOptions::default()
    } else {
        streams.unwrap_or(AttachOptions {
            stdin: true,
            stdout: true,
            stderr: true,
        })
    };
    let hello = AttachOptions {
        stdin: hello.stdin && args.interactive,
        ..hello
    };
    let paths = ctx.paths()?;
    // From here on the container exists: with --rm it goes away whatever happens next (the
    // monitor removes it once it runs).
    let launched = (|| {
        prepare_root_dirs(&spec)?;
        // Readers may come in again; the shared lock keeps the layers until the monitor
        // copied or mounted them (it inherits the lock and drops it then).
        store.lock_shared()?;
        crate::failpoint!("run.lock-shared");
        start::launch(&paths, &spec, store, hello, passthrough)
    })();
    let launched = match launched {
        Ok(l) => l,
        Err(e) if args.rm => {
            return Err(match remove_container(ctx, &id) {
                Ok(()) => e,
                Err(rm) => e.context(format!("also: {rm:#}")),
            });
        }
        Err(e) => return Err(e),
    };
    let Launched { sock, monitor } = launched;
    crate::failpoint!("run.monitor-launched");
    let (mut reports, ahead) = start::wait_started(&sock)?;
    if !matches!(reports.last(), Some(Report::Started { .. })) {
        return outcome(&reports, &spec.process.args[0]);
    }
    crate::failpoint!("run.started");
    // `healthy`: the monitor sends READY=1 at the first passing check; `container`: the
    // container's service does.
    match args.sdnotify {
        Some(SdNotifyMode::Healthy) => {}
        Some(SdNotifyMode::Container) => {
            notify(notifier.as_ref(), &format!("MAINPID={}", monitor.as_raw()))
        }
        _ => notify(
            notifier.as_ref(),
            &format!("MAINPID={}\nREADY=1", monitor.as_raw()),
        ),
    }
    if args.detach {
        crate::cmd::out(&format!("{id}\n"))?;
        return Ok(ExitStatus::Success);
    }
    let cfg = ClientConfig {
        streams: hello,
        tty: args.tty,
        detach_keys,
        sig_proxy: args.lifecycle.sig_proxy && !args.tty,
    };
    let end = attach::relay(sock, ahead, &cfg, |r| reports.push(r.clone()))
        .with_context(|| format!("attaching to container {}", spec::short_id(&id)))?;
    if end == SessionEnd::Detached {
        return Ok(ExitStatus::Success);
    }
    notify(notifier.as_ref(), "STOPPING=1");
    outcome(&reports, &spec.process.args[0])
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
pub(crate) fn notify(notifier: Option<&Notifier>, message: &str) {
    if let Some(n) = notifier
        && let Err(e) = n.notify(message)
    {
        crate::output::eprint(&format!("WARN: {e}\n"));
    }
}

/// The `$NOTIFY_SOCKET` notifier of `--sdnotify` (Podman's modes; `conmon` when the flag is
/// absent): what `run` itself sends (`EXTEND_TIMEOUT_USEC` during a pull, `MAINPID=`,
/// `READY=1` for `conmon`, `STOPPING=1`); `None` for `ignore`.
fn sd_notifier(mode: Option<SdNotifyMode>) -> anyhow::Result<Option<Notifier>> {
    if mode == Some(SdNotifyMode::Ignore) {
        return Ok(None);
    }
    Ok(Notifier::from_env()?)
}

/// The exit status from the monitor's reports (and its own status, when it said nothing).
pub(crate) fn outcome(reports: &[Report], program: &str) -> anyhow::Result<ExitStatus> {
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
        None => {
            anyhow::bail!("the container's monitor ended without reporting the container's end")
        }
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
