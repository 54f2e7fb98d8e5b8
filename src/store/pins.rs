//! Images a running build still needs, kept from `rmi`, `image prune` and `system prune`.
//!
//! A build writes `<graphroot>/build/active/<pid>-<nanos>.json` (the image IDs it has resolved
//! or written) next to `<same>.lock`, which it holds locked (flock) for as long as it runs. A
//! pin file whose lock nobody holds belongs to a build that is gone (crashed, killed): it is
//! ignored and removed. Pins are added while the store lock is held (shared or exclusive), and
//! read under the exclusive lock, so a prune sees every image a build resolved before it.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::oci::digest::Digest;
use crate::store::Store;
use crate::store::lock::{LockMode, StoreLock};

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("writing the build's image pins {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("locking the build's pin file")]
    Lock(#[from] crate::store::lock::LockError),
}

fn dir(graphroot: &Path) -> PathBuf {
    graphroot.join("build").join("active")
}

/// This process's pins: its lock (held) and the IDs written to its JSON file.
struct Active {
    _lock: StoreLock,
    json: PathBuf,
    lock_path: PathBuf,
    ids: Vec<String>,
}

static ACTIVE: Mutex<Option<Active>> = Mutex::new(None);

/// Pins this build's images until dropped (then the pin files go).
pub struct BuildPins(());

impl BuildPins {
    pub fn start(graphroot: &Path) -> Result<BuildPins, PinError> {
        let d = dir(graphroot);
        let write = |source| PinError::Write {
            path: d.clone(),
            source,
        };
        std::fs::create_dir_all(&d).map_err(write)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.as_nanos())
            .unwrap_or_default();
        let stem = format!("{}-{nanos}", std::process::id());
        let lock_path = d.join(format!("{stem}.lock"));
        let lock = StoreLock::try_acquire(&lock_path, LockMode::Exclusive)?.ok_or_else(|| {
            write(io::Error::new(
                io::ErrorKind::WouldBlock,
                "a new pin lock is held by another process",
            ))
        })?;
        let active = Active {
            _lock: lock,
            json: d.join(format!("{stem}.json")),
            lock_path,
            ids: Vec::new(),
        };
        write_ids(&active.json, &active.ids)?;
        *ACTIVE.lock().unwrap_or_else(|p| p.into_inner()) = Some(active);
        Ok(BuildPins(()))
    }
}

impl Drop for BuildPins {
    fn drop(&mut self) {
        if let Some(a) = ACTIVE.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = std::fs::remove_file(&a.json);
            let _ = std::fs::remove_file(&a.lock_path);
        }
    }
}

fn write_ids(json: &Path, ids: &[String]) -> Result<(), PinError> {
    let tmp = json.with_extension("json.tmp");
    let bytes = serde_json::to_vec(ids).unwrap_or_default();
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, json))
        .map_err(|source| PinError::Write {
            path: json.to_path_buf(),
            source,
        })
}

/// Pins image `id` for the running build; nothing when no build is running in this process.
/// Call with the store lock held, in the same hold that found or wrote the image.
pub fn pin(id: &Digest) -> Result<(), PinError> {
    let mut guard = ACTIVE.lock().unwrap_or_else(|p| p.into_inner());
    let Some(a) = guard.as_mut() else {
        return Ok(());
    };
    let id = id.to_string();
    if a.ids.contains(&id) {
        return Ok(());
    }
    a.ids.push(id);
    write_ids(&a.json, &a.ids)
}

/// The images running builds have pinned. Pin files of builds that are gone are removed.
/// Call with the exclusive store lock.
pub fn pinned(store: &Store) -> HashSet<Digest> {
    let mut out = HashSet::new();
    let d = dir(store.graphroot());
    let Ok(entries) = std::fs::read_dir(&d) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.extension().and_then(|x| x.to_str()) != Some("lock") {
            continue;
        }
        let json = path.with_extension("json");
        match StoreLock::try_acquire(&path, LockMode::Exclusive) {
            Ok(Some(stale)) => {
                let _ = std::fs::remove_file(&json);
                let _ = std::fs::remove_file(&path);
                drop(stale);
            }
            Ok(None) => {
                let ids: Vec<String> = std::fs::read(&json)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .unwrap_or_default();
                out.extend(ids.iter().filter_map(|s| s.parse::<Digest>().ok()));
            }
            Err(_) => {}
        }
    }
    out
}
