//! Removing what no image needs: layers not named by any image or container record, blobs not
//! named by any image or layer record. Runs under the exclusive store lock, after `rmi` and after a crashed
//! command's staging data was found. Removal is rename-into-`tmp/`-then-delete, so a crash
//! halfway leaves only staging debris.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;

use crate::oci::digest::Digest;
use crate::store::images::ImageRecordError;
use crate::store::staging::{self, StagingError};
use crate::store::{ContainerRecord, ImageRecord, Store};

#[derive(Debug, thiserror::Error)]
pub enum GcError {
    #[error(transparent)]
    Images(#[from] ImageRecordError),
    #[error(transparent)]
    Containers(crate::store::containers::ContainerError),
    #[error("listing {path}")]
    List {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Staging(#[from] StagingError),
}

/// What a collection removed.
#[derive(Debug, Default)]
pub struct Collected {
    pub layers: Vec<Digest>,
    pub blobs: Vec<Digest>,
}

/// The layers and blobs that `images` and `containers` need: every image's layers, config and
/// manifest, every container's layers, and the compressed copies of those layers.
#[derive(Debug, Default)]
pub struct Live {
    pub layers: HashSet<Digest>,
    pub blobs: HashSet<Digest>,
}

impl Live {
    pub fn of(store: &Store, images: &[ImageRecord], containers: &[ContainerRecord]) -> Live {
        let mut live = Live::default();
        for img in images {
            live.layers.extend(img.layers.iter().cloned());
            live.blobs.insert(img.id.clone());
            live.blobs.insert(img.digest.clone());
        }
        // A container keeps its image's layers (an overlay root reads them while it runs).
        for c in containers {
            live.layers.extend(c.layers.iter().cloned());
        }
        for id in &live.layers {
            if let Ok(rec) = store.layers().get(id) {
                live.blobs
                    .extend(rec.compressed.into_iter().map(|c| c.digest));
            }
        }
        live
    }
}

pub fn collect(store: &Store) -> Result<Collected, GcError> {
    let images = store.images().list()?;
    let containers = store.containers().list().map_err(GcError::Containers)?;
    let live = Live::of(store, &images, &containers);
    let layer_ids = store.layers().list().map_err(|source| GcError::List {
        path: store.layers().dir().to_path_buf(),
        source,
    })?;
    let trash = crate::store::Staging::create(&store.tmp_dir(), "gc")?;
    let mut out = Collected::default();
    for id in layer_ids {
        if live.layers.contains(&id) {
            continue;
        }
        let from = store.layers().path(&id);
        let to = trash.path().join(format!("layer-{}", id.hex()));
        std::fs::rename(&from, &to).map_err(|source| StagingError::Rename {
            from: from.clone(),
            to: to.clone(),
            source,
        })?;
        crate::failpoint!("rmi.layer-moved");
        out.layers.push(id);
    }
    let blob_ids = store.blobs().list().map_err(|source| GcError::List {
        path: store.blobs().dir().to_path_buf(),
        source,
    })?;
    for id in blob_ids {
        if !live.blobs.contains(&id) {
            staging::remove_all(&store.blobs().path(&id))?;
            out.blobs.push(id);
        }
    }
    if !out.layers.is_empty() {
        staging::sync_dir(store.layers().dir())?;
    }
    if !out.blobs.is_empty() {
        staging::sync_dir(store.blobs().dir())?;
    }
    drop(trash);
    Ok(out)
}
