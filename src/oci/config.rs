//! The image configuration (OCI image-spec `config.json`, Docker's image JSON). Only the fields
//! coracle reads are typed; the rest stays as JSON so nothing is lost.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::oci::digest::Digest;

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub fs_type: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default, PartialEq)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// The runtime configuration (`Env`, `Cmd`, `Labels`...), kept as JSON.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub config: serde_json::Value,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(default)]
    pub history: Vec<History>,
    /// Everything else (`container_config`, `docker_version`, ...).
    #[serde(flatten)]
    pub other: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
#[error("image config {digest} is not valid JSON")]
pub struct ConfigError {
    pub digest: Digest,
    #[source]
    pub source: serde_json::Error,
}

impl ImageConfig {
    pub fn parse(digest: &Digest, data: &[u8]) -> Result<ImageConfig, ConfigError> {
        serde_json::from_slice(data).map_err(|source| ConfigError {
            digest: digest.clone(),
            source,
        })
    }

    /// The image's labels (`config.Labels`).
    pub fn labels(&self) -> serde_json::Map<String, serde_json::Value> {
        self.config
            .get("Labels")
            .and_then(|l| l.as_object())
            .cloned()
            .unwrap_or_default()
    }
}
