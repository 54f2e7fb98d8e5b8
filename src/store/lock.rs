//! The store lock: one `flock` on `<graphroot>/storage.lock`, shared for readers, exclusive for
//! writers.
//!
//! Lock order (the only one; never take them the other way round):
//! 1. `storage.lock` (this module), shared or exclusive;
//! 2. a staging directory's own lock (`tmp/<name>.lock`, see `staging.rs`).
//!
//! Long work (extracting layers, hashing blobs) happens in a staging directory under the
//! *shared* store lock, so readers and other loads go on meanwhile; the exclusive lock is
//! held only while finished objects are renamed into place. Commands that remove or rename
//! things (`rmi`, `tag`) take it exclusively and so wait for running loads. Going from shared
//! to exclusive releases the lock for a moment (flock(2) cannot upgrade atomically); a load
//! re-checks under the exclusive lock that the layers it counted on are still there. A
//! waiting command names the processes that hold the lock (from `/proc/locks`). The lock is
//! never to be held across network I/O or a running container.
//!
//! Waits are bounded: a command that has not had the lock after [`DEFAULT_TIMEOUT`] (or
//! `CORACLE_LOCK_TIMEOUT` seconds, for tests and for scripts that prefer to fail fast) gives
//! up with an error naming the holders' PIDs, instead of hanging behind a stuck process. The
//! wait polls `flock(LOCK_NB)` rather than blocking in the kernel, so that it can give up.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a command waits for the store lock before giving up.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The wait bound: `CORACLE_LOCK_TIMEOUT` (seconds, fractions allowed) or the default.
pub fn timeout() -> Duration {
    std::env::var("CORACLE_LOCK_TIMEOUT")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_TIMEOUT)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    Shared,
    Exclusive,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("opening the store lock {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "gave up waiting for the store lock {path} ({purpose}) after {}s: {holders}",
        waited.as_secs_f64().round()
    )]
    Timeout {
        path: PathBuf,
        purpose: String,
        waited: Duration,
        holders: String,
    },
    #[error("locking the store lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// A held store lock; released on drop.
#[derive(Debug)]
pub struct StoreLock {
    file: File,
    mode: LockMode,
}

impl StoreLock {
    /// Takes the lock, waiting if another command holds it; while waiting, says on stderr
    /// which processes hold it (from `/proc/locks`), and gives up after [`timeout`] with an
    /// error that names them again.
    pub fn acquire(path: &Path, mode: LockMode, purpose: &str) -> Result<StoreLock, LockError> {
        Self::acquire_within(path, mode, purpose, timeout())
    }

    /// [`StoreLock::acquire`] with an explicit bound.
    pub fn acquire_within(
        path: &Path,
        mode: LockMode,
        purpose: &str,
        limit: Duration,
    ) -> Result<StoreLock, LockError> {
        if let Some(lock) = Self::try_acquire(path, mode)? {
            return Ok(lock);
        }
        let file = open_lock_file(path, mode)?;
        #[allow(clippy::print_stderr)]
        {
            eprintln!(
                "waiting for the store lock {} ({purpose}): {}",
                path.display(),
                describe_holders(&file)
            );
        }
        let start = Instant::now();
        // Short naps first (most holders are done in milliseconds), then at most 100 ms.
        let mut nap = Duration::from_millis(2);
        loop {
            let attempt = match mode {
                LockMode::Shared => file.try_lock_shared(),
                LockMode::Exclusive => file.try_lock(),
            };
            match attempt {
                Ok(()) => return Ok(StoreLock { file, mode }),
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(source)) => {
                    return Err(LockError::Lock {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            }
            let waited = start.elapsed();
            if waited >= limit {
                return Err(LockError::Timeout {
                    path: path.to_path_buf(),
                    purpose: purpose.to_string(),
                    waited,
                    holders: describe_holders(&file),
                });
            }
            std::thread::sleep(nap.min(limit - waited));
            nap = (nap * 2).min(Duration::from_millis(100));
        }
    }

    /// Takes the lock if nobody holds it in a conflicting mode; never waits.
    pub fn try_acquire(path: &Path, mode: LockMode) -> Result<Option<StoreLock>, LockError> {
        let file = open_lock_file(path, mode)?;
        let attempt = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => Ok(Some(StoreLock { file, mode })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(LockError::Lock {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// A shared lock on an existing lock file, without creating it and without waiting:
    /// `None` when the file is missing or a writer holds the lock. For shell completion,
    /// which must neither create a store nor block a prompt.
    pub fn try_shared_existing(path: &Path) -> Option<StoreLock> {
        let file = File::open(path).ok()?;
        file.try_lock_shared().ok()?;
        Some(StoreLock {
            file,
            mode: LockMode::Shared,
        })
    }

    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// Turns a shared lock into an exclusive one. flock(2) cannot do this atomically: the
    /// shared lock is released first, so callers must re-check what they read under it.
    pub fn upgrade(&mut self, path: &Path, purpose: &str) -> Result<(), LockError> {
        if self.mode == LockMode::Exclusive {
            return Ok(());
        }
        self.file.unlock().map_err(|source| LockError::Lock {
            path: path.to_path_buf(),
            source,
        })?;
        *self = StoreLock::acquire(path, LockMode::Exclusive, purpose)?;
        Ok(())
    }

    /// Turns an exclusive lock into a shared one (never waits: nobody else can hold it).
    pub fn downgrade(&mut self, path: &Path) -> Result<(), LockError> {
        if self.mode == LockMode::Shared {
            return Ok(());
        }
        self.file.lock_shared().map_err(|source| LockError::Lock {
            path: path.to_path_buf(),
            source,
        })?;
        self.mode = LockMode::Shared;
        Ok(())
    }
}

/// Opens (creating) the lock file; a reader of a store it may not write opens it read-only,
/// which flock(2) allows.
fn open_lock_file(path: &Path, mode: LockMode) -> Result<File, LockError> {
    let open_err = |source| LockError::Open {
        path: path.to_path_buf(),
        source,
    };
    match OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
    {
        Ok(f) => Ok(f),
        Err(e)
            if mode == LockMode::Shared
                && matches!(
                    e.kind(),
                    io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem
                ) =>
        {
            File::open(path).map_err(open_err)
        }
        Err(e) => Err(open_err(e)),
    }
}

/// Who holds the lock: every process `/proc/locks` lists on this file's inode.
fn describe_holders(file: &File) -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(ino) = file.metadata().map(|m| m.ino()) else {
        return "another coracle command holds it".to_string();
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    let suffix = format!(":{ino}");
    let mut holders = Vec::new();
    for line in locks.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF"; waiters have a "->" field.
        if fields.len() < 6
            || fields[1] == "->"
            || fields[1] != "FLOCK"
            || !fields[5].ends_with(&suffix)
        {
            continue;
        }
        let (kind, pid) = (fields[3], fields[4]);
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| {
                let text: Vec<String> = c
                    .split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect();
                text.join(" ")
            })
            .unwrap_or_default();
        let cmd: String = cmd.chars().take(100).collect();
        let how = if kind == "WRITE" {
            "exclusively"
        } else {
            "shared"
        };
        holders.push(format!("pid {pid} ({cmd}) holds it {how}"));
    }
    if holders.is_empty() {
        "another coracle command holds it".to_string()
    } else {
        holders.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_locks_coexist_exclusive_waits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storage.lock");
        let a = StoreLock::acquire(&path, LockMode::Shared, "test").unwrap();
        let b = StoreLock::acquire(&path, LockMode::Shared, "test").unwrap();
        let f = File::open(&path).unwrap();
        assert!(matches!(f.try_lock(), Err(TryLockError::WouldBlock)));
        drop((a, b));
        f.try_lock().unwrap();
    }

    #[test]
    fn a_waiter_gives_up_and_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("storage.lock");
        let held = StoreLock::acquire(&path, LockMode::Exclusive, "test").unwrap();
        let start = Instant::now();
        let err = StoreLock::acquire_within(
            &path,
            LockMode::Shared,
            "waiter",
            Duration::from_millis(300),
        )
        .unwrap_err();
        assert!(start.elapsed() >= Duration::from_millis(300));
        let text = err.to_string();
        let me = format!("pid {}", std::process::id());
        assert!(text.contains(&me), "{text:?} should name {me}");
        assert!(text.contains("exclusively"), "{text}");
        drop(held);
        StoreLock::acquire_within(&path, LockMode::Shared, "after", Duration::ZERO).unwrap();
    }
}
