//! `lists/<list id hex>.json`: manifest lists (`manifest create`), one record each — the
//! list's names and annotations, and for every instance its descriptor, its manifest exactly
//! as it will be pushed, and where it came from (a local image, or a registry).
//!
//! A record is one small file, written in staging and renamed into place like image records
//! (`images.rs`), so a crash leaves the old list or the new one, never half of either. The
//! instance manifests live inside the record rather than in `blobs/`: the garbage collector
//! keeps only blobs images name, and a list must not lose its instances to an `rmi`.
//! Callers change a list under the exclusive store lock (read, modify, put).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::oci::digest::Digest;
use crate::store::images::write_synced;
use crate::store::staging::{self, StagingError};

/// A manifest list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ListRecord {
    /// A random ID (a list has no config to take a digest of), shown as Podman shows a
    /// list's image ID.
    pub id: Digest,
    /// Full references (`localhost/mylist:latest`).
    #[serde(default)]
    pub names: Vec<String>,
    pub created: DateTime<Utc>,
    /// The index's own annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub instances: Vec<Instance>,
}

/// One image of a list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Instance {
    /// The digest of `manifest`.
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
    pub platform: ListPlatform,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// The instance's manifest bytes (manifests are JSON, hence UTF-8).
    pub manifest: String,
    pub source: InstanceSource,
}

/// Where an instance's config and layers are read from when the list is pushed.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum InstanceSource {
    /// A local image, by image ID.
    Local { image: Digest },
    /// A registry: `host/repo@digest`.
    Remote { reference: String },
}

/// A platform as an index describes it (OCI's fields, plus Docker's `features`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct ListPlatform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_version: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub features: Vec<String>,
}

impl ListRecord {
    /// A new empty list with a random ID.
    pub fn new(names: Vec<String>) -> Result<ListRecord, ListRecordError> {
        let mut bytes = [0u8; 32];
        rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty())
            .map_err(|e| ListRecordError::Random(e.into()))?;
        // 32 random bytes as hex are a valid sha256-shaped ID.
        let id = Digest::from_hex(&hex::encode(bytes))
            .map_err(|e| ListRecordError::Random(io::Error::other(e)))?;
        Ok(ListRecord {
            id,
            names,
            created: Utc::now(),
            annotations: BTreeMap::new(),
            instances: Vec::new(),
        })
    }

    /// The instance with `digest`.
    pub fn instance_mut(&mut self, digest: &Digest) -> Option<&mut Instance> {
        self.instances.iter_mut().find(|i| &i.digest == digest)
    }

    /// Adds `instance`, replacing one with the same digest (as Podman does).
    pub fn add_instance(&mut self, instance: Instance) {
        match self
            .instances
            .iter_mut()
            .find(|i| i.digest == instance.digest)
        {
            Some(slot) => *slot = instance,
            None => self.instances.push(instance),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ListRecordError {
    #[error("reading manifest list record {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("manifest list record {path} is not valid JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing manifest list record {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("making a manifest list ID")]
    Random(#[source] io::Error),
    #[error(transparent)]
    Staging(#[from] StagingError),
}

/// The `lists/` directory of a store (created on first write).
#[derive(Debug, Clone)]
pub struct Lists {
    dir: PathBuf,
}

impl Lists {
    pub fn new(dir: PathBuf) -> Self {
        Lists { dir }
    }

    pub fn path(&self, id: &Digest) -> PathBuf {
        self.dir.join(format!("{}.json", id.hex()))
    }

    pub fn get(&self, id: &Digest) -> Result<Option<ListRecord>, ListRecordError> {
        let path = self.path(id);
        match fs::read(&path) {
            Ok(data) => serde_json::from_slice(&data)
                .map(Some)
                .map_err(|source| ListRecordError::Parse { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ListRecordError::Read { path, source }),
        }
    }

    /// Every list, oldest first.
    pub fn list(&self) -> Result<Vec<ListRecord>, ListRecordError> {
        let names =
            crate::store::entry_names(&self.dir).map_err(|source| ListRecordError::Read {
                path: self.dir.clone(),
                source,
            })?;
        let mut out = Vec::new();
        for name in names {
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|hex| Digest::from_hex(hex).ok())
            else {
                continue;
            };
            if let Some(rec) = self.get(&id)? {
                out.push(rec);
            }
        }
        out.sort_by_key(|l| l.created);
        Ok(out)
    }

    /// Writes a record through `staging_dir` and renames it into place durably.
    pub fn put(&self, staging_dir: &Path, record: &ListRecord) -> Result<(), ListRecordError> {
        fs::create_dir_all(&self.dir).map_err(|source| ListRecordError::Write {
            path: self.dir.clone(),
            source,
        })?;
        let staged = staging_dir.join(format!("list-{}.json", record.id.hex()));
        let data = serde_json::to_vec_pretty(record).map_err(|e| ListRecordError::Write {
            path: staged.clone(),
            source: e.into(),
        })?;
        write_synced(&staged, &data).map_err(|source| ListRecordError::Write {
            path: staged.clone(),
            source,
        })?;
        staging::rename_durably(&staged, &self.path(&record.id))?;
        Ok(())
    }

    /// Removes a record: renamed into `staging_dir` first, so a crash never leaves half a file.
    pub fn remove(&self, staging_dir: &Path, id: &Digest) -> Result<(), ListRecordError> {
        let to = staging_dir.join(format!("removed-list-{}.json", id.hex()));
        staging::rename_durably(&self.path(id), &to)?;
        staging::sync_dir(&self.dir)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(n: u8) -> Instance {
        let manifest = format!("{{\"n\":{n}}}");
        Instance {
            digest: Digest::of_bytes(manifest.as_bytes()),
            media_type: crate::oci::manifest::OCI_MANIFEST.into(),
            size: manifest.len() as u64,
            platform: ListPlatform {
                architecture: "amd64".into(),
                os: "linux".into(),
                ..Default::default()
            },
            annotations: BTreeMap::new(),
            manifest,
            source: InstanceSource::Remote {
                reference: "localhost:5000/x@sha256:00".into(),
            },
        }
    }

    #[test]
    fn put_get_list_remove() {
        let dir = tempfile::tempdir().unwrap();
        let lists = Lists::new(dir.path().join("lists"));
        let staging = dir.path().join("tmp");
        fs::create_dir_all(&staging).unwrap();
        assert!(lists.list().unwrap().is_empty());
        let mut rec = ListRecord::new(vec!["localhost/l:latest".into()]).unwrap();
        rec.add_instance(instance(1));
        rec.add_instance(instance(2));
        rec.add_instance(instance(1));
        assert_eq!(rec.instances.len(), 2);
        lists.put(&staging, &rec).unwrap();
        assert_eq!(lists.get(&rec.id).unwrap().as_ref(), Some(&rec));
        assert_eq!(lists.list().unwrap(), vec![rec.clone()]);
        lists.remove(&staging, &rec.id).unwrap();
        assert_eq!(lists.get(&rec.id).unwrap(), None);
        assert_ne!(ListRecord::new(vec![]).unwrap().id, rec.id);
    }
}
