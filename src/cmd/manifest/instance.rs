//! An instance from a local image: its stored manifest and the platform its config names.

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

use crate::cli::manifest::InstanceFlags;
use crate::oci::config::ImageConfig;
use crate::oci::digest::Digest;
use crate::store::lists::{Instance, InstanceSource, ListPlatform};
use crate::store::lookup::{self, LookupError};
use crate::store::{ImageRecord, Store};

const LOCAL_TRANSPORT: &str = "containers-storage:";

/// The local image `input` names, as an instance; `None` when it is not a local image (and
/// not spelled as one), so the caller asks a registry.
pub fn local(store: &Store, input: &str) -> anyhow::Result<Option<Instance>> {
    if input.starts_with("docker://") {
        return Ok(None);
    }
    let (name, explicit) = match input.strip_prefix(LOCAL_TRANSPORT) {
        Some(rest) => (rest, true),
        None => (input, false),
    };
    let images = store.images().list()?;
    let img = match lookup::find(&images, name) {
        Ok((img, _)) => img,
        Err(LookupError::NotKnown(_)) if !explicit => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("adding {input} to the manifest list")),
    };
    from_image(store, img)
        .map(Some)
        .with_context(|| format!("adding image {} to the manifest list", img.id.short()))
}

fn from_image(store: &Store, img: &ImageRecord) -> anyhow::Result<Instance> {
    let bytes = store.blobs().read(&img.digest)?;
    let manifest = String::from_utf8(bytes)
        .with_context(|| format!("manifest {} is not UTF-8 JSON", img.digest))?;
    let config_bytes = store.blobs().read(&img.id)?;
    let config = ImageConfig::parse(&img.id, &config_bytes)?;
    Ok(Instance {
        digest: img.digest.clone(),
        media_type: img.manifest_media_type.clone(),
        size: manifest.len() as u64,
        platform: platform_of(&config),
        annotations: BTreeMap::new(),
        manifest,
        source: InstanceSource::Local {
            image: img.id.clone(),
        },
    })
}

/// The platform an image config names (`os.version` and `os.features` are OCI's spellings).
pub fn platform_of(config: &ImageConfig) -> ListPlatform {
    let strings = |key: &str| -> Vec<String> {
        config
            .other
            .get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    ListPlatform {
        architecture: config.architecture.clone(),
        os: config.os.clone(),
        os_version: config
            .other
            .get("os.version")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        os_features: strings("os.features"),
        variant: config.variant.clone().filter(|v| !v.is_empty()),
        features: Vec::new(),
    }
}

/// `--arch`, `--os`, `--variant`, `--os-version`, `--features` and `--annotation`.
pub fn apply_overrides(
    instance: &mut Instance,
    flags: &InstanceFlags,
    annotations: &BTreeMap<String, String>,
) {
    let p = &mut instance.platform;
    if let Some(a) = &flags.arch {
        p.architecture = a.clone();
    }
    if let Some(o) = &flags.os {
        p.os = o.clone();
    }
    if let Some(v) = &flags.variant {
        p.variant = Some(v.clone()).filter(|v| !v.is_empty());
    }
    if let Some(v) = &flags.os_version {
        p.os_version = Some(v.clone()).filter(|v| !v.is_empty());
    }
    if !flags.features.is_empty() {
        p.features = flags.features.clone();
    }
    instance
        .annotations
        .extend(annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
}

/// A manifest's bytes as an instance, checked to be an image manifest.
pub fn check_manifest(media_type: &str, bytes: &[u8], digest: &Digest) -> anyhow::Result<String> {
    if !crate::oci::manifest::is_manifest(media_type) {
        bail!("{digest} is a {media_type:?}, not an image manifest");
    }
    String::from_utf8(bytes.to_vec()).with_context(|| format!("manifest {digest} is not UTF-8"))
}
