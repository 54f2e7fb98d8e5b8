//! `--squash` and `--squash-all`: the final image's layers from `keep` on merged into one
//! layer (`keep` = the base image's layer count for `--squash`, 0 for `--squash-all`).
//!
//! The merge works on the layers' tars (reassembled byte-exact from the store): a first pass
//! finds which entry of which layer survives at each path — a later entry replaces an
//! earlier one, a whiteout or an opaque directory drops what earlier merged layers had below
//! it — and a second pass writes the survivors, layer by layer, into one tar. Whiteouts stay
//! when base layers remain under the new layer (they may hide the base's files) and go when
//! everything is merged.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Value, json};

use super::image;
use crate::archive::{reassemble_layer, whiteout};
use crate::cmd::Context;
use crate::oci::digest::Digest;
use crate::oci::manifest::Schema;
use crate::store::LockMode;

/// Writes the squashed image of `id`; returns its ID.
pub fn squash(
    ctx: &Context,
    id: &Digest,
    keep: usize,
    schema: Schema,
    annotations: &std::collections::BTreeMap<String, String>,
) -> anyhow::Result<Digest> {
    let store = ctx.open_store(LockMode::Shared, "build")?;
    let (mut config, layers) = image::read(&store, id)?;
    let keep = keep.min(layers.len());
    let staging = store.staging("build-squash")?;
    let mut tars = Vec::new();
    for (n, d) in layers[keep..].iter().enumerate() {
        let path = staging.path().join(format!("layer-{n}.tar"));
        let file = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        reassemble_layer(&store.layers().path(d), io::BufWriter::new(file))
            .with_context(|| format!("reading layer {d}"))?;
        tars.push(path);
    }
    drop(store);
    squash_history(&mut config, keep);
    let survivors = survivors(&tars, keep > 0)?;
    let write = |w: &mut dyn Write| write_merged(&tars, &survivors, w);
    let rec = if tars.is_empty() {
        image::write(ctx, &config, &layers[..keep], None, schema, annotations)?
    } else {
        image::write_with_layer(ctx, &config, &layers[..keep], None, schema, &write)?
    };
    drop(staging);
    Ok(rec.id)
}

/// The history of a squashed image: the entries of kept layers stay; of the others only the
/// last gives a layer (the merged one), the rest become `empty_layer`.
fn squash_history(config: &mut serde_json::Map<String, Value>, keep: usize) {
    let Some(history) = config.get_mut("history").and_then(Value::as_array_mut) else {
        return;
    };
    let mut layer_entries = 0;
    let mut merged = Vec::new();
    for (i, h) in history.iter().enumerate() {
        if h.get("empty_layer").and_then(Value::as_bool) == Some(true) {
            continue;
        }
        layer_entries += 1;
        if layer_entries > keep {
            merged.push(i);
        }
    }
    let last = history.len().saturating_sub(1);
    for i in merged {
        history[i]["empty_layer"] = json!(true);
    }
    if let Some(o) = history.get_mut(last).and_then(Value::as_object_mut) {
        o.remove("empty_layer");
    }
}

/// A tar entry's path as a key: no `./`, no trailing `/`.
fn key(raw: &[u8]) -> Vec<u8> {
    let s = raw.strip_prefix(b"./").unwrap_or(raw);
    let s = s.strip_suffix(b"/").unwrap_or(s);
    s.to_vec()
}

fn under(path: &[u8], dir: &[u8]) -> bool {
    dir.is_empty() || (path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/')
}

fn split(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Which entry (layer, index) survives at each path.
fn survivors(
    tars: &[PathBuf],
    keep_whiteouts: bool,
) -> anyhow::Result<HashMap<Vec<u8>, (usize, usize)>> {
    let mut live: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    for (layer, path) in tars.iter().enumerate() {
        let mut archive = tar::Archive::new(BufReader::new(open(path)?));
        for (idx, entry) in archive.entries().context("reading a layer")?.enumerate() {
            let entry = entry.context("reading a layer entry")?;
            let p = key(&entry.path_bytes());
            let (dir, name) = split(&p);
            let name_os = std::ffi::OsStr::new(std::str::from_utf8(name).unwrap_or(""));
            if whiteout::is_opaque_marker(name_os) {
                live.retain(|k, (l, _)| *l == layer || !under(k, dir));
                if keep_whiteouts {
                    live.insert(p.clone(), (layer, idx));
                }
                continue;
            }
            if let Some(target) = name.strip_prefix(b".wh.") {
                let mut t = dir.to_vec();
                if !t.is_empty() {
                    t.push(b'/');
                }
                t.extend_from_slice(target);
                live.retain(|k, (l, _)| *l == layer || (k != &t && !under(k, &t)));
                if keep_whiteouts {
                    live.insert(p.clone(), (layer, idx));
                }
                continue;
            }
            let is_dir = entry.header().entry_type().is_dir();
            if !is_dir {
                live.retain(|k, (l, _)| *l == layer || !under(k, &p));
            }
            // A path made again is no longer whited out.
            let mut wh = dir.to_vec();
            if !wh.is_empty() {
                wh.push(b'/');
            }
            wh.extend_from_slice(b".wh.");
            wh.extend_from_slice(name);
            live.remove(&wh);
            live.insert(p, (layer, idx));
        }
    }
    Ok(live)
}

fn open(path: &Path) -> anyhow::Result<File> {
    File::open(path).with_context(|| format!("opening {}", path.display()))
}

/// Writes the surviving entries of every layer, in layer order, as one tar.
fn write_merged(
    tars: &[PathBuf],
    live: &HashMap<Vec<u8>, (usize, usize)>,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    for (layer, path) in tars.iter().enumerate() {
        let mut archive = tar::Archive::new(BufReader::new(File::open(path)?));
        for (idx, entry) in archive.entries()?.enumerate() {
            let mut entry = entry?;
            let p = key(&entry.path_bytes());
            if live.get(&p) != Some(&(layer, idx)) {
                continue;
            }
            let pax: Vec<(String, Vec<u8>)> = match entry.pax_extensions()? {
                Some(exts) => exts
                    .filter_map(Result::ok)
                    .filter_map(|e| Some((e.key().ok()?.to_string(), e.value_bytes().to_vec())))
                    .filter(|(k, _)| !matches!(k.as_str(), "path" | "linkpath" | "size"))
                    .collect(),
                None => Vec::new(),
            };
            if !pax.is_empty() {
                builder
                    .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))?;
            }
            let mut header = entry.header().clone();
            let name = entry.path()?.into_owned();
            match entry.link_name()? {
                Some(target) => {
                    let target = target.into_owned();
                    builder.append_link(&mut header, &name, &target)?;
                }
                None => builder.append_data(&mut header, &name, &mut entry)?,
            }
        }
    }
    builder.into_inner()?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_of_a_squash() {
        let mut c = json!({"history": [
            {"created_by": "base"},
            {"created_by": "cmd", "empty_layer": true},
            {"created_by": "run"},
            {"created_by": "copy"},
            {"created_by": "env", "empty_layer": true},
        ]});
        let map = c.as_object_mut().unwrap();
        squash_history(map, 1);
        let h = map["history"].as_array().unwrap();
        let layers: Vec<&str> = h
            .iter()
            .filter(|e| e.get("empty_layer").is_none())
            .map(|e| e["created_by"].as_str().unwrap())
            .collect();
        assert_eq!(layers, ["base", "env"]);
    }

    #[test]
    fn paths() {
        assert_eq!(key(b"./a/b/"), b"a/b");
        assert!(under(b"a/b", b"a"));
        assert!(!under(b"ab", b"a"));
        assert!(under(b"x", b""));
        assert_eq!(split(b"a/b"), (&b"a"[..], &b"b"[..]));
    }
}
