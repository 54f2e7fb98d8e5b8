//! `policy.json` (containers-policy.json(5)) as a pull checks it: `insecureAcceptAnything`
//! accepts, `reject` refuses, and a requirement coracle cannot verify (`signedBy`,
//! `sigstoreSigned`) is an error, never silently accepted. Files: `--signature-policy`, else
//! `$XDG_CONFIG_HOME/containers/policy.json`, else `/etc/containers/policy.json`; none at all
//! accepts everything (Podman refuses; coracle's users need no setup).

use crate::config::Env;
use crate::oci::reference::Reference;

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

/// The policy that applies to this command.
#[derive(Debug, Clone, Default)]
pub struct Policy {}

impl Policy {
    pub fn load(_env: &Env, _flag: Option<&std::path::Path>) -> Result<Policy, PolicyError> {
        todo!("policy.json")
    }

    /// Whether an image from `reference` may be pulled (transport `docker`).
    pub fn check_pull(&self, _reference: &Reference) -> Result<(), PolicyError> {
        todo!("policy.json")
    }
}
