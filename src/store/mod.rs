//! The per-user image store (layout in `../shared/DESIGN.md`, "Storage"):
//!
//! ```text
//! <graphroot>/storage.lock        flock: readers shared, writers exclusive (lock.rs)
//!             tmp/                staging; all an interrupted command leaves (staging.rs)
//!             blobs/sha256/<hex>  manifests, configs, compressed layers (blobs.rs)
//!             layers/<hex>/       extracted layers by diff ID (layers.rs, crate::archive)
//!             images/<hex>.json   image records by image ID (images.rs)
//!             containers/<id>/    container records and what they own (containers.rs)
//!             lists/<hex>.json    manifest lists by list ID (lists.rs)
//! ```

pub mod blobs;
pub mod check;
pub mod containers;
pub mod gc;
pub mod images;
pub mod layers;
pub mod lists;
pub mod lock;
pub mod lookup;
pub mod pins;
pub mod reset;
pub mod staging;
pub mod usage;
pub mod volumes;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::paths::StorePaths;
pub use blobs::Blobs;
pub use containers::{ContainerRecord, Containers};
pub use images::{ImageRecord, Images};
pub use layers::{LayerRecord, Layers};
pub use lock::{LockMode, StoreLock};
pub use staging::Staging;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("creating store directory {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Lock(#[from] lock::LockError),
    #[error(transparent)]
    Staging(#[from] staging::StagingError),
    #[error(transparent)]
    Gc(#[from] gc::GcError),
}

/// An open store with its lock held.
#[derive(Debug)]
pub struct Store {
    paths: StorePaths,
    lock: StoreLock,
    blobs: Blobs,
    layers: Layers,
    images: Images,
}

impl Store {
    /// Opens (creating if needed) the store. A writer (exclusive) first removes what
    /// interrupted commands left in `tmp/`, and then anything those commands had already
    /// moved into place but not yet tied to an image.
    pub fn open(paths: StorePaths, mode: LockMode, purpose: &str) -> Result<Store, StoreError> {
        let root = paths.graphroot.clone();
        for sub in ["", "blobs/sha256", "layers", "images", "tmp"] {
            let dir = root.join(sub);
            if !dir.is_dir() {
                fs::create_dir_all(&dir).map_err(|source| StoreError::Create {
                    path: dir.clone(),
                    source,
                })?;
            }
        }
        restrict_to_owner(&root);
        reset::mark_if_own(&root);
        let lock_path = root.join("storage.lock");
        let tmp = root.join("tmp");
        // A reader cleans up after crashed commands too, but only when it is alone in the
        // store: it takes the lock exclusively if that needs no waiting, then shares it.
        let needs_recovery = has_entries(&tmp) || root.join(GC_PENDING).exists();
        let (lock, recover) = match mode {
            LockMode::Exclusive => (StoreLock::acquire(&lock_path, mode, purpose)?, true),
            LockMode::Shared if needs_recovery => {
                match StoreLock::try_acquire(&lock_path, LockMode::Exclusive)? {
                    Some(lock) => (lock, true),
                    None => (StoreLock::acquire(&lock_path, mode, purpose)?, false),
                }
            }
            LockMode::Shared => (StoreLock::acquire(&lock_path, mode, purpose)?, false),
        };
        let mut store = Store {
            blobs: Blobs::new(root.join("blobs/sha256")),
            layers: Layers::new(root.join("layers")),
            images: Images::new(root.join("images")),
            paths,
            lock,
        };
        if recover {
            let recovered = store.recover();
            if mode == LockMode::Shared {
                store.lock.downgrade(&lock_path)?;
                // A reader of a store it cannot write still reads it.
                if let Err(e) = recovered {
                    tracing::warn!("could not clean up after an interrupted command: {e:#}");
                }
            } else {
                recovered?;
            }
        }
        Ok(store)
    }

    /// Removes stale staging data; when there was any, or a collection is pending, repairs
    /// what an interrupted commit can leave (a name on two images) and collects objects no
    /// image needs. Call with the exclusive lock.
    fn recover(&self) -> Result<(), StoreError> {
        let pending = self.paths.graphroot.join(GC_PENDING);
        // Debris this user cannot delete (files a container chowned to subordinate ids) must
        // not stop unrelated commands: say so and go on.
        let cleaned = staging::clean_stale(&self.tmp_dir()).unwrap_or_else(|e| {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("WARNING: could not remove what an interrupted command left: {e} (`coracle unshare rm -rf` removes files owned by subordinate ids)");
            }
            0
        });
        if cleaned > 0 || pending.exists() {
            self.repair_names()?;
            gc::collect(self)?;
            staging::remove_all(&pending)?;
        }
        Ok(())
    }

    /// A commit killed between writing an image record and dropping its names from older
    /// images leaves a name on two images: the newest keeps it, as the commit intended.
    fn repair_names(&self) -> Result<(), StoreError> {
        let mut images = self.images.list().map_err(gc::GcError::from)?;
        images.sort_by_key(|i| std::cmp::Reverse(i.added));
        let mut seen = std::collections::HashSet::new();
        let staging = Staging::create(&self.tmp_dir(), "repair")?;
        for mut img in images {
            let before = img.names.len();
            img.names.retain(|n| !seen.contains(n));
            seen.extend(img.names.iter().cloned());
            if img.names.len() != before {
                self.images
                    .put(staging.path(), &img)
                    .map_err(gc::GcError::from)?;
            }
        }
        Ok(())
    }

    /// Takes the exclusive lock (if only shared was held). Stale staging data is removed,
    /// but collecting unreferenced layers is left to the next command (a `gc.pending`
    /// marker): the caller may be about to use a layer that no image references yet.
    pub fn lock_exclusive(&mut self, purpose: &str) -> Result<(), StoreError> {
        if self.lock.mode() == LockMode::Exclusive {
            return Ok(());
        }
        let path = self.paths.graphroot.join("storage.lock");
        self.lock.upgrade(&path, purpose)?;
        if staging::clean_stale(&self.tmp_dir()).unwrap_or(0) > 0 {
            let marker = self.paths.graphroot.join(GC_PENDING);
            fs::write(&marker, b"").map_err(|source| StoreError::Create {
                path: marker,
                source,
            })?;
        }
        Ok(())
    }

    pub fn paths(&self) -> &StorePaths {
        &self.paths
    }
    pub fn graphroot(&self) -> &Path {
        &self.paths.graphroot
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.paths.graphroot.join("tmp")
    }
    pub fn blobs(&self) -> &Blobs {
        &self.blobs
    }
    pub fn layers(&self) -> &Layers {
        &self.layers
    }
    pub fn images(&self) -> &Images {
        &self.images
    }
    /// The store's event log (`coracle events`).
    pub fn events(&self) -> crate::events::EventLog {
        crate::events::EventLog::new(&self.paths.graphroot)
    }

    pub fn containers(&self) -> Containers {
        Containers::new(self.paths.graphroot.join("containers"))
    }
    pub fn volumes(&self) -> volumes::Volumes {
        volumes::Volumes::new(self.paths.graphroot.join("volumes"))
    }
    pub fn lists(&self) -> lists::Lists {
        lists::Lists::new(self.paths.graphroot.join("lists"))
    }

    /// Turns the exclusive lock into a shared one (readers may come in again).
    pub fn lock_shared(&mut self) -> Result<(), StoreError> {
        let path = self.paths.graphroot.join("storage.lock");
        Ok(self.lock.downgrade(&path)?)
    }

    /// A new staging directory for an operation.
    pub fn staging(&self, purpose: &str) -> Result<Staging, StoreError> {
        Ok(Staging::create(&self.tmp_dir(), purpose)?)
    }
}

/// Makes the store reachable by its owner only (0700, as Podman's storage): a vfs container
/// root holds the image's real setuid binaries and owners, which other local users must not
/// be able to reach. Best effort: a store the user does not own is left as it is.
fn restrict_to_owner(root: &Path) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Ok(meta) = fs::metadata(root) else { return };
    if meta.uid() == rustix::process::geteuid().as_raw()
        && meta.mode() & 0o077 != 0
        && let Err(e) = fs::set_permissions(root, fs::Permissions::from_mode(0o700))
    {
        tracing::warn!("could not make {} private: {e}", root.display());
    }
}

/// The names in a store directory; a directory that does not exist yet holds nothing.
pub(crate) fn entry_names(dir: &Path) -> io::Result<Vec<std::ffi::OsString>> {
    match fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.map(|e| e.file_name())).collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Marks that unreferenced objects may exist and must be collected by the next recovery.
const GC_PENDING: &str = "gc.pending";

fn has_entries(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}
