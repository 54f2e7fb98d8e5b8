//! A `vfs` container's changes as a staged store layer: the copied root is compared with the
//! image's layers ([`archive::create_vfs_layer`]) by a child in a user namespace of the
//! container's mapping (where the copy's files, owned by the container's ids, are all
//! readable), which streams the layer tar through a pipe; this process extracts it into
//! staging as any layer ([`archive::extract_layer`]) and checks both sides' digests.
//!
//! The child is forked, so the caller must be single-threaded (as every namespaced spawn).

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use crate::archive;
use crate::runtime::spec::ContainerSpec;
use crate::runtime::{ChildExit, SignalRelay, userns};
use crate::transfer::scan::StagedLayer;

#[derive(Debug, thiserror::Error)]
pub enum VfsLayerError {
    #[error("reading the container spec {path}")]
    Spec {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid container spec")]
    SpecJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("comparing the copied root {} with the image's layers in the container's user namespace", rootfs.display())]
    Spawn {
        rootfs: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("comparing the copied root {} with the image's layers: {message}", rootfs.display())]
    Compare { rootfs: PathBuf, message: String },
    #[error("extracting the layer of the copied root {} into {}", rootfs.display(), layer.display())]
    Extract {
        rootfs: PathBuf,
        layer: PathBuf,
        #[source]
        source: Box<archive::ArchiveError>,
    },
    #[error(
        "the layer of {} was written as {written} ({written_size} bytes) but read as {read} ({read_size} bytes)",
        rootfs.display()
    )]
    Mismatch {
        rootfs: PathBuf,
        written: String,
        written_size: u64,
        read: String,
        read_size: u64,
    },
}

/// The container spec in the container directory `dir`.
pub fn load_spec(dir: &Path) -> Result<ContainerSpec, VfsLayerError> {
    let path = dir.join(crate::store::containers::SPEC);
    let bytes = std::fs::read(&path).map_err(|source| VfsLayerError::Spec {
        path: path.clone(),
        source,
    })?;
    serde_json::from_slice(&bytes).map_err(|source| VfsLayerError::SpecJson { path, source })
}

/// Writes the changes of the vfs container `spec` into `layer_dir` as a store layer,
/// leaving out the mount points `exclude` (no leading `/`), every time set to `timestamp`
/// when given.
pub fn stage(
    spec: &ContainerSpec,
    exclude: &[Vec<u8>],
    timestamp: Option<i64>,
    layer_dir: &Path,
) -> Result<StagedLayer, VfsLayerError> {
    let rootfs = spec.rootfs.clone();
    let spawn_err = |source: std::io::Error| VfsLayerError::Spawn {
        rootfs: rootfs.clone(),
        source,
    };
    std::fs::create_dir_all(layer_dir).map_err(spawn_err)?;
    let (mut tar_rx, tar_tx) = std::io::pipe().map_err(spawn_err)?;
    let (mut status_rx, status_tx) = std::io::pipe().map_err(spawn_err)?;
    let relay = SignalRelay::block().map_err(|e| spawn_err(std::io::Error::other(e)))?;
    let child_spec = spec.clone();
    let exclude_in = exclude.to_vec();
    let mut child = userns::spawn_process(&spec.mapping, move || {
        let mut status = status_tx;
        let m = &child_spec.mapping;
        let uid_mapped = |id: u32| m.uid.to_host(id).is_some();
        let gid_mapped = |id: u32| m.gid.to_host(id).is_some();
        let root = archive::VfsRoot {
            rootfs: &child_spec.rootfs,
            layers: &child_spec.layers,
            uid_mapped: &uid_mapped,
            gid_mapped: &gid_mapped,
            exclude: &exclude_in,
        };
        match archive::create_vfs_layer(&root, timestamp, tar_tx) {
            Ok((summary, tx)) => {
                drop(tx);
                let line = format!("{} {}", summary.diff_id, summary.tar_size);
                let _ = status.write_all(line.as_bytes());
                0
            }
            Err(e) => {
                let _ = status.write_all(format!("{:#}", anyhow::Error::new(e)).as_bytes());
                125
            }
        }
    })
    .map_err(|e| spawn_err(std::io::Error::other(e)))?;
    let extracted = archive::extract_layer(&mut tar_rx, layer_dir);
    // Drain what the extractor left (nothing after a complete tar), so the child never
    // blocks on a full pipe.
    let _ = std::io::copy(&mut tar_rx, &mut std::io::sink());
    drop(tar_rx);
    let mut status = String::new();
    let read = status_rx.read_to_string(&mut status);
    let exit = child
        .wait(&relay)
        .map_err(|e| spawn_err(std::io::Error::other(e)))?;
    drop(relay);
    read.map_err(spawn_err)?;
    if exit != ChildExit::Exited(0) {
        return Err(VfsLayerError::Compare {
            rootfs,
            message: if status.is_empty() {
                format!("the comparing process ended with {exit:?}")
            } else {
                status
            },
        });
    }
    let extracted = extracted.map_err(|source| VfsLayerError::Extract {
        rootfs: rootfs.clone(),
        layer: layer_dir.to_path_buf(),
        source: Box::new(source),
    })?;
    let (written, written_size) = status.split_once(' ').unwrap_or((status.as_str(), ""));
    let written_size: u64 = written_size.trim().parse().unwrap_or(u64::MAX);
    if written != extracted.diff_id.to_string() || written_size != extracted.tar_size {
        return Err(VfsLayerError::Mismatch {
            rootfs,
            written: written.to_string(),
            written_size,
            read: extracted.diff_id.to_string(),
            read_size: extracted.tar_size,
        });
    }
    Ok(StagedLayer {
        dir: Some(layer_dir.to_path_buf()),
        blob_digest: extracted.diff_id.clone(),
        diff_id: extracted.diff_id,
        tar_size: extracted.tar_size,
        entries: extracted.entries,
        compressed: None,
    })
}
