//! The per-user image store (layout in `../shared/DESIGN.md`, "Storage"):
//!
//! ```text
//! <graphroot>/storage.lock        flock: readers shared, writers exclusive (lock.rs)
//!             tmp/                staging; all an interrupted command leaves (staging.rs)
//!             blobs/sha256/<hex>  manifests, configs, compressed layers (blobs.rs)
//!             layers/<hex>/       extracted layers by diff ID (layers.rs, crate::archive)
//!             images/<hex>.json   image records by image ID (images.rs)
//! ```

pub mod blobs;
pub mod gc;
pub mod images;
pub mod layers;
pub mod lock;
pub mod lookup;
pub mod staging;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::paths::StorePaths;
pub use blobs::Blobs;
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
        let lock = StoreLock::acquire(&root.join("storage.lock"), mode, purpose)?;
        let mut store = Store {
            blobs: Blobs::new(root.join("blobs/sha256")),
            layers: Layers::new(root.join("layers")),
            images: Images::new(root.join("images")),
            paths,
            lock,
        };
        if mode == LockMode::Exclusive {
            store.recover()?;
        } else if has_entries(&store.tmp_dir()) {
            // A reader cleans up after a crashed command too, when it is alone in the store.
            if store.lock.try_exclusive() {
                let recovered = store.recover();
                store
                    .lock
                    .downgrade()
                    .map_err(|source| lock::LockError::Lock {
                        path: root.join("storage.lock"),
                        source,
                    })?;
                recovered?;
            }
        }
        Ok(store)
    }

    /// Removes stale staging data; when there was any, collects unreferenced objects too.
    fn recover(&self) -> Result<(), StoreError> {
        if staging::clean_stale(&self.tmp_dir())? > 0 {
            gc::collect(self)?;
        }
        Ok(())
    }

    /// Takes the exclusive lock (if only shared was held) and recovers as a writer would.
    pub fn lock_exclusive(&mut self, purpose: &str) -> Result<(), StoreError> {
        if self.lock.mode() == LockMode::Exclusive {
            return Ok(());
        }
        let path = self.paths.graphroot.join("storage.lock");
        self.lock.upgrade(&path, purpose)?;
        self.recover()
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

    /// A new staging directory for an operation.
    pub fn staging(&self, purpose: &str) -> Result<Staging, StoreError> {
        Ok(Staging::create(&self.tmp_dir(), purpose)?)
    }
}

fn has_entries(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|mut d| d.next().is_some())
        .unwrap_or(false)
}
