//! COPY and ADD: the files a step puts into its layer, written as a layer tar, and the digest
//! of its sources (part of the step's cache key).
//!
//! Not written yet: the executor calls [`sources_digest`] and [`write_layer`] with a
//! [`CopyRequest`]; both answer [`CopyError::Unsupported`] until this module is done.

use std::io::Write;
use std::path::PathBuf;

use super::context::BuildContext;
use super::syntax::Copy;
use crate::oci::digest::Digest;

/// Where a COPY or ADD reads from.
#[derive(Debug)]
pub enum Source<'a> {
    /// The build context (its ignore file applied).
    Context(&'a BuildContext),
    /// An earlier stage's or an image's file tree (`--from`): its layer directories, base
    /// first, in the store's layer form (owners in coracle's metadata, whiteouts).
    Layers(&'a [PathBuf]),
}

/// One COPY or ADD step, its words already expanded.
#[derive(Debug)]
pub struct CopyRequest<'a> {
    pub copy: &'a Copy,
    /// ADD (archives unpacked, URLs fetched) rather than COPY.
    pub add: bool,
    pub source: Source<'a>,
    /// The image the new layer goes on: its layer directories, base first. Decides which
    /// destinations are existing directories and which parents must be made, and resolves
    /// `--chown` names through its `/etc/passwd` and `/etc/group`.
    pub base: &'a [PathBuf],
    /// The stage's WORKDIR (relative destinations are under it).
    pub workdir: &'a str,
    /// `--timestamp`: every file's time in the layer.
    pub timestamp: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
}

/// The digest of everything `req` would copy: names, contents, modes, owners and times as
/// they will be written. Two requests with the same digest write the same layer.
pub fn sources_digest(req: &CopyRequest<'_>) -> Result<Digest, CopyError> {
    let _ = req;
    Err(CopyError::Unsupported("COPY and ADD"))
}

/// Writes the layer `req` makes, as an uncompressed tar in the OCI layer form: the copied
/// files, and the parent directories the base lacks.
pub fn write_layer<W: Write>(req: &CopyRequest<'_>, out: W) -> Result<(), CopyError> {
    let _ = (req, out);
    Err(CopyError::Unsupported("COPY and ADD"))
}
