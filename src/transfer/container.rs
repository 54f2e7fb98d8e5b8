//! `commit`: a stopped container's writable layer becomes a new image layer on top of the
//! container's image.
//!
//! The overlay driver keeps the upper directory (`containers/<id>/upper`) in the OCI layer
//! form (whiteouts as `.wh.` files, true owners in coracle's metadata, symlink owners in the
//! table beside it), so the new layer is a tar of `upper/` alone: the cost follows the
//! changes, never the image. The tar ([`archive::create_layer`]) streams straight into
//! [`archive::extract_layer`] in staging, so the new layer gets its tar-split record and
//! ownership metadata like every pulled or loaded one, and both sides' diff IDs are compared.
//! An empty upper directory still makes a (empty) layer, as Podman does. The empty files the
//! runtime creates as mount targets for `/etc/hosts`, `/etc/hostname` and `/etc/resolv.conf`
//! are left out (Podman leaves them out too).
//!
//! The config is the image's, with the new diff ID, one history entry (Podman's
//! `created_by` `/bin/sh` and comment `FROM <image>`, or the commit message), `--author`,
//! `--message` and the `--change` instructions; the manifest lists uncompressed layers named
//! by their diff IDs, as Podman's local commits do. [`super::commit`] makes it visible.
//!
//! With the `vfs` driver the container has a copied root and no upper directory: the copy is
//! compared with the image's layers ([`super::vfs_layer`]), which gives the layer the overlay
//! driver would (the same mount targets left out), at the cost of a walk of the whole root.

use std::fs;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::archive::{self, SymlinkTable};
use crate::oci::digest::Digest;
use crate::oci::manifest::Schema;
use crate::store::containers::{ContainerRecord, State};
use crate::store::{ImageRecord, Store};
use crate::transfer::TransferError;
use crate::transfer::commit::{self, ImagePlan};
use crate::transfer::import::apply_change;
use crate::transfer::pipe;
use crate::transfer::scan::StagedLayer;

/// Podman's `created_by` for a committed layer.
pub const CREATED_BY: &str = "/bin/sh";

#[derive(Debug, Clone)]
pub struct CommitOptions {
    /// Full name for the new image (already normalised), if any.
    pub name: Option<String>,
    /// `--change` instructions (`CMD=...`, `ENV K=V`, ...).
    pub changes: Vec<String>,
    /// `--message`: the history comment and the config's `comment`.
    pub message: Option<String>,
    /// `--author`: the history entry's and the config's `author`.
    pub author: Option<String>,
    /// `--format`: which manifest and config schema to write.
    pub schema: Schema,
    pub created: Option<DateTime<Utc>>,
    /// The history entry's `created_by` (a build step's command) instead of Podman's
    /// `/bin/sh` with a `FROM <image>` comment.
    pub created_by: Option<String>,
    /// Recorded as the new image's parent (a build step's image).
    pub parent: Option<Digest>,
    /// vfs only (the overlay's callers clean the upper directory themselves): further mount
    /// points (absolute paths) left out of the layer where the image has nothing there.
    pub exclude: Vec<String>,
    /// vfs only: every entry's time in the new layer (`--timestamp`).
    pub timestamp: Option<i64>,
}

impl Default for CommitOptions {
    fn default() -> Self {
        CommitOptions {
            name: None,
            changes: Vec::new(),
            message: None,
            author: None,
            schema: Schema::Oci,
            created: None,
            created_by: None,
            parent: None,
            exclude: Vec::new(),
            timestamp: None,
        }
    }
}

/// Why a container cannot be committed (before anything is written).
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(
        "container {0} is running: committing a running container is not supported yet; stop it first"
    )]
    Running(String),
    #[error(transparent)]
    Vfs(#[from] super::vfs_layer::VfsLayerError),
    #[error("container {name} has no writable layer at {path}")]
    NoUpper { name: String, path: String },
    #[error("the image {image} of container {name} is no longer in the store")]
    NoImage { name: String, image: String },
    #[error(transparent)]
    Transfer(#[from] TransferError),
}

/// What [`commit_container`] made.
#[derive(Debug)]
pub struct Committed {
    pub record: ImageRecord,
    /// The new layer's diff ID.
    pub layer: Digest,
}

/// Commits the container whose directory is `dir` and record is `container` as a new image.
/// Call with at least the shared store lock held; the commit itself takes the exclusive one.
pub fn commit_container(
    store: &mut Store,
    dir: &Path,
    container: &ContainerRecord,
    opts: &CommitOptions,
) -> Result<Committed, CommitError> {
    let name = container.names.first().cloned().unwrap_or_default();
    if container.state == State::Running {
        return Err(CommitError::Running(name));
    }
    let vfs = container.driver == "vfs";
    let upper = dir.join("upper");
    if !vfs && !upper.is_dir() {
        return Err(CommitError::NoUpper {
            name,
            path: upper.display().to_string(),
        });
    }
    let origin = format!("container {name}");
    let Some(image) = store
        .images()
        .get(&container.image_id)
        .map_err(TransferError::from)?
    else {
        return Err(CommitError::NoImage {
            name,
            image: container.image.clone(),
        });
    };
    let parent_bytes = store
        .blobs()
        .read(image.config_digest())
        .map_err(TransferError::from)?;
    let json_err = |what: String| {
        let origin = origin.clone();
        move |source| TransferError::Json {
            origin,
            what,
            source,
        }
    };
    let mut config: Map<String, Value> = serde_json::from_slice(&parent_bytes)
        .map_err(json_err(format!("config {}", image.config_digest())))?;

    let mut layers = Vec::with_capacity(image.layers.len() + 1);
    for diff_id in &image.layers {
        let rec = store.layers().get(diff_id).map_err(TransferError::from)?;
        layers.push(StagedLayer::stored(rec, diff_id));
    }

    let staging = store.staging("commit").map_err(TransferError::from)?;
    crate::failpoint!("commit.staging-created");
    let layer_dir = staging.path().join("layers").join("commit");
    let new_layer = if vfs {
        let spec = super::vfs_layer::load_spec(dir)?;
        let mut exclude: Vec<Vec<u8>> = MOUNT_TARGETS
            .iter()
            .map(|t| t.as_bytes().to_vec())
            .collect();
        exclude.extend(
            opts.exclude
                .iter()
                .map(|t| t.trim_start_matches('/').as_bytes().to_vec())
                .filter(|t| !t.is_empty()),
        );
        super::vfs_layer::stage(&spec, &exclude, opts.timestamp, &layer_dir)?
    } else {
        tar_upper(dir, &upper, &layer_dir, &origin)?
    };
    let layer = new_layer.diff_id.clone();
    crate::failpoint!("commit.layer-tarred");
    layers.push(new_layer);

    let created = opts
        .created
        .unwrap_or_else(Utc::now)
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let from = if container.image_name.is_empty() {
        container.image.clone()
    } else {
        container.image_name.clone()
    };
    edit_config(
        &mut config,
        opts,
        &created,
        &from,
        &layer,
        container,
        &image,
    )
    .map_err(|message| TransferError::Invalid {
        origin: "--change".into(),
        message,
    })?;
    let config_bytes = serde_json::to_vec(&config).map_err(json_err("the new config".into()))?;
    let (manifest_bytes, m) = commit::uncompressed_manifest(opts.schema, &config_bytes, &layers);
    let mut plan = ImagePlan::new(
        config_bytes,
        manifest_bytes,
        m.media_type.unwrap_or_default(),
        layers,
        opts.name.iter().cloned().collect(),
        staging.path(),
        &origin,
    )?;
    plan.parent = opts.parent.clone();
    crate::failpoint!("commit.image-planned");
    let mut records = commit::commit(store, &staging, vec![plan])?;
    Ok(Committed {
        record: records.remove(0),
        layer,
    })
}

/// Writes the tar of `upper` (symlink table in `container_dir`) into `layer_dir` as a store
/// layer, on two threads: this one walks and writes, the other extracts.
fn tar_upper(
    container_dir: &Path,
    upper: &Path,
    layer_dir: &Path,
    origin: &str,
) -> Result<StagedLayer, TransferError> {
    let layer_err = |source: archive::ArchiveError| TransferError::Layer {
        origin: origin.to_string(),
        path: upper.display().to_string(),
        source: Box::new(source),
    };
    let write_err = |source| TransferError::Write {
        path: layer_dir.display().to_string(),
        source,
    };
    fs::create_dir_all(layer_dir).map_err(write_err)?;
    let symlinks = SymlinkTable::load(container_dir).map_err(layer_err)?;
    let target = layer_dir.to_path_buf();
    let (to_extract, extractor) = pipe::spawn("coracle:extract", move |r| {
        archive::extract_layer(r, &target)
    })
    .map_err(write_err)?;
    let exclude = mount_targets(upper);
    let created = archive::create_layer_excluding(upper, &symlinks, &exclude, to_extract).and_then(
        |(summary, w)| {
            w.finish().map_err(|source| archive::ArchiveError::Write {
                layer: upper.to_path_buf(),
                source,
            })?;
            Ok(summary)
        },
    );
    let extracted = extractor
        .join()
        .map_err(|_| write_err(std::io::Error::other("the extraction thread panicked")))?;
    // The writer's error is the cause; the extractor then only saw a short stream.
    let created = created.map_err(layer_err)?;
    let extracted = extracted.map_err(|source| TransferError::Layer {
        origin: origin.to_string(),
        path: layer_dir.display().to_string(),
        source: Box::new(source),
    })?;
    if extracted.diff_id != created.diff_id || extracted.tar_size != created.tar_size {
        return Err(TransferError::DigestMismatch {
            origin: origin.to_string(),
            what: "the extracted container layer".into(),
            expected: created.diff_id,
            actual: extracted.diff_id,
        });
    }
    Ok(StagedLayer {
        dir: Some(layer_dir.to_path_buf()),
        blob_digest: created.diff_id.clone(),
        diff_id: created.diff_id,
        tar_size: created.tar_size,
        entries: created.entries,
        compressed: None,
    })
}

/// The files the runtime bind-mounts its generated files on (`runtime::mounts`). Where the
/// image lacks them, the runtime creates them, empty, in the upper layer; what the container
/// writes to them goes to the container's own copy, never there. Podman leaves them out of
/// commits too.
const MOUNT_TARGETS: [&str; 3] = ["etc/hosts", "etc/hostname", "etc/resolv.conf"];

/// The [`MOUNT_TARGETS`] present in `upper` as the empty files the runtime makes.
fn mount_targets(upper: &Path) -> Vec<Vec<u8>> {
    MOUNT_TARGETS
        .iter()
        .filter(|t| fs::symlink_metadata(upper.join(t)).is_ok_and(|m| m.is_file() && m.len() == 0))
        .map(|t| t.as_bytes().to_vec())
        .collect()
}

/// The parent's config turned into the new image's: run config changed by `--change`, the new
/// layer and its history entry appended, creation time, author and comment set.
fn edit_config(
    config: &mut Map<String, Value>,
    opts: &CommitOptions,
    created: &str,
    from: &str,
    layer: &Digest,
    container: &ContainerRecord,
    parent: &ImageRecord,
) -> Result<(), String> {
    let mut run = match config.remove("config") {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for change in &opts.changes {
        apply_change(&mut run, change)?;
    }
    config.insert("config".into(), Value::Object(run));
    config.insert("created".into(), json!(created));
    if let Some(a) = &opts.author {
        config.insert("author".into(), json!(a));
    }
    // Docker's fields about the container that made the parent say nothing true any more.
    config.remove("container_config");
    config.remove("container");
    config.remove("parent");
    config.remove("comment");
    if let Some(m) = &opts.message {
        config.insert("comment".into(), json!(m));
    }
    if opts.schema == Schema::Docker {
        config.insert("container".into(), json!(container.id));
        config.insert("parent".into(), json!(parent.id.to_string()));
    }
    let rootfs = config
        .entry("rootfs")
        .or_insert_with(|| json!({"type": "layers", "diff_ids": []}));
    match rootfs.get_mut("diff_ids").and_then(Value::as_array_mut) {
        Some(ids) => ids.push(json!(layer.to_string())),
        None => *rootfs = json!({"type": "layers", "diff_ids": [layer.to_string()]}),
    }
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    entry.insert(
        "created_by".into(),
        json!(opts.created_by.as_deref().unwrap_or(CREATED_BY)),
    );
    if let Some(a) = &opts.author {
        entry.insert("author".into(), json!(a));
    }
    let comment = match (&opts.message, &opts.created_by) {
        (Some(m), _) => Some(m.clone()),
        (None, None) => Some(format!("FROM {from}")),
        (None, Some(_)) => None,
    };
    if let Some(comment) = comment {
        entry.insert("comment".into(), json!(comment));
    }
    let history = config
        .entry("history")
        .or_insert_with(|| Value::Array(Vec::new()));
    match history.as_array_mut() {
        Some(h) => h.push(Value::Object(entry)),
        None => *history = json!([entry]),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ContainerRecord {
        ContainerRecord {
            id: "c".repeat(64),
            names: vec!["web".into()],
            image: "busybox".into(),
            image_id: Digest::from_hex(&"a".repeat(64)).unwrap(),
            image_name: "docker.io/library/busybox:latest".into(),
            command: vec!["sh".into()],
            created: Utc::now(),
            state: State::Exited,
            pid: None,
            started_at: None,
            finished_at: None,
            exit_code: Some(0),
            monitor_pid: None,
            monitor_start: None,
            env: Vec::new(),
            working_dir: String::new(),
            user: String::new(),
            hostname: String::new(),
            layers: Vec::new(),
            driver: "overlay".into(),
            remove: false,

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

    fn parent() -> ImageRecord {
        ImageRecord {
            id: Digest::from_hex(&"a".repeat(64)).unwrap(),
            names: Vec::new(),
            names_history: Vec::new(),
            digest: Digest::from_hex(&"b".repeat(64)).unwrap(),
            manifest_media_type: crate::oci::manifest::OCI_MANIFEST.into(),
            layers: Vec::new(),
            size: 0,
            added: Utc::now(),
            parent: None,
        }
    }

    #[test]
    fn config_gets_layer_history_and_changes() {
        let mut c: Map<String, Value> = serde_json::from_value(json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
            "container_config": {"Cmd": ["old"]},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:".to_string() + &"1".repeat(64)]},
            "history": [{"created_by": "base"}],
        }))
        .unwrap();
        let layer = Digest::of_bytes(b"x");
        let opts = CommitOptions {
            changes: vec!["CMD=/bin/true".into(), "ENV A=1".into()],
            author: Some("me".into()),
            ..Default::default()
        };
        edit_config(&mut c, &opts, "T", "busybox", &layer, &record(), &parent()).unwrap();
        assert_eq!(c["config"]["Cmd"], json!(["/bin/sh", "-c", "/bin/true"]));
        assert_eq!(c["config"]["Env"], json!(["PATH=/bin", "A=1"]));
        assert_eq!(c["rootfs"]["diff_ids"][1], json!(layer.to_string()));
        assert_eq!(
            c["history"][1],
            json!({"created": "T", "created_by": "/bin/sh", "author": "me", "comment": "FROM busybox"})
        );
        assert_eq!(c["author"], "me");
        assert!(c.get("container_config").is_none() && c.get("container").is_none());

        let mut d = Map::new();
        let opts = CommitOptions {
            message: Some("msg".into()),
            schema: Schema::Docker,
            ..Default::default()
        };
        edit_config(&mut d, &opts, "T", "busybox", &layer, &record(), &parent()).unwrap();
        assert_eq!(d["comment"], "msg");
        assert_eq!(d["history"][0]["comment"], "msg");
        assert_eq!(d["container"], json!("c".repeat(64)));
        assert_eq!(d["rootfs"]["diff_ids"], json!([layer.to_string()]));
        assert!(
            edit_config(
                &mut d,
                &CommitOptions {
                    changes: vec!["FROB=1".into()],
                    ..Default::default()
                },
                "T",
                "b",
                &layer,
                &record(),
                &parent()
            )
            .is_err()
        );
    }
}
