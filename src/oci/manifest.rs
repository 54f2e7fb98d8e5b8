//! Manifests, indexes and descriptors of the OCI image spec and Docker's schema 2, which share
//! one shape; and the docker-archive `manifest.json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::oci::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";
/// The annotation that names a manifest inside an OCI layout's index.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An OCI index or a Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// One image of a docker-archive's `manifest.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DockerArchiveItem {
    #[serde(rename = "Config")]
    pub config: String,
    #[serde(rename = "RepoTags", default, deserialize_with = "null_as_empty")]
    pub repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

/// Whether a media type names an image index / manifest list.
pub fn is_index(media_type: &str) -> bool {
    media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
}

/// Whether a media type names an image manifest.
pub fn is_manifest(media_type: &str) -> bool {
    media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
}

/// The `GOARCH` name of the machine coracle runs on, as image platforms spell it.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Which of the two manifest schemas to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// OCI image manifest; descriptors in the image-spec's field order (mediaType, digest, size).
    Oci,
    /// Docker schema 2; descriptors in Docker's field order (mediaType, size, digest).
    Docker,
}

/// A layer as a manifest names it.
#[derive(Debug, Clone)]
pub struct LayerDescriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// Serialises an image manifest compactly with the field order the Go tools use, so that a
/// manifest coracle makes up has the digest Podman's would have.
pub fn build(
    schema: Schema,
    config_digest: &Digest,
    config_size: u64,
    layers: &[LayerDescriptor],
) -> (Vec<u8>, Manifest) {
    let descriptor = |media_type: &str, digest: &Digest, size: u64| match schema {
        Schema::Oci => {
            serde_json::json!({"mediaType": media_type, "digest": digest.to_string(), "size": size})
        }
        Schema::Docker => {
            serde_json::json!({"mediaType": media_type, "size": size, "digest": digest.to_string()})
        }
    };
    let (media_type, config_type) = match schema {
        Schema::Oci => (OCI_MANIFEST, OCI_CONFIG),
        Schema::Docker => (DOCKER_MANIFEST, DOCKER_CONFIG),
    };
    let value = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": descriptor(config_type, config_digest, config_size),
        "layers": layers.iter().map(|l| descriptor(&l.media_type, &l.digest, l.size)).collect::<Vec<_>>(),
    });
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type.to_string()),
        config: Descriptor {
            media_type: config_type.to_string(),
            digest: config_digest.clone(),
            size: config_size,
            platform: None,
            annotations: BTreeMap::new(),
        },
        layers: layers
            .iter()
            .map(|l| Descriptor {
                media_type: l.media_type.clone(),
                digest: l.digest.clone(),
                size: l.size,
                platform: None,
                annotations: BTreeMap::new(),
            })
            .collect(),
        annotations: BTreeMap::new(),
    };
    // A `Value` of strings and numbers always serialises.
    (serde_json::to_vec(&value).unwrap_or_default(), manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_manifests_keep_go_field_order() {
        let d = Digest::of_bytes(b"config");
        let l = LayerDescriptor {
            media_type: DOCKER_LAYER_GZIP.into(),
            digest: Digest::of_bytes(b"layer"),
            size: 7,
        };
        let (bytes, m) = build(Schema::Docker, &d, 6, std::slice::from_ref(&l));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with(r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":6,"digest":"sha256:"#), "{text}");
        assert_eq!(serde_json::from_str::<Manifest>(&text).unwrap(), m);
        let (bytes, _) = build(Schema::Oci, &d, 6, &[l]);
        assert!(String::from_utf8(bytes).unwrap().contains(
            r#""config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:"#
        ));
    }
}
