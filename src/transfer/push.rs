//! `push` to a registry: each blob the registry lacks is sent once, the manifest last.
//!
//! [`prepare`] works in the store (under its lock): it picks for each layer a compressed
//! blob of the wanted kind — the one the image's manifest names when the store has it, so an
//! unchanged image keeps its manifest digest — compressing (once, see `compress`) the layers
//! that have none, and opens every blob. [`push`] then works on the network only, with the
//! store lock released (an open file survives an `rmi` meanwhile): per blob a `HEAD` in the
//! destination repository, else a cross-repository mount from a repository coracle has seen
//! it in, else an upload; a few at a time; then the manifest.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use crate::oci::digest::Digest;
use crate::oci::manifest::{self, Manifest, Schema};
use crate::registry::client::{Client, RegistryError};
use crate::store::layers::CompressedBlob;
use crate::store::{ImageRecord, Store};
use crate::transfer::TransferError;
use crate::transfer::compress::{self, LayerCompression};
use crate::transfer::known_blobs::KnownBlobs;

/// Blobs uploaded at once.
const PARALLEL_UPLOADS: usize = 3;

#[derive(Debug, Clone)]
pub struct PushOptions {
    pub compression: LayerCompression,
    /// `--compression-level`; the compression's default (see `compress`) otherwise.
    pub level: Option<i32>,
    /// `--format`; the stored manifest's schema otherwise.
    pub schema: Option<Schema>,
}

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Transfer(#[from] TransferError),
    #[error("{message}")]
    Unsupported { message: String },
    #[error("copying blob {digest} to {destination}")]
    Blob {
        destination: String,
        digest: Digest,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("writing manifest to {destination}")]
    Manifest {
        destination: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("reading blob {digest} from the store")]
    Read {
        digest: Digest,
        #[source]
        source: io::Error,
    },
}

/// Where a blob's bytes come from.
#[derive(Debug, Clone)]
enum Source {
    /// An open blob file of the store (read with `pread`, so retries start over cheaply).
    File(Arc<File>),
    Bytes(Arc<Vec<u8>>),
}

/// One blob to send.
#[derive(Debug, Clone)]
pub struct PushBlob {
    pub digest: Digest,
    pub size: u64,
    pub is_config: bool,
    source: Source,
}

/// Everything a push sends, taken from the store.
#[derive(Debug)]
pub struct Prepared {
    /// Layers (base first), then the config; each digest once.
    pub blobs: Vec<PushBlob>,
    pub manifest: Vec<u8>,
    pub manifest_media_type: String,
    pub manifest_digest: Digest,
    /// The stored manifest is sent as it is (same digest as the source).
    pub unchanged: bool,
    /// Layers compressed by this push.
    pub compressed: usize,
}

fn schema_of(media_type: &str) -> Schema {
    if media_type == manifest::DOCKER_MANIFEST {
        Schema::Docker
    } else {
        Schema::Oci
    }
}

/// Picks, compresses (when needed) and opens the blobs of `img`. Call with the store
/// locked shared; the exclusive lock is taken briefly to commit new compressed layers.
pub fn prepare(
    store: &mut Store,
    img: &ImageRecord,
    opts: &PushOptions,
) -> Result<Prepared, PushError> {
    let stored_schema = schema_of(&img.manifest_media_type);
    let schema = match (opts.schema, opts.compression) {
        (Some(Schema::Docker), LayerCompression::Zstd) => {
            return Err(PushError::Unsupported {
                message: "zstd-compressed layers cannot be described by a Docker v2s2 manifest: use --format oci".into(),
            });
        }
        (Some(s), _) => s,
        (None, LayerCompression::Zstd) => Schema::Oci,
        (None, LayerCompression::Gzip) => stored_schema,
    };
    let stored: Option<(Vec<u8>, Manifest)> = if manifest::is_manifest(&img.manifest_media_type) {
        store
            .blobs()
            .read(&img.digest)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok().map(|m| (b, m)))
    } else {
        None
    };
    let stored_layers: Option<&[manifest::Descriptor]> = stored
        .as_ref()
        .map(|(_, m)| &m.layers[..])
        .filter(|l| l.len() == img.layers.len());

    let mut chosen: Vec<Option<CompressedBlob>> = Vec::new();
    let mut missing = Vec::new();
    for (i, diff_id) in img.layers.iter().enumerate() {
        let record = store.layers().get(diff_id).map_err(TransferError::from)?;
        let preferred = stored_layers.map(|l| &l[i].digest);
        let blob = compress::existing(store, &record, opts.compression, preferred);
        if blob.is_none() && !missing.contains(diff_id) {
            missing.push(diff_id.clone());
        }
        chosen.push(blob);
    }
    let made = compress::compress_layers(
        store,
        &missing,
        opts.compression,
        opts.level,
        &|diff_id, blob| {
            tracing::debug!(
                "compressed layer {diff_id} into {} ({} bytes)",
                blob.digest,
                blob.size
            )
        },
    )?;
    let layers: Vec<CompressedBlob> = img
        .layers
        .iter()
        .zip(chosen)
        .map(|(diff_id, c)| {
            c.unwrap_or_else(|| {
                let i = missing.iter().position(|m| m == diff_id).unwrap_or(0);
                made[i].clone()
            })
        })
        .collect();

    let config = Arc::new(store.blobs().read(&img.id).map_err(TransferError::from)?);
    let unchanged = match (&stored, stored_layers) {
        (Some((_, m)), Some(stored_layers)) => {
            schema == stored_schema
                && m.config.digest == img.id
                && stored_layers
                    .iter()
                    .zip(&layers)
                    .all(|(s, l)| s.digest == l.digest)
        }
        _ => false,
    };
    let (manifest_bytes, manifest_media_type) = match (unchanged, stored) {
        (true, Some((bytes, _))) => (bytes, img.manifest_media_type.clone()),
        _ => {
            let descriptors: Vec<manifest::LayerDescriptor> = layers
                .iter()
                .map(|l| manifest::LayerDescriptor {
                    media_type: opts
                        .compression
                        .media_type(schema)
                        .unwrap_or(manifest::OCI_LAYER_GZIP)
                        .to_string(),
                    digest: l.digest.clone(),
                    size: l.size,
                })
                .collect();
            let (bytes, _) = manifest::build(schema, &img.id, config.len() as u64, &descriptors);
            let media_type = match schema {
                Schema::Oci => manifest::OCI_MANIFEST,
                Schema::Docker => manifest::DOCKER_MANIFEST,
            };
            (bytes, media_type.to_string())
        }
    };

    let mut blobs = Vec::new();
    let mut seen = HashSet::new();
    for l in &layers {
        if !seen.insert(l.digest.clone()) {
            continue;
        }
        let file = store.blobs().open(&l.digest).map_err(TransferError::from)?;
        blobs.push(PushBlob {
            digest: l.digest.clone(),
            size: l.size,
            is_config: false,
            source: Source::File(Arc::new(file)),
        });
    }
    blobs.push(PushBlob {
        digest: img.id.clone(),
        size: config.len() as u64,
        is_config: true,
        source: Source::Bytes(config),
    });
    Ok(Prepared {
        blobs,
        manifest_digest: Digest::of_bytes(&manifest_bytes),
        manifest: manifest_bytes,
        manifest_media_type,
        unchanged,
        compressed: made.len(),
    })
}

/// What became of one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobOutcome {
    /// The destination repository had it.
    Exists,
    /// Mounted from another repository of the registry.
    Mounted(String),
    Uploaded,
}

/// Where the push goes.
pub struct Destination<'a> {
    pub client: &'a Client,
    /// The registry as references name it (`localhost:5000`).
    pub registry: String,
    /// The repository path (`team/app`).
    pub repository: String,
    /// A tag, or a digest.
    pub reference: String,
    /// For messages: the whole reference.
    pub display: String,
}

/// How a push reports progress (lines on a pipe, bars on a terminal, or nothing).
pub trait Progress: Sync {
    /// A blob transfer starts; the returned counter is told of the bytes sent.
    fn start(&self, blob: &PushBlob) -> Box<dyn Counter>;
    /// A blob is done.
    fn finish(&self, blob: &PushBlob, outcome: &BlobOutcome);
}

/// Bytes of one upload as they go (reset when a retry starts over).
pub trait Counter: Send + Sync {
    fn set(&self, sent: u64);
}

/// Sends the blobs the registry lacks, then the manifest; returns the manifest's digest.
/// Records where the blobs now are in `known`.
pub fn push(
    dest: &Destination<'_>,
    prepared: &Prepared,
    known: &mut KnownBlobs,
    progress: &dyn Progress,
) -> Result<Digest, PushError> {
    let next = Mutex::new(0usize);
    let failure: Mutex<Option<PushError>> = Mutex::new(None);
    let known_ref: &KnownBlobs = known;
    let work = || {
        loop {
            let i = {
                let mut n = next.lock().unwrap_or_else(|p| p.into_inner());
                if *n >= prepared.blobs.len() {
                    return;
                }
                *n += 1;
                *n - 1
            };
            let blob = &prepared.blobs[i];
            match push_blob(dest, blob, known_ref, progress) {
                Ok(outcome) => progress.finish(blob, &outcome),
                Err(e) => {
                    failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert(e);
                    *next.lock().unwrap_or_else(|p| p.into_inner()) = prepared.blobs.len();
                    return;
                }
            }
        }
    };
    // The config is queued last: it starts once every layer has.
    std::thread::scope(|s| {
        for _ in 1..PARALLEL_UPLOADS.min(prepared.blobs.len()) {
            s.spawn(work);
        }
        work();
    });
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let digest = dest
        .client
        .put_manifest(
            &dest.repository,
            &dest.reference,
            &prepared.manifest_media_type,
            &prepared.manifest,
        )
        .map_err(|source| PushError::Manifest {
            destination: dest.display.clone(),
            source: Box::new(source),
        })?;
    let digests: Vec<Digest> = prepared.blobs.iter().map(|b| b.digest.clone()).collect();
    known.add(&dest.registry, &dest.repository, &digests);
    Ok(digest)
}

fn push_blob(
    dest: &Destination<'_>,
    blob: &PushBlob,
    known: &KnownBlobs,
    progress: &dyn Progress,
) -> Result<BlobOutcome, PushError> {
    let err = |source| PushError::Blob {
        destination: dest.display.clone(),
        digest: blob.digest.clone(),
        source: Box::new(source),
    };
    if dest
        .client
        .blob_size(&dest.repository, &blob.digest)
        .map_err(err)?
        .is_some()
    {
        return Ok(BlobOutcome::Exists);
    }
    for from in known.repositories(&dest.registry, &blob.digest, &dest.repository) {
        match dest
            .client
            .mount_blob(&dest.repository, &blob.digest, &from)
        {
            Ok(true) => return Ok(BlobOutcome::Mounted(from)),
            Ok(false) => {}
            // A repository we may not read (or that is gone) is no reason to fail.
            Err(e) => tracing::debug!("mounting {} from {from}: {e}", blob.digest),
        }
    }
    let counter: Arc<dyn Counter> = Arc::from(progress.start(blob));
    let mut body = || -> io::Result<Box<dyn Read + Send>> {
        counter.set(0);
        Ok(match &blob.source {
            Source::File(f) => Box::new(FileReader {
                file: f.clone(),
                pos: 0,
                counter: counter.clone(),
            }),
            Source::Bytes(b) => Box::new(FileReader {
                file: b.clone(),
                pos: 0,
                counter: counter.clone(),
            }),
        })
    };
    dest.client
        .upload_blob(&dest.repository, &blob.digest, blob.size, &mut body)
        .map_err(err)?;
    Ok(BlobOutcome::Uploaded)
}

/// Bytes that can be read at any offset without sharing a cursor.
trait ReadAt: Send + Sync {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize>;
}

impl ReadAt for File {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, pos)
    }
}

impl ReadAt for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        let start = usize::try_from(pos).unwrap_or(usize::MAX).min(self.len());
        let n = buf.len().min(self.len() - start);
        buf[..n].copy_from_slice(&self[start..start + n]);
        Ok(n)
    }
}

/// One pass over a blob from its start, counting what was read.
struct FileReader<T: ReadAt + ?Sized> {
    file: Arc<T>,
    pos: u64,
    counter: Arc<dyn Counter>,
}

impl<T: ReadAt + ?Sized> Read for FileReader<T> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read_at(buf, self.pos)?;
        self.pos += n as u64;
        self.counter.set(self.pos);
        Ok(n)
    }
}
