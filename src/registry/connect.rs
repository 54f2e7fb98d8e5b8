//! From a reference and the command's registry flags to a ready [`Client`]: the endpoint from
//! registries.conf (insecure, remapped location, mirrors), `--tls-verify`, the credentials from
//! `--creds` or the auth files (looked up by `host/repo` first, then `host`), `--cert-dir`,
//! `--retry`, `--retry-delay`.

use crate::cli::registry_flags::RegistryFlags;
use crate::config::Env;
use crate::registry::client::{Client, RegistryError};
use crate::registry::conf::{ConfError, PullSource};
use crate::registry::credentials::CredentialsError;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Conf(#[from] ConfError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("invalid --retry-delay {value:?}: {message}")]
    RetryDelay { value: String, message: String },
}

/// A client for `source` (one of `RegistriesConf::pull_sources`, or `push_source`), with the
/// credentials for `source.reference`'s repository.
pub fn client_for(
    _env: &Env,
    _flags: &RegistryFlags,
    _source: &PullSource,
) -> Result<Client, ConnectError> {
    todo!("connect")
}

/// A client for a whole registry (`search`, `login`), with the credentials stored for `host`.
pub fn registry_client(
    _env: &Env,
    _flags: &RegistryFlags,
    _host: &str,
) -> Result<Client, ConnectError> {
    todo!("connect")
}
