//! `volumes/<name>/`: one directory per volume, its record `volume.json` and its content
//! `_data/` (Podman's layout), and [`MountRecord`], how a container's record lists its mounts.
//!
//! A volume appears whole: staged under `tmp/`, renamed into place under the exclusive store
//! lock (which also makes names unique). It is removed by renaming it to `.removing-NAME`
//! beside the others first (from then on it does not exist), then deleting it — in the user
//! namespace when a container gave its files to subordinate ids (`cmd::rm::delete_dirs`).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::images::write_synced;
use crate::store::staging::{self, StagingError};

pub const RECORD: &str = "volume.json";
pub const DATA: &str = "_data";
const REMOVING: &str = ".removing-";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    /// Always `local`.
    pub driver: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `-o KEY=VALUE` as given (the local driver's `type`, `device`, `o` are not acted on).
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub created_at: DateTime<Utc>,
    /// Made for `-v /dir` or an image's `VOLUME`: `rm -v` and `run --rm` remove it.
    #[serde(default)]
    pub anonymous: bool,
    /// Not yet mounted: the first container fills it from its image.
    #[serde(default)]
    pub needs_copy_up: bool,
}

/// A container's mount as `inspect` shows it (Podman's `Mounts` entries); also what makes a
/// volume in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    /// `bind`, `volume`, `tmpfs`, `devpts`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The volume's name (volumes only).
    #[serde(rename = "Name", default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(rename = "Source")]
    pub source: String,
    #[serde(rename = "Destination")]
    pub destination: String,
    #[serde(rename = "Driver")]
    pub driver: String,
    #[serde(rename = "Mode")]
    pub mode: String,
    #[serde(rename = "Options")]
    pub options: Vec<String>,
    #[serde(rename = "RW")]
    pub rw: bool,
    #[serde(rename = "Propagation")]
    pub propagation: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("no volume with name {0:?} found: no such volume")]
    NotFound(String),
    #[error("volume with name {0} already exists: volume already exists")]
    Exists(String),
    #[error("reading volume record {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("volume record {path} is not valid JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing volume {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Staging(#[from] StagingError),
}

#[derive(Debug, Clone)]
pub struct Volumes {
    dir: PathBuf,
}

impl Volumes {
    pub fn new(dir: PathBuf) -> Self {
        Volumes { dir }
    }

    /// `volumes/<name>` (whether or not it exists).
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// What containers mount: `volumes/<name>/_data`.
    pub fn data(&self, name: &str) -> PathBuf {
        self.path(name).join(DATA)
    }

    pub fn exists(&self, name: &str) -> bool {
        self.path(name).join(RECORD).is_file()
    }

    pub fn get(&self, name: &str) -> Result<VolumeRecord, VolumeError> {
        let path = self.path(name).join(RECORD);
        let bytes = fs::read(&path).map_err(|source| match source.kind() {
            io::ErrorKind::NotFound => VolumeError::NotFound(name.to_string()),
            _ => VolumeError::Read {
                path: path.clone(),
                source,
            },
        })?;
        serde_json::from_slice(&bytes).map_err(|source| VolumeError::Parse { path, source })
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<VolumeRecord>, VolumeError> {
        let names = match crate::store::entry_names(&self.dir) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(source) => {
                return Err(VolumeError::Read {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut out = Vec::new();
        for name in names {
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            match self.get(&name) {
                Ok(r) => out.push(r),
                Err(VolumeError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Makes a new, empty volume, staged in `staging_dir` and renamed into place. Call with
    /// the exclusive store lock.
    pub fn create(&self, staging_dir: &Path, record: &VolumeRecord) -> Result<(), VolumeError> {
        if self.exists(&record.name) {
            return Err(VolumeError::Exists(record.name.clone()));
        }
        let staged = staging_dir.join(format!("volume-{}", record.name));
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| VolumeError::Write { path, source }
        };
        let data = staged.join(DATA);
        fs::create_dir_all(&data).map_err(write_err(&data))?;
        // Whatever the umask: the container's users must reach it (as Podman's, 0755).
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(&data, fs::Permissions::from_mode(0o755)).map_err(write_err(&data))?;
        let json = serde_json::to_vec_pretty(record).map_err(|e| VolumeError::Write {
            path: staged.join(RECORD),
            source: io::Error::other(e),
        })?;
        let rec = staged.join(RECORD);
        write_synced(&rec, &json).map_err(write_err(&rec))?;
        staging::sync_dir(&staged)?;
        crate::failpoint!("volume.create.staged");
        fs::create_dir_all(&self.dir).map_err(write_err(&self.dir))?;
        let dest = self.path(&record.name);
        // A stale directory without a record (an interrupted removal) is replaced.
        if dest.exists() {
            staging::remove_all(&dest)?;
        }
        staging::rename_durably(&staged, &dest)?;
        Ok(())
    }

    /// Rewrites a volume's record (temporary file, flushed, renamed over it).
    pub fn put(&self, record: &VolumeRecord) -> Result<(), VolumeError> {
        let dir = self.path(&record.name);
        let tmp = dir.join(format!(".{RECORD}.tmp"));
        let json = serde_json::to_vec_pretty(record).map_err(|e| VolumeError::Write {
            path: tmp.clone(),
            source: io::Error::other(e),
        })?;
        write_synced(&tmp, &json).map_err(|source| VolumeError::Write {
            path: tmp.clone(),
            source,
        })?;
        staging::rename_durably(&tmp, &dir.join(RECORD))?;
        Ok(())
    }

    /// Hides a volume before deleting it (see the module header); the hidden path.
    pub fn begin_remove(&self, name: &str) -> Result<PathBuf, VolumeError> {
        let to = self.dir.join(format!("{REMOVING}{name}"));
        staging::rename_durably(&self.path(name), &to)?;
        Ok(to)
    }

    /// Volumes hidden by [`Volumes::begin_remove`] and not yet deleted.
    pub fn pending_removals(&self) -> Vec<PathBuf> {
        fs::read_dir(&self.dir)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.file_name().to_string_lossy().starts_with(REMOVING))
                    .map(|e| e.path())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The containers (IDs) whose records mount volume `name`.
pub fn users<'a>(
    containers: &'a [crate::store::ContainerRecord],
    name: &str,
) -> Vec<&'a crate::store::ContainerRecord> {
    containers
        .iter()
        .filter(|c| {
            c.mounts
                .iter()
                .any(|m| m.kind == "volume" && m.name == name)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str) -> VolumeRecord {
        VolumeRecord {
            name: name.into(),
            driver: "local".into(),
            labels: BTreeMap::from([("a".into(), "b".into())]),
            options: BTreeMap::new(),
            created_at: Utc::now(),
            anonymous: false,
            needs_copy_up: true,
        }
    }

    #[test]
    fn create_list_get_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let vols = Volumes::new(tmp.path().join("volumes"));
        let staging = tmp.path().join("staging");
        fs::create_dir(&staging).unwrap();
        assert!(vols.list().unwrap().is_empty());
        vols.create(&staging, &record("b")).unwrap();
        vols.create(&staging, &record("a")).unwrap();
        assert!(matches!(
            vols.create(&staging, &record("a")),
            Err(VolumeError::Exists(_))
        ));
        assert!(vols.data("a").is_dir());
        let names: Vec<String> = vols.list().unwrap().into_iter().map(|v| v.name).collect();
        assert_eq!(names, ["a", "b"]);
        let mut a = vols.get("a").unwrap();
        assert_eq!(a, record_like(&a));
        a.needs_copy_up = false;
        vols.put(&a).unwrap();
        assert!(!vols.get("a").unwrap().needs_copy_up);
        let hidden = vols.begin_remove("a").unwrap();
        assert!(matches!(vols.get("a"), Err(VolumeError::NotFound(_))));
        assert_eq!(vols.pending_removals(), vec![hidden]);
        assert_eq!(vols.list().unwrap().len(), 1);
    }

    fn record_like(r: &VolumeRecord) -> VolumeRecord {
        VolumeRecord {
            created_at: r.created_at,
            ..record(&r.name)
        }
    }
}
