//! `save`: writing images from the store as a docker-archive, an OCI archive, an OCI layout
//! directory or Docker's `dir` layout.
//!
//! Layers are reproduced byte for byte from the extracted layer and its tar-split record
//! (`crate::archive::reassemble_layer`), and checked against their diff ID while they stream
//! out: a damaged layer is an error, never a silently different image. A compressed layer
//! kept as loaded or pulled is written as it is, so OCI manifests keep their digests.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::archive;
use crate::oci::config::ImageConfig;
use crate::oci::digest::{Digest, HashingWriter};
use crate::oci::manifest::{self, Manifest};
use crate::store::{ImageRecord, Store};
use crate::transfer::TransferError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveFormat {
    DockerArchive,
    OciArchive,
    OciDir,
    DockerDir,
}

impl SaveFormat {
    pub fn parse(s: &str) -> Option<SaveFormat> {
        Some(match s {
            "docker-archive" => SaveFormat::DockerArchive,
            "oci-archive" => SaveFormat::OciArchive,
            "oci-dir" => SaveFormat::OciDir,
            "docker-dir" => SaveFormat::DockerDir,
            _ => return None,
        })
    }

    pub fn is_dir(self) -> bool {
        matches!(self, SaveFormat::OciDir | SaveFormat::DockerDir)
    }
}

/// One image to save with the names to record for it (full references).
#[derive(Debug, Clone)]
pub struct SaveItem {
    pub image: ImageRecord,
    pub names: Vec<String>,
}

/// Where a blob or file of the output goes: a tar stream or a directory.
trait Sink {
    /// Adds a file of `size` bytes whose content `fill` writes.
    fn add(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), TransferError>,
    ) -> Result<(), TransferError>;
    fn add_bytes(&mut self, name: &str, data: &[u8]) -> Result<(), TransferError> {
        self.add(name, data.len() as u64, &mut |w| {
            w.write_all(data).map_err(|source| TransferError::Write {
                path: name.to_string(),
                source,
            })
        })
    }
    fn add_dir(&mut self, name: &str) -> Result<(), TransferError>;
}

/// A minimal tar writer: ustar headers with fixed owner and time, so output is reproducible.
struct TarSink<W: Write> {
    out: W,
}

impl<W: Write> TarSink<W> {
    fn header(&mut self, name: &str, size: u64, kind: tar::EntryType) -> Result<(), TransferError> {
        let mut h = tar::Header::new_ustar();
        let err = |source: io::Error| TransferError::Write {
            path: name.to_string(),
            source,
        };
        h.set_path(name).map_err(err)?;
        h.set_size(size);
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        self.out.write_all(h.as_bytes()).map_err(err)
    }

    fn finish(mut self) -> Result<W, TransferError> {
        self.out
            .write_all(&[0u8; 1024])
            .and_then(|_| self.out.flush())
            .map_err(|source| TransferError::Write {
                path: "end of archive".into(),
                source,
            })?;
        Ok(self.out)
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn add(
        &mut self,
        name: &str,
        size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), TransferError>,
    ) -> Result<(), TransferError> {
        self.header(name, size, tar::EntryType::Regular)?;
        let mut counted = CountingWriter {
            inner: &mut self.out,
            n: 0,
        };
        fill(&mut counted)?;
        if counted.n != size {
            return Err(TransferError::Write {
                path: name.to_string(),
                source: io::Error::other(format!("wrote {} bytes, expected {size}", counted.n)),
            });
        }
        let pad = (512 - size % 512) % 512;
        self.out
            .write_all(&vec![0u8; pad as usize])
            .map_err(|source| TransferError::Write {
                path: name.to_string(),
                source,
            })
    }

    fn add_dir(&mut self, name: &str) -> Result<(), TransferError> {
        self.header(
            &format!("{}/", name.trim_end_matches('/')),
            0,
            tar::EntryType::Directory,
        )
    }
}

struct CountingWriter<'a, W: Write> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

struct DirSink {
    root: PathBuf,
}

impl Sink for DirSink {
    fn add(
        &mut self,
        name: &str,
        _size: u64,
        fill: &mut dyn FnMut(&mut dyn Write) -> Result<(), TransferError>,
    ) -> Result<(), TransferError> {
        let path = self.root.join(name);
        let err = |source: io::Error| TransferError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut f = BufWriter::with_capacity(1 << 20, File::create(&path).map_err(err)?);
        fill(&mut f)?;
        f.flush().map_err(err)
    }
    fn add_dir(&mut self, name: &str) -> Result<(), TransferError> {
        let path = self.root.join(name);
        fs::create_dir_all(&path).map_err(|source| TransferError::Write {
            path: path.display().to_string(),
            source,
        })
    }
}

/// Writes `items` to `out` (a tar stream) in an archive format.
pub fn save_archive<W: Write>(
    store: &Store,
    items: &[SaveItem],
    format: SaveFormat,
    out: W,
) -> Result<W, TransferError> {
    let mut sink = TarSink { out };
    match format {
        SaveFormat::DockerArchive => write_docker_archive(store, items, &mut sink)?,
        SaveFormat::OciArchive => write_oci_layout(store, items, &mut sink)?,
        _ => unreachable!("directory formats are written by save_dir"),
    }
    sink.finish()
}

/// Writes `items` into the directory `dir` (created; must not hold anything else).
pub fn save_dir(
    store: &Store,
    items: &[SaveItem],
    format: SaveFormat,
    dir: &Path,
) -> Result<(), TransferError> {
    fs::create_dir_all(dir).map_err(|source| TransferError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    let mut sink = DirSink {
        root: dir.to_path_buf(),
    };
    match format {
        SaveFormat::OciDir => write_oci_layout(store, items, &mut sink),
        SaveFormat::DockerDir => write_docker_dir(store, items, &mut sink),
        _ => unreachable!("archive formats are written by save_archive"),
    }
}

/// Streams a layer's tar, checking it against its diff ID.
fn write_layer(store: &Store, diff_id: &Digest, out: &mut dyn Write) -> Result<(), TransferError> {
    let dir = store.layers().path(diff_id);
    let mut hashing = HashingWriter::new(out);
    archive::reassemble_layer(&dir, &mut hashing).map_err(|source| TransferError::Reassemble {
        diff_id: diff_id.clone(),
        source: Box::new(source),
    })?;
    let (actual, _, _) = hashing.finish();
    if &actual != diff_id {
        return Err(TransferError::LayerChanged {
            diff_id: diff_id.clone(),
            actual,
        });
    }
    Ok(())
}

fn copy_blob(store: &Store, digest: &Digest, out: &mut dyn Write) -> Result<(), TransferError> {
    let mut f = store.blobs().open(digest)?;
    io::copy(&mut f, out).map_err(|source| TransferError::Write {
        path: format!("blob {digest}"),
        source,
    })?;
    Ok(())
}

fn docker_repo_tag(name: &str) -> Option<String> {
    // A digested name cannot be a RepoTag.
    if name.contains('@') {
        None
    } else {
        Some(name.to_string())
    }
}

fn write_docker_archive(
    store: &Store,
    items: &[SaveItem],
    sink: &mut dyn Sink,
) -> Result<(), TransferError> {
    let mut written_layers = std::collections::HashSet::new();
    let mut manifest = Vec::new();
    for item in items {
        let img = &item.image;
        let config_name = format!("{}.json", img.id.hex());
        let config = store.blobs().read(&img.id)?;
        sink.add_bytes(&config_name, &config)?;
        let mut layer_names = Vec::new();
        for diff_id in &img.layers {
            let name = format!("{}.tar", diff_id.hex());
            if written_layers.insert(diff_id.clone()) {
                let rec = store.layers().get(diff_id)?;
                sink.add(&name, rec.tar_size, &mut |w| write_layer(store, diff_id, w))?;
            }
            layer_names.push(name);
        }
        manifest.push(serde_json::json!({
            "Config": config_name,
            "RepoTags": item.names.iter().filter_map(|n| docker_repo_tag(n)).collect::<Vec<_>>(),
            "Layers": layer_names,
        }));
    }
    let data = serde_json::to_vec(&manifest).map_err(|e| TransferError::Write {
        path: "manifest.json".into(),
        source: e.into(),
    })?;
    sink.add_bytes("manifest.json", &data)
}

/// The OCI manifest to write for an image: the stored one when it is OCI and every blob it
/// names is at hand, else a new one with uncompressed layers (same config, same image ID).
fn oci_manifest(store: &Store, img: &ImageRecord) -> Result<(Vec<u8>, Manifest), TransferError> {
    if img.manifest_media_type == manifest::OCI_MANIFEST {
        let data = store.blobs().read(&img.digest)?;
        if let Ok(m) = serde_json::from_slice::<Manifest>(&data) {
            let complete = m
                .layers
                .iter()
                .zip(&img.layers)
                .all(|(l, diff)| &l.digest == diff || store.blobs().contains(&l.digest));
            if complete && m.layers.len() == img.layers.len() {
                return Ok((data, m));
            }
        }
    }
    uncompressed_manifest(store, img, manifest::Schema::Oci)
}

/// A manifest of `schema` naming the image's layers uncompressed (digest = diff ID), as
/// reassembled from the store.
fn uncompressed_manifest(
    store: &Store,
    img: &ImageRecord,
    schema: manifest::Schema,
) -> Result<(Vec<u8>, Manifest), TransferError> {
    let config = store.blobs().read(&img.id)?;
    let media_type = match schema {
        manifest::Schema::Oci => manifest::OCI_LAYER,
        manifest::Schema::Docker => manifest::DOCKER_LAYER,
    };
    let mut layers = Vec::new();
    for diff_id in &img.layers {
        let rec = store.layers().get(diff_id)?;
        layers.push(manifest::LayerDescriptor {
            media_type: media_type.into(),
            digest: diff_id.clone(),
            size: rec.tar_size,
        });
    }
    Ok(manifest::build(
        schema,
        &img.id,
        config.len() as u64,
        &layers,
    ))
}

/// Writes the blobs of one manifest (config and layers) not yet written.
fn write_manifest_blobs(
    store: &Store,
    img: &ImageRecord,
    m: &Manifest,
    sink: &mut dyn Sink,
    blob_name: &dyn Fn(&Digest) -> String,
    written: &mut std::collections::HashSet<Digest>,
) -> Result<(), TransferError> {
    if written.insert(m.config.digest.clone()) {
        let config = store.blobs().read(&m.config.digest)?;
        sink.add_bytes(&blob_name(&m.config.digest), &config)?;
    }
    for (desc, diff_id) in m.layers.iter().zip(&img.layers) {
        if !written.insert(desc.digest.clone()) {
            continue;
        }
        if &desc.digest == diff_id && !store.blobs().contains(&desc.digest) {
            let rec = store.layers().get(diff_id)?;
            sink.add(&blob_name(&desc.digest), rec.tar_size, &mut |w| {
                write_layer(store, diff_id, w)
            })?;
        } else {
            let size = fs::metadata(store.blobs().path(&desc.digest))
                .map_err(|source| TransferError::Write {
                    path: format!("blob {}", desc.digest),
                    source,
                })?
                .len();
            sink.add(&blob_name(&desc.digest), size, &mut |w| {
                copy_blob(store, &desc.digest, w)
            })?;
        }
    }
    Ok(())
}

fn write_oci_layout(
    store: &Store,
    items: &[SaveItem],
    sink: &mut dyn Sink,
) -> Result<(), TransferError> {
    sink.add_bytes("oci-layout", br#"{"imageLayoutVersion": "1.0.0"}"#)?;
    sink.add_dir("blobs")?;
    sink.add_dir("blobs/sha256")?;
    let mut written = std::collections::HashSet::new();
    let mut index_entries = Vec::new();
    for item in items {
        let img = &item.image;
        let (data, m) = oci_manifest(store, img)?;
        let digest = Digest::of_bytes(&data);
        write_manifest_blobs(
            store,
            img,
            &m,
            sink,
            &|d| format!("blobs/sha256/{}", d.hex()),
            &mut written,
        )?;
        if written.insert(digest.clone()) {
            sink.add_bytes(&format!("blobs/sha256/{}", digest.hex()), &data)?;
        }
        let names: Vec<Option<&String>> = if item.names.is_empty() {
            vec![None]
        } else {
            item.names.iter().map(Some).collect()
        };
        for name in names {
            let mut entry = serde_json::json!({"mediaType": manifest::OCI_MANIFEST, "digest": digest.to_string(), "size": data.len()});
            if let Some(n) = name {
                entry["annotations"] = serde_json::json!({ manifest::REF_NAME: n });
            }
            index_entries.push(entry);
        }
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": index_entries});
    let data = serde_json::to_vec(&index).map_err(|e| TransferError::Write {
        path: "index.json".into(),
        source: e.into(),
    })?;
    sink.add_bytes("index.json", &data)
}

/// Docker's `dir:` layout (`podman save --format docker-dir`): one image, Docker schema 2.
fn write_docker_dir(
    store: &Store,
    items: &[SaveItem],
    sink: &mut dyn Sink,
) -> Result<(), TransferError> {
    let Some(item) = items.first() else {
        return Ok(());
    };
    let img = &item.image;
    let (data, m) = uncompressed_manifest(store, img, manifest::Schema::Docker)?;
    let mut written = std::collections::HashSet::new();
    write_manifest_blobs(store, img, &m, sink, &|d| d.hex().to_string(), &mut written)?;
    sink.add_bytes("manifest.json", &data)?;
    sink.add_bytes("version", b"Directory Transport Version: 1.1\n")
}

/// The parsed config of a stored image.
pub fn image_config(store: &Store, img: &ImageRecord) -> Result<ImageConfig, TransferError> {
    let data = store.blobs().read(&img.id)?;
    ImageConfig::parse(&img.id, &data).map_err(|e| TransferError::Json {
        origin: "store".into(),
        what: format!("config {}", img.id),
        source: e.source,
    })
}
