//! A container's lifetime lock: an open file description lock (fcntl(2) `F_OFD_SETLK`) on
//! `<container dir>/monitor.lock`, taken by the starting command before it looks at the
//! container's state and handed to the monitor, which holds it for its whole life: while it
//! builds the root, runs the container, pauses between restarts and removes a `--rm`
//! container. Held means a monitor lives (or one is being started), whatever the record
//! says; the kernel lets it go with the last descriptor, however the monitor ends.
//!
//! An OFD lock rather than `flock`: it can be tested (`F_OFD_GETLK`) without being taken, so
//! a command that only looks never makes a concurrent start fail. The descriptor is
//! close-on-exec: the init inherits it through the clone and drops it when it execs the
//! container's command.

use std::fs::File;
use std::io;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{FcntlArg, fcntl};

/// The lock's file in the container's directory.
pub const LOCK_FILE: &str = "monitor.lock";

#[derive(Debug, thiserror::Error)]
#[error("locking {path}")]
pub struct LockError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// The held lock; released when the last copy of its descriptor closes.
#[derive(Debug)]
pub struct MonitorLock {
    _file: File,
}

/// A lock of `kind` on the whole file (`l_len` 0: to its end, however it grows).
fn whole_file(kind: libc::c_short) -> libc::flock {
    libc::flock {
        l_type: kind,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    }
}

impl MonitorLock {
    /// Takes the lock of the container in `dir`; `None` when a monitor (or a start) holds it.
    pub fn try_acquire(dir: &Path) -> Result<Option<MonitorLock>, LockError> {
        let path = dir.join(LOCK_FILE);
        let err = |source| LockError {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(err)?;
        match fcntl(
            &file,
            FcntlArg::F_OFD_SETLK(&whole_file(libc::F_WRLCK as _)),
        ) {
            Ok(_) => Ok(Some(MonitorLock { _file: file })),
            Err(nix::errno::Errno::EAGAIN | nix::errno::Errno::EACCES) => Ok(None),
            Err(e) => Err(err(e.into())),
        }
    }
}

/// Whether the lifetime lock of the container in `dir` is held (a monitor lives), tested
/// without taking it. A container without the file (never started) has none.
pub fn is_held(dir: &Path) -> Result<bool, LockError> {
    let path = dir.join(LOCK_FILE);
    let file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => return Err(LockError { path, source }),
    };
    let mut probe = whole_file(libc::F_WRLCK as _);
    fcntl(&file, FcntlArg::F_OFD_GETLK(&mut probe)).map_err(|e| LockError {
        path,
        source: e.into(),
    })?;
    Ok(probe.l_type != libc::F_UNLCK as libc::c_short)
}

/// Waits until the lock of the container in `dir` is free, `timeout` at most; whether it is.
pub fn wait_released(dir: &Path, timeout: Duration) -> Result<bool, LockError> {
    let deadline = Instant::now() + timeout;
    loop {
        if !is_held(dir)? {
            return Ok(true);
        }
        if Instant::now() > deadline {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_until_the_last_descriptor_closes() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!is_held(dir.path()).unwrap());
        let lock = MonitorLock::try_acquire(dir.path()).unwrap().unwrap();
        assert!(is_held(dir.path()).unwrap());
        // Testing does not take it, and a second start is refused.
        assert!(is_held(dir.path()).unwrap());
        assert!(MonitorLock::try_acquire(dir.path()).unwrap().is_none());
        drop(lock);
        assert!(!is_held(dir.path()).unwrap());
        assert!(wait_released(dir.path(), Duration::ZERO).unwrap());
        assert!(MonitorLock::try_acquire(dir.path()).unwrap().is_some());
    }
}
