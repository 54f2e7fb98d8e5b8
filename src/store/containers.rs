//! `containers/<id>/`: one directory per container, its record `container.json` and what
//! belongs to it (`userdata/` with the generated `/etc` files, `rootfs/` with `vfs`).
//!
//! A container directory appears whole: it is assembled in a staging directory, flushed and
//! renamed into place under the exclusive store lock (which also makes names unique). Later
//! changes of the record (state, exit code) are written by the container's own processes
//! without the store lock — nobody else writes a container's record while it runs — to a
//! temporary file beside it, flushed, then renamed over it. A container is removed by renaming
//! its directory into staging first, so a crash never leaves half of one visible.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::oci::digest::Digest;
use crate::store::images::write_synced;
use crate::store::staging::{self, StagingError};

pub const RECORD: &str = "container.json";
/// What the container runs (`runtime::spec::ContainerSpec` as JSON), written once at creation;
/// `start` forks a monitor from it.
pub const SPEC: &str = "spec.json";
const RECORD_TMP: &str = ".container.json.tmp";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Created,
    Running,
    Exited,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    /// 64 hex digits.
    pub id: String,
    pub names: Vec<String>,
    /// The image as the user named it.
    pub image: String,
    pub image_id: Digest,
    /// The image's stored name used (empty for an image found by ID).
    #[serde(default)]
    pub image_name: String,
    pub command: Vec<String>,
    pub created: DateTime<Utc>,
    pub state: State,
    /// The command's pid as the monitor sees it, while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// The monitor's pid and start time (`sys::process::ProcessIdentity`), while it runs the
    /// container: a record saying `running` whose monitor is gone describes a dead container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_pid: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor_start: Option<u64>,
    /// The process's configuration, as `inspect` shows it (`NAME=value` pairs, the working
    /// directory, `user[:group]`) and the container's hostname.
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub working_dir: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub hostname: String,
    /// The image's layers (diff IDs, base first), which the store keeps while the container
    /// exists.
    #[serde(default)]
    pub layers: Vec<Digest>,
    /// `vfs` or `overlay`.
    pub driver: String,
    /// `--rm`.
    #[serde(default)]
    pub remove: bool,
    /// Volumes, binds and tmpfs mounts (`-v`, `--mount`, `--tmpfs`), as `inspect` shows them.
    #[serde(default)]
    pub mounts: Vec<crate::store::volumes::MountRecord>,
    /// Set by `stop` and `kill` before they signal: the monitor does not restart a container
    /// a user stopped (`--restart`); cleared when the container is started again.
    #[serde(default)]
    pub stop_requested: bool,
    /// How often the monitor restarted the container (`--restart`), `RestartCount`.
    #[serde(default)]
    pub restart_count: u32,
    /// `--stop-signal`, `--stop-timeout` and `--cidfile` (`runtime::control`).
    #[serde(default)]
    pub control: crate::runtime::control::ControlSettings,
    /// `--label KEY=VALUE` (`io.containers.autoupdate`, `PODMAN_SYSTEMD_UNIT`, ...).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// The command line that created the container (Podman's `CreateCommand`), which
    /// `generate systemd --new` runs again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub create_command: Vec<String>,
    /// `none`, `host`, `pasta` or `slirp4netns`.
    #[serde(default)]
    pub network_mode: String,
    /// The published ports, host ports chosen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<crate::runtime::network::ports::PortMapping>,
    /// The ID of the pod the container belongs to (`--pod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("reading container record {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("container record {path} is not valid JSON")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("writing container record {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Staging(#[from] StagingError),
}

#[derive(Debug, Clone)]
pub struct Containers {
    dir: PathBuf,
}

impl Containers {
    pub fn new(dir: PathBuf) -> Self {
        Containers { dir }
    }

    /// The directory of a container (whether or not it exists).
    pub fn path(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Every container's record (directories without a readable record are skipped: they are
    /// being removed).
    pub fn list(&self) -> Result<Vec<ContainerRecord>, ContainerError> {
        let names =
            crate::store::entry_names(&self.dir).map_err(|source| ContainerError::Read {
                path: self.dir.clone(),
                source,
            })?;
        let mut out = Vec::new();
        for name in names {
            if name.to_string_lossy().starts_with('.') {
                // Being removed (`begin_remove`).
                continue;
            }
            match read(&self.dir.join(&name)) {
                Ok(r) => out.push(r),
                Err(ContainerError::Read { source, .. })
                    if source.kind() == io::ErrorKind::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        Ok(out)
    }

    /// Makes a new container directory from `record` and the files of `userdata/`, staged in
    /// `staging_dir` and renamed into place. Call with the exclusive store lock.
    pub fn create(
        &self,
        staging_dir: &Path,
        record: &ContainerRecord,
        spec: &[u8],
        userdata: &[(&str, &[u8])],
    ) -> Result<PathBuf, ContainerError> {
        let staged = staging_dir.join(format!("container-{}", record.id));
        let write_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ContainerError::Write { path, source }
        };
        let data_dir = staged.join("userdata");
        fs::create_dir_all(&data_dir).map_err(write_err(&data_dir))?;
        // Everything is written first and then flushed at once (`sync_all_at_once`): the
        // staged directory is invisible until its rename, so only that order matters, and
        // one flush per file in turn was most of `create`'s time.
        let mut written = Vec::new();
        for (name, bytes) in userdata {
            let p = data_dir.join(name);
            written.push((write_unsynced(&p, bytes).map_err(write_err(&p))?, p));
        }
        let spec_path = staged.join(SPEC);
        written.push((
            write_unsynced(&spec_path, spec).map_err(write_err(&spec_path))?,
            spec_path,
        ));
        // No temporary file: nobody sees the staged directory.
        let record_path = staged.join(RECORD);
        let data = serde_json::to_vec_pretty(record).map_err(|e| ContainerError::Write {
            path: record_path.clone(),
            source: e.into(),
        })?;
        written.push((
            write_unsynced(&record_path, &data).map_err(write_err(&record_path))?,
            record_path,
        ));
        for dir in [&data_dir, &staged] {
            written.push((fs::File::open(dir).map_err(write_err(dir))?, dir.clone()));
        }
        staging::sync_all_at_once(&written)?;
        fs::create_dir_all(&self.dir).map_err(write_err(&self.dir))?;
        crate::failpoint!("create.dir-staged");
        let dest = self.path(&record.id);
        staging::rename_durably(&staged, &dest)?;
        Ok(dest)
    }

    /// Hides a container directory before deleting it: renamed (durably) to `.removing-ID`
    /// beside the others, where `list` and lookups no longer see it. Its deletion may need
    /// the user namespace (a `vfs` root holds files of subordinate ids), which the store's
    /// staging cleanup does not enter; whoever removes containers next finishes what a crash
    /// interrupted ([`Containers::pending_removals`]).
    pub fn begin_remove(&self, id: &str) -> Result<PathBuf, ContainerError> {
        let to = self.dir.join(format!("{REMOVING}{id}"));
        staging::rename_durably(&self.path(id), &to)?;
        Ok(to)
    }

    /// Directories hidden by [`Containers::begin_remove`] and not yet deleted.
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

    /// Removes a container directory: renamed into `staging_dir`, then deleted.
    pub fn remove(&self, staging_dir: &Path, id: &str) -> Result<(), ContainerError> {
        let from = self.path(id);
        let to = staging_dir.join(format!("removed-container-{id}"));
        staging::rename_durably(&from, &to)?;
        staging::remove_all(&to)?;
        Ok(())
    }
}

const REMOVING: &str = ".removing-";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LookupError {
    #[error("no container with name or ID {0:?} found: no such container")]
    NotFound(String),
    #[error("more than one result for container {input:?}: it matches {}", .matches.join(", "))]
    Ambiguous { input: String, matches: Vec<String> },
}

/// Finds the container `input` designates, as Podman does: a full ID, else a name, else a
/// unique ID prefix.
pub fn find<'a>(
    containers: &'a [ContainerRecord],
    input: &str,
) -> Result<&'a ContainerRecord, LookupError> {
    if let Some(c) = containers.iter().find(|c| c.id == input) {
        return Ok(c);
    }
    if let Some(c) = containers
        .iter()
        .find(|c| c.names.iter().any(|n| n == input))
    {
        return Ok(c);
    }
    let is_hex = !input.is_empty() && input.bytes().all(|b| b.is_ascii_hexdigit());
    let hits: Vec<&ContainerRecord> = if is_hex {
        let lower = input.to_ascii_lowercase();
        containers
            .iter()
            .filter(|c| c.id.starts_with(&lower))
            .collect()
    } else {
        Vec::new()
    };
    match hits.as_slice() {
        [one] => Ok(one),
        [] => Err(LookupError::NotFound(input.to_string())),
        many => Err(LookupError::Ambiguous {
            input: input.to_string(),
            matches: many.iter().map(|c| c.id[..12].to_string()).collect(),
        }),
    }
}

/// Creates `path` with `data`, not flushed; the open file for the flush.
fn write_unsynced(path: &Path, data: &[u8]) -> io::Result<fs::File> {
    use std::io::Write as _;
    let mut f = fs::File::create(path)?;
    f.write_all(data)?;
    Ok(f)
}

/// Reads the record of the container directory `dir`.
pub fn read(dir: &Path) -> Result<ContainerRecord, ContainerError> {
    let path = dir.join(RECORD);
    let data = fs::read(&path).map_err(|source| ContainerError::Read {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&data).map_err(|source| ContainerError::Parse { path, source })
}

/// Replaces the record of the container directory `dir` (a flushed temporary file renamed
/// over it).
pub fn write(dir: &Path, record: &ContainerRecord) -> Result<(), ContainerError> {
    let tmp = dir.join(RECORD_TMP);
    let data = serde_json::to_vec_pretty(record).map_err(|e| ContainerError::Write {
        path: tmp.clone(),
        source: e.into(),
    })?;
    write_synced(&tmp, &data).map_err(|source| ContainerError::Write {
        path: tmp.clone(),
        source,
    })?;
    staging::rename_durably(&tmp, &dir.join(RECORD))?;
    Ok(())
}

/// Reads, changes and rewrites the record of `dir`, holding an exclusive `flock` on the
/// directory meanwhile: the monitor, `stop` and `rename` change one record from different
/// processes, and none of them may lose another's change.
pub fn update(
    dir: &Path,
    change: impl FnOnce(&mut ContainerRecord),
) -> Result<ContainerRecord, ContainerError> {
    let lock_err = |source: io::Error| ContainerError::Write {
        path: dir.to_path_buf(),
        source,
    };
    let held = fs::File::open(dir).map_err(lock_err)?;
    rustix::fs::flock(&held, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| lock_err(e.into()))?;
    let mut rec = read(dir)?;
    change(&mut rec);
    replace(dir, &rec)?;
    Ok(rec)
}

/// [`write`] for a record that exists: the new one is flushed before it is renamed over the
/// old one, so a power cut leaves either whole record, and the rename itself is not made
/// durable (no directory fsync): the old record is as valid an outcome of a crash as the new
/// one (a running container's state is stale after a reboot anyway). The monitor changes the
/// record twice per start, both on the start path.
fn replace(dir: &Path, record: &ContainerRecord) -> Result<(), ContainerError> {
    let tmp = dir.join(RECORD_TMP);
    let data = serde_json::to_vec_pretty(record).map_err(|e| ContainerError::Write {
        path: tmp.clone(),
        source: e.into(),
    })?;
    write_synced(&tmp, &data).map_err(|source| ContainerError::Write {
        path: tmp.clone(),
        source,
    })?;
    let dest = dir.join(RECORD);
    fs::rename(&tmp, &dest).map_err(|source| ContainerError::Write { path: dest, source })
}

/// Whether `name` is a valid container name (Podman's `[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub fn valid_name(name: &str) -> bool {
    let mut b = name.bytes();
    b.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && b.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A new random container ID (64 hex digits, from the kernel's random source).
pub fn new_id() -> io::Result<String> {
    let mut buf = [0u8; 32];
    rustix::rand::getrandom(&mut buf, rustix::rand::GetRandomFlags::empty())?;
    Ok(hex::encode(buf))
}

const ADJECTIVES: &[&str] = &[
    "agile", "brave", "calm", "eager", "fervent", "gentle", "happy", "jolly", "keen", "lucid",
    "merry", "nimble", "quiet", "rapid", "serene", "sharp", "sober", "stoic", "vivid", "witty",
];
const NOUNS: &[&str] = &[
    "albatross",
    "badger",
    "crane",
    "dolphin",
    "egret",
    "falcon",
    "gannet",
    "heron",
    "ibis",
    "jackdaw",
    "kestrel",
    "lapwing",
    "merlin",
    "osprey",
    "puffin",
    "raven",
    "shrike",
    "tern",
    "wagtail",
    "wren",
];

/// A generated name `adjective_noun` (Podman's style) not in `taken`, from the ID's bytes;
/// a numeric suffix when every pair is taken.
pub fn generate_name(id: &str, taken: &[String]) -> String {
    let bytes = hex::decode(id).unwrap_or_default();
    let pick = |i: usize| usize::from(bytes.get(i).copied().unwrap_or(0));
    let (a, n) = (pick(0), pick(1));
    for step in 0..ADJECTIVES.len() * NOUNS.len() {
        let name = format!(
            "{}_{}",
            ADJECTIVES[(a + step / NOUNS.len()) % ADJECTIVES.len()],
            NOUNS[(n + step) % NOUNS.len()]
        );
        if !taken.contains(&name) {
            return name;
        }
    }
    format!(
        "{}_{}",
        ADJECTIVES[a % ADJECTIVES.len()],
        &id[..12.min(id.len())]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            names: vec![name.into()],
            image: "busybox".into(),
            image_id: Digest::from_hex(&"a".repeat(64)).unwrap(),
            image_name: "docker.io/library/busybox:latest".into(),
            command: vec!["sh".into()],
            created: Utc::now(),
            state: State::Created,
            pid: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            monitor_pid: None,
            monitor_start: None,
            env: Vec::new(),
            working_dir: "/".into(),
            user: String::new(),
            hostname: String::new(),
            layers: Vec::new(),
            driver: "vfs".into(),
            remove: true,

            mounts: Vec::new(),
            stop_requested: false,
            restart_count: 0,
            control: Default::default(),
            labels: Default::default(),
            create_command: Vec::new(),
            network_mode: String::new(),
            ports: Vec::new(),
            pod: None,
        }
    }

    #[test]
    fn create_update_list_remove() {
        let tmp = tempfile::tempdir().unwrap();
        let staging = tmp.path().join("tmp");
        fs::create_dir(&staging).unwrap();
        let cs = Containers::new(tmp.path().join("containers"));
        let id = "b".repeat(64);
        let rec = record(&id, "web");
        let dir = cs
            .create(&staging, &rec, b"{}", &[("hosts", b"x\n")])
            .unwrap();
        assert_eq!(fs::read(dir.join("userdata/hosts")).unwrap(), b"x\n");
        assert_eq!(cs.list().unwrap(), vec![rec.clone()]);
        let updated = update(&dir, |r| {
            r.state = State::Exited;
            r.exit_code = Some(3);
        })
        .unwrap();
        assert_eq!(read(&dir).unwrap(), updated);
        assert!(!dir.join(RECORD_TMP).exists());
        cs.remove(&staging, &id).unwrap();
        assert!(cs.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(&staging).unwrap().count(), 0);
    }

    #[test]
    fn lookup_by_id_name_and_prefix() {
        let a = record(&format!("ab{}", "0".repeat(62)), "web");
        let b = record(&format!("ac{}", "1".repeat(62)), "ab");
        let all = vec![a.clone(), b.clone()];
        assert_eq!(find(&all, &a.id).unwrap(), &a);
        assert_eq!(find(&all, "web").unwrap(), &a);
        // A name wins over an ID prefix.
        assert_eq!(find(&all, "ab").unwrap(), &b);
        assert_eq!(find(&all, "AC1").unwrap(), &b);
        assert!(matches!(
            find(&all, "a"),
            Err(LookupError::Ambiguous { .. })
        ));
        assert_eq!(
            find(&all, "nope"),
            Err(LookupError::NotFound("nope".into()))
        );
    }

    #[test]
    fn names() {
        for ok in ["web", "a", "web-1.x_y", "9lives"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-web", ".x", "a/b", "a b", "é"] {
            assert!(!valid_name(bad), "{bad}");
        }
        let id = "00".repeat(32);
        let first = generate_name(&id, &[]);
        assert_eq!(first, "agile_albatross");
        assert_ne!(generate_name(&id, std::slice::from_ref(&first)), first);
        assert!(valid_name(&generate_name(&id, &[])));
    }
}
