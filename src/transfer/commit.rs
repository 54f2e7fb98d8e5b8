//! Making staged images visible in the store: blobs and layers renamed into place under the
//! exclusive lock, then the image record, last. Names an image takes from another image are
//! dropped from that one, as Podman does (the other image may become `<none>`).

use std::fs;
use std::path::{Path, PathBuf};

use chrono::Utc;

use crate::oci::config::ImageConfig;
use crate::oci::digest::Digest;
use crate::oci::manifest::{self, Manifest, Schema};
use crate::store::blobs::{self};
use crate::store::layers::{self, LayerRecord};
use crate::store::staging;
use crate::store::{ImageRecord, Staging, Store};
use crate::transfer::TransferError;
use crate::transfer::scan::StagedLayer;

/// An image fully staged and verified, waiting to be committed.
#[derive(Debug)]
pub struct ImagePlan {
    pub config_digest: Digest,
    pub config: ImageConfig,
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub layers: Vec<StagedLayer>,
    pub names: Vec<String>,
    /// The image this one was built on (`build`), recorded in a new image's record.
    pub parent: Option<Digest>,
    /// Bytes of config and manifest, which Podman counts in an image's size.
    metadata_size: u64,
    /// Staged metadata blobs (config, manifest).
    staged_blobs: Vec<(Digest, PathBuf)>,
}

impl ImagePlan {
    /// Stages the config and manifest bytes as blobs and prepares the layer records.
    pub fn new(
        config_bytes: Vec<u8>,
        manifest_bytes: Vec<u8>,
        manifest_media_type: String,
        layers: Vec<StagedLayer>,
        names: Vec<String>,
        staging: &Path,
        origin: &str,
    ) -> Result<ImagePlan, TransferError> {
        let dir = staging.join("blobs");
        fs::create_dir_all(&dir).map_err(|source| TransferError::Write {
            path: dir.display().to_string(),
            source,
        })?;
        let blob_err = |source| TransferError::Blob {
            origin: origin.to_string(),
            source,
        };
        crate::failpoint!("load.blob.writing");
        let config_digest = blobs::stage_bytes(&dir, &config_bytes).map_err(blob_err)?;
        let manifest_digest = blobs::stage_bytes(&dir, &manifest_bytes).map_err(blob_err)?;
        crate::failpoint!("load.blob.written");
        let config =
            ImageConfig::parse(&config_digest, &config_bytes).map_err(|e| TransferError::Json {
                origin: origin.to_string(),
                what: format!("config {config_digest}"),
                source: e.source,
            })?;
        for layer in &layers {
            if let Some(layer_dir) = &layer.dir {
                let record = LayerRecord {
                    diff_id: layer.diff_id.clone(),
                    tar_size: layer.tar_size,
                    entries: layer.entries,
                    compressed: layer.compressed.iter().map(|(c, _)| c.clone()).collect(),
                    created: Utc::now(),
                };
                layers::write_record(layer_dir, &record)?;
                crate::failpoint!("load.layer.record-written");
            }
        }
        Ok(ImagePlan {
            // Podman's store keeps the manifest twice (by digest and as "the" manifest).
            metadata_size: (config_bytes.len() + 2 * manifest_bytes.len()) as u64,
            staged_blobs: vec![
                (config_digest.clone(), dir.join(config_digest.hex())),
                (manifest_digest.clone(), dir.join(manifest_digest.hex())),
            ],
            config_digest,
            config,
            manifest_digest,
            manifest_media_type,
            layers,
            names,
            parent: None,
        })
    }
}

/// The manifest of an image made here (commit, build, import), whose layers are stored
/// uncompressed: each named by its diff ID and tar size, with `schema`'s layer type.
pub fn uncompressed_manifest(
    schema: Schema,
    config: &[u8],
    layers: &[StagedLayer],
) -> (Vec<u8>, Manifest) {
    let media_type = match schema {
        Schema::Oci => manifest::OCI_LAYER,
        Schema::Docker => manifest::DOCKER_LAYER,
    };
    let descriptors: Vec<_> = layers
        .iter()
        .map(|l| manifest::LayerDescriptor {
            media_type: media_type.into(),
            digest: l.diff_id.clone(),
            size: l.tar_size,
        })
        .collect();
    manifest::build(
        schema,
        &Digest::of_bytes(config),
        config.len() as u64,
        &descriptors,
    )
}

/// Commits every plan; returns the resulting image records in plan order.
pub fn commit(
    store: &mut Store,
    staging: &Staging,
    plans: Vec<ImagePlan>,
) -> Result<Vec<ImageRecord>, TransferError> {
    // Flush everything staged with one syncfs before anything becomes visible.
    staging.sync()?;
    crate::failpoint!("load.blob.synced");
    store.lock_exclusive("load")?;
    crate::failpoint!("load.store-locked");
    crate::failpoint!("load.commit.begin");
    let mut moved_blobs = false;
    let mut moved_layers = false;
    for plan in &plans {
        for (digest, path) in &plan.staged_blobs {
            moved_blobs |= move_blob(store, digest, path)?;
        }
        for layer in &plan.layers {
            if store.layers().contains(&layer.diff_id) {
                continue;
            }
            let Some(dir) = &layer.dir else {
                return Err(TransferError::Invalid {
                    origin: "store".into(),
                    message: format!(
                        "layer {} was removed while this load ran; run it again",
                        layer.diff_id
                    ),
                });
            };
            if let Some((blob, path)) = &layer.compressed {
                moved_blobs |= move_blob(store, &blob.digest, path)?;
            }
            let to = store.layers().path(&layer.diff_id);
            fs::rename(dir, &to).map_err(|source| staging::StagingError::Rename {
                from: dir.clone(),
                to: to.clone(),
                source,
            })?;
            moved_layers = true;
            crate::failpoint!("load.commit.layer-renamed");
        }
    }
    crate::failpoint!("load.commit.layers-renamed");
    if moved_blobs {
        staging::sync_dir(store.blobs().dir())?;
    }
    if moved_layers {
        staging::sync_dir(store.layers().dir())?;
    }
    crate::failpoint!("load.commit.dir-synced");

    let mut records = Vec::new();
    for plan in plans {
        let rec = put_image(store, staging.path(), &plan)?;
        records.push(rec);
    }
    crate::failpoint!("load.commit.done");
    Ok(records)
}

fn move_blob(store: &Store, digest: &Digest, staged: &Path) -> Result<bool, TransferError> {
    if store.blobs().contains(digest) || !staged.exists() {
        return Ok(false);
    }
    let to = store.blobs().path(digest);
    fs::rename(staged, &to).map_err(|source| staging::StagingError::Rename {
        from: staged.to_path_buf(),
        to,
        source,
    })?;
    crate::failpoint!("load.commit.blob-renamed");
    Ok(true)
}

/// Writes (or updates) the record of one committed image and takes its names from others.
fn put_image(
    store: &Store,
    staging_dir: &Path,
    plan: &ImagePlan,
) -> Result<ImageRecord, TransferError> {
    let mut record = match store.images().get(&plan.config_digest)? {
        Some(existing) => existing,
        None => ImageRecord {
            id: plan.config_digest.clone(),
            names: Vec::new(),
            names_history: Vec::new(),
            digest: plan.manifest_digest.clone(),
            manifest_media_type: plan.manifest_media_type.clone(),
            layers: plan.layers.iter().map(|l| l.diff_id.clone()).collect(),
            size: plan.layers.iter().map(|l| l.tar_size).sum::<u64>() + plan.metadata_size,
            added: Utc::now(),
            parent: plan.parent.clone(),
        },
    };
    for name in &plan.names {
        record.add_name(name);
    }
    crate::failpoint!("load.commit.image-record-staged");
    store.images().put(staging_dir, &record)?;
    crate::failpoint!("load.commit.image-record-renamed");
    take_names(store, staging_dir, &record)?;
    crate::failpoint!("load.commit.old-names-dropped");
    Ok(record)
}

/// Removes `owner`'s names from every other image.
pub fn take_names(
    store: &Store,
    staging_dir: &Path,
    owner: &ImageRecord,
) -> Result<(), TransferError> {
    for mut other in store.images().list()? {
        if other.id == owner.id {
            continue;
        }
        let before = other.names.len();
        other.names.retain(|n| !owner.names.contains(n));
        if other.names.len() != before {
            store.images().put(staging_dir, &other)?;
        }
    }
    // Lists share the image names (as in Podman): one name, one owner.
    for mut list in store.lists().list().map_err(Box::new)? {
        if list.id == owner.id {
            continue;
        }
        let before = list.names.len();
        list.names.retain(|n| !owner.names.contains(n));
        if list.names.len() != before {
            store.lists().put(staging_dir, &list).map_err(Box::new)?;
        }
    }
    Ok(())
}
