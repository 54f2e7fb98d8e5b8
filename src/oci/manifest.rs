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

#[cfg(test)]
mod mutation_tests {
    use super::*;
    use crate::oci::config::ImageConfig;

    const SEEDS: &[&str] = &[
        r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":7},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":18446744073709551615}],"annotations":{"a":"b"}}"#,
        r#"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","size":1,"platform":{"architecture":"arm","os":"linux","variant":"v6"}}]}"#,
        r#"{"created":"2024-01-01T00:00:00Z","architecture":"amd64","os":"linux","config":{"Labels":{"a":"b"}},"rootfs":{"type":"layers","diff_ids":["sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"]},"history":[{"created_by":"x","empty_layer":true}],"x":[[[]]]}"#,
        r#"[{"Config":"c.json","RepoTags":null,"Layers":["l/layer.tar"]}]"#,
    ];

    /// Mutated manifests, indexes, configs and docker-archive lists never panic the parsers;
    /// what parses serialises and parses back the same, and an index's platform choice is an
    /// image manifest (fuzz/ manifest does the same with coverage guidance).
    #[test]
    fn mutated_documents_never_panic() {
        let seeds: Vec<&[u8]> = SEEDS.iter().map(|s| s.as_bytes()).collect();
        let wanted =
            crate::transfer::pull::Wanted::from_flags(Some("linux/arm"), None, None, None).unwrap();
        let mut parsed = 0;
        let count = crate::oci::mutate::each_mutation(&seeds, b"{}[]\",:0-9en\\\xff", |bytes| {
            if let Ok(m) = serde_json::from_slice::<Manifest>(bytes) {
                let again = serde_json::to_vec(&m).unwrap();
                assert_eq!(serde_json::from_slice::<Manifest>(&again).unwrap(), m);
                parsed += 1;
            }
            if let Ok(i) = serde_json::from_slice::<Index>(bytes) {
                let again = serde_json::to_vec(&i).unwrap();
                assert_eq!(serde_json::from_slice::<Index>(&again).unwrap(), i);
                if let Some(d) = wanted.choose(&i) {
                    assert!(is_manifest(&d.media_type));
                }
                parsed += 1;
            }
            let digest = Digest::of_bytes(bytes);
            if let Ok(c) = ImageConfig::parse(&digest, bytes) {
                let again = ImageConfig::parse(&digest, &serde_json::to_vec(&c).unwrap()).unwrap();
                assert_eq!((again.rootfs, again.history), (c.rootfs, c.history));
                parsed += 1;
            }
            if let Ok(items) = serde_json::from_slice::<Vec<DockerArchiveItem>>(bytes) {
                let again = serde_json::to_vec(&items).unwrap();
                assert_eq!(
                    serde_json::from_slice::<Vec<DockerArchiveItem>>(&again).unwrap(),
                    items
                );
                parsed += 1;
            }
        });
        assert!(count > 10_000, "{count} mutations");
        assert!(parsed > 100, "only {parsed} mutations parsed");
    }
}
