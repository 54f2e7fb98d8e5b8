//! A container's monitor: the process `coracle run` forks into the container's user and mount
//! namespaces (`userns::spawn_process`), container root there, single-threaded.
//!
//! Order:
//! 1. `PR_SET_PDEATHSIG` (in the foreground the command waits for the monitor: if the command
//!    is killed, the monitor and with it the init go too), named `coracle:monitor`;
//! 2. the root file system: the layers copied with their owners (`rootfs::build`), or
//!    coracle's FUSE overlay mounted on them (`overlay::mount`: mounted, not yet served);
//!    then the store lock inherited from the command is dropped;
//! 3. the init is cloned into new mount, PID, UTS, IPC and (`--network none`) network
//!    namespaces (`sys::process::fork_into`) and runs `init::run`; only then the overlay's
//!    server threads start (a fork after threads exist is refused, DESIGN.md); they stop
//!    with an unmount once the init is gone;
//! 4. the init's report (end of file: the command runs) is passed to the command, the record
//!    says `running`; signals the command relays (SIGTERM, SIGHUP, SIGUSR1, SIGUSR2) go on to
//!    the init; its end is reported and recorded;
//! 5. with `--rm`, the root file system is removed here, as container root: files the
//!    container gave to other ids of its range are out of the user's own reach outside.
//!
//! Every outcome goes to the command as a [`Report`] on `to_cli`; the monitor's own exit
//! status is 0 when everything it had to say was sent.

use std::ffi::CString;
use std::fs::File;

use chrono::Utc;
use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::Signal;

use super::channel::{self, Report, Step};
use super::spec::{ContainerSpec, Network, RootFs};
use super::userns::{ChildExit, SignalRelay, wait_relaying};
use super::{init, network, rootfs};
use crate::archive::DIFF_DIR;
use crate::overlay::{self, Overlay, OverlayConfig};
use crate::store::containers::{self, State};

/// FUSE worker threads of a container's overlay.
const OVERLAY_THREADS: usize = 2;
use crate::sys::process::{Forked, fork_into};

/// Runs the monitor; `store_lock` is whatever keeps the image's layers in the store until the
/// copy is done (the store, with its shared lock). Returns the monitor's exit status.
pub fn run<L>(spec: &ContainerSpec, mut to_cli: File, store_lock: L) -> i32 {
    let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    if let Ok(name) = CString::new("coracle:monitor") {
        let _ = nix::sys::prctl::set_name(&name);
    }
    let mut send = |r: &Report| channel::send(&mut to_cli, r).is_ok();
    // The command blocked these before forking; the monitor waits for them the same way.
    let relay = match SignalRelay::block() {
        Ok(r) => r,
        Err(e) => {
            send(&Report::failed(
                Step::Clone,
                errno_of(&e),
                "blocking signals",
            ));
            return 1;
        }
    };

    // The root file system: a copy, or the overlay mounted but not served yet (no thread may
    // exist before the init is cloned).
    let mut session = None;
    let prepared = match &spec.root_kind {
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
    drop(store_lock);
    if let Err(r) = prepared {
        send(&r);
        return cleanup(spec, &mut send);
    }

    let (from_init, to_init) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok((r, w)) => (File::from(r), File::from(w)),
        Err(e) => {
            send(&Report::failed(Step::Clone, e, "creating a pipe"));
            return cleanup(spec, &mut send);
        }
    };
    let mut flags = CloneFlags::CLONE_NEWNS
        | CloneFlags::CLONE_NEWPID
        | CloneFlags::CLONE_NEWUTS
        | CloneFlags::CLONE_NEWIPC;
    if spec.network != Network::Host {
        flags |= CloneFlags::CLONE_NEWNET;
    }
    let gate = match network::Gate::new(spec) {
        Ok(g) => g,
        Err(r) => {
            send(&r);
            return cleanup(spec, &mut send);
        }
    };
    let pid = match fork_into(flags) {
        Ok(Forked::Child) => {
            drop(from_init);
            gate.wait_in_init();
            init::run(spec, to_init)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => {
            drop(to_init);
            let errno = match &e {
                crate::sys::process::ForkError::Fork(io) => io.raw_os_error().unwrap_or(0),
                _ => 0,
            };
            send(&Report::Failed {
                step: Step::Clone,
                errno,
                detail: e.to_string(),
            });
            return cleanup(spec, &mut send);
        }
    };
    drop(to_init);
    // The network helper, before any thread exists; the init waits for it at the gate.
    let net_helper = match gate.open(spec, pid) {
        Ok(h) => h,
        Err(r) => {
            let _ = wait_relaying(pid, &relay, true);
            send(&r);
            return cleanup(spec, &mut send);
        }
    };
    // Only now the overlay's threads start; the init's first accesses wait in the kernel.
    let background = match session.map(fuser::Session::spawn).transpose() {
        Ok(b) => b,
        Err(e) => {
            let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
            let _ = wait_relaying(pid, &relay, true);
            send(&Report::failed_io(Step::Rootfs, &e, "serving the overlay"));
            return cleanup(spec, &mut send);
        }
    };
    let mut from_init = from_init;
    let started = match channel::recv(&mut from_init) {
        Ok(None) => true,
        Ok(Some(r)) => {
            send(&r);
            false
        }
        Err(e) => {
            send(&Report::failed_io(
                Step::Clone,
                &e,
                "reading the init's report",
            ));
            false
        }
    };
    if started {
        send(&Report::Started { pid: pid.as_raw() });
        let me = crate::sys::process::ProcessIdentity::current().ok();
        let _ = containers::update(&spec.dir, |r| {
            r.state = State::Running;
            r.pid = Some(pid.as_raw());
            r.started_at = Some(Utc::now());
            r.monitor_pid = me.map(|m| m.pid);
            r.monitor_start = me.map(|m| m.start_time);
        });
    }
    let exit = wait_relaying(pid, &relay, true);
    drop(net_helper);
    if let Some(bg) = background
        && let Err(e) = bg.umount_and_join()
    {
        send(&Report::failed_io(
            Step::Cleanup,
            &e,
            format!("unmounting {}", spec.rootfs.display()),
        ));
    }
    if started {
        match &exit {
            Ok(ChildExit::Exited(code)) => send(&Report::Exited { code: *code }),
            Ok(ChildExit::Signaled(sig)) => send(&Report::Signaled {
                signal: *sig as i32,
            }),
            Err(e) => send(&Report::failed(
                Step::Clone,
                errno_of(e),
                "waiting for the init",
            )),
        };
        let code = match exit {
            Ok(e) => Some(i32::from(e.status())),
            Err(_) => None,
        };
        let _ = containers::update(&spec.dir, |r| {
            r.state = State::Exited;
            r.pid = None;
            r.monitor_pid = None;
            r.monitor_start = None;
            r.exit_code = code;
            r.finished_at = Some(Utc::now());
        });
    }
    cleanup(spec, &mut send)
}

/// With `--rm`, removes a `vfs` root file system (the overlay's upper layer belongs to the
/// user on disk: the command removes it with the container); the monitor's exit status.
fn cleanup(spec: &ContainerSpec, send: &mut impl FnMut(&Report) -> bool) -> i32 {
    if spec.remove
        && spec.root_kind == RootFs::Vfs
        && let Err(e) = rootfs::remove(&spec.rootfs)
    {
        send(&Report::failed_io(
            Step::Cleanup,
            &e.source,
            e.path.display().to_string(),
        ));
        return 1;
    }
    0
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

fn errno_of(e: &super::UserNsError) -> nix::errno::Errno {
    use std::error::Error as _;
    let mut src = e.source();
    while let Some(s) = src {
        if let Some(errno) = s.downcast_ref::<nix::errno::Errno>() {
            return *errno;
        }
        src = s.source();
    }
    nix::errno::Errno::UnknownErrno
}
