//! Removing what no image needs: layers not named by any image or container record, blobs not
//! named by any image or layer record. Runs under the exclusive store lock, after `rmi` and after a crashed
//! command's staging data was found. Removal is rename-into-`tmp/`-then-delete, so a crash
//! halfway leaves only staging debris.

use std::collections::HashSet;
use std::io;
use std::path::PathBuf;

use crate::oci::digest::Digest;
use crate::store::Store;
use crate::store::images::ImageRecordError;
use crate::store::staging::{self, StagingError};

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

pub fn collect(store: &Store) -> Result<Collected, GcError> {
    let images = store.images().list()?;
    let mut live_layers: HashSet<Digest> = HashSet::new();
    let mut live_blobs: HashSet<Digest> = HashSet::new();
    for img in &images {
        live_layers.extend(img.layers.iter().cloned());
        live_blobs.insert(img.id.clone());
        live_blobs.insert(img.digest.clone());
    }
    // A container keeps its image's layers (an overlay root reads them while it runs).
    let containers = store.containers().list().map_err(GcError::Containers)?;
    for c in &containers {
        live_layers.extend(c.layers.iter().cloned());
    }
    let layer_ids = store.layers().list().map_err(|source| GcError::List {
        path: store.layers().dir().to_path_buf(),
        source,
    })?;
    let trash = crate::store::Staging::create(&store.tmp_dir(), "gc")?;
    let mut out = Collected::default();
    for id in layer_ids {
        if live_layers.contains(&id) {
            if let Ok(rec) = store.layers().get(&id) {
                live_blobs.extend(rec.compressed.into_iter().map(|c| c.digest));
            }
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
        if !live_blobs.contains(&id) {
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
