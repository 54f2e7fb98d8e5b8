//! `--init`: a small reaping PID 1, as Podman's catatonit or tini.
//!
//! The container's init, once it has set everything up and confined itself
//! (`security::confine`), forks: the child execs the command; the parent stays PID 1, with
//! no descriptor open and not dumpable (so that no process of the container reaches its
//! memory or `/proc/1/exe`, the host's coracle binary, without `CAP_SYS_PTRACE`). It reaps
//! every process that ends in the container (orphans are re-parented to it), passes every
//! signal it gets on to the command (SIGKILL and SIGSTOP cannot be caught), and when the
//! command ends, exits with its status (128 + the signal when one killed it), which ends the
//! PID namespace and every process left in it.
//!
//! Running coracle's own code rather than a separate binary needs no package and nothing
//! mounted into the container; `--init-path` is accepted and not used.

use nix::errno::Errno;
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::channel::{Report, Step};
use crate::sys::process::{Forked, exit_child, fork};

/// Forks the reaper: returns in the child, which goes on to exec the command; the parent
/// never returns.
pub fn fork_reaper() -> Result<(), Report> {
    let all = SigSet::all();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None)
        .map_err(|e| Report::failed(Step::Privileges, e, "blocking signals for --init"))?;
    crate::sys::reaper::catch_all()
        .map_err(|e| Report::failed(Step::Privileges, e, "catching signals for --init"))?;
    match fork() {
        Ok(Forked::Child) => {
            // exec resets the handlers; the mask it would keep.
            let _ = nix::sys::signal::sigprocmask(
                SigmaskHow::SIG_SETMASK,
                Some(&SigSet::empty()),
                None,
            );
            Ok(())
        }
        Ok(Forked::Parent(child)) => reap(child),
        Err(e) => Err(Report::Failed {
            step: Step::Privileges,
            errno: 0,
            detail: format!("forking the command under --init: {e}"),
        }),
    }
}

/// The exit status for a child's end, as a shell reports it.
fn status_of(w: WaitStatus) -> Option<i32> {
    match w {
        WaitStatus::Exited(_, code) => Some(code),
        WaitStatus::Signaled(_, sig, _) => Some(128 + sig as i32),
        _ => None,
    }
}

fn reap(child: Pid) -> ! {
    // The report pipe goes with the rest: the command's exec closes its own copy, and end
    // of file tells the monitor it started.
    let _ = crate::sys::reaper::close_from_before_exit(3);
    let _ = nix::sys::prctl::set_dumpable(false);
    let all = SigSet::all();
    loop {
        loop {
            match nix::sys::wait::waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) => break,
                Ok(w) if w.pid() == Some(child) => {
                    if let Some(code) = status_of(w) {
                        exit_child(code);
                    }
                }
                Ok(_) | Err(Errno::EINTR) => {}
                // No child at all: the command is gone (reaped above) — cannot happen
                // before its status was seen, but never spin.
                Err(_) => exit_child(125),
            }
        }
        match all.wait() {
            Ok(Signal::SIGCHLD) | Err(_) => {}
            Ok(sig) => {
                let _ = nix::sys::signal::kill(child, sig);
            }
        }
    }
}
