//! `registries.conf` (version 2 TOML) as c/image reads it: where a fully qualified reference is
//! pulled from (mirrors first, then the `prefix`→`location` remapping), which hosts are
//! insecure or blocked, the unqualified-search registries, short-name aliases and the
//! short-name mode.
//!
//! Files, as Podman: `$CONTAINERS_REGISTRIES_CONF` alone when set; otherwise the user's
//! `$XDG_CONFIG_HOME/containers/registries.conf` (or `~/.config/...`) when it exists, else
//! `/etc/containers/registries.conf`; then the `registries.conf.d/*.conf` drop-ins of the
//! matching directory in name order. Short-name aliases also come from the user's cache
//! `$XDG_CONFIG_HOME/containers/short-name-aliases.conf`. No file means `docker.io` is the only
//! search registry and the mode is permissive.

use crate::config::{ConfigError, Env};
use crate::oci::reference::Reference;
use crate::registry::Endpoint;

/// `short-name-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShortNameMode {
    Disabled,
    #[default]
    Permissive,
    Enforcing,
}

/// One place to fetch a reference from: the registry to contact and the reference as that
/// registry names it (remapped by `location`, or a mirror's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSource {
    pub endpoint: Endpoint,
    pub reference: Reference,
    /// A mirror (failures fall through to the next source) rather than the primary location.
    pub mirror: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("registry {registry} is blocked in {path}")]
    Blocked { registry: String, path: String },
}

/// The merged registries configuration.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {}

impl RegistriesConf {
    /// Reads the files above; missing files are defaults, malformed ones an error naming them.
    pub fn load(_env: &Env) -> Result<RegistriesConf, ConfError> {
        todo!("registries.conf")
    }

    /// `unqualified-search-registries` (`["docker.io"]` without any file).
    pub fn search_registries(&self) -> &[String] {
        todo!("registries.conf")
    }

    pub fn short_name_mode(&self) -> ShortNameMode {
        todo!("registries.conf")
    }

    /// The alias of a short name (`busybox` → `docker.io/library/busybox`), if any; the input's
    /// tag or digest is carried over to the result.
    pub fn alias(&self, _short: &str) -> Option<Reference> {
        todo!("registries.conf")
    }

    /// Where to pull `reference` from, in order; `Blocked` when its registry is blocked.
    pub fn pull_sources(&self, _reference: &Reference) -> Result<Vec<PullSource>, ConfError> {
        todo!("registries.conf")
    }

    /// Where to push `reference` (mirrors are never pushed to).
    pub fn push_source(&self, _reference: &Reference) -> Result<PullSource, ConfError> {
        todo!("registries.conf")
    }

    /// Whether `host` is insecure (`[[registry]] insecure = true`).
    pub fn is_insecure(&self, _host: &str) -> bool {
        todo!("registries.conf")
    }
}
