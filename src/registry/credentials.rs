//! Registry credentials as Podman finds and keeps them: the auth file (`--authfile`, else
//! `$REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json`; root without
//! `XDG_RUNTIME_DIR` uses `/run/containers/0/auth.json`), then `~/.docker/config.json`; in each,
//! `credHelpers[host]`, then `auths` (keys `host/repo/path` more specific first, then `host`,
//! with `https://` and `/v1/` forms of Docker Hub), then `credsStore`; helpers are the
//! `docker-credential-NAME` programs (`get`/`store`/`erase` on stdin/stdout).

use std::path::{Path, PathBuf};

use crate::config::Env;
use crate::registry::Credentials;

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid auth file: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("writing {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("credential helper docker-credential-{helper} {action} for {key}: {message}")]
    Helper {
        helper: String,
        action: &'static str,
        key: String,
        message: String,
    },
    #[error("{0}")]
    Usage(String),
}

/// The auth file this command reads and writes.
pub fn auth_file(_env: &Env, _flag: Option<&Path>) -> Result<PathBuf, CredentialsError> {
    todo!("credentials")
}

/// The credentials for `key` (`host` or `host/repo/path`, most specific entry wins).
pub fn lookup(
    _env: &Env,
    _auth_file: &Path,
    _key: &str,
) -> Result<Option<Credentials>, CredentialsError> {
    todo!("credentials")
}

/// Stores credentials for `key` in `auth_file` (or its credential helper), replacing the
/// file atomically with mode 0600.
pub fn store(
    _env: &Env,
    _auth_file: &Path,
    _key: &str,
    _credentials: &Credentials,
) -> Result<(), CredentialsError> {
    todo!("credentials")
}

/// Removes the entry for `key`; false when there was none.
pub fn remove(_env: &Env, _auth_file: &Path, _key: &str) -> Result<bool, CredentialsError> {
    todo!("credentials")
}

/// Removes every entry of `auth_file` (`logout --all`).
pub fn remove_all(_env: &Env, _auth_file: &Path) -> Result<(), CredentialsError> {
    todo!("credentials")
}

/// `--creds USER[:PASSWORD]` (a missing password is asked for on a terminal by the caller).
pub fn parse_creds(_flag: &str) -> Result<(String, Option<String>), CredentialsError> {
    todo!("credentials")
}
