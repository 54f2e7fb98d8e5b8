//! A pod's infra: the process that holds the namespaces its containers share, with no image
//! and no root file system of its own.
//!
//! ```text
//! coracle pod start (or the start of a container of the pod)
//!  └─ coracle:infra   setsid, outlives the command, in the pod's user (+ mount) namespace
//!      │              (userns::spawn_process, the pod's mapping); starts pasta against the
//!      │              network namespace, records itself, waits for its child
//!      └─ coracle:pause  new network, UTS and IPC namespaces (one clone; and PID with
//!                        `--share pid`, as its PID 1), hostname, lo up; reaps orphans until
//!                        killed; dies with the infra (PR_SET_PDEATHSIG), as pasta does
//! ```
//!
//! A container of the pod joins the user namespace of `coracle:pause` with its monitor and
//! the shared namespaces before its init is cloned ([`super::join`]). `pod stop` kills the
//! infra's monitor after the containers; its children go with it.

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus};

use super::record::{self, Infra, PodRecord};
use crate::runtime::network::{pasta, ports};
use crate::runtime::spec::Network;
use crate::runtime::userns;
use crate::sys::process::{Forked, ProcessIdentity, exit_child, fork_into};

const GO: u8 = b'G';

#[derive(Debug, thiserror::Error)]
pub enum InfraError {
    #[error("starting the infra process of pod {pod}")]
    Spawn {
        pod: String,
        #[source]
        source: userns::UserNsError,
    },
    #[error("creating a pipe for the infra process")]
    Pipe(#[source] nix::errno::Errno),
    #[error("the infra process of pod {pod} failed: {detail}")]
    Failed { pod: String, detail: String },
    #[error(transparent)]
    Record(#[from] record::PodError),
}

/// Starts the infra of the pod in `dir` unless it runs; its record, with the infra. Call
/// single-threaded.
pub fn ensure(dir: &Path) -> Result<PodRecord, InfraError> {
    let rec = record::read(dir)?;
    if rec.live_infra().is_some() {
        return Ok(rec);
    }
    let (mut from_infra, to_cli) = nix::unistd::pipe2(OFlag::O_CLOEXEC)
        .map(|(r, w)| (File::from(r), File::from(w)))
        .map_err(InfraError::Pipe)?;
    let dir_owned = dir.to_path_buf();
    let body_rec = rec.clone();
    let mut child = userns::spawn_process(&rec.mapping, move || {
        infra_main(&dir_owned, &body_rec, to_cli)
    })
    .map_err(|source| InfraError::Spawn {
        pod: rec.name.clone(),
        source,
    })?;
    child.wait_exec().map_err(|source| InfraError::Spawn {
        pod: rec.name.clone(),
        source,
    })?;
    // The infra lives on by itself (its end is recorded by itself or by `pod stop`).
    let _ = child.release();
    let mut said = String::new();
    let _ = from_infra.read_to_string(&mut said);
    if !said.is_empty() {
        return Err(InfraError::Failed {
            pod: rec.name.clone(),
            detail: said,
        });
    }
    let rec = record::read(dir)?;
    if rec.live_infra().is_none() {
        return Err(InfraError::Failed {
            pod: rec.name.clone(),
            detail: "it ended before it recorded itself".into(),
        });
    }
    Ok(rec)
}

/// Ends the infra of the pod in `dir` and records it gone: SIGKILL to the pause process,
/// after which its monitor ends pasta and waits for it, so that the pod's ports are free
/// when this returns (SIGKILL to the monitor itself, if it outlives that, leaves pasta to
/// die with it a moment later).
pub fn stop(dir: &Path) -> Result<(), InfraError> {
    let rec = record::read(dir)?;
    if let Some(infra) = rec.infra {
        let monitor = infra.monitor();
        match super::join::pause_pidfd(&rec) {
            Ok(pause) => {
                let _ = rustix::process::pidfd_send_signal(&pause, rustix::process::Signal::KILL);
            }
            Err(_) => {
                let _ = monitor.kill();
            }
        }
        let wait = |secs: u64| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
            while monitor.is_alive() && std::time::Instant::now() < deadline {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        wait(5);
        if monitor.is_alive() {
            let _ = monitor.kill();
            wait(10);
        }
        if monitor.is_alive() {
            return Err(InfraError::Failed {
                pod: rec.name,
                detail: format!("its monitor (pid {}) survived SIGKILL", infra.monitor_pid),
            });
        }
    }
    record::update(dir, |r| r.infra = None)?;
    Ok(())
}

/// The infra's monitor, in the pod's user namespace; its exit status. It reports failures
/// on its standard error, which is the command's pipe until it is set up.
fn infra_main(dir: &Path, rec: &PodRecord, to_cli: File) -> i32 {
    let _ = nix::unistd::setsid();
    if let Ok(name) = std::ffi::CString::new("coracle:infra") {
        let _ = nix::sys::prctl::set_name(&name);
    }
    let null = File::options().read(true).write(true).open("/dev/null");
    if let Ok(null) = &null {
        let _ = nix::unistd::dup2_stdin(null);
        let _ = nix::unistd::dup2_stdout(null);
    }
    let _ = nix::unistd::dup2_stderr(&to_cli);
    // Nothing the starting command held may live on in here: its store lock and a
    // container's lifetime lock would stay taken as long as the pod runs. From here on,
    // only descriptors made below exist (the ones above are forgotten, never dropped).
    std::mem::forget(to_cli);
    std::mem::forget(null);
    let _ = crate::sys::reaper::close_from_before_exit(3);
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let fail = |detail: String| {
        let _ = std::io::stderr().write_all(detail.as_bytes());
        1
    };
    let (gate_r, gate_w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return fail(format!("creating a pipe: {e}")),
    };
    let mut flags = CloneFlags::CLONE_NEWNET | CloneFlags::CLONE_NEWUTS | CloneFlags::CLONE_NEWIPC;
    if rec.shares("pid") {
        // The pause process is then PID 1 of the containers' PID namespace, and reaps.
        flags |= CloneFlags::CLONE_NEWPID;
    }
    let pause = match fork_into(flags) {
        Ok(Forked::Child) => {
            drop(gate_w);
            pause_main(&rec.hostname, gate_r)
        }
        Ok(Forked::Parent(pid)) => pid,
        Err(e) => return fail(format!("cloning the pause process: {e}")),
    };
    drop(gate_r);
    let kill_pause = || {
        let _ = nix::sys::signal::kill(pause, Signal::SIGKILL);
        let _ = nix::sys::wait::waitpid(pause, None);
    };
    let helper = match start_network(rec, pause.as_raw(), &dir.join("userdata")) {
        Ok(h) => h,
        Err(e) => {
            kill_pause();
            return fail(e);
        }
    };
    if File::from(gate_w).write_all(&[GO]).is_err() {
        kill_pause();
        return fail("the pause process ended before it was configured".into());
    }
    let me = match ProcessIdentity::current() {
        Ok(m) => m,
        Err(e) => {
            kill_pause();
            return fail(format!("reading the infra's own start time: {e}"));
        }
    };
    let infra = Infra {
        monitor_pid: me.pid,
        monitor_start: me.start_time,
        pid: pause.as_raw(),
    };
    if let Err(e) = record::update(dir, |r| r.infra = Some(infra)) {
        kill_pause();
        return fail(format!("{:#}", anyhow::Error::new(e)));
    }
    // Success is the end of file.
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stderr(&null);
    }
    while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(pause, None) {}
    if let Some(mut c) = helper {
        let _ = c.kill();
        let _ = c.wait();
    }
    let _ = record::update(dir, |r| {
        if r.infra == Some(infra) {
            r.infra = None;
        }
    });
    0
}

/// pasta against the pause process's network namespace, for the pod's published ports.
fn start_network(
    rec: &PodRecord,
    pid: i32,
    userdata: &Path,
) -> Result<Option<std::process::Child>, String> {
    if rec.network != Network::Pasta {
        return Ok(None);
    }
    let path = format!("/proc/{pid}/ns/net");
    let netns: OwnedFd = File::open(&path)
        .map_err(|e| format!("opening {path}: {e}"))?
        .into();
    ports::check_free(&rec.net.ports).map_err(|e| format!("{:#}", anyhow::Error::new(e)))?;
    let program = rec
        .net
        .helper
        .clone()
        .unwrap_or_else(|| PathBuf::from("pasta"));
    pasta::start(&program, &netns, &rec.net.ports, &rec.net.options, userdata)
        .and_then(pasta::Pending::ready)
        .map(Some)
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
}

/// The pause process: the namespaces' holder; never returns.
fn pause_main(hostname: &str, gate: OwnedFd) -> ! {
    // As PID 1 of a shared PID namespace it inherits the containers' orphans: it reaps them
    // on SIGCHLD, which is blocked from here so that none is lost before the wait.
    let mut chld = SigSet::empty();
    chld.add(Signal::SIGCHLD);
    if chld.thread_block().is_err() {
        exit_child(125);
    }
    // Not the command's pipe: its end of file tells the command the infra is ready.
    if let Ok(null) = File::options().write(true).open("/dev/null") {
        let _ = nix::unistd::dup2_stderr(&null);
    }
    if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err() {
        exit_child(125);
    }
    if let Ok(name) = std::ffi::CString::new("coracle:pause") {
        let _ = nix::sys::prctl::set_name(&name);
    }
    if nix::unistd::sethostname(hostname).is_err() || crate::sys::net::loopback_up().is_err() {
        exit_child(125);
    }
    let mut b = [0u8; 1];
    let mut gate = File::from(gate);
    loop {
        match gate.read(&mut b) {
            Ok(1) if b[0] == GO => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            _ => exit_child(125),
        }
    }
    drop(gate);
    let _ = crate::sys::process::cloexec_from(3);
    loop {
        if chld.wait().is_err() {
            nix::unistd::pause();
            continue;
        }
        while let Ok(status) = nix::sys::wait::waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if status == WaitStatus::StillAlive {
                break;
            }
        }
    }
}
