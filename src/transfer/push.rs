//! `push` to a registry: each blob the registry lacks is sent once, the manifest last.
//!
//! [`push_image`] picks for each layer a compressed blob of the wanted kind — the one the
//! image's manifest names when the store has it, so an unchanged image keeps its manifest
//! digest — and opens every blob. Per blob: a `HEAD` in the destination repository, else a
//! cross-repository mount from a repository coracle has seen it in (`known_blobs`), else an
//! upload; a few at a time. Layers without a compressed form are compressed meanwhile (once:
//! see `compress`), each uploaded as soon as it is ready. The store lock is held only while
//! the push reads what it needs and opens the blobs, and (exclusive) while compressed layers
//! are committed — never while waiting on the network; open files keep the blobs readable
//! when an `rmi` removes them meanwhile.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex, mpsc};

use crate::oci::digest::Digest;
use crate::oci::manifest::{self, Manifest, Schema};
use crate::registry::client::{Client, RegistryError};
use crate::store::layers::CompressedBlob;
use crate::store::{ImageRecord, LockMode, Store};
use crate::transfer::TransferError;
use crate::transfer::compress::{self, LayerCompression};
use crate::transfer::known_blobs::KnownBlobs;

/// Blobs uploaded at once.
const PARALLEL_UPLOADS: usize = 3;

#[derive(Debug, Clone)]
pub struct PushOptions {
    /// `--compression-format`. Without it, a layer goes as the image's manifest has it
    /// (gzip or zstd) when the store has that blob, else gzip — as Podman, which recompresses
    /// nothing it need not.
    pub compression: Option<LayerCompression>,
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

/// What a push did.
#[derive(Debug)]
pub struct Pushed {
    pub manifest_digest: Digest,
    /// The stored manifest was sent as it is (same digest as the source).
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

/// The image as the store has it, and which layers need compressing.
struct Plan {
    schema: Schema,
    stored_schema: Schema,
    stored: Option<(Vec<u8>, Manifest)>,
    /// Per layer, the compressed blob the store already has.
    chosen: Vec<Option<CompressedBlob>>,
    /// Diff IDs without one, each once.
    missing: Vec<Digest>,
}

fn zstd_in_docker() -> PushError {
    PushError::Unsupported {
        message:
            "zstd-compressed layers cannot be described by a Docker v2s2 manifest: use --format oci"
                .into(),
    }
}

fn plan(store: &Store, img: &ImageRecord, opts: &PushOptions) -> Result<Plan, PushError> {
    let stored_schema = schema_of(&img.manifest_media_type);
    if opts.schema == Some(Schema::Docker) && opts.compression == Some(LayerCompression::Zstd) {
        return Err(zstd_in_docker());
    }
    let stored: Option<(Vec<u8>, Manifest)> = if manifest::is_manifest(&img.manifest_media_type) {
        store
            .blobs()
            .read(&img.digest)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok().map(|m| (b, m)))
            .filter(|(_, m): &(Vec<u8>, Manifest)| m.layers.len() == img.layers.len())
    } else {
        None
    };
    let mut chosen = Vec::new();
    let mut missing = Vec::new();
    for (i, diff_id) in img.layers.iter().enumerate() {
        let record = store.layers().get(diff_id).map_err(TransferError::from)?;
        let preferred = stored.as_ref().map(|(_, m)| &m.layers[i].digest);
        let blob = match opts.compression {
            Some(want) => compress::existing(store, &record, want, preferred),
            None => preferred
                .and_then(|p| {
                    record
                        .compressed
                        .iter()
                        .find(|c| &c.digest == p && LayerCompression::of(&c.media_type).is_some())
                        .filter(|c| store.blobs().contains(&c.digest))
                        .cloned()
                })
                .or_else(|| compress::existing(store, &record, LayerCompression::Gzip, None)),
        };
        if blob.is_none() && !missing.contains(diff_id) {
            missing.push(diff_id.clone());
        }
        chosen.push(blob);
    }
    let zstd = opts.compression == Some(LayerCompression::Zstd)
        || chosen
            .iter()
            .flatten()
            .any(|c| LayerCompression::of(&c.media_type) == Some(LayerCompression::Zstd));
    let schema = match opts.schema {
        Some(Schema::Docker) if zstd => return Err(zstd_in_docker()),
        Some(s) => s,
        None if zstd => Schema::Oci,
        None => stored_schema,
    };
    Ok(Plan {
        schema,
        stored_schema,
        stored,
        chosen,
        missing,
    })
}

/// Pushes `img` to `dest`: blobs the store has start uploading at once; layers without a
/// compressed form are compressed (on every core) meanwhile, each uploaded as soon as it is
/// ready, and kept in the store. The store — and its lock — is given up once what the push
/// needs is read and the blobs opened (an open file survives an `rmi`); layers compress
/// into staging without it, and the store is opened again only to commit them. No store
/// lock is held while blobs upload. Records where the blobs now are in `known`.
pub fn push_image(
    store: Store,
    img: &ImageRecord,
    opts: &PushOptions,
    dest: &Destination<'_>,
    known: &mut KnownBlobs,
    progress: &dyn Progress,
) -> Result<Pushed, PushError> {
    let plan = plan(&store, img, opts)?;
    let config = Arc::new(store.blobs().read(&img.id).map_err(TransferError::from)?);
    let mut ready = Vec::new();
    let mut seen = HashSet::new();
    for blob in plan.chosen.iter().flatten() {
        if !seen.insert(blob.digest.clone()) {
            continue;
        }
        let file = store
            .blobs()
            .open(&blob.digest)
            .map_err(TransferError::from)?;
        ready.push(PushBlob {
            digest: blob.digest.clone(),
            size: blob.size,
            is_config: false,
            source: Source::File(Arc::new(file)),
        });
    }
    let config_blob = PushBlob {
        digest: img.id.clone(),
        size: config.len() as u64,
        is_config: true,
        source: Source::Bytes(config.clone()),
    };
    let total = ready.len() + plan.missing.len() + 1;
    let sources: Vec<compress::LayerSource> = plan
        .missing
        .iter()
        .map(|d| compress::LayerSource::of(&store, d))
        .collect();
    let staging = if sources.is_empty() {
        None
    } else {
        Some(store.staging("push").map_err(TransferError::from)?)
    };
    let paths = store.paths().clone();
    drop(store);

    let (tx, rx) = mpsc::channel::<PushBlob>();
    for blob in ready {
        let _ = tx.send(blob);
    }
    let rx = Mutex::new(rx);
    let failure: Mutex<Option<PushError>> = Mutex::new(None);
    let known_ref: &KnownBlobs = known;
    let missing = &plan.missing;
    let compressed = std::thread::scope(|s| {
        let failure = &failure;
        let compressor = s.spawn(move || -> Result<Vec<CompressedBlob>, TransferError> {
            let Some(staging) = staging else {
                let _ = tx.send(config_blob);
                return Ok(Vec::new());
            };
            let send = Mutex::new(tx.clone());
            let staged = compress::compress_layers(
                &staging,
                &sources,
                opts.compression.unwrap_or(LayerCompression::Gzip),
                opts.level,
                &|diff_id, blob, path| {
                    tracing::debug!(
                        "compressed layer {diff_id} into {} ({} bytes)",
                        blob.digest,
                        blob.size
                    );
                    let source = match File::open(path) {
                        Ok(f) => Source::File(Arc::new(f)),
                        Err(source) => {
                            failure
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(PushError::Read {
                                    digest: blob.digest.clone(),
                                    source,
                                });
                            return;
                        }
                    };
                    let _ = send
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .send(PushBlob {
                            digest: blob.digest.clone(),
                            size: blob.size,
                            is_config: false,
                            source,
                        });
                },
            );
            // Kept even when an upload fails, so that the next push compresses nothing; the
            // store is opened (and locked) just for that.
            let kept = staged.and_then(|staged| {
                let mut store = Store::open(paths, LockMode::Shared, "push")?;
                compress::commit_compressed(&mut store, &staging, missing, &staged)?;
                Ok(staged.into_iter().map(|(blob, _)| blob).collect())
            });
            // The config goes last.
            let _ = tx.send(config_blob);
            kept
        });
        let work = || {
            loop {
                let next = rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                let Ok(blob) = next else { return };
                if failure.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                    continue;
                }
                match push_blob(dest, &blob, known_ref, progress) {
                    Ok(outcome) => progress.finish(&blob, &outcome),
                    Err(e) => {
                        failure
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                    }
                }
            }
        };
        let workers: Vec<_> = (1..PARALLEL_UPLOADS.min(total))
            .map(|_| s.spawn(work))
            .collect();
        work();
        for w in workers {
            let _ = w.join();
        }
        compressor.join().unwrap_or_else(|_| {
            Err(TransferError::Invalid {
                origin: "store".into(),
                message: "the compression thread panicked".into(),
            })
        })
    });
    let made = compressed?;
    if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let layers: Vec<CompressedBlob> = img
        .layers
        .iter()
        .zip(&plan.chosen)
        .map(|(diff_id, c)| {
            c.clone().unwrap_or_else(|| {
                let i = missing.iter().position(|m| m == diff_id).unwrap_or(0);
                made[i].clone()
            })
        })
        .collect();
    let (manifest_bytes, manifest_media_type, unchanged) =
        manifest_for(img, &plan, &layers, config.len() as u64);
    // No reference: the manifest goes under its own digest (the images of a manifest list).
    let reference = if dest.reference.is_empty() {
        Digest::of_bytes(&manifest_bytes).to_string()
    } else {
        dest.reference.clone()
    };
    let digest = dest
        .client
        .put_manifest(
            &dest.repository,
            &reference,
            &manifest_media_type,
            &manifest_bytes,
        )
        .map_err(|source| PushError::Manifest {
            destination: dest.display.clone(),
            source: Box::new(source),
        })?;
    let mut digests: Vec<Digest> = layers.iter().map(|l| l.digest.clone()).collect();
    digests.push(img.id.clone());
    known.add(&dest.registry, &dest.repository, &digests);
    Ok(Pushed {
        manifest_digest: digest,
        unchanged,
        compressed: made.len(),
    })
}

/// The stored manifest when every layer goes with the blob it names and the schema is
/// unchanged (so the pushed image has the source's digest); a new one otherwise.
fn manifest_for(
    img: &ImageRecord,
    plan: &Plan,
    layers: &[CompressedBlob],
    config_size: u64,
) -> (Vec<u8>, String, bool) {
    if let Some((bytes, m)) = &plan.stored
        && plan.schema == plan.stored_schema
        && m.config.digest == img.id
        && m.layers
            .iter()
            .zip(layers)
            .all(|(s, l)| s.digest == l.digest)
    {
        return (bytes.clone(), img.manifest_media_type.clone(), true);
    }
    let descriptors: Vec<manifest::LayerDescriptor> = layers
        .iter()
        .map(|l| {
            let kind = LayerCompression::of(&l.media_type).unwrap_or(LayerCompression::Gzip);
            manifest::LayerDescriptor {
                // zstd in a Docker manifest was refused by `plan`.
                media_type: kind
                    .media_type(plan.schema)
                    .unwrap_or(manifest::OCI_LAYER_ZSTD)
                    .to_string(),
                digest: l.digest.clone(),
                size: l.size,
            }
        })
        .collect();
    let (bytes, _) = manifest::build(plan.schema, &img.id, config_size, &descriptors);
    let manifest_type = match plan.schema {
        Schema::Oci => manifest::OCI_MANIFEST,
        Schema::Docker => manifest::DOCKER_MANIFEST,
    };
    (bytes, manifest_type.to_string(), false)
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
    /// A tag, or a digest; empty for the manifest's own digest.
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
