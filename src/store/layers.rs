//! `layers/<diff-id hex>/`: one extracted layer each, with its record `layer.json`.
//!
//! A layer is named by its diff ID (the sha256 of its uncompressed tar), so two images that
//! share a layer share one directory. Whether a layer is still needed is computed from the
//! image records (see `gc.rs`), never from a stored counter that a crash could leave wrong.
//! The files beside `layer.json` (`diff/` and the tar-split record) belong to `crate::archive`.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::oci::digest::Digest;

pub const RECORD: &str = "layer.json";

/// A compressed form of the layer kept in `blobs/` (as pulled or loaded).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CompressedBlob {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerRecord {
    pub diff_id: Digest,
    /// Length of the uncompressed tar stream.
    pub tar_size: u64,
    /// Number of tar entries.
    pub entries: u64,
    #[serde(default)]
    pub compressed: Vec<CompressedBlob>,
    pub created: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("layer {diff_id} is not in the store")]
    Missing { diff_id: Digest },
    #[error("reading layer record {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer record {path} is not valid JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing layer record {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

#[derive(Debug, Clone)]
pub struct Layers {
    dir: PathBuf,
}

impl Layers {
    pub fn new(dir: PathBuf) -> Self {
        Layers { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory of a layer (whether or not it exists).
    pub fn path(&self, diff_id: &Digest) -> PathBuf {
        self.dir.join(diff_id.hex())
    }

    pub fn contains(&self, diff_id: &Digest) -> bool {
        self.path(diff_id).join(RECORD).exists()
    }

    pub fn get(&self, diff_id: &Digest) -> Result<LayerRecord, LayerError> {
        let path = self.path(diff_id).join(RECORD);
        match fs::read(&path) {
            Ok(data) => {
                serde_json::from_slice(&data).map_err(|source| LayerError::Parse { path, source })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(LayerError::Missing {
                diff_id: diff_id.clone(),
            }),
            Err(source) => Err(LayerError::Read { path, source }),
        }
    }

    /// Diff IDs of every layer directory present.
    pub fn list(&self) -> io::Result<Vec<Digest>> {
        crate::store::blobs::list_digest_dir(&self.dir)
    }

    /// Finds a layer by the digest of one of its compressed forms.
    pub fn find_by_compressed(&self, digest: &Digest) -> Option<LayerRecord> {
        let layers = self.list().ok()?;
        layers
            .iter()
            .filter_map(|d| self.get(d).ok())
            .find(|rec| rec.compressed.iter().any(|c| &c.digest == digest))
    }
}

/// Writes a layer record into a staged layer directory (before it is renamed into the store).
pub fn write_record(layer_dir: &Path, record: &LayerRecord) -> Result<(), LayerError> {
    let path = layer_dir.join(RECORD);
    let data = serde_json::to_vec_pretty(record).map_err(|e| LayerError::Write {
        path: path.clone(),
        source: e.into(),
    })?;
    fs::write(&path, data).map_err(|source| LayerError::Write { path, source })
}

impl Layers {
    /// Adds a compressed form (its blob already in `blobs/`) to a stored layer's record,
    /// replacing `layer.json` by rename from `staging_dir`, so a crash leaves either the old
    /// record or the new one. Returns false when the record already names that blob.
    /// Call with the exclusive store lock held.
    pub fn add_compressed(
        &self,
        staging_dir: &Path,
        diff_id: &Digest,
        blob: &CompressedBlob,
    ) -> Result<bool, LayerError> {
        let mut record = self.get(diff_id)?;
        if record.compressed.iter().any(|c| c.digest == blob.digest) {
            return Ok(false);
        }
        record.compressed.push(blob.clone());
        self.replace_record(staging_dir, &record)?;
        Ok(true)
    }

    /// Removes compressed forms from a stored layer's record (`system check --repair`, for
    /// blobs that are gone or damaged), replacing `layer.json` as [`Layers::add_compressed`]
    /// does. Call with the exclusive store lock held.
    pub fn drop_compressed(
        &self,
        staging_dir: &Path,
        diff_id: &Digest,
        gone: &[Digest],
    ) -> Result<(), LayerError> {
        let mut record = self.get(diff_id)?;
        record.compressed.retain(|c| !gone.contains(&c.digest));
        self.replace_record(staging_dir, &record)
    }

    fn replace_record(&self, staging_dir: &Path, record: &LayerRecord) -> Result<(), LayerError> {
        let diff_id = &record.diff_id;
        let staged = staging_dir.join(format!("layer-{}.json", diff_id.hex()));
        let data = serde_json::to_vec_pretty(&record).map_err(|e| LayerError::Write {
            path: staged.clone(),
            source: e.into(),
        })?;
        let to = self.path(diff_id).join(RECORD);
        crate::store::images::write_synced(&staged, &data)
            .and_then(|()| fs::rename(&staged, &to))
            .and_then(|()| fs::File::open(self.path(diff_id))?.sync_all())
            .map_err(|source| LayerError::Write { path: to, source })
    }
}
