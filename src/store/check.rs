//! `system check`: every object of the store verified on its own, each problem named with the
//! object it concerns, and what depends on a damaged object worked out so a repair removes
//! exactly that and no more.
//!
//! What is checked (`quick` skips the two marked *slow*):
//! - blobs: readable, and their content hashes to their name (*slow*);
//! - layers: a parseable `layer.json` naming the directory's own diff ID, a `diff/` tree and the
//!   tar-split record, and the tar stream rebuilt from them hashing to the diff ID (*slow*);
//!   compressed blobs a layer record names are present;
//! - images: a parseable record; manifest and config blobs present and parseable; every
//!   layer present; the config's `rootfs.diff_ids` equal to the record's layers;
//! - manifest lists: a parseable record;
//! - containers: a parseable `container.json` and `spec.json`, and their image's layers present.
//!
//! Nothing here changes the store; [`Findings::damaged`] says what a repair would remove.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::archive::{DIFF_DIR, SPLIT_FILE, reassemble_layer};
use crate::oci::config::ImageConfig;
use crate::oci::digest::{Digest, HashingReader};
use crate::store::Store;
use crate::store::containers::{self, ContainerRecord};
use crate::store::images::ImageRecord;
use crate::store::layers::LayerRecord;

/// The kind of object a problem concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Blob,
    Layer,
    Image,
    List,
    Container,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Blob => "blob",
            Kind::Layer => "layer",
            Kind::Image => "image",
            Kind::List => "manifest list",
            Kind::Container => "container",
        }
    }
}

/// One damaged object and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    pub kind: Kind,
    /// The digest (hex for blobs and layers, `sha256:` for images) or container ID.
    pub id: String,
    pub reason: String,
}

/// How many objects of each kind were looked at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub blobs: usize,
    pub layers: usize,
    pub images: usize,
    pub lists: usize,
    pub containers: usize,
}

/// What a check found.
#[derive(Debug, Default)]
pub struct Findings {
    pub checked: Counts,
    pub problems: Vec<Problem>,
    /// Images whose records are damaged or which need a damaged blob or layer.
    pub damaged_images: BTreeSet<String>,
    /// Containers whose records are damaged or which need a damaged layer.
    pub damaged_containers: BTreeSet<String>,
    /// Damaged layers (diff ID hex) and blobs (hex).
    pub damaged_layers: BTreeSet<String>,
    pub damaged_blobs: BTreeSet<String>,
    /// Compressed copies layer records name that are missing or damaged (diff ID, blob).
    pub stale_compressed: Vec<(Digest, Digest)>,
    /// For each image ID, the containers made from it (a repair without `--force` keeps an
    /// image that containers use).
    pub users: BTreeMap<String, Vec<String>>,
}

impl Findings {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, kind: Kind, id: impl Into<String>, reason: impl Into<String>) {
        self.problems.push(Problem {
            kind,
            id: id.into(),
            reason: reason.into(),
        });
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Skip hashing blobs and rebuilding layers.
    pub quick: bool,
}

/// Checks the whole store (call with at least the shared lock).
pub fn check(store: &Store, opts: Options) -> io::Result<Findings> {
    let mut f = Findings::default();
    check_blobs(store, opts, &mut f)?;
    check_layers(store, opts, &mut f)?;
    check_images(store, &mut f)?;
    check_lists(store, &mut f)?;
    check_containers(store, &mut f)?;
    f.problems.sort();
    Ok(f)
}

fn names(dir: &Path) -> io::Result<Vec<String>> {
    let mut v: Vec<String> = crate::store::entry_names(dir)?
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    v.sort();
    Ok(v)
}

fn check_blobs(store: &Store, opts: Options, f: &mut Findings) -> io::Result<()> {
    for name in names(store.blobs().dir())? {
        f.checked.blobs += 1;
        let Ok(digest) = Digest::from_hex(&name) else {
            f.problem(
                Kind::Blob,
                &name,
                "not a sha256 digest: not a blob coracle wrote",
            );
            f.damaged_blobs.insert(name);
            continue;
        };
        let path = store.blobs().path(&digest);
        let reason = if opts.quick {
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => None,
                Ok(_) => Some("not a regular file".to_string()),
                Err(e) => Some(format!("cannot be read: {e}")),
            }
        } else {
            match hash_file(&path) {
                Ok(actual) if actual == digest => None,
                Ok(actual) => Some(format!("digest mismatch: its content hashes to {actual}")),
                Err(e) => Some(format!("cannot be read: {e}")),
            }
        };
        if let Some(reason) = reason {
            f.problem(Kind::Blob, digest.to_string(), reason);
            f.damaged_blobs.insert(name);
        }
    }
    Ok(())
}

fn hash_file(path: &Path) -> io::Result<Digest> {
    let mut reader = HashingReader::new(fs::File::open(path)?);
    io::copy(&mut reader, &mut io::sink())?;
    Ok(reader.finish().0)
}

fn check_layers(store: &Store, opts: Options, f: &mut Findings) -> io::Result<()> {
    for name in names(store.layers().dir())? {
        f.checked.layers += 1;
        let Ok(diff_id) = Digest::from_hex(&name) else {
            f.problem(
                Kind::Layer,
                &name,
                "not a sha256 digest: not a layer coracle wrote",
            );
            f.damaged_layers.insert(name);
            continue;
        };
        match layer_problem(store, &diff_id, opts) {
            Some(reason) => {
                f.problem(Kind::Layer, diff_id.to_string(), reason);
                f.damaged_layers.insert(name);
            }
            None => stale_compressed(store, &diff_id, f),
        }
    }
    Ok(())
}

/// A compressed copy the layer's record names but the store lacks (or has damaged) is not
/// damage to the layer, which rebuilds that copy on demand: a repair drops the reference.
fn stale_compressed(store: &Store, diff_id: &Digest, f: &mut Findings) {
    let Ok(record) = store.layers().get(diff_id) else {
        return;
    };
    for c in record.compressed {
        if !store.blobs().contains(&c.digest) || f.damaged_blobs.contains(c.digest.hex()) {
            f.problem(
                Kind::Layer,
                diff_id.to_string(),
                format!(
                    "its record names a compressed copy {} that is missing or damaged",
                    c.digest
                ),
            );
            f.stale_compressed.push((diff_id.clone(), c.digest));
        }
    }
}

fn layer_problem(store: &Store, diff_id: &Digest, opts: Options) -> Option<String> {
    let dir = store.layers().path(diff_id);
    let record: LayerRecord = match store.layers().get(diff_id) {
        Ok(r) => r,
        Err(e) => return Some(error_chain(&e)),
    };
    if &record.diff_id != diff_id {
        return Some(format!(
            "its record names another layer, {}",
            record.diff_id
        ));
    }
    for sub in [DIFF_DIR, SPLIT_FILE] {
        if fs::symlink_metadata(dir.join(sub)).is_err() {
            return Some(format!("{sub} is missing"));
        }
    }
    if !opts.quick
        && let Err(e) = reassemble_layer(&dir, io::sink())
    {
        return Some(format!("rebuilding its tar stream: {}", error_chain(&e)));
    }
    None
}

fn check_images(store: &Store, f: &mut Findings) -> io::Result<()> {
    let dir = store.graphroot().join("images");
    for name in names(&dir)? {
        let Some(hex) = name.strip_suffix(".json") else {
            continue;
        };
        f.checked.images += 1;
        let id = format!("sha256:{hex}");
        let record: ImageRecord = match fs::read(dir.join(&name))
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
        {
            Ok(r) => r,
            Err(e) => {
                f.problem(Kind::Image, &id, format!("its record cannot be read: {e}"));
                f.damaged_images.insert(id);
                continue;
            }
        };
        if let Some(reason) = image_problem(store, &record, f) {
            f.problem(Kind::Image, &id, reason);
            f.damaged_images.insert(id);
        }
    }
    Ok(())
}

fn image_problem(store: &Store, record: &ImageRecord, f: &Findings) -> Option<String> {
    let blob_ok = |d: &Digest| store.blobs().contains(d) && !f.damaged_blobs.contains(d.hex());
    if !blob_ok(&record.digest) {
        return Some(format!(
            "its manifest {} is missing or damaged",
            record.digest
        ));
    }
    if !blob_ok(&record.id) {
        return Some(format!("its config {} is missing or damaged", record.id));
    }
    for layer in &record.layers {
        if !store.layers().contains(layer) || f.damaged_layers.contains(layer.hex()) {
            return Some(format!("its layer {layer} is missing or damaged"));
        }
    }
    let config = store
        .blobs()
        .read(&record.id)
        .map_err(|e| error_chain(&e))
        .and_then(|b| ImageConfig::parse(&record.id, &b).map_err(|e| error_chain(&e)));
    match config {
        Err(e) => Some(format!("its config cannot be read: {e}")),
        Ok(c) if c.rootfs.diff_ids != record.layers => Some(
            "its config's rootfs.diff_ids do not match the layers its record lists".to_string(),
        ),
        Ok(_) => None,
    }
}

fn check_lists(store: &Store, f: &mut Findings) -> io::Result<()> {
    let dir = store.graphroot().join("lists");
    for name in names(&dir)? {
        let Some(hex) = name.strip_suffix(".json") else {
            continue;
        };
        f.checked.lists += 1;
        let parsed = fs::read(dir.join(&name))
            .map_err(|e| e.to_string())
            .and_then(|b| {
                serde_json::from_slice::<crate::store::lists::ListRecord>(&b)
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = parsed {
            f.problem(
                Kind::List,
                format!("sha256:{hex}"),
                format!("its record cannot be read: {e}"),
            );
        }
    }
    Ok(())
}

fn check_containers(store: &Store, f: &mut Findings) -> io::Result<()> {
    let cs = store.containers();
    let dir = store.graphroot().join("containers");
    for name in names(&dir)? {
        let cdir = cs.path(&name);
        if !cdir.is_dir() {
            continue;
        }
        f.checked.containers += 1;
        let record: ContainerRecord = match containers::read(&cdir) {
            Ok(r) => r,
            Err(e) => {
                f.problem(Kind::Container, &name, error_chain(&e));
                f.damaged_containers.insert(name);
                continue;
            }
        };
        f.users
            .entry(record.image_id.to_string())
            .or_default()
            .push(record.id.clone());
        let spec = fs::read(cdir.join(containers::SPEC))
            .map_err(|e| e.to_string())
            .and_then(|b| {
                serde_json::from_slice::<crate::runtime::spec::ContainerSpec>(&b)
                    .map_err(|e| e.to_string())
            });
        let reason = if let Err(e) = spec {
            Some(format!("its {} cannot be read: {e}", containers::SPEC))
        } else {
            record
                .layers
                .iter()
                .find(|l| !store.layers().contains(l) || f.damaged_layers.contains(l.hex()))
                .map(|l| format!("its image's layer {l} is missing or damaged"))
        };
        if let Some(reason) = reason {
            f.problem(Kind::Container, &name, reason);
            f.damaged_containers.insert(name);
        }
    }
    Ok(())
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
