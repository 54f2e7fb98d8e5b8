//! From a reference and the command's registry flags to a ready [`Client`]: the endpoint from
//! registries.conf (insecure, remapped location, mirrors), `--tls-verify`, the credentials from
//! `--creds` or the auth files (looked up by `host/repo` first, then `host`), `--cert-dir`,
//! `--retry`, `--retry-delay`.
//!
//! `CORACLE_REGISTRY_TIMEOUT` (a duration such as `30s` or `500ms`, or plain seconds) replaces
//! the client's time-out for connecting and for each wait on a response or on more of a body.
//! Podman has no flag for it; the tests use it to make a hung registry fail quickly.

use std::time::Duration;

use crate::cli::registry_flags::RegistryFlags;
use crate::config::Env;
use crate::registry::client::{Client, RegistryError};
use crate::registry::conf::{ConfError, PullSource, RegistriesConf};
use crate::registry::credentials::{self, CredentialsError};
use crate::registry::{ClientOptions, Credentials, Endpoint};

/// The environment variable that overrides the client's time-out.
pub const TIMEOUT_VAR: &str = "CORACLE_REGISTRY_TIMEOUT";

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
    #[error("invalid {TIMEOUT_VAR} {value:?}: {message}")]
    Timeout { value: String, message: String },
}

/// A client for `source` (one of `RegistriesConf::pull_sources`, or `push_source`), with the
/// credentials for `source.reference`'s repository.
pub fn client_for(
    env: &Env,
    flags: &RegistryFlags,
    source: &PullSource,
) -> Result<Client, ConnectError> {
    let mut endpoint = source.endpoint.clone();
    match flags.tls_verify {
        Some(false) => endpoint.insecure = true,
        Some(true) => endpoint.insecure = false,
        None => {}
    }
    let credentials = credentials_for(env, flags, &endpoint.host, Some(source.reference.path()))?;
    let options = client_options(env, flags)?;
    Ok(Client::new(endpoint, credentials, &options)?)
}

/// A client for a whole registry (`search`, `login`), with the credentials stored for `host`.
pub fn registry_client(
    env: &Env,
    flags: &RegistryFlags,
    host: &str,
) -> Result<Client, ConnectError> {
    let conf = RegistriesConf::load(env)?;
    let mut endpoint = Endpoint {
        host: host.to_string(),
        insecure: conf.is_insecure(host),
    };
    match flags.tls_verify {
        Some(false) => endpoint.insecure = true,
        Some(true) => endpoint.insecure = false,
        None => {}
    }
    let credentials = credentials_for(env, flags, host, None)?;
    let options = client_options(env, flags)?;
    Ok(Client::new(endpoint, credentials, &options)?)
}

/// `--creds`, else the auth files' entry for `host/repo` (or `host`).
fn credentials_for(
    env: &Env,
    flags: &RegistryFlags,
    host: &str,
    repo: Option<&str>,
) -> Result<Option<Credentials>, ConnectError> {
    if let Some(creds) = &flags.creds {
        let (username, password) = credentials::parse_creds(creds)?;
        let password = match password {
            Some(p) => p,
            None => {
                return Err(CredentialsError::Usage(format!(
                    "--creds {username}: the password is missing (use USERNAME:PASSWORD)"
                ))
                .into());
            }
        };
        return Ok(Some(Credentials { username, password }));
    }
    let file = credentials::auth_file(env, flags.authfile.as_deref())?;
    let key = match repo {
        Some(repo) => format!("{host}/{repo}"),
        None => host.to_string(),
    };
    Ok(credentials::lookup(env, &file, &key)?)
}

/// The client settings the flags (and [`TIMEOUT_VAR`]) ask for.
pub fn client_options(env: &Env, flags: &RegistryFlags) -> Result<ClientOptions, ConnectError> {
    let mut options = ClientOptions {
        cert_dir: flags.cert_dir.clone(),
        retries: flags.retry,
        ..ClientOptions::default()
    };
    if let Some(value) = &flags.retry_delay {
        options.retry_delay =
            Some(
                parse_duration(value).map_err(|message| ConnectError::RetryDelay {
                    value: value.clone(),
                    message,
                })?,
            );
    }
    if let Some(value) = (env.var)(TIMEOUT_VAR).filter(|v| !v.is_empty()) {
        let timeout = parse_duration(&value)
            .or_else(|_| {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| "expected a duration such as 30s or 500ms".to_string())
            })
            .map_err(|message| ConnectError::Timeout {
                value: value.clone(),
                message,
            })?;
        options.timeout = timeout;
    }
    Ok(options)
}

/// A Go duration (`1h2m3.5s`, `500ms`, `10us`), as Podman's `--retry-delay` takes it.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(|| format!("missing unit in duration {text:?}"))?;
        if num_len == 0 {
            return Err(format!("invalid duration {text:?}"));
        }
        let value: f64 = rest[..num_len]
            .parse()
            .map_err(|_| format!("invalid duration {text:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            unit => return Err(format!("unknown unit {unit:?} in duration {text:?}")),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(Duration::from_secs_f64(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }
}
