//! `policy.json` (containers-policy.json(5)) as a pull checks it: `insecureAcceptAnything`
//! accepts, `reject` refuses, and a requirement coracle cannot verify (`signedBy`,
//! `sigstoreSigned`) is an error, never silently accepted. Files: `--signature-policy`, else
//! `$XDG_CONFIG_HOME/containers/policy.json`, else `/etc/containers/policy.json`; none at all
//! accepts everything (Podman refuses; coracle's users need no setup).
//!
//! The requirements for a reference are those of the most specific scope of
//! `transports.docker` that matches it (`host/repo:tag` or `host/repo@digest`, then
//! `host/repo`, each parent namespace, `host`, the wildcards `*.domain` from the longest
//! domain, then the transport's `""`), else `default`. Every requirement of the list must
//! accept.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::Env;
use crate::oci::reference::Reference;

pub const SYSTEM_PATH: &str = "/etc/containers/policy.json";

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("{reference} is rejected by {path}")]
    Rejected { reference: String, path: String },
    #[error(
        "{reference} requires a {requirement} signature by {path}, which coracle cannot verify"
    )]
    Unverifiable {
        reference: String,
        requirement: String,
        path: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Accept,
    Reject,
    /// `signedBy`, `sigstoreSigned`: named as the file names them.
    Signed(String),
}

/// The policy that applies to this command.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// `None`: no file, everything is accepted.
    file: Option<PathBuf>,
    default: Vec<Requirement>,
    docker: BTreeMap<String, Vec<Requirement>>,
}

#[derive(Deserialize)]
struct File {
    default: Option<Vec<RequirementToml>>,
    #[serde(default)]
    transports: BTreeMap<String, BTreeMap<String, Vec<RequirementToml>>>,
}

#[derive(Deserialize)]
struct RequirementToml {
    #[serde(rename = "type")]
    kind: String,
}

impl Policy {
    pub fn load(env: &Env, flag: Option<&Path>) -> Result<Policy, PolicyError> {
        let path = match flag {
            Some(path) => path.to_path_buf(),
            None => {
                let user = crate::registry::conf::config_home(env)
                    .map(|c| c.join("containers/policy.json"))
                    .filter(|p| p.exists());
                match user {
                    Some(user) => user,
                    None if Path::new(SYSTEM_PATH).exists() => PathBuf::from(SYSTEM_PATH),
                    None => return Ok(Policy::default()),
                }
            }
        };
        let text = std::fs::read_to_string(&path).map_err(|e| PolicyError::Invalid {
            path: path.display().to_string(),
            message: format!("reading: {e}"),
        })?;
        Policy::parse(&text, &path)
    }

    /// Parses the text of the file at `path` (named in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let name = path.display().to_string();
        let invalid = |message: String| PolicyError::Invalid {
            path: name.clone(),
            message,
        };
        let file: File = serde_json::from_str(text)
            .map_err(|e| invalid(format!("invalid policy at line {}: {e}", e.line())))?;
        let list = |scope: &str, reqs: Vec<RequirementToml>| {
            if reqs.is_empty() {
                return Err(invalid(format!("{scope}: no requirements")));
            }
            reqs.into_iter()
                .map(|r| match r.kind.as_str() {
                    "insecureAcceptAnything" => Ok(Requirement::Accept),
                    "reject" => Ok(Requirement::Reject),
                    "signedBy" | "sigstoreSigned" => Ok(Requirement::Signed(r.kind)),
                    other => Err(invalid(format!(
                        "{scope}: unknown policy requirement type {other:?}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let Some(default) = file.default else {
            return Err(invalid("default policy is missing".into()));
        };
        let default = list("default", default)?;
        let mut docker = BTreeMap::new();
        let mut transports = file.transports;
        if let Some(scopes) = transports.remove("docker") {
            for (scope, reqs) in scopes {
                let requirements = list(&format!("transports.docker[{scope:?}]"), reqs)?;
                validate_scope(&scope).map_err(invalid)?;
                docker.insert(scope, requirements);
            }
        }
        Ok(Policy {
            file: Some(path.to_path_buf()),
            default,
            docker,
        })
    }

    /// Whether an image from `reference` may be pulled (transport `docker`).
    pub fn check_pull(&self, reference: &Reference) -> Result<(), PolicyError> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let requirements = scopes(reference)
            .iter()
            .find_map(|scope| self.docker.get(scope))
            .unwrap_or(&self.default);
        let path = file.display().to_string();
        if requirements.contains(&Requirement::Reject) {
            return Err(PolicyError::Rejected {
                reference: reference.to_string(),
                path,
            });
        }
        for requirement in requirements {
            if let Requirement::Signed(kind) = requirement {
                return Err(PolicyError::Unverifiable {
                    reference: reference.to_string(),
                    requirement: kind.clone(),
                    path,
                });
            }
        }
        Ok(())
    }
}

/// containers-policy.json(5): a scope is a reference without tag/digest or with one, a
/// namespace, a host, or `*.domain`.
fn validate_scope(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Ok(());
    }
    if let Some(domain) = scope.strip_prefix("*.") {
        if domain.is_empty() || domain.contains(['/', '*', ':']) {
            return Err(format!(
                "invalid scope {scope:?}: a wildcard is \"*.\" and a domain"
            ));
        }
        return Ok(());
    }
    if scope.contains('*') {
        return Err(format!(
            "invalid scope {scope:?}: a wildcard may only begin a host (\"*.example.com\")"
        ));
    }
    Ok(())
}

/// The scopes that may match `reference`, most specific first (c/image's docker
/// `PolicyConfigurationIdentity` and `PolicyConfigurationNamespaces`).
fn scopes(reference: &Reference) -> Vec<String> {
    let name = reference.name();
    let mut scopes = Vec::new();
    match (reference.digest(), reference.tag()) {
        (Some(digest), _) => scopes.push(format!("{name}@{digest}")),
        (None, Some(tag)) => scopes.push(format!("{name}:{tag}")),
        (None, None) => {}
    }
    let mut rest = name.as_str();
    scopes.push(rest.to_string());
    while let Some(i) = rest.rfind('/') {
        rest = &rest[..i];
        scopes.push(rest.to_string());
    }
    // `rest` is now the host (with its port); wildcards match the host without it.
    let host = rest.split(':').next().unwrap_or(rest);
    let mut domain = host;
    while let Some(i) = domain.find('.') {
        domain = &domain[i + 1..];
        scopes.push(format!("*.{domain}"));
    }
    scopes.push(String::new());
    scopes
}

#[cfg(test)]
mod tests;
