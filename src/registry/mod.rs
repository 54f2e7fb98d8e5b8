//! Image registries over the distribution API v2: the HTTP client (`client`, `auth`, `tls`),
//! where a name is fetched from (`conf`: registries.conf, short names, mirrors), whose
//! credentials are sent (`credentials`: auth.json, Docker's config, credential helpers) and
//! whether an image may be used at all (`policy`: policy.json).
//!
//! Everything here is blocking. A `reqwest` blocking client runs a tokio thread; the runtime
//! forks containers, so a [`client::Client`] must be dropped (which joins that thread) before
//! anything forks.

pub mod auth;
pub mod client;
pub mod conf;
pub mod connect;
pub mod credentials;
pub mod policy;
pub mod search;
pub mod tls;

use std::path::PathBuf;
use std::time::Duration;

/// A user name and its secret for one registry. An identity token from `auth.json`
/// (`identitytoken`) is kept as `password` with `username` `<token>`, as Docker does.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, not even in a debug log.
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Where one registry is reached, after registries.conf's remapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `host[:port]` as written in references (`docker.io`, `localhost:5000`); the client
    /// connects to `registry-1.docker.io` for `docker.io`, as every Docker client does.
    pub host: String,
    /// Plain HTTP is tried when HTTPS fails, and certificates are not verified
    /// (`insecure = true` in registries.conf, `--tls-verify=false`).
    pub insecure: bool,
}

/// Per-command settings of the HTTP client (from flags such as `--cert-dir`, `--retry`).
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// `--cert-dir`: CA certificates (`*.crt`) and client certificates (`*.cert` + `*.key`)
    /// for this command; otherwise `/etc/containers/certs.d/HOST/` and the user's
    /// `~/.config/containers/certs.d/HOST/` are read.
    pub cert_dir: Option<PathBuf>,
    /// `--retry`: attempts after the first, for requests that can be repeated.
    pub retries: u32,
    /// `--retry-delay`: the first delay; it doubles after each attempt unless the registry
    /// sends `Retry-After`. `None` means exponential backoff from one second, as Podman.
    pub retry_delay: Option<Duration>,
    /// Connecting, and waiting for a response or for more of a body, gives up after this.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            cert_dir: None,
            retries: 3,
            retry_delay: None,
            timeout: Duration::from_secs(60),
        }
    }
}
