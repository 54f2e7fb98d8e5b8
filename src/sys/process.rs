//! Process creation from a single-threaded process: `fork` and the child's `_exit`.
//!
//! `unshare(CLONE_NEWUSER)` is refused with `EINVAL` in a multi-threaded process
//! (unshare(2)), and a child forked from one may find a lock (malloc's, stdio's) held forever
//! by a thread that does not exist in it. So [`fork`] first checks that the calling process has
//! exactly one thread, and refuses otherwise: every namespace step happens before any thread
//! starts (DESIGN.md, process model).

use std::io;

use nix::unistd::Pid;

/// Which side of a [`fork`] this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forked {
    /// The original process; the child's pid.
    Parent(Pid),
    /// The new process.
    Child,
}

#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    #[error(
        "cannot fork a namespaced child from a process with {0} threads (namespaces must be \
         entered before any thread starts)"
    )]
    Threaded(usize),
    #[error("counting this process's threads in /proc/self/status")]
    Threads(#[source] io::Error),
    #[error("fork")]
    Fork(#[source] io::Error),
}

/// The number of threads of the calling process (`Threads:` in `/proc/self/status`).
pub fn thread_count() -> io::Result<usize> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| io::Error::other("no Threads: line in /proc/self/status"))
}

/// Forks the calling process, which must be single-threaded (checked).
///
/// The child may allocate and run ordinary Rust code (no other thread can have held a lock
/// at the fork), but it must end with [`exit_child`] or an `exec`, never by returning into
/// the parent's code path.
pub fn fork() -> Result<Forked, ForkError> {
    let threads = thread_count().map_err(ForkError::Threads)?;
    if threads != 1 {
        return Err(ForkError::Threaded(threads));
    }
    // SAFETY: the process has a single thread (checked just above; only this thread could
    // have started another since), so the child inherits no lock held by another thread and
    // may run async-signal-unsafe code; callers end the child with `exit_child` or exec.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent(child)),
        Ok(nix::unistd::ForkResult::Child) => Ok(Forked::Child),
        Err(errno) => Err(ForkError::Fork(errno.into())),
    }
}

/// Ends a forked child at once with `code`: no atexit handlers, no stdio flushing of buffers
/// that belong to the parent (`_exit(2)`).
pub fn exit_child(code: i32) -> ! {
    // SAFETY: `_exit` takes no pointers and never returns; skipping destructors and exit
    // handlers is the point (they belong to the parent's copy of the state).
    unsafe { libc::_exit(code) }
}
