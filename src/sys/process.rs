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

/// Checks that the calling process has a single thread. A thread that was just joined
/// (`store::staging::sync_all_at_once`, the overlay's workers after an unmount) is still
/// counted until the kernel has released it, a moment after `join` returned: waited for
/// briefly.
fn ensure_single_threaded() -> Result<(), ForkError> {
    let mut threads = thread_count().map_err(ForkError::Threads)?;
    for _ in 0..50 {
        if threads == 1 {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
        threads = thread_count().map_err(ForkError::Threads)?;
    }
    if threads != 1 {
        return Err(ForkError::Threaded(threads));
    }
    Ok(())
}

/// Forks the calling process, which must be single-threaded (checked).
///
/// The child may allocate and run ordinary Rust code (no other thread can have held a lock
/// at the fork), but it must end with [`exit_child`] or an `exec`, never by returning into
/// the parent's code path.
pub fn fork() -> Result<Forked, ForkError> {
    ensure_single_threaded()?;
    // SAFETY: the process has a single thread (checked just above; only this thread could
    // have started another since), so the child inherits no lock held by another thread and
    // may run async-signal-unsafe code; callers end the child with `exit_child` or exec.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent(child)),
        Ok(nix::unistd::ForkResult::Child) => Ok(Forked::Child),
        Err(errno) => Err(ForkError::Fork(errno.into())),
    }
}

/// [`fork`] for a process that [`fork`] itself made and that started no thread since: it
/// is single-threaded by construction. For a child that joined a container's mount
/// namespace, where `/proc` is the container's and `/proc/self` does not name it (it is
/// outside that PID namespace), so the thread count cannot be read.
pub fn fork_again() -> Result<Forked, ForkError> {
    // SAFETY: the caller is a child of `fork` (which checked for a single thread) that
    // started no thread, so the same reasoning as in `fork` holds: no lock held by another
    // thread, and callers end the child with `exit_child` or exec.
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
    ensure_single_threaded()?;
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

/// Closes every descriptor of the calling process that is open on the device `path` (e.g.
/// `/dev/fuse`), found through `/proc/self/fd`. A forked child that inherited the FUSE
/// device must drop it: the kernel aborts a FUSE connection only when the last descriptor
/// of it is closed, so a child holding one keeps a dead server's mount alive and waits on it
/// forever, uninterruptibly (a request already read by the server is waited out,
/// `request_wait_answer`), beyond the reach of SIGKILL. Returns how many were closed.
pub fn close_device_fds(path: &str) -> io::Result<usize> {
    let mut fds = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if std::fs::read_link(entry.path()).is_ok_and(|t| t == std::path::Path::new(path)) {
            fds.push(fd);
        }
    }
    for fd in &fds {
        // SAFETY: `fd` was open in this process a moment ago (listed above, and this process
        // is single-threaded here); whatever owned it in the parent's copy of the state is
        // never used in this child again, which is the point of dropping it.
        unsafe { libc::close(*fd) };
    }
    Ok(fds.len())
}

/// A process identified by its pid and its start time (field 22 of `/proc/PID/stat`, clock
/// ticks after boot, proc(5)): a pid alone may name a later process once the first is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    pub pid: i32,
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The calling process.
    pub fn current() -> io::Result<ProcessIdentity> {
        let pid = std::process::id() as i32;
        let (_, start_time) = stat_fields(pid)?;
        Ok(ProcessIdentity { pid, start_time })
    }

    /// Whether this very process still runs (a zombie does not).
    pub fn is_alive(&self) -> bool {
        matches!(stat_fields(self.pid), Ok((state, start)) if start == self.start_time && state != 'Z' && state != 'X')
    }

    /// Sends SIGKILL to this process, if it is still the same one: a pidfd is opened first,
    /// then the start time checked, so the signal cannot reach a process that reused the pid.
    /// `Ok(false)` when it was already gone.
    pub fn kill(&self) -> io::Result<bool> {
        self.signal(libc::SIGKILL)
    }

    /// Sends `signal` to this process, as [`ProcessIdentity::kill`] sends SIGKILL.
    pub fn signal(&self, signal: i32) -> io::Result<bool> {
        let Some(signal) = rustix::process::Signal::from_named_raw(signal) else {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        };
        let Some(pid) = rustix::process::Pid::from_raw(self.pid) else {
            return Ok(false);
        };
        let fd = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        if !self.is_alive() {
            return Ok(false);
        }
        match rustix::process::pidfd_send_signal(&fd, signal) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::SRCH) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// The state letter and start time of `pid` from `/proc/PID/stat` (proc(5)); the command
/// name in parentheses may hold spaces and parentheses, so fields are counted after the last
/// `)`.
fn stat_fields(pid: i32) -> io::Result<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_stat(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unexpected contents of /proc/{pid}/stat"),
        )
    })
}

fn parse_stat(text: &str) -> Option<(char, u64)> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    // Field 3 is the state; field 22 the start time, the 20th after the parenthesis.
    let state = fields.next()?.chars().next()?;
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

#[cfg(test)]
mod identity_tests {
    use super::*;

    #[test]
    fn stat_with_odd_command_names() {
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000 10";
        assert_eq!(parse_stat(line), Some(('S', 123456)));
        assert_eq!(parse_stat("42 (x"), None);
    }

    #[test]
    fn current_process_is_alive() {
        let me = ProcessIdentity::current().unwrap();
        assert!(me.is_alive());
        let other = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.is_alive());
    }
}
