//! `start`: created or exited containers started again from their `spec.json`, each with a
//! monitor of its own (`launch`, which `run` uses too); with `-a`, attached to until it ends.

use std::os::fd::{AsFd as _, OwnedFd};
use std::os::unix::net::UnixStream;

use anyhow::Context as _;
use nix::unistd::Pid;

use crate::cli::lifecycle::{StartArgs, parse_detach_keys};
use crate::cmd::Context;
use crate::cmd::containers;
use crate::error::ExitStatus;
use crate::paths::StorePaths;
use crate::runtime::attach::{
    self, AttachOptions, ClientConfig, Decoder, Frame, FrameReader, SessionEnd,
};
use crate::runtime::channel::Report;
use crate::runtime::lifecycle::LogDriver;
use crate::runtime::monitor::{self, MonitorArgs};
use crate::runtime::monitor_lock::MonitorLock;
use crate::runtime::spec::{self, ContainerSpec};
use crate::store::LockMode;
use crate::store::containers::{SPEC, State};

/// A monitor just started, and the starting command's connection to it.
#[derive(Debug)]
pub struct Launched {
    pub sock: UnixStream,
    pub monitor: Pid,
}

/// Forks the monitor of `spec` into its user namespace (handing it `lock`, which it drops
/// once the root file system is ready) with this command as its first client, attached to
/// `hello`'s streams. `passthrough`: the container gets this command's own streams. Must be
/// called single-threaded. Returns once the monitor runs; its reports follow on the socket.
/// Fails when another monitor of the container lives (its lifetime lock is held).
pub fn launch<L>(
    paths: &StorePaths,
    spec: &ContainerSpec,
    lock: L,
    hello: AttachOptions,
    passthrough: bool,
) -> anyhow::Result<Launched> {
    let held = MonitorLock::try_acquire(&spec.dir)?.ok_or_else(|| {
        anyhow::anyhow!(
            "container {} is being started by another command",
            spec::short_id(&spec.id)
        )
    })?;
    launch_locked(paths, spec, (lock, held), hello, passthrough)
}

/// [`launch`] with the container's lifetime lock taken (`locks.1`), which the monitor keeps
/// for its whole life.
fn launch_locked<L>(
    paths: &StorePaths,
    spec: &ContainerSpec,
    locks: (L, MonitorLock),
    hello: AttachOptions,
    passthrough: bool,
) -> anyhow::Result<Launched> {
    let (lock, held) = locks;
    // No monitor lives (the lock says so): a record still saying `running` is a dead one's,
    // and a stop requested of an earlier run must not stop this one.
    crate::runtime::control::correct_dead_monitor(&spec.dir)
        .with_context(|| format!("starting container {}", spec::short_id(&spec.id)))?;
    crate::store::containers::update(&spec.dir, |r| r.stop_requested = false)
        .with_context(|| format!("starting container {}", spec::short_id(&spec.id)))?;
    let run_dir = monitor::run_dir(&paths.runroot, &spec.id);
    std::fs::create_dir_all(&run_dir).with_context(|| format!("creating {}", run_dir.display()))?;
    let (mut mine, theirs) = UnixStream::pair().context("creating the monitor's socket")?;
    // Sent before the monitor exists, so it knows what this command wants before any output.
    attach::send(&mut mine, &Frame::Hello(hello)).context("greeting the monitor")?;
    let dup = |fd: std::os::fd::BorrowedFd<'_>| fd.try_clone_to_owned();
    let passthrough = if passthrough {
        let stdin = if spec.process.interactive {
            Some(dup(std::io::stdin().as_fd())?)
        } else {
            None
        };
        let out: OwnedFd = dup(std::io::stdout().as_fd())?;
        let err: OwnedFd = dup(std::io::stderr().as_fd())?;
        Some((stdin, out, err))
    } else {
        None
    };
    let tty_size = if spec.lifecycle.tty {
        crate::runtime::terminal::window_size(std::io::stdout())
            .or_else(|| crate::runtime::terminal::window_size(std::io::stdin()))
    } else {
        None
    };
    let args = MonitorArgs {
        run_dir,
        client: Some(theirs),
        passthrough,
        tty_size,
        store: paths.clone(),
    };
    let mut child = crate::pod::join::spawn_monitor(spec, move || {
        // Held until the monitor exits (`_exit` closes it), through restarts and `--rm`.
        let _held = held;
        monitor::run(spec, args, lock)
    })
    .context("starting the container's monitor")?;
    child
        .wait_exec()
        .context("starting the container's monitor")?;
    Ok(Launched {
        sock: mine,
        monitor: child.release(),
    })
}

/// The monitor's reports up to the container's start (the last one is then
/// [`Report::Started`]), or, when it did not start, every report until the monitor is done
/// (with `--rm`, the container is gone then).
pub fn wait_started(sock: &UnixStream) -> anyhow::Result<(Vec<Report>, Decoder)> {
    let mut reader = FrameReader::new(sock);
    let mut reports = Vec::new();
    while let Some(frame) = reader
        .next_frame()
        .context("reading the container's monitor's reports")?
    {
        if let Frame::Report(r) = frame {
            let started = matches!(r, Report::Started { .. });
            reports.push(r);
            if started {
                break;
            }
        }
    }
    Ok((reports, reader.into_decoder()))
}

/// Starts the container with ID `id` (created or exited) with its monitor detached, and
/// returns once the container's command runs (or failed to start). `start` and `restart`
/// use it. A running container is left as it is.
pub fn start_detached(ctx: &Context, id: &str) -> anyhow::Result<()> {
    let (spec, launched) = start_one(ctx, id, AttachOptions::default())?;
    if let Some(Launched { sock, .. }) = launched {
        let (reports, _) = wait_started(&sock)?;
        if !matches!(reports.last(), Some(Report::Started { .. })) {
            crate::cmd::run::outcome(&reports, &spec.process.args[0])
                .with_context(|| format!("starting container {}", spec::short_id(id)))?;
        }
    }
    Ok(())
}

/// Launches the monitor of container `id` unless it runs (`None` then).
fn start_one(
    ctx: &Context,
    id: &str,
    hello: AttachOptions,
) -> anyhow::Result<(ContainerSpec, Option<Launched>)> {
    let store = ctx.open_store(LockMode::Shared, "start")?;
    crate::failpoint!("start.store-locked");
    let views = containers::all(&store)?;
    let view = containers::find(&views, id)?;
    let dir = store.containers().path(view.id());
    let spec = read_spec(&dir)?;
    // Taken before the state is looked at: a monitor that lives holds it, whether the
    // container runs, is being started or pauses between restarts (started, all three).
    let Some(held) = MonitorLock::try_acquire(&dir)? else {
        return Ok((spec, None));
    };
    if view.state == State::Running {
        return Ok((spec, None));
    }
    if spec.lifecycle.log.driver == LogDriver::Passthrough {
        anyhow::bail!(
            "container {}: a container with --log-driver passthrough can only run in the foreground of `run`",
            spec::short_id(id)
        );
    }
    crate::cmd::run::prepare_root_dirs(&spec)?;
    let paths = ctx.paths()?;
    crate::failpoint!("start.root-dirs-made");
    let launched = launch_locked(&paths, &spec, (store, held), hello, false)?;
    crate::failpoint!("start.monitor-launched");
    Ok((spec, Some(launched)))
}

/// `coracle start`.
pub fn run(ctx: &Context, args: &StartArgs) -> anyhow::Result<ExitStatus> {
    let detach_keys = parse_detach_keys(args.detach_keys.as_deref())?;
    let inputs = if args.all || args.latest || !args.filters.is_empty() {
        let selection = crate::cmd::control::Selection {
            filters: &args.filters,
            all: args.all,
            latest: args.latest,
            cidfiles: &[],
            names: &args.containers,
        };
        let (targets, _) = selection.resolve(ctx, "start", |v| v.state != State::Running)?;
        targets.into_iter().map(|t| t.input).collect()
    } else {
        args.containers.clone()
    };
    if args.attach && inputs.len() > 1 {
        anyhow::bail!("you cannot start and attach multiple containers at once");
    }
    for input in &inputs {
        if !args.attach {
            start_detached(ctx, input)?;
            crate::failpoint!("start.started");
            crate::cmd::out(&format!("{input}\n"))?;
            continue;
        }
        let hello = AttachOptions {
            stdin: args.interactive,
            stdout: true,
            stderr: true,
        };
        let (spec, launched) = start_one(ctx, input, hello)?;
        let (sock, ahead, mut reports) = match launched {
            Some(Launched { sock, .. }) => {
                let (reports, ahead) = wait_started(&sock)?;
                if !matches!(reports.last(), Some(Report::Started { .. })) {
                    return crate::cmd::run::outcome(&reports, &spec.process.args[0]);
                }
                (sock, ahead, reports)
            }
            None => {
                let paths = ctx.paths()?;
                let mut sock = attach::connect(&monitor::run_dir(&paths.runroot, &spec.id))
                    .with_context(|| {
                        format!("attaching to container {}", spec::short_id(&spec.id))
                    })?;
                attach::send(&mut sock, &Frame::Hello(hello))?;
                (sock, Decoder::default(), Vec::new())
            }
        };
        let cfg = ClientConfig {
            streams: hello,
            tty: spec.lifecycle.tty,
            detach_keys: detach_keys.clone(),
            sig_proxy: args.sig_proxy.unwrap_or(true) && !spec.lifecycle.tty,
        };
        let end = attach::relay(sock, ahead, &cfg, |r| reports.push(r.clone()))?;
        if end == SessionEnd::Detached {
            return Ok(ExitStatus::Success);
        }
        return crate::cmd::run::outcome(&reports, &spec.process.args[0]);
    }
    Ok(ExitStatus::Success)
}

/// The spec of the container in `dir`.
pub fn read_spec(dir: &std::path::Path) -> anyhow::Result<ContainerSpec> {
    let path = dir.join(SPEC);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))
}
