//! A container's network namespace made before its init, so that the network helper can
//! start at once, while the root file system is still being mounted, instead of after the
//! init is cloned (pasta's own start-up is ~15 ms of CPU, mostly faulting in its buffers:
//! it is the longest single step of a default-network start).
//!
//! The namespace is born with a short-lived child of the monitor (`clone` with
//! `CLONE_NEWNET`: it belongs to the caller's user namespace, as one the init's clone makes
//! would): the monitor opens the child's namespace, which the descriptor then keeps alive,
//! and kills the child at once. The child need not have run: `clone` returns with the
//! namespace made. It is reaped when the [`Netns`] is dropped (once the init holds the
//! namespace), when it has long ended, so the monitor never waits for it to be scheduled.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use nix::sched::CloneFlags;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use crate::sys::process::{Forked, exit_child, fork_into};

/// A new network namespace, held by a descriptor.
pub struct Netns {
    fd: OwnedFd,
    holder: Holder,
}

/// The child a namespace was made with: killed, reaped when dropped.
struct Holder(Option<Pid>);

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(pid) = self.0.take() {
            while let Err(nix::errno::Errno::EINTR) = nix::sys::wait::waitpid(pid, None) {}
        }
    }
}

impl Netns {
    /// Makes a network namespace owned by the caller's user namespace. Call single-threaded.
    pub fn create() -> io::Result<Netns> {
        let parent = std::process::id();
        let forked = fork_into(CloneFlags::CLONE_NEWNET).map_err(|e| match e {
            crate::sys::process::ForkError::Fork(io) => io,
            other => io::Error::other(other.to_string()),
        })?;
        let pid = match forked {
            Forked::Parent(pid) => pid,
            Forked::Child => {
                // Only here to be looked at: the monitor kills it once it has the namespace,
                // or the monitor's death does.
                if nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).is_err()
                    || nix::unistd::getppid().as_raw().cast_unsigned() != parent
                {
                    exit_child(0);
                }
                loop {
                    nix::unistd::pause();
                }
            }
        };
        let holder = Holder(Some(pid));
        let opened = File::open(format!("/proc/{pid}/ns/net"));
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        Ok(Netns {
            fd: opened?.into(),
            holder,
        })
    }

    /// The namespace alone, for a process that is not its creator (the child is not its to
    /// reap).
    pub fn into_fd(self) -> OwnedFd {
        let Netns { fd, mut holder } = self;
        holder.0 = None;
        fd
    }
}

impl AsFd for Netns {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Moves the calling process into the network namespace `ns`.
pub fn enter(ns: BorrowedFd<'_>) -> io::Result<()> {
    nix::sched::setns(ns, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}
