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

/// [`fork`] into new namespaces: `clone(2)` with `flags` (`CLONE_NEW*`) and no new stack, so
/// that the child continues on a copy of the caller's stack exactly as after `fork` (what
/// crun does). One call creates every namespace at once; with `CLONE_NEWPID` the child is
/// PID 1 of the new PID namespace. The calling process must be single-threaded (checked).
pub fn fork_into(flags: nix::sched::CloneFlags) -> Result<Forked, ForkError> {
    let threads = thread_count().map_err(ForkError::Threads)?;
    if threads != 1 {
        return Err(ForkError::Threaded(threads));
    }
    let flags = flags.bits() as libc::c_ulong | libc::SIGCHLD as libc::c_ulong;
    // SAFETY: a NULL stack makes clone(2) behave as fork(2) (the child runs on a copy-on-write
    // copy of this stack); the process is single-threaded (checked above), so the child holds
    // no lock another thread took, and callers end it with `exit_child` or exec. The other
    // arguments (parent/child tid pointers, tls) are unused without the flags that need them.
    let ret = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    match ret {
        -1 => Err(ForkError::Fork(io::Error::last_os_error())),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// Marks every file descriptor from `first` up close-on-exec (`close_range(2)` with
/// `CLOSE_RANGE_CLOEXEC`), so that an exec'd program inherits none of ours by accident.
pub fn cloexec_from(first: u32) -> io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range takes plain integers; with CLOSE_RANGE_CLOEXEC it only sets a flag
    // on descriptors and closes none, so no owned descriptor of this process is invalidated.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
