//! The layer cache: which image a step made, by the step's key.
//!
//! A key is the digest of everything the step's result depends on: the parent image's ID,
//! the instruction after expansion, the build arguments and environment the step sees, the
//! digest of what a COPY/ADD copies, and the build settings that change images (format,
//! timestamp, the final image's labels and annotations). The index is one file per key in
//! `<graphroot>/build/cache/`, holding the image ID, written in staging and renamed into place
//! under the exclusive store lock. An entry whose image is gone (removed by `rmi`, `prune`)
//! is a miss; nothing else can make an entry wrong, as an image's ID is its config's digest.

use std::fs;
use std::path::PathBuf;

use anyhow::Context as _;
use serde_json::Value;

use crate::cmd::Context;
use crate::oci::digest::Digest;
use crate::store::{LockMode, Store, images, staging};

/// A step's cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key(Digest);

impl Key {
    /// The key of `inputs` (a JSON value naming every input of the step).
    pub fn of(inputs: &Value) -> Key {
        Key(Digest::of_bytes(canonical(inputs).to_string().as_bytes()))
    }

    /// The key's hex digits: its tag in a `--cache-to` repository.
    pub fn hex(&self) -> &str {
        self.0.hex()
    }
}

/// `v` with every object's keys sorted: serde_json keeps insertion order here, and a key
/// must not depend on it.
fn canonical(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let sorted: std::collections::BTreeMap<&String, Value> =
                m.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

fn dir(store: &Store) -> PathBuf {
    store.graphroot().join("build").join("cache")
}

/// The image an earlier build made for `key`, if the store still has it.
pub fn lookup(store: &Store, key: &Key) -> anyhow::Result<Option<Digest>> {
    let path = dir(store).join(key.0.hex());
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let Ok(id) = Digest::from_hex(text.trim()) else {
        return Ok(None);
    };
    Ok(store.images().get(&id)?.map(|r| r.id))
}

/// Records that `key` made image `id`.
pub fn record(ctx: &Context, key: &Key, id: &Digest) -> anyhow::Result<()> {
    let store = ctx.open_store(LockMode::Exclusive, "build")?;
    let dir = dir(&store);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let staging = store.staging("build-cache")?;
    let staged = staging.path().join(key.0.hex());
    images::write_synced(&staged, id.hex().as_bytes())
        .with_context(|| format!("writing {}", staged.display()))?;
    crate::failpoint!("build.cache.staged");
    staging::rename_durably(&staged, &dir.join(key.0.hex()))?;
    crate::failpoint!("build.cache.recorded");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_depends_on_every_input() {
        let a = Key::of(&serde_json::json!({"parent": "x", "step": "RUN a"}));
        let b = Key::of(&serde_json::json!({"step": "RUN a", "parent": "x"}));
        let c = Key::of(&serde_json::json!({"parent": "x", "step": "RUN b"}));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
