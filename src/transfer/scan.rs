//! One pass over an image archive (docker-archive or OCI archive, from a file or a pipe):
//! small JSON files are kept in memory, layer tars are extracted into staging as they stream
//! by, with every digest computed on the way. Nothing is written outside the staging directory.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Cursor, Read};
use std::path::{Path, PathBuf};

use crate::archive;
use crate::oci::digest::{Digest, HashingReader};
use crate::store::Store;
use crate::store::blobs::StagedBlobWriter;
use crate::store::layers::CompressedBlob;
use crate::transfer::TransferError;
use crate::transfer::pipe;

/// JSON files larger than this are not image metadata; refuse rather than exhaust memory.
const MAX_JSON: u64 = 64 << 20;

/// A layer extracted into staging (or found already in the store).
#[derive(Debug, Clone)]
pub struct StagedLayer {
    /// The staged layer directory; `None` when the store already has this layer.
    pub dir: Option<PathBuf>,
    pub diff_id: Digest,
    pub tar_size: u64,
    pub entries: u64,
    /// The blob as it was in the archive, when it was compressed (kept in `blobs/`).
    pub compressed: Option<(CompressedBlob, PathBuf)>,
    /// The digest of the bytes as stored in the archive (compressed or not).
    pub blob_digest: Digest,
}

impl StagedLayer {
    /// A layer the store already has (record `rec`), arriving as `blob`.
    pub fn stored(rec: crate::store::layers::LayerRecord, blob: &Digest) -> StagedLayer {
        StagedLayer {
            dir: None,
            diff_id: rec.diff_id,
            tar_size: rec.tar_size,
            entries: rec.entries,
            compressed: None,
            blob_digest: blob.clone(),
        }
    }
}

/// What one pass over an archive found.
#[derive(Debug, Default)]
pub struct Scan {
    /// Small files (JSON and the like) by normalised path.
    pub files: HashMap<String, Vec<u8>>,
    /// Extracted layers by normalised path.
    pub layers: HashMap<String, StagedLayer>,
    /// Symlinks between entries (older docker archives link duplicate `layer.tar`s).
    pub links: HashMap<String, String>,
    /// Layer candidates that failed to extract, by normalised path.
    failed: std::cell::RefCell<HashMap<String, TransferError>>,
}

impl Scan {
    /// Extracts the layer candidate at `path` into staging (or finds it in the store). A blob
    /// that fails to extract is remembered, not fatal: the archive may hold blobs no chosen
    /// image uses (other platforms, signatures); the error surfaces if an image needs it.
    fn add_layer<R: Read>(
        &mut self,
        path: String,
        blob: R,
        seq: u32,
        staging: &Path,
        store: &Store,
        origin: &str,
    ) -> Result<(), TransferError> {
        let name_digest = path
            .strip_prefix("blobs/sha256/")
            .and_then(|h| Digest::from_hex(h).ok());
        if path.starts_with("blobs/") && !path.starts_with("blobs/sha256/") {
            return Err(TransferError::UnsupportedDigest {
                origin: origin.to_string(),
                path,
            });
        }
        // Docker and Podman name a docker-archive's layers `<diff id>.tar`: a layer the store
        // has by that diff ID is not extracted again. Trusting the name is safe: the image's
        // config names its diff IDs, and the stored layer is that diff ID.
        let named_diff_id = path
            .strip_suffix("/layer.tar")
            .or_else(|| path.strip_suffix(".tar"))
            .and_then(|h| Digest::from_hex(h).ok());
        if let Some(known) = name_digest
            .as_ref()
            .or(named_diff_id.as_ref())
            .and_then(|d| known_layer(store, d))
        {
            self.layers.insert(path, known);
            return Ok(());
        }
        let dir = staging.join("layers").join(format!("scan-{seq}"));
        let what = match &name_digest {
            Some(d) => format!("blob {d}"),
            None => path.clone(),
        };
        let staged =
            stage_layer(blob, &what, &dir, staging, origin).and_then(|layer| match name_digest {
                Some(expected) if expected != layer.blob_digest => {
                    Err(TransferError::DigestMismatch {
                        origin: origin.to_string(),
                        what,
                        expected,
                        actual: layer.blob_digest,
                    })
                }
                _ => Ok(layer),
            });
        match staged {
            Ok(layer) => {
                crate::failpoint!("load.layer.extracted");
                self.layers.insert(path, layer);
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                self.failed.borrow_mut().insert(path, e);
            }
        }
        Ok(())
    }

    /// Why the layer at `path` could not be extracted, if it could not (given out once).
    pub fn take_failure(&self, path: &str) -> Option<TransferError> {
        self.failed.borrow_mut().remove(&normalise(path))
    }

    /// The layer at `path`, following archive-internal symlinks.
    pub fn layer(&self, path: &str) -> Option<&StagedLayer> {
        let mut p = normalise(path);
        for _ in 0..16 {
            if let Some(l) = self.layers.get(&p) {
                return Some(l);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }

    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(&normalise(path)).map(Vec::as_slice)
    }
}

/// Strips `./` and leading `/` so archive paths compare equal however they were written.
pub fn normalise(path: &str) -> String {
    let mut p = path;
    loop {
        if let Some(rest) = p.strip_prefix("./") {
            p = rest;
        } else if let Some(rest) = p.strip_prefix('/') {
            p = rest;
        } else {
            break;
        }
    }
    p.to_string()
}

/// Reads the whole archive stream.
pub fn scan_archive<R: Read>(
    reader: R,
    origin: &str,
    staging: &Path,
    store: &Store,
) -> Result<Scan, TransferError> {
    let mut scan = Scan::default();
    let mut ar = tar::Archive::new(reader);
    let bad = |source: io::Error| TransferError::Archive {
        origin: origin.to_string(),
        source,
    };
    let mut seq = 0u32;
    for entry in ar.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.to_string_lossy().into_owned();
                let resolved = if kind.is_symlink() {
                    let parent = Path::new(&path)
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    resolve_relative(&parent, &target)
                } else {
                    normalise(&target)
                };
                scan.links.insert(path, resolved);
            }
            continue;
        }
        if !(kind.is_file() || kind == tar::EntryType::Continuous) {
            continue;
        }
        let size = entry.size();
        let head = read_head(&mut entry, 512).map_err(|source| TransferError::Entry {
            origin: origin.to_string(),
            path: path.clone(),
            source,
        })?;
        let looks_json = head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if looks_json {
            if size > MAX_JSON {
                return Err(TransferError::TooLarge {
                    origin: origin.to_string(),
                    path,
                    size,
                });
            }
            let data = read_rest(&mut entry, head, origin, &path)?;
            // A layer whose first entry's name starts with `{` is still a layer.
            if is_layer_candidate(&path)
                && serde_json::from_slice::<serde::de::IgnoredAny>(&data).is_err()
            {
                seq += 1;
                scan.add_layer(path, Cursor::new(data), seq, staging, store, origin)?;
            } else {
                scan.files.insert(path, data);
            }
        } else if is_layer_candidate(&path) {
            seq += 1;
            scan.add_layer(
                path,
                Cursor::new(head).chain(&mut entry),
                seq,
                staging,
                store,
                origin,
            )?;
        } else if size <= MAX_JSON {
            // VERSION files, `oci-layout` variants, signatures: keep small, ignore large.
            let data = read_rest(&mut entry, head, origin, &path)?;
            scan.files.insert(path, data);
        }
    }
    Ok(scan)
}

/// The rest of an entry after its first bytes `head`.
fn read_rest<R: Read>(
    entry: &mut R,
    mut head: Vec<u8>,
    origin: &str,
    path: &str,
) -> Result<Vec<u8>, TransferError> {
    entry
        .read_to_end(&mut head)
        .map_err(|source| TransferError::Entry {
            origin: origin.to_string(),
            path: path.to_string(),
            source,
        })?;
    Ok(head)
}

/// A layer the store already has, found by the digest of the blob that carries it.
pub fn known_layer(store: &Store, blob: &Digest) -> Option<StagedLayer> {
    let rec = match store.layers().get(blob) {
        Ok(rec) => rec,
        Err(_) => store.layers().find_by_compressed(blob)?,
    };
    Some(StagedLayer::stored(rec, blob))
}

fn is_layer_candidate(path: &str) -> bool {
    path.ends_with(".tar") || path.starts_with("blobs/")
}

fn resolve_relative(parent: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        parent.split('/').filter(|p| !p.is_empty()).collect()
    };
    for comp in target.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

/// Reads up to `n` bytes (fewer only at EOF).
pub fn read_head<R: Read>(r: &mut R, n: usize) -> io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    r.by_ref().take(n as u64).read_to_end(&mut head)?;
    Ok(head)
}

/// Whether `block` is a tar header: 512 bytes whose checksum field matches (an empty
/// archive's zero block counts as one).
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 {
        return false;
    }
    if block.iter().all(|b| *b == 0) {
        return true;
    }
    let field = String::from_utf8_lossy(&block[148..156]);
    let Ok(stored) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == stored
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Extracts one layer blob (compressed or not) into `dir`, keeping a compressed blob's bytes
/// in `staging/blobs/`. Reading, decompressing and extracting run on separate threads.
pub fn stage_layer<R: Read>(
    mut blob: R,
    what: &str,
    dir: &Path,
    staging: &Path,
    origin: &str,
) -> Result<StagedLayer, TransferError> {
    let io_err = |source: io::Error| TransferError::Entry {
        origin: origin.to_string(),
        path: what.to_string(),
        source,
    };
    fs::create_dir_all(dir).map_err(io_err)?;
    let head = read_head(&mut blob, 4).map_err(io_err)?;
    let compression = sniff(&head);
    let mut blob = Cursor::new(head).chain(blob);
    crate::failpoint!("load.layer.extracting");
    let extract_err = |source: archive::ArchiveError| TransferError::Layer {
        origin: origin.to_string(),
        path: what.to_string(),
        source: Box::new(source),
    };
    let target = dir.to_path_buf();
    let (mut to_extract, extractor) = pipe::spawn("coracle:extract", move |r| {
        archive::extract_layer(r, &target)
    })
    .map_err(io_err)?;
    if compression == Compression::None {
        let copied = io::copy(&mut blob, &mut to_extract).and_then(|_| to_extract.finish());
        let summary = extractor
            .join()
            .map_err(|_| io_err(io::Error::other("the extraction thread panicked")))?
            .map_err(extract_err)?;
        copied.map_err(io_err)?;
        return Ok(StagedLayer {
            dir: Some(dir.to_path_buf()),
            blob_digest: summary.diff_id.clone(),
            diff_id: summary.diff_id,
            tar_size: summary.tar_size,
            entries: summary.entries,
            compressed: None,
        });
    }
    let blobs_dir = staging.join("blobs");
    fs::create_dir_all(&blobs_dir).map_err(io_err)?;
    let blob_path = blobs_dir.join(format!(
        "incoming-{}",
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    let writer = StagedBlobWriter::create(blob_path).map_err(|e| TransferError::Blob {
        origin: origin.to_string(),
        source: e,
    })?;
    crate::failpoint!("load.blob.writing");
    // Hash, keep and decompress the blob on one thread; extract on another.
    let (mut to_decompress, decompressor) =
        pipe::spawn("coracle:decompress", move |raw| -> io::Result<_> {
            let mut tee = Tee {
                inner: HashingReader::new(raw),
                copy: writer,
            };
            {
                let buffered = io::BufReader::with_capacity(1 << 20, &mut tee);
                match compression {
                    Compression::Gzip => io::copy(
                        &mut flate2::bufread::MultiGzDecoder::new(buffered),
                        &mut to_extract,
                    )?,
                    _ => io::copy(&mut zstd::Decoder::with_buffer(buffered)?, &mut to_extract)?,
                };
            }
            to_extract.finish()?;
            // Whatever follows the compressed stream still belongs to the blob and its digest.
            io::copy(&mut tee, &mut io::sink())?;
            let Tee { inner, copy } = tee;
            let (digest, size, _) = inner.finish();
            let (_, _, path) = copy.finish().map_err(io::Error::other)?;
            Ok((digest, size, path))
        })
        .map_err(io_err)?;
    let copied = io::copy(&mut blob, &mut to_decompress).and_then(|_| to_decompress.finish());
    let decompressed = decompressor
        .join()
        .map_err(|_| io_err(io::Error::other("the decompression thread panicked")))?;
    // The extractor's error says more than the broken pipe it causes upstream.
    let summary = extractor
        .join()
        .map_err(|_| io_err(io::Error::other("the extraction thread panicked")))?
        .map_err(extract_err)?;
    let (blob_digest, blob_size, staged_path) = decompressed.map_err(io_err)?;
    copied.map_err(io_err)?;
    crate::failpoint!("load.blob.written");
    let final_path = blobs_dir.join(blob_digest.hex());
    fs::rename(&staged_path, &final_path).map_err(io_err)?;
    let media_type = match compression {
        Compression::Gzip => crate::oci::manifest::OCI_LAYER_GZIP,
        _ => crate::oci::manifest::OCI_LAYER_ZSTD,
    };
    Ok(StagedLayer {
        dir: Some(dir.to_path_buf()),
        diff_id: summary.diff_id,
        tar_size: summary.tar_size,
        entries: summary.entries,
        compressed: Some((
            CompressedBlob {
                digest: blob_digest.clone(),
                media_type: media_type.to_string(),
                size: blob_size,
            },
            final_path,
        )),
        blob_digest,
    })
}

/// Copies everything read through it into a staged blob file.
struct Tee<R> {
    inner: R,
    copy: StagedBlobWriter,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        io::Write::write_all(&mut self.copy, &buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_paths() {
        assert_eq!(normalise("./manifest.json"), "manifest.json");
        assert_eq!(normalise("/blobs/sha256/ab"), "blobs/sha256/ab");
        assert_eq!(resolve_relative("abc", "../def/layer.tar"), "def/layer.tar");
        assert_eq!(resolve_relative("", "x.tar"), "x.tar");
    }

    #[test]
    fn recognises_tar_headers() {
        let mut h = tar::Header::new_ustar();
        h.set_path("manifest.json").unwrap();
        h.set_size(3);
        h.set_cksum();
        assert!(is_tar_header(h.as_bytes()));
        assert!(is_tar_header(&[0u8; 512]));
        assert!(!is_tar_header(b"root:x:0:0:root:/root:/bin/bash\n"));
        let mut bad = h.as_bytes().to_vec();
        bad[0] ^= 1;
        assert!(!is_tar_header(&bad));
    }

    #[test]
    fn sniffs_compression() {
        assert_eq!(sniff(&[0x1f, 0x8b, 8, 0]), Compression::Gzip);
        assert_eq!(sniff(&[0x28, 0xb5, 0x2f, 0xfd]), Compression::Zstd);
        assert_eq!(sniff(b"usr/"), Compression::None);
    }
}
