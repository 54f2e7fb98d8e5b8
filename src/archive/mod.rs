//! Layer tars: extraction without privileges and byte-exact reassembly.
//!
//! [`extract_layer`] turns an uncompressed layer stream into `layer_dir/diff/` owned by the
//! calling user, keeping the true ownership, modes, device types and unsettable extended
//! attributes as coracle metadata ([`ownership`], [`symlinks`]), and records everything but
//! the file contents in `layer_dir/tar-split.gz` ([`split`]), from which
//! [`reassemble_layer`] rebuilds the identical stream (same diff ID) for `save` and `push`.
//!
//! Files in `layer_dir`:
//! - `diff/` — the extracted tree; whiteouts stay OCI `.wh.` files ([`whiteout`]);
//! - `tar-split.gz` — the stream without contents;
//! - `symlinks` — ownership and attributes of symlinks that are not root:root (optional);
//! - `shadowed/<entry index>` — contents of entries a later entry of the same tar replaced
//!   (optional, rare).
//!
//! Extraction needs no privileges and behaves the same as root: nothing is chowned, no device
//! is made, no `security.*` attribute is set.

pub mod changes;
mod compression;
mod create;
mod extract;
pub mod layer_stack;
pub mod ownership;
mod pipeline;
mod reassemble;
mod resolve;
mod split;
mod stream;
pub mod symlinks;
pub mod vfs_changes;
pub mod whiteout;

#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;

pub use changes::{Change, ChangeKind, layer_changes};
pub use compression::{Compression, decompress};
pub use create::{CreateSummary, create_layer, create_layer_excluding};
pub use extract::{DIFF_DIR, extract_layer};
pub use ownership::{FileKind, Stat, StatParseError, read_stat, read_stat_fd};
pub use reassemble::reassemble_layer;
pub use split::{SHADOW_DIR, SPLIT_FILE};
pub use symlinks::SYMLINK_TABLE;
pub use symlinks::{SymlinkMeta, SymlinkTable};
pub use vfs_changes::{VfsRoot, create_vfs_layer, vfs_changes};

use crate::oci::digest::Digest;

/// What [`extract_layer`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractSummary {
    /// sha256 of every byte of the stream, trailer and trailing bytes included.
    pub diff_id: Digest,
    /// Length of the stream.
    pub tar_size: u64,
    /// Number of entries (PAX and GNU records not counted).
    pub entries: u64,
}

/// Why a tar entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("empty name")]
    EmptyName,
    #[error("name contains NUL")]
    NulInName,
    #[error("absolute path")]
    Absolute,
    #[error("'..' component")]
    DotDot,
    #[error("path leaves the layer through a symlink")]
    Escapes,
    #[error("changing the type of the root directory")]
    RootTypeChange,
    #[error("hardlink target {0}")]
    HardlinkTarget(&'static str),
    #[error("symlink target contains NUL")]
    NulInLinkTarget,
    #[error("extended attribute {0:?} is in coracle's reserved namespace")]
    ReservedXattr(String),
    #[error("invalid extended attribute name {0:?}")]
    BadXattrName(String),
    #[error("owner or group {0} out of range")]
    IdOutOfRange(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("reading layer tar at {entry}")]
    Read {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("layer tar is truncated in {entry}")]
    Truncated { entry: String },
    #[error("malformed layer tar at {entry}: {reason}")]
    Malformed { entry: String, reason: String },
    #[error("unsupported tar entry {entry}: {what}")]
    Unsupported { entry: String, what: String },
    #[error("refusing tar entry {entry}: {reason}")]
    Refused { entry: String, reason: Refusal },
    #[error("extracting {entry}")]
    Extract {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid ownership attribute {value:?} on {path}")]
    BadStat {
        path: String,
        value: String,
        #[source]
        reason: StatParseError,
    },
    #[error("corrupt layer record {}: {reason}", path.display())]
    CorruptRecord { path: PathBuf, reason: String },
    #[error("{entry} in {} no longer matches the layer tar: {reason}", layer.display())]
    ContentMismatch {
        layer: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("writing reassembled layer {}", layer.display())]
    Write {
        layer: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "reassembled layer {} is {got} ({got_size} bytes), recorded {want} ({want_size} bytes)",
        layer.display()
    )]
    DigestMismatch {
        layer: PathBuf,
        got: Digest,
        got_size: u64,
        want: Digest,
        want_size: u64,
    },
}

/// An entry name for messages.
pub(crate) fn entry_display(name: &[u8]) -> String {
    String::from_utf8_lossy(name).into_owned()
}
