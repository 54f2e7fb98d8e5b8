//! A pod's record: `<graphroot>/pods/<id>/pod.json`, written like a container's (a flushed
//! temporary file renamed in; a new pod's directory is made whole under `pods/` with a
//! leading dot and renamed into place, so a crash leaves no half pod), changed under an
//! `flock` of the directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runtime::UserMapping;
use crate::runtime::network::NetSpec;
use crate::runtime::spec::Network;
use crate::sys::process::ProcessIdentity;

pub const RECORD: &str = "pod.json";
const RECORD_TMP: &str = ".pod.json.tmp";
/// Prefix of a directory being made or removed (never listed).
const HIDDEN: &str = ".";

/// The namespaces the containers of a pod can share (`--share`).
pub const SHAREABLE: [&str; 5] = ["ipc", "net", "pid", "uts", "cgroup"];

/// What `--share` shares by default (and what `--share +NS` adds to).
pub const SHARED_BY_DEFAULT: &str = "ipc,net,uts";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PodRecord {
    /// 64 hex digits.
    pub id: String,
    pub name: String,
    pub created: DateTime<Utc>,
    /// The hostname of its containers (the pod's name unless `--hostname`).
    pub hostname: String,
    /// `--share`: of `ipc`, `net`, `pid`, `uts` (and `cgroup`, which coracle does not
    /// separate).
    pub share: Vec<String>,
    /// Its user namespace's mapping, which its containers share.
    pub mapping: UserMapping,
    pub network: Network,
    #[serde(default)]
    pub net: NetSpec,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_command: Vec<String>,
    /// The infra process holding the namespaces, while it lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub infra: Option<Infra>,
    /// `--exit-policy`: `continue` (the default) or `stop`.
    #[serde(default)]
    pub exit_policy: String,
    /// The ID `pod ps` and `pod inspect` show for the infra (Podman's infra container ID):
    /// coracle's infra is a process, not a container, but it has an identity of its own.
    #[serde(default)]
    pub infra_id: String,
}

/// The infra: its monitor (the process `pod stop` ends) and the process whose namespaces
/// the containers join.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Infra {
    pub monitor_pid: i32,
    pub monitor_start: u64,
    pub pid: i32,
}

impl Infra {
    pub fn monitor(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.monitor_pid,
            start_time: self.monitor_start,
        }
    }
}

impl PodRecord {
    /// The infra, if it still lives.
    pub fn live_infra(&self) -> Option<Infra> {
        self.infra.filter(|i| i.monitor().is_alive())
    }

    pub fn shares(&self, ns: &str) -> bool {
        self.share.iter().any(|s| s == ns)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PodError {
    #[error("reading pod record {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("pod record {path} is not valid JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing pod record {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no such pod {0}")]
    NotFound(String),
    #[error("more than one pod matches {0:?}: give more of its ID")]
    Ambiguous(String),
}

/// The pods of a store: `<graphroot>/pods`.
#[derive(Debug, Clone)]
pub struct Pods {
    dir: PathBuf,
}

impl Pods {
    pub fn new(graphroot: &Path) -> Pods {
        Pods {
            dir: graphroot.join("pods"),
        }
    }

    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Every pod, oldest first; debris of interrupted creations and removals is skipped.
    pub fn list(&self) -> Result<Vec<PodRecord>, PodError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(PodError::Read {
                    path: self.dir.clone(),
                    source,
                });
            }
        };
        let mut pods = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(HIDDEN) {
                continue;
            }
            match read(&entry.path()) {
                Ok(r) => pods.push(r),
                // Removed meanwhile.
                Err(PodError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        pods.sort_by_key(|p| p.created);
        Ok(pods)
    }

    /// The pod named `wanted`: its full name, full ID, or a unique ID prefix.
    pub fn find(&self, wanted: &str) -> Result<PodRecord, PodError> {
        let pods = self.list()?;
        find_in(&pods, wanted).cloned()
    }

    /// Writes a new pod's directory (with `userdata/`) whole, then renames it into place.
    pub fn create(&self, record: &PodRecord) -> Result<PathBuf, PodError> {
        let tmp = self.dir.join(format!("{HIDDEN}new-{}", record.id));
        let dest = self.path(&record.id);
        let fail = |path: &Path| {
            let path = path.to_path_buf();
            move |source| PodError::Write { path, source }
        };
        // Debris of an earlier crash at the same ID is impossible (IDs are random); of
        // others, `prune_debris` takes care.
        fs::create_dir_all(tmp.join("userdata")).map_err(fail(&tmp))?;
        write_file(&tmp.join(RECORD), record).map_err(fail(&tmp))?;
        fs::rename(&tmp, &dest).map_err(fail(&dest))?;
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(dest)
    }

    /// Removes the pod's directory: hidden first (renamed), then deleted.
    pub fn remove(&self, id: &str) -> Result<(), PodError> {
        let dir = self.path(id);
        let hidden = self.dir.join(format!("{HIDDEN}rm-{id}"));
        fs::rename(&dir, &hidden).map_err(|source| PodError::Write {
            path: dir.clone(),
            source,
        })?;
        fs::remove_dir_all(&hidden).map_err(|source| PodError::Write {
            path: hidden,
            source,
        })
    }

    /// Deletes what interrupted creations and removals left (hidden directories).
    pub fn prune_debris(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with(HIDDEN) && e.path().is_dir() {
                let _ = fs::remove_dir_all(e.path());
            }
        }
    }
}

/// The pod `wanted` names among `pods` (full name, full ID, then a unique ID prefix).
pub fn find_in<'a>(pods: &'a [PodRecord], wanted: &str) -> Result<&'a PodRecord, PodError> {
    if let Some(p) = pods.iter().find(|p| p.name == wanted || p.id == wanted) {
        return Ok(p);
    }
    let lower = wanted.to_ascii_lowercase();
    let mut matching = pods.iter().filter(|p| p.id.starts_with(&lower));
    match (matching.next(), matching.next()) {
        (Some(p), None) if !wanted.is_empty() => Ok(p),
        (Some(_), Some(_)) => Err(PodError::Ambiguous(wanted.to_string())),
        _ => Err(PodError::NotFound(wanted.to_string())),
    }
}

fn write_file(path: &Path, record: &PodRecord) -> io::Result<()> {
    let data = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    let mut f = fs::File::create(path)?;
    f.write_all(&data)?;
    f.sync_all()
}

/// Reads the record of the pod directory `dir`.
pub fn read(dir: &Path) -> Result<PodRecord, PodError> {
    let path = dir.join(RECORD);
    let data = fs::read(&path).map_err(|source| PodError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|source| PodError::Parse { path, source })
}

/// Reads, changes and rewrites the record of `dir` under an exclusive `flock` of the
/// directory (the infra's monitor and the commands change it from different processes).
pub fn update(dir: &Path, change: impl FnOnce(&mut PodRecord)) -> Result<PodRecord, PodError> {
    let fail = |source: io::Error| PodError::Write {
        path: dir.to_path_buf(),
        source,
    };
    let held = fs::File::open(dir).map_err(fail)?;
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| fail(e.into()))?;
    let mut rec = read(dir)?;
    change(&mut rec);
    let tmp = dir.join(RECORD_TMP);
    write_file(&tmp, &rec).map_err(fail)?;
    fs::rename(&tmp, dir.join(RECORD)).map_err(fail)?;
    Ok(rec)
}

/// Whether `name` is a valid pod name (the same rule as containers').
pub fn valid_name(name: &str) -> bool {
    crate::store::containers::valid_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(id: &str, name: &str) -> PodRecord {
        PodRecord {
            id: id.into(),
            name: name.into(),
            created: Utc::now(),
            hostname: name.into(),
            share: vec!["ipc".into(), "net".into(), "uts".into()],
            mapping: UserMapping::identity(),
            network: Network::None,
            net: NetSpec::default(),
            labels: BTreeMap::new(),
            create_command: vec![],
            infra: None,
            exit_policy: String::new(),
            infra_id: String::new(),
        }
    }

    #[test]
    fn create_list_find_update_remove() {
        let root = tempfile::tempdir().unwrap();
        let pods = Pods::new(root.path());
        assert!(pods.list().unwrap().is_empty());
        let a = pod(&"a".repeat(64), "one");
        let b = pod(&format!("ab{}", "c".repeat(62)), "two");
        pods.create(&a).unwrap();
        pods.create(&b).unwrap();
        // Debris is neither listed nor an error.
        fs::create_dir_all(root.path().join("pods/.new-x")).unwrap();
        assert_eq!(pods.list().unwrap().len(), 2);
        assert_eq!(pods.find("two").unwrap().id, b.id);
        assert_eq!(pods.find("aaa").unwrap().id, a.id);
        assert!(matches!(pods.find("a"), Err(PodError::Ambiguous(_))));
        assert!(matches!(pods.find("zz"), Err(PodError::NotFound(_))));
        update(&pods.path(&a.id), |r| r.hostname = "h".into()).unwrap();
        assert_eq!(pods.find("one").unwrap().hostname, "h");
        pods.remove(&a.id).unwrap();
        pods.prune_debris();
        assert_eq!(pods.list().unwrap().len(), 1);
        assert_eq!(fs::read_dir(root.path().join("pods")).unwrap().count(), 1);
    }
}
