//! Moving whole images in and out of the store as archives: `load` (docker-archive, OCI
//! archive, OCI layout directory) and `save` (the same plus Docker's `dir` layout), and
//! `import` of a flat root file system.

pub mod commit;
pub mod compress;
pub mod container;
pub mod import;
pub mod known_blobs;
pub mod load;
pub mod parallel_gzip;
pub mod pipe;
pub mod pull;
pub mod push;
pub mod save;
pub mod scan;
pub mod vfs_layer;

use std::io;

use crate::archive::ArchiveError;
use crate::oci::digest::Digest;
use crate::store::StoreError;
use crate::store::blobs::BlobError;
use crate::store::images::ImageRecordError;
use crate::store::layers::LayerError;
use crate::store::staging::StagingError;

#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    #[error("reading archive {origin}")]
    Archive {
        origin: String,
        #[source]
        source: io::Error,
    },
    #[error("reading {path} in {origin}")]
    Entry {
        origin: String,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("extracting layer {path} of {origin}")]
    Layer {
        origin: String,
        path: String,
        #[source]
        source: Box<ArchiveError>,
    },
    #[error("{path} in {origin} is {size} bytes, too large for image metadata")]
    TooLarge {
        origin: String,
        path: String,
        size: u64,
    },
    #[error("{path} in {origin}: only sha256 digests are supported")]
    UnsupportedDigest { origin: String, path: String },
    #[error("{origin}: {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        origin: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{origin}: {what} has {actual} bytes, its descriptor says {expected}")]
    SizeMismatch {
        origin: String,
        what: String,
        expected: u64,
        actual: u64,
    },
    #[error("{origin}: {what} names {missing}, which the archive lacks")]
    Missing {
        origin: String,
        what: String,
        missing: String,
    },
    #[error("{origin}: {what} is not valid JSON")]
    Json {
        origin: String,
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error(
        "{origin} is not a docker-archive, an OCI archive or an OCI layout (no tar with manifest.json or index.json)"
    )]
    UnknownFormat { origin: String },
    #[error("{origin}: no image matches {reference:?}")]
    NoSuchReference { origin: String, reference: String },
    #[error("{origin}: blob error")]
    Blob {
        origin: String,
        #[source]
        source: BlobError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Staging(#[from] StagingError),
    #[error(transparent)]
    Record(#[from] ImageRecordError),
    #[error(transparent)]
    LayerRecord(#[from] LayerError),
    #[error(transparent)]
    ListRecord(#[from] Box<crate::store::lists::ListRecordError>),
    #[error(transparent)]
    StoreBlob(#[from] BlobError),
    #[error("writing {path}")]
    Write {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("layer {diff_id} could not be reproduced")]
    Reassemble {
        diff_id: Digest,
        #[source]
        source: Box<ArchiveError>,
    },
    #[error(
        "layer {diff_id} read back with digest {actual}: the stored layer was changed or damaged"
    )]
    LayerChanged { diff_id: Digest, actual: Digest },
}
