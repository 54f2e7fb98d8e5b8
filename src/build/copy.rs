//! COPY and ADD: the files a step puts into its layer, written as a layer tar, and the digest
//! of its sources (part of the step's cache key).
//!
//! Both [`sources_digest`] and [`write_layer`] first make one [`plan::Plan`]: the exact list of
//! entries the layer will hold (names, kinds, owners, modes, times, link targets, where each
//! content comes from). The digest hashes that list with every file's content; the layer is
//! that list written as a tar. So two requests with the same digest write the same layer.
//!
//! - [`tree`]: the trees read (the context directory with its ignore patterns, a merged
//!   layer stack with its true owners) and symlink resolution inside them;
//! - [`plan`]: sources (globs, directories, heredocs, ADD's archives and URLs) and
//!   destination rules (WORKDIR, trailing `/`, existing directories in the base);
//! - [`users`]: `--chown` names through the base image's `/etc/passwd` and `/etc/group`;
//! - [`add`]: what only ADD does: local archives unpacked, URLs downloaded;
//! - [`write`]: the plan as a tar, and as a digest.

mod add;
pub mod bind;
pub mod chmod;
mod plan;
mod tree;
mod users;
mod write;

#[cfg(test)]
mod tests;

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
    #[error("forbidden path outside the build context: {0}")]
    Escapes(String),
    #[error("stat \"/{0}\": no such file or directory")]
    NoSuchSource(String),
    #[error("no source files were specified (nothing matches {0:?})")]
    NoMatch(String),
    #[error("no source files were specified")]
    NoSources,
    #[error("too many levels of symbolic links resolving {0}")]
    SymlinkLoop(String),
    #[error("invalid --chown {spec:?}: {reason}")]
    Chown { spec: String, reason: String },
    #[error(transparent)]
    Chmod(#[from] chmod::BadChmod),
    #[error("invalid --exclude pattern")]
    Exclude(#[source] super::ignore::PatternError),
    #[error("invalid --checksum {0:?}: expected sha256:<64 hex digits>")]
    ChecksumSyntax(String),
    #[error("checksum mismatch for {url}: expected {want}, got {got}")]
    ChecksumMismatch {
        url: String,
        want: String,
        got: String,
    },
    #[error("--checksum needs an http(s) URL source")]
    ChecksumWithoutUrl,
    /// ADD of a git repository that could not be cloned (the message names it).
    #[error("{0}")]
    Git(String),
    #[error("downloading {url}: {reason}")]
    Download { url: String, reason: String },
    #[error("reading the archive {path}: {reason}")]
    Archive { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading a layer")]
    Layer(#[source] Box<crate::archive::ArchiveError>),
    #[error("writing the layer")]
    Write(#[source] std::io::Error),
}

/// The digest of everything `req` would copy: names, contents, modes, owners and times as
/// they will be written. Two requests with the same digest write the same layer.
pub fn sources_digest(req: &CopyRequest<'_>) -> Result<Digest, CopyError> {
    let plan = plan::plan(req)?;
    write::digest(&plan)
}

/// Writes the layer `req` makes, as an uncompressed tar in the OCI layer form: the copied
/// files, and the parent directories the base lacks.
pub fn write_layer<W: Write>(req: &CopyRequest<'_>, out: W) -> Result<(), CopyError> {
    let plan = plan::plan(req)?;
    write::tar(&plan, out)
}
