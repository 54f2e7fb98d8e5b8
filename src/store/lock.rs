//! The store lock: one `flock` on `<graphroot>/storage.lock`, shared for readers, exclusive for
//! writers.
//!
//! Lock order (the only one; never take them the other way round):
//! 1. `storage.lock` (this module), shared or exclusive;
//! 2. a staging directory's own lock (`tmp/<name>.lock`, see `staging.rs`).
//!
//! Long work (extracting layers, hashing blobs) happens in a staging directory under the
//! staging lock alone; the exclusive store lock is held only while finished objects are
//! renamed into place, so readers wait milliseconds, not the length of a load. The lock is
//! never held across network I/O or a running container.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

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
    /// Takes the lock, waiting if another command holds it; while waiting, says so on stderr
    /// with what the exclusive holder wrote about itself.
    pub fn acquire(path: &Path, mode: LockMode, purpose: &str) -> Result<StoreLock, LockError> {
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|source| LockError::Open {
                path: path.to_path_buf(),
                source,
            })?;
        let attempt = match mode {
            LockMode::Shared => file.try_lock_shared(),
            LockMode::Exclusive => file.try_lock(),
        };
        match attempt {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = describe_holder(&mut file);
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("waiting for the store lock {}: {holder}", path.display());
                }
                let res = match mode {
                    LockMode::Shared => file.lock_shared(),
                    LockMode::Exclusive => file.lock(),
                };
                res.map_err(|source| LockError::Lock {
                    path: path.to_path_buf(),
                    source,
                })?;
            }
            Err(TryLockError::Error(source)) => {
                return Err(LockError::Lock {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        if mode == LockMode::Exclusive {
            // Best effort: only a note for whoever waits next.
            let note = format!("held by pid {} ({purpose})\n", std::process::id());
            let _ = file
                .set_len(0)
                .and_then(|_| file.rewind())
                .and_then(|_| file.write_all(note.as_bytes()));
        }
        Ok(StoreLock { file, mode })
    }

    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// Turns a shared lock into an exclusive one (flock converts in place, not atomically:
    /// callers must re-check what they read under the shared lock).
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
}

impl StoreLock {
    /// Converts a shared lock to exclusive if nobody else holds the lock; never waits.
    pub fn try_exclusive(&mut self) -> bool {
        if self.mode == LockMode::Exclusive {
            return true;
        }
        // flock converts the lock held on this descriptor in place.
        if self.file.try_lock().is_ok() {
            self.mode = LockMode::Exclusive;
            return true;
        }
        false
    }

    /// Converts an exclusive lock back to shared.
    pub fn downgrade(&mut self) -> Result<(), io::Error> {
        if self.mode == LockMode::Shared {
            return Ok(());
        }
        self.file.lock_shared()?;
        self.mode = LockMode::Shared;
        Ok(())
    }
}

fn describe_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    let text = text.trim();
    if text.is_empty() {
        "another coracle command is using it".to_string()
    } else {
        format!("last written by a writer that said it is {text}; readers may hold it too")
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
}
