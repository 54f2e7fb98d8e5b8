//! `images/<image id hex>.json`: one record per image — its names, manifest, config and layers.
//!
//! The image ID is the digest of the image's config, as in Podman and Docker. A record is the
//! moment an image becomes visible: it is written last, after every blob and layer it names
//! is in place, and replaced by rename.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::oci::digest::Digest;
use crate::store::staging::{self, StagingError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// The config digest.
    pub id: Digest,
    /// Full references (`docker.io/library/busybox:latest`), in the order they were given.
    #[serde(default)]
    pub names: Vec<String>,
    /// Every name this image has had, most recent first (Podman's `NamesHistory`).
    #[serde(default)]
    pub names_history: Vec<String>,
    /// The manifest's digest (Podman's `Digest`).
    pub digest: Digest,
    pub manifest_media_type: String,
    /// Diff IDs, base layer first.
    pub layers: Vec<Digest>,
    /// The layers' uncompressed sizes plus the metadata (config, manifest) as Podman counts it.
    pub size: u64,
    /// When the image entered this store.
    pub added: DateTime<Utc>,
    /// The image this one was built on by `build` (a step's parent), which makes an unnamed
    /// parent Podman's "intermediate" even when the child added no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Digest>,
}

impl ImageRecord {
    pub fn config_digest(&self) -> &Digest {
        &self.id
    }

    /// Adds `name` last in `names` (as Podman appends) and first in `names_history`.
    pub fn add_name(&mut self, name: &str) {
        if !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_string());
        }
        self.names_history.retain(|n| n != name);
        self.names_history.insert(0, name.to_string());
    }

    /// Whether another image is built on this one: its layers start with all of ours.
    pub fn has_children(&self, all: &[ImageRecord]) -> bool {
        !self.layers.is_empty()
            && all.iter().any(|o| {
                o.id != self.id
                    && o.layers.len() > self.layers.len()
                    && o.layers.starts_with(&self.layers)
            })
            || all.iter().any(|o| o.parent.as_ref() == Some(&self.id))
    }

    /// Podman's dangling image: no name and no image built on it.
    pub fn is_dangling(&self, all: &[ImageRecord]) -> bool {
        self.names.is_empty() && !self.has_children(all)
    }

    /// Podman's intermediate image: no name, but an image is built on it.
    pub fn is_intermediate(&self, all: &[ImageRecord]) -> bool {
        self.names.is_empty() && self.has_children(all)
    }

    pub fn remove_name(&mut self, name: &str) -> bool {
        let before = self.names.len();
        self.names.retain(|n| n != name);
        before != self.names.len()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImageRecordError {
    #[error("reading image record {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("image record {path} is not valid JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing image record {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Staging(#[from] StagingError),
}

#[derive(Debug, Clone)]
pub struct Images {
    dir: PathBuf,
}

impl Images {
    pub fn new(dir: PathBuf) -> Self {
        Images { dir }
    }

    pub fn path(&self, id: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", id.hex()))
    }

    pub fn get(&self, id: &Digest) -> Result<Option<ImageRecord>, ImageRecordError> {
        let path = self.path(id);
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|source| ImageRecordError::Parse { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ImageRecordError::Read { path, source }),
        }
    }

    /// Every image record, in no particular order.
    pub fn list(&self) -> Result<Vec<ImageRecord>, ImageRecordError> {
        let names =
            crate::store::entry_names(&self.dir).map_err(|source| ImageRecordError::Read {
                path: self.dir.clone(),
                source,
            })?;
        let mut out = Vec::new();
        for name in names {
            let Some(hex) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            let Ok(id) = Digest::from_hex(hex) else {
                continue;
            };
            if let Some(rec) = self.get(&id)? {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Writes a record through `staging_dir` and renames it into place durably.
    pub fn put(&self, staging_dir: &Path, record: &ImageRecord) -> Result<(), ImageRecordError> {
        let staged = staging_dir.join(format!("image-{}.json", record.id.hex()));
        let data = serde_json::to_vec_pretty(record).map_err(|e| ImageRecordError::Write {
            path: staged.clone(),
            source: e.into(),
        })?;
        write_synced(&staged, &data).map_err(|source| ImageRecordError::Write {
            path: staged.clone(),
            source,
        })?;
        staging::rename_durably(&staged, &self.path(&record.id))?;
        Ok(())
    }

    /// Removes a record: renamed into `staging_dir` first, so a crash never leaves half a file.
    pub fn remove(&self, staging_dir: &Path, id: &Digest) -> Result<(), ImageRecordError> {
        let from = self.path(id);
        let to = staging_dir.join(format!("removed-image-{}.json", id.hex()));
        staging::rename_durably(&from, &to)?;
        staging::sync_dir(&self.dir)?;
        Ok(())
    }
}

/// Writes a small file and fsyncs it.
pub fn write_synced(path: &Path, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = fs::File::create(path)?;
    f.write_all(data)?;
    f.sync_all()
}
