//! A container's monitor: the process the starting command (`run`, `start`) forks into the
//! container's user and mount namespaces (`userns::spawn_process`), container root there. It
//! outlives that command: it is the container's only long-lived process of coracle's.
//!
//! Order:
//! 1. a session of its own (`setsid`: the starting command's terminal and its death do not
//!    reach it; no `PR_SET_PDEATHSIG`), named `coracle:monitor`, standard streams on
//!    `/dev/null`, its signals blocked and read from a signalfd; the attach socket bound in
//!    the container's run directory and the log opened;
//! 2. the root file system: the layers copied with their owners (`rootfs::build`, once: a
//!    restarted container keeps its copy), or coracle's FUSE overlay mounted on them
//!    (`overlay::mount`: mounted, not yet served); then the store lock inherited from the
//!    command is dropped;
//! 3. the container's standard streams: pipes, the command's own (`passthrough`), or a
//!    socket over which the init sends the master of the terminal it opens (`-t`); the init
//!    is cloned into new mount, PID, UTS, IPC and (`--network none`) network namespaces
//!    (`sys::process::fork_into`) and runs `init::run`; the network helper is spawned against
//!    its namespace (`network::Gate`); only then the overlay's server
//!    threads start (a fork after threads exist is refused, DESIGN.md); they stop with an
//!    unmount once the init is gone, so a restart clones from a single thread again;
//! 4. the init's report (end of file: the command runs) goes to the clients, the record says
//!    `running`; `relay::Relay::serve` passes output, input and signals until the init ends;
//!    its end is recorded and reported;
//! 5. `--restart`: started again from step 2 unless the policy, or a user's `stop`
//!    (`stop_requested` in the record), says otherwise; attached clients are let go first;
//! 6. with `--rm`, the root file system is removed here, as container root (files the
//!    container gave to other ids of its range are out of the user's own reach outside),
//!    then the container's directory under the store lock; the clients are closed last, so
//!    a command that read end of file finds everything done.
//!
//! Every outcome goes to the clients as a [`Report`]. The monitor's own exit status is the
//! container's last exit status, as conmon's is: under systemd (`--sdnotify=conmon`) the
//! monitor is the unit's main process, and `Restart=on-failure` must see a container that
//! died as a failure. It is 1 when the container could not be started or the monitor failed.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::sys::signalfd::SignalFd;

use super::attach;
use super::channel::{self, Report, Step};
use super::init::InitStdio;
use super::lifecycle::LogDriver;
use super::logs::{LogWriter, Stream};
use super::relay::{self, ContainerIo, Relay};
use super::spec::{ContainerSpec, Network, RootFs};
use super::userns::ChildExit;
use super::{init, network, rootfs};
use crate::archive::DIFF_DIR;
use crate::overlay::{self, Overlay, OverlayConfig};
use crate::paths::StorePaths;
use crate::store::containers::{self, State};
use crate::sys::process::{Forked, ProcessIdentity, fork_into};

/// FUSE worker threads of a container's overlay. Two: with one (as fuse-overlayfs), a
/// sequential 200 MiB read was 8% faster (0.058 s against 0.063 s, paired), but `tar` of
/// /usr took 1.31 s against 0.69-0.80 s, waiting for the thread to come back for the next
/// request.
const OVERLAY_THREADS: usize = 2;
/// How long the monitor waits for slow clients to take its last words.
const FLUSH_LIMIT: Duration = Duration::from_secs(5);
/// The longest pause between two restarts (they start at 100 ms and double).
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The run directory of container `id`: `<runroot>/containers/<id>`, holding the attach
/// socket while its monitor lives.
pub fn run_dir(runroot: &Path, id: &str) -> PathBuf {
    runroot.join("containers").join(id)
}

/// The default log of a container: `<container dir>/userdata/ctr.log`.
pub fn log_path(spec: &ContainerSpec) -> PathBuf {
    spec.lifecycle
        .log
        .path
        .clone()
        .unwrap_or_else(|| spec.userdata.join("ctr.log"))
}

/// What the starting command hands its monitor besides the spec.
#[derive(Debug)]
pub struct MonitorArgs {
    /// The container's run directory ([`run_dir`]), made by the command.
    pub run_dir: PathBuf,
    /// The command's end of a socket pair: its first client, whose hello is already in it.
    pub client: Option<UnixStream>,
    /// The command's own standard streams (`--log-driver passthrough`): input (with `-i`),
    /// output and error.
    pub passthrough: Option<(Option<OwnedFd>, OwnedFd, OwnedFd)>,
    /// The command's terminal size, the container's terminal's first (`-t`).
    pub tty_size: Option<(u16, u16)>,
    /// The store, for `--rm`.
    pub store: StorePaths,
}

/// How one start of the container went.
enum Once {
    /// It did not start (reported).
    Failed,
    Exited(Result<ChildExit, String>),
}

/// Runs the monitor; `store_lock` is whatever keeps the image's layers in the store until the
/// copy is done (the store, with its shared lock). Returns the monitor's exit status.
pub fn run<L>(spec: &ContainerSpec, mut args: MonitorArgs, store_lock: L) -> i32 {
    let _ = nix::unistd::setsid();
    if let Ok(name) = CString::new("coracle:monitor") {
        let _ = nix::sys::prctl::set_name(&name);
    }
    // Nothing may keep the starting command's output open (its reader waits for the end).
    if let Ok(null) = File::options().read(true).write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(&null);
        let _ = nix::unistd::dup2_stdout(&null);
        let _ = nix::unistd::dup2_stderr(&null);
    }
    let mut early = Vec::new();
    let signals = match relay::signal_fd() {
        Ok(s) => Some(s),
        Err(e) => {
            early.push(Report::failed(Step::Clone, e, "blocking signals"));
            None
        }
    };
    // The network's namespace and helper first: pasta's start is the longest step of a
    // default-network start, and it needs nothing of what follows.
    let mut net = network::Starts::begin(spec);
    let listener = match bind(&args.run_dir) {
        Ok(l) => Some(l),
        Err(e) => {
            early.push(Report::failed_io(
                Step::Stdio,
                &e,
                format!(
                    "listening on {}",
                    args.run_dir.join(attach::SOCKET).display()
                ),
            ));
            None
        }
    };
    let log = match spec.lifecycle.log.driver {
        LogDriver::K8sFile => match LogWriter::open(&log_path(spec), spec.lifecycle.log.limit()) {
            Ok(l) => Some(l),
            Err(e) => {
                early.push(Report::failed_io(Step::Stdio, &e, "the container's log"));
                None
            }
        },
        LogDriver::None | LogDriver::Passthrough => None,
    };
    // Recorded from the start to the end of the monitor's life, not only while the container
    // runs: `stop`, `rm` and `system reset` find it between restarts too.
    let me = ProcessIdentity::current().ok();
    let _ = containers::update(&spec.dir, |r| {
        r.monitor_pid = me.map(|m| m.pid);
        r.monitor_start = me.map(|m| m.start_time);
    });
    let mut relay = match Relay::new(listener, args.client.take(), log) {
        Ok(r) => r,
        Err(_) => return 1,
    };
    let mut status = match (signals, early.is_empty()) {
        (Some(signals), true) => {
            run_container(spec, &mut args, &mut relay, &signals, store_lock, &mut net)
        }
        _ => {
            drop(store_lock);
            for r in &early {
                relay.broadcast(r);
            }
            1
        }
    };
    if cleanup(spec, &args.store, &mut relay) != 0 {
        status = 1;
    }
    relay.flush(FLUSH_LIMIT);
    let _ = std::fs::remove_file(args.run_dir.join(attach::SOCKET));
    let _ = std::fs::remove_dir(&args.run_dir);
    if !spec.remove {
        let _ = containers::update(&spec.dir, |r| {
            if r.state != State::Running && me.is_some_and(|m| Some(m.pid) == r.monitor_pid) {
                r.monitor_pid = None;
                r.monitor_start = None;
            }
        });
    }
    crate::pod::exit_policy::after_exit(spec);
    net.settle();
    relay.close_clients();
    status
}

/// Starts the container, and again as its restart policy says; the last exit status (1 when
/// the container could not be started).
fn run_container<L>(
    spec: &ContainerSpec,
    args: &mut MonitorArgs,
    relay: &mut Relay,
    signals: &SignalFd,
    store_lock: L,
    net: &mut network::Starts,
) -> i32 {
    let mut lock = Some(store_lock);
    let mut backoff = Duration::from_millis(100);
    loop {
        let exit = match run_once(spec, args, relay, signals, &mut lock, net) {
            Once::Failed => return 1,
            Once::Exited(exit) => exit,
        };
        let status = exit.as_ref().map_or(-1, |e| i32::from(e.status()));
        let last = if status < 0 { 1 } else { status };
        let Ok(rec) = containers::read(&spec.dir) else {
            return last;
        };
        // `--health-on-failure=restart` restarts whatever the policy says.
        let health_restart = super::health::schedule::take_restart(&spec.dir);
        if !health_restart
            && !spec
                .lifecycle
                .restart
                .restarts(status, rec.restart_count, rec.stop_requested)
        {
            return last;
        }
        // Attached commands end with this exit; the container goes on without them.
        relay.flush(FLUSH_LIMIT);
        net.settle();
        relay.close_clients();
        if sleep_unless_stopped(signals, backoff) {
            return last;
        }
        // A stop recorded while the container ended, before the pause could see its signal.
        if containers::read(&spec.dir).is_ok_and(|r| r.stop_requested) {
            return last;
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
        let _ = containers::update(&spec.dir, |r| r.restart_count += 1);
    }
}

/// Waits `pause`; true when a stop signal came meanwhile (no restart then).
fn sleep_unless_stopped(signals: &SignalFd, pause: Duration) -> bool {
    use std::os::fd::AsFd as _;
    let deadline = std::time::Instant::now() + pause;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let _ = crate::sys::poll::poll(&[(signals.as_fd(), crate::sys::poll::IN)], Some(left));
        while let Ok(Some(info)) = signals.read_signal() {
            if info.ssi_signo as i32 != Signal::SIGCHLD as i32 {
                return true;
            }
        }
    }
}

/// One start of the container, up to its end.
fn run_once<L>(
    spec: &ContainerSpec,
    args: &mut MonitorArgs,
    relay: &mut Relay,
    signals: &SignalFd,
    store_lock: &mut Option<L>,
    net: &mut network::Starts,
) -> Once {
    let fail = |relay: &mut Relay, r: Report| {
        relay.broadcast(&r);
        Once::Failed
    };
    // The root file system: a copy, or the overlay mounted but not served yet (no thread may
    // exist before the init is cloned).
    let mut session = None;
    let prepared = match &spec.root_kind {
        RootFs::Vfs if spec.rootfs.exists() => Ok(()),
        RootFs::Vfs => rootfs::build(&spec.layers, &spec.rootfs, &spec.mapping).map_err(|e| {
            Report::failed_io(
                Step::Rootfs,
                &e.source,
                format!("{} {}", e.what, e.path.display()),
            )
        }),
        RootFs::Overlay { upper, work } => {
            let config = OverlayConfig {
                lowers: spec.layers.iter().rev().map(|l| l.join(DIFF_DIR)).collect(),
                upper: Some(upper.clone()),
                work: Some(work.clone()),
                threads: OVERLAY_THREADS,
            };
            Overlay::new(&config)
                .and_then(|fs| overlay::mount(fs, &spec.rootfs, OVERLAY_THREADS))
                .map(|s| session = Some(s))
                .map_err(|e| error_report(Step::Rootfs, &e))
        }
    };
    // The copy is done (vfs); the overlay reads the layers for the container's life, which
    // the store lock must not span.
    drop(store_lock.take());
    if let Err(r) = prepared {
        return fail(relay, r);
    }

    let (stdio, mut io, console) = match container_stdio(spec, args) {
        Ok(s) => s,
        Err(e) => return fail(relay, Report::failed_io(Step::Stdio, &e, "")),
    };
    let (from_init, to_init) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok((r, w)) => (File::from(r), File::from(w)),
        Err(e) => return fail(relay, Report::failed(Step::Clone, e, "creating a pipe")),
    };
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if spec.network != Network::Host {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    match crate::pod::join::enter_shared(spec) {
        Ok(shared) => flags.remove(shared),
        Err(r) => return fail(relay, r),
    }
    let gate = match net.gate(spec) {
        Ok(g) => g,
        Err(r) => return fail(relay, r),
    };
    if gate.has_netns() {
        flags.remove(CloneFlags::CLONE_NEWNET);
    }
    let pid = match fork_into(flags) {
        Ok(Forked::Child) => {
            drop(from_init);
            init::run(spec, to_init, stdio, gate.into_init())
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            let errno = match &e {
                crate::sys::process::ForkError::Fork(io) => io.raw_os_error().unwrap_or(0),
                _ => 0,
            };
            return fail(
                relay,
                Report::Failed {
                    step: Step::Clone,
                    errno,
                    detail: e.to_string(),
                },
            );
        }
    };
    drop(to_init);
    // The init's ends: only it may hold them, so that their end of file means its end.
    drop(stdio);
    // The network helper was spawned before the root file system; the init waits for it at
    // the gate just before its exec, so its mounts (served by the overlay's threads) overlap
    // the helper's start.
    let net_starting = gate.start();
    // Only now the overlay's threads start; the init's first accesses wait in the kernel.
    let background = match session.map(fuser::Session::spawn).transpose() {
        Ok(b) => b,
        Err(e) => {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            return fail(
                relay,
                Report::failed_io(Step::Rootfs, &e, "serving the overlay"),
            );
        }
    };
    let net_helper = match net_starting.finish() {
        Ok(h) => h,
        Err(r) => {
            // The gate is closed: the init reports its own failure (which explains the
            // helper's, e.g. a container that ended during its set-up) or ends silently.
            let r = init_report_or(&from_init, r);
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            unmount(spec, background, relay);
            return fail(relay, r);
        }
    };
    if let Some(console) = console {
        // The init sends the master before it execs, or closes the socket failing.
        if let Ok(Some(master)) = super::console::recv_fd(&console) {
            io.stdin = master.try_clone().ok();
            io.master = master.try_clone().ok();
            io.outputs.push((Stream::Stdout, master));
        }
    }
    let mut from_init = from_init;
    let started = match channel::recv(&mut from_init) {
        Ok(None) => Ok(()),
        Ok(Some(r)) => Err(r),
        Err(e) => Err(Report::failed_io(
            Step::Clone,
            &e,
            "reading the init's report",
        )),
    };
    if let Err(r) = started {
        let _ = nix::sys::wait::waitpid(pid, None);
        unmount(spec, background, relay);
        return fail(relay, r);
    }
    let me = ProcessIdentity::current().ok();
    // `stop_requested` is left as it is: the starting command cleared it, and a stop that
    // came while the root was built holds for this run. Recorded before the clients hear of
    // the start: a `ps` or `inspect` right after `start` returned must not see the previous
    // run's end.
    let _ = containers::update(&spec.dir, |r| {
        r.state = State::Running;
        r.pid = Some(pid.as_raw());
        r.started_at = Some(Utc::now());
        r.finished_at = None;
        r.exit_code = None;
        r.monitor_pid = me.map(|m| m.pid);
        r.monitor_start = me.map(|m| m.start_time);
    });
    relay.broadcast(&Report::Started { pid: pid.as_raw() });
    crate::events::lifecycle::started(&args.store.graphroot, &spec.dir, &spec.id, &spec.name);
    // Health checks run from the relay's loop while the container runs.
    let mut checker = spec.health.clone().map(|h| {
        super::health::schedule::Checker::new(
            h,
            &spec.dir,
            pid,
            &args.store.graphroot,
            super::sdnotify::monitor_notifier(spec.sdnotify),
        )
    });
    let exit = io
        .nonblocking()
        .and_then(|()| {
            let timer = checker.as_mut().map(|c| c as &mut dyn relay::Timer);
            relay.serve_with(&mut io, pid, signals, timer)
        })
        .map_err(|e| {
            // The loop failed: the container cannot be served any longer.
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(pid, None);
            format!("relaying the container's streams: {e}")
        });
    drop(io);
    drop(checker);
    net.retire(net_helper);
    unmount(spec, background, relay);
    match &exit {
        Ok(ChildExit::Exited(code)) => relay.broadcast(&Report::Exited { code: *code }),
        Ok(ChildExit::Signaled(sig)) => relay.broadcast(&Report::Signaled {
            signal: *sig as i32,
        }),
        Err(e) => relay.broadcast(&Report::Failed {
            step: Step::Clone,
            errno: 0,
            detail: e.clone(),
        }),
    }
    let code = exit.as_ref().ok().map(|e| i32::from(e.status()));
    let _ = containers::update(&spec.dir, |r| {
        r.state = State::Exited;
        r.pid = None;
        r.exit_code = code;
        r.finished_at = Some(Utc::now());
    });
    crate::events::lifecycle::died(&args.store.graphroot, &spec.dir, &spec.id, &spec.name, code);
    Once::Exited(exit)
}

fn unmount(spec: &ContainerSpec, background: Option<fuser::BackgroundSession>, relay: &mut Relay) {
    if let Some(bg) = background
        && let Err(e) = bg.umount_and_join()
    {
        relay.broadcast(&Report::failed_io(
            Step::Cleanup,
            &e,
            format!("unmounting {}", spec.rootfs.display()),
        ));
    }
}

/// The init's standard streams, the monitor's ends of them, and (`-t`) the socket the
/// terminal's master comes back on.
fn container_stdio(
    spec: &ContainerSpec,
    args: &mut MonitorArgs,
) -> std::io::Result<(InitStdio, ContainerIo, Option<UnixStream>)> {
    if spec.lifecycle.tty {
        let (mine, theirs) = UnixStream::pair()?;
        let stdio = InitStdio::Tty {
            console: OwnedFd::from(theirs),
            size: args.tty_size,
        };
        return Ok((stdio, ContainerIo::default(), Some(mine)));
    }
    if let Some((stdin, stdout, stderr)) = args.passthrough.take() {
        let stdio = InitStdio::Streams {
            stdin,
            stdout,
            stderr,
        };
        return Ok((stdio, ContainerIo::default(), None));
    }
    let (out_r, out_w) = std::io::pipe()?;
    let (err_r, err_w) = std::io::pipe()?;
    let (stdin, to_stdin) = if spec.process.interactive {
        let (r, w) = std::io::pipe()?;
        (Some(OwnedFd::from(r)), Some(OwnedFd::from(w)))
    } else {
        (None, None)
    };
    let stdio = InitStdio::Streams {
        stdin,
        stdout: out_w.into(),
        stderr: err_w.into(),
    };
    let io = ContainerIo {
        outputs: vec![
            (Stream::Stdout, out_r.into()),
            (Stream::Stderr, err_r.into()),
        ],
        stdin: to_stdin,
        master: None,
    };
    Ok((stdio, io, None))
}

/// Listens on `<run_dir>/attach`, through the directory's descriptor (the socket address
/// is limited to 108 bytes, a runroot is not).
fn bind(run_dir: &Path) -> std::io::Result<UnixListener> {
    let dir = File::open(run_dir)?;
    let _ = std::fs::remove_file(run_dir.join(attach::SOCKET));
    UnixListener::bind(attach::proc_fd_path(&dir))
}

/// The init's own failure report if it sent one (it has ended or will, the gate being
/// closed), else `other`.
fn init_report_or(from_init: &File, other: Report) -> Report {
    from_init
        .try_clone()
        .ok()
        .and_then(|mut f| channel::recv(&mut f).ok().flatten())
        .unwrap_or(other)
}

/// With `--rm`, removes the root file system (as container root: a `vfs` copy holds files
/// of the container's other ids) and the container's directory; the monitor's exit status.
fn cleanup(spec: &ContainerSpec, store: &StorePaths, relay: &mut Relay) -> i32 {
    if !spec.remove {
        return 0;
    }
    if spec.root_kind == RootFs::Vfs
        && let Err(e) = rootfs::remove(&spec.rootfs)
    {
        relay.broadcast(&Report::failed_io(
            Step::Cleanup,
            &e.source,
            e.path.display().to_string(),
        ));
        return 1;
    }
    // A `rm -f` racing this removal (a unit's `ExecStopPost`) may take the directory away
    // first: gone is what was wanted.
    if let Err(e) = remove_container(store, &spec.id)
        && spec.dir.exists()
    {
        relay.broadcast(&Report::Failed {
            step: Step::Cleanup,
            errno: 0,
            detail: format!("{e:#}"),
        });
        return 1;
    }
    0
}

/// Removes the container's directory under the store lock (`--rm`).
fn remove_container(store: &StorePaths, id: &str) -> anyhow::Result<()> {
    let store =
        crate::store::Store::open(store.clone(), crate::store::LockMode::Shared, "run --rm")?;
    if !store.containers().path(id).exists() {
        return Ok(());
    }
    let record = crate::store::containers::read(&store.containers().path(id)).ok();
    let staging = store.staging("rm")?;
    store.containers().remove(staging.path(), id)?;
    // Its anonymous volumes go with it, as in Podman (the monitor is container root, so the
    // deletion needs no other user namespace).
    match record {
        Some(r) => crate::cmd::volume::remove_anonymous(&store, &[&r]),
        None => Ok(()),
    }
}

/// A report from an error chain: the first errno found in it, the messages joined.
fn error_report(step: Step, e: &(dyn std::error::Error + 'static)) -> Report {
    let mut detail = e.to_string();
    let mut errno = 0;
    let mut src = e.source();
    while let Some(s) = src {
        if errno == 0
            && let Some(io) = s.downcast_ref::<std::io::Error>()
        {
            errno = io.raw_os_error().unwrap_or(0);
        }
        if errno == 0 || s.downcast_ref::<std::io::Error>().is_none() {
            detail.push_str(&format!(": {s}"));
        }
        src = s.source();
    }
    Report::Failed {
        step,
        errno,
        detail,
    }
}
