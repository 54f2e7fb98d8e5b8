//! Crash-safe staging: every new object is written in a private directory under `tmp/`,
//! verified, flushed, and only then renamed into place.
//!
//! Each staging directory `tmp/<name>/` has a lock file `tmp/<name>.lock` that its owner holds
//! (flock) for its whole life. A directory whose lock can be taken belongs to a command that
//! died: [`clean_stale`] removes it (under the exclusive store lock, so no staging directory is
//! being created at the same time). That is all an interrupted command ever leaves behind.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum StagingError {
    #[error("creating staging directory {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("removing stale staging data {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("flushing {path} to disk")]
    Sync {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("renaming {from} to {to}")]
    Rename {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The directory under `tmp/` where pulls keep the bytes of interrupted blob downloads, to be
/// resumed by the next pull. It outlives the commands that write it, so [`clean_stale`] leaves
/// it alone; the pull engine removes what is complete or old (`transfer::pull`).
pub const PARTIAL_DIR: &str = "partial-blobs";

/// A private directory for one operation's new objects; removed on drop.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: File,
    keep: bool,
}

impl Staging {
    /// Creates `tmp/<purpose>-<pid>-<n>/` and locks it. Call with the store lock held (shared
    /// is enough) so that [`clean_stale`] cannot run in between.
    pub fn create(tmp: &Path, purpose: &str) -> Result<Staging, StagingError> {
        fs::create_dir_all(tmp).map_err(|source| StagingError::Create {
            path: tmp.to_path_buf(),
            source,
        })?;
        let pid = std::process::id();
        for n in 0u32.. {
            let name = format!("{purpose}-{pid}-{n}");
            let lock_path = tmp.join(format!("{name}.lock"));
            let lock = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock_path)
            {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(source) => {
                    return Err(StagingError::Create {
                        path: lock_path,
                        source,
                    });
                }
            };
            lock.lock().map_err(|source| StagingError::Create {
                path: lock_path.clone(),
                source,
            })?;
            let dir = tmp.join(&name);
            match fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    // Debris of a dead process that had our pid: it is not ours to reuse.
                    let _ = fs::remove_file(&lock_path);
                    continue;
                }
                Err(source) => return Err(StagingError::Create { path: dir, source }),
            }
            return Ok(Staging {
                dir,
                lock_path,
                _lock: lock,
                keep: false,
            });
        }
        unreachable!("u32 staging names exhausted")
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Flushes everything written so far in this file system with one `syncfs`, cheaper
    /// than an fsync per extracted file.
    pub fn sync(&self) -> Result<(), StagingError> {
        let dir = File::open(&self.dir).map_err(|source| StagingError::Sync {
            path: self.dir.clone(),
            source,
        })?;
        rustix::fs::syncfs(&dir).map_err(|e| StagingError::Sync {
            path: self.dir.clone(),
            source: e.into(),
        })
    }

    /// Leaves the directory in place when dropped (for debugging a failed test).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_dir_all(&self.dir);
            let _ = fs::remove_file(&self.lock_path);
        }
    }
}

/// Renames `from` to `to` and makes the rename durable by syncing `to`'s directory.
pub fn rename_durably(from: &Path, to: &Path) -> Result<(), StagingError> {
    fs::rename(from, to).map_err(|source| StagingError::Rename {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })?;
    if let Some(parent) = to.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsync of every file in `files` (files and directories, with their paths for errors), in
/// parallel: a flush waits for the device, and several in flight at once take about as long
/// as one. The threads are joined before this returns (a namespaced fork needs a
/// single-threaded process: `sys::process::fork` waits for them to be gone).
pub fn sync_all_at_once(files: &[(File, PathBuf)]) -> Result<(), StagingError> {
    let results: Vec<io::Result<()>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .iter()
            .skip(1)
            .map(|(f, _)| scope.spawn(move || f.sync_all()))
            .collect();
        let mut results = vec![files.first().map_or(Ok(()), |(f, _)| f.sync_all())];
        results.extend(handles.into_iter().map(|h| {
            h.join()
                .unwrap_or_else(|_| Err(io::Error::other("panicked")))
        }));
        results
    });
    for (result, (_, path)) in results.into_iter().zip(files) {
        result.map_err(|source| StagingError::Sync {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}

/// fsync of a directory, so that renames and removals in it survive a power cut.
pub fn sync_dir(dir: &Path) -> Result<(), StagingError> {
    File::open(dir)
        .and_then(|f| f.sync_all())
        .map_err(|source| StagingError::Sync {
            path: dir.to_path_buf(),
            source,
        })
}

/// Removes the staging directories of commands that died. Returns how many were removed.
/// Call with the exclusive store lock held.
pub fn clean_stale(tmp: &Path) -> Result<usize, StagingError> {
    let entries = match fs::read_dir(tmp) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(source) => {
            return Err(StagingError::Remove {
                path: tmp.to_path_buf(),
                source,
            });
        }
    };
    let mut removed = 0;
    let mut names: Vec<String> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| StagingError::Remove {
            path: tmp.to_path_buf(),
            source,
        })?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    for name in &names {
        if name.ends_with(".lock") || name == PARTIAL_DIR {
            continue;
        }
        let lock_path = tmp.join(format!("{name}.lock"));
        let alive = match File::open(&lock_path) {
            Ok(f) => f.try_lock().is_err(),
            Err(_) => false,
        };
        if alive {
            continue;
        }
        let path = tmp.join(name);
        remove_all(&path)?;
        let _ = fs::remove_file(&lock_path);
        removed += 1;
    }
    // Lock files whose directory is already gone.
    for name in names.iter().filter(|n| n.ends_with(".lock")) {
        let dir = tmp.join(name.trim_end_matches(".lock"));
        if dir.exists() {
            continue;
        }
        let lock_path = tmp.join(name);
        if let Ok(f) = File::open(&lock_path)
            && f.try_lock().is_ok()
        {
            let _ = fs::remove_file(&lock_path);
        }
    }
    Ok(removed)
}

/// Removes a file or directory tree; a missing path is fine.
pub fn remove_all(path: &Path) -> Result<(), StagingError> {
    let res = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    };
    match res {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StagingError::Remove {
            path: path.to_path_buf(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_staging_survives_cleanup_dead_one_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = dir.path().join("tmp");
        let live = Staging::create(&tmp, "load").unwrap();
        fs::write(live.path().join("blob"), b"x").unwrap();
        // A dead command's debris: a directory with an unlocked lock file, one without any.
        fs::create_dir_all(tmp.join("load-1-0/sub")).unwrap();
        fs::write(tmp.join("load-1-0.lock"), b"").unwrap();
        fs::create_dir_all(tmp.join("orphan")).unwrap();
        assert_eq!(clean_stale(&tmp).unwrap(), 2);
        assert!(live.path().join("blob").exists());
        assert!(!tmp.join("load-1-0").exists());
        assert!(!tmp.join("load-1-0.lock").exists());
        drop(live);
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }
}
