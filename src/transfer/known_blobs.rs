//! Where coracle has seen each blob in a registry (pulled from, pushed to), so that a push
//! can ask the registry to mount a blob from another of its repositories instead of
//! uploading it again: `<graphroot>/registry-blobs.json`,
//! `{"registry": {"sha256:…": ["repo", …]}}`.
//!
//! It is a hint, never trusted: a mount the registry refuses falls back to an upload. It is
//! replaced by rename from a staging directory, so a crash leaves the old or the new file;
//! two commands updating it at once may lose one's additions, which costs an upload later.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::oci::digest::Digest;
use crate::store::Store;

const FILE: &str = "registry-blobs.json";
/// Repositories remembered per blob and registry (the most recent first).
const MAX_REPOS: usize = 8;
/// Blobs remembered per registry; the file stays small enough to read on every push.
const MAX_BLOBS: usize = 4096;

type Index = BTreeMap<String, BTreeMap<String, Vec<String>>>;

#[derive(Debug, Default)]
pub struct KnownBlobs {
    index: Index,
}

fn path(graphroot: &Path) -> PathBuf {
    graphroot.join(FILE)
}

impl KnownBlobs {
    /// Reads the index; a missing or damaged one is empty (it is only a hint).
    pub fn load(store: &Store) -> KnownBlobs {
        let index = fs::read(path(store.graphroot()))
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .unwrap_or_default();
        KnownBlobs { index }
    }

    /// Repositories of `registry` other than `except` known to hold `digest`.
    pub fn repositories(&self, registry: &str, digest: &Digest, except: &str) -> Vec<String> {
        self.index
            .get(registry)
            .and_then(|blobs| blobs.get(&digest.to_string()))
            .map(|repos| repos.iter().filter(|r| *r != except).cloned().collect())
            .unwrap_or_default()
    }

    /// Notes that `repo` of `registry` holds each of `digests`.
    pub fn add(&mut self, registry: &str, repo: &str, digests: &[Digest]) {
        let blobs = self.index.entry(registry.to_string()).or_default();
        for d in digests {
            let repos = blobs.entry(d.to_string()).or_default();
            repos.retain(|r| r != repo);
            repos.insert(0, repo.to_string());
            repos.truncate(MAX_REPOS);
        }
        while blobs.len() > MAX_BLOBS {
            // No ages are kept: drop arbitrary entries, the hint just gets weaker.
            let Some(first) = blobs.keys().next().cloned() else {
                break;
            };
            blobs.remove(&first);
        }
    }

    /// Writes the index back (re-reading it first, to keep what others added meanwhile).
    pub fn save(&self, store: &Store) -> Result<(), crate::transfer::TransferError> {
        let mut merged = KnownBlobs::load(store);
        for (registry, blobs) in &self.index {
            for (digest, repos) in blobs {
                let Ok(d) = digest.parse::<Digest>() else {
                    continue;
                };
                for repo in repos.iter().rev() {
                    merged.add(registry, repo, std::slice::from_ref(&d));
                }
            }
        }
        let staging = store.staging("blob-index")?;
        let staged = staging.path().join(FILE);
        let data = serde_json::to_vec(&merged.index).unwrap_or_default();
        crate::store::images::write_synced(&staged, &data).map_err(|source| {
            crate::transfer::TransferError::Write {
                path: staged.display().to_string(),
                source,
            }
        })?;
        crate::store::staging::rename_durably(&staged, &path(store.graphroot()))?;
        Ok(())
    }
}

/// Records that `repo` of `registry` holds `digests` (for pull: call after the blobs were
/// fetched, with the store open). Failing to record is only logged.
pub fn remember(store: &Store, registry: &str, repo: &str, digests: &[Digest]) {
    let mut known = KnownBlobs::default();
    known.add(registry, repo, digests);
    if let Err(e) = known.save(store) {
        tracing::warn!("could not record where blobs were seen: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_recent_repository_first_without_the_asker() {
        let d = Digest::of_bytes(b"x");
        let mut k = KnownBlobs::default();
        k.add("localhost:5000", "a", std::slice::from_ref(&d));
        k.add("localhost:5000", "b", std::slice::from_ref(&d));
        k.add("localhost:5000", "a", std::slice::from_ref(&d));
        assert_eq!(k.repositories("localhost:5000", &d, "c"), vec!["a", "b"]);
        assert_eq!(k.repositories("localhost:5000", &d, "a"), vec!["b"]);
        assert!(k.repositories("other", &d, "c").is_empty());
    }
}
