//! The name index completion reads: one small file in the runroot
//! (`<runroot>/completion-names.json`) with what the completers offer of each image, manifest
//! list and container, so a TAB reads one file and stats the container records instead of
//! opening and parsing every record of the store.
//!
//! Nothing that writes the store maintains it: the completer checks it against the store on
//! every use — the `images/`, `lists/` and `containers/` directories' and each
//! `container.json`'s inode and modification time (records are replaced by renames, so a
//! changed record is a new inode) — re-reads what changed and writes the index back
//! (a temporary file renamed over it). A stamp less than [`RACY`] older than the index itself
//! is not trusted, as a change in the same clock tick would leave it equal (git's "racy"
//! index entries). Re-reading takes the shared store lock without waiting; when a writer
//! holds it the index answers as it is.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::containers::{Containers, State};
use crate::store::images::Images;
use crate::store::lists::Lists;
use crate::store::lock::StoreLock;
use crate::sys::process::ProcessIdentity;

const FILE: &str = "completion-names.json";
const VERSION: u32 = 1;
/// How close to the index's own time a stamp must be to be re-checked (ns).
const RACY: i128 = 2_000_000_000;

/// A file's identity as far as the index cares: a rename over it changes the inode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    ino: u64,
    mtime_ns: i128,
}

impl Stamp {
    fn of(path: &Path) -> Option<Stamp> {
        let m = std::fs::metadata(path).ok()?;
        Some(Stamp {
            ino: m.ino(),
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
        })
    }
}

/// An image or manifest list, as completion offers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageEntry {
    pub names: Vec<String>,
    /// The short ID.
    pub id: String,
    pub added: DateTime<Utc>,
    pub list: bool,
}

/// A container, as completion offers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerEntry {
    pub id: String,
    pub names: Vec<String>,
    pub image: String,
    state: State,
    monitor: Option<(i32, u64)>,
    stamp: Stamp,
}

impl ContainerEntry {
    /// The state now: a running record whose monitor is gone is an exited container.
    pub fn state(&self) -> State {
        match (self.state, self.monitor) {
            (State::Running, Some((pid, start_time)))
                if (ProcessIdentity { pid, start_time }).is_alive() =>
            {
                State::Running
            }
            (State::Running, _) => State::Exited,
            (s, _) => s,
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct NameIndex {
    version: u32,
    built_ns: i128,
    images_dir: Stamp,
    lists_dir: Stamp,
    containers_dir: Stamp,
    pub images: Vec<ImageEntry>,
    pub containers: Vec<ContainerEntry>,
}

impl NameIndex {
    fn trusted(&self, old: Stamp, now: Stamp) -> bool {
        now == old && old.mtime_ns < self.built_ns - RACY
    }
}

fn now_ns() -> i128 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    d.as_nanos() as i128
}

/// The index of the store at `root`, brought up to date; `None` when there is no store.
pub fn load(root: &Path, runroot: &Path) -> Option<NameIndex> {
    // No store (or not one coracle made): nothing, and nothing created.
    if !root.join("storage.lock").exists() {
        return None;
    }
    let file = runroot.join(FILE);
    let mut index: NameIndex = std::fs::read(&file)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(|i: &NameIndex| i.version == VERSION)
        .unwrap_or_default();
    let started = now_ns();
    let mut lock = None;
    let mut changed = false;
    let mut busy = false;

    // A directory that is missing (no lists yet) has the zero stamp.
    let images_dir = Stamp::of(&root.join("images")).unwrap_or_default();
    let lists_dir = Stamp::of(&root.join("lists")).unwrap_or_default();
    if !index.trusted(index.images_dir, images_dir) || !index.trusted(index.lists_dir, lists_dir) {
        lock = lock.or_else(|| StoreLock::try_shared_existing(&root.join("storage.lock")));
        if lock.is_some() {
            index.images = read_images(root)?;
            index.images_dir = images_dir;
            index.lists_dir = lists_dir;
            changed = true;
        } else {
            // A writer is at work: what the index knew, not saved.
            busy = true;
        }
    }

    let containers_dir = Stamp::of(&root.join("containers")).unwrap_or_default();
    let dir_trusted = index.trusted(index.containers_dir, containers_dir);
    // Which containers there are: the index's list while the directory is unchanged.
    let ids: Vec<String> = if dir_trusted {
        index.containers.iter().map(|c| c.id.clone()).collect()
    } else {
        crate::store::entry_names(&root.join("containers"))
            .ok()?
            .into_iter()
            .filter_map(|n| n.into_string().ok())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    let mut old: std::collections::HashMap<String, ContainerEntry> = index
        .containers
        .drain(..)
        .map(|c| (c.id.clone(), c))
        .collect();
    let records = Containers::new(root.join("containers"));
    for id in ids {
        let dir = records.path(&id);
        let stamp = Stamp::of(&dir.join("container.json"));
        match old.remove(&id) {
            Some(e) if stamp.is_some_and(|s| index.trusted(e.stamp, s)) => index.containers.push(e),
            entry => {
                let Some(stamp) = stamp else {
                    changed = true;
                    continue;
                };
                lock = lock.or_else(|| StoreLock::try_shared_existing(&root.join("storage.lock")));
                if lock.is_none() {
                    // A writer is at work: what the index knew, not saved.
                    busy = true;
                    index.containers.extend(entry);
                    continue;
                }
                changed = true;
                let Ok(rec) = crate::store::containers::read(&dir) else {
                    continue;
                };
                index.containers.push(ContainerEntry {
                    monitor: rec.monitor_pid.zip(rec.monitor_start),
                    id: rec.id,
                    names: rec.names,
                    image: rec.image,
                    state: rec.state,
                    stamp,
                });
            }
        }
    }
    changed |= !old.is_empty() || !dir_trusted;
    index.containers_dir = containers_dir;
    if changed && !busy {
        index.version = VERSION;
        index.built_ns = started;
        save(&file, &index);
    }
    Some(index)
}

fn read_images(root: &Path) -> Option<Vec<ImageEntry>> {
    let images = Images::new(root.join("images")).list().ok()?;
    let lists = Lists::new(root.join("lists")).list().ok()?;
    let mut out: Vec<ImageEntry> = images
        .into_iter()
        .map(|i| ImageEntry {
            id: i.id.short().to_string(),
            names: i.names,
            added: i.added,
            list: false,
        })
        .collect();
    out.extend(lists.iter().map(|l| {
        let rec = crate::store::lookup::list_as_image(l, l.id.clone(), "", 0);
        ImageEntry {
            id: rec.id.short().to_string(),
            names: rec.names,
            added: rec.added,
            list: true,
        }
    }));
    Some(out)
}

/// Writes the index beside where it goes and renames it over; only into a runroot that
/// exists (completion creates no directory), and any failure is only a slower next TAB.
fn save(file: &Path, index: &NameIndex) {
    let Some(dir) = file.parent().filter(|d| d.is_dir()) else {
        return;
    };
    let tmp: PathBuf = dir.join(format!(".{FILE}.{}", std::process::id()));
    let Ok(data) = serde_json::to_vec(index) else {
        return;
    };
    if std::fs::write(&tmp, data).is_ok() && std::fs::rename(&tmp, file).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
