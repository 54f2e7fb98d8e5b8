//! Provisional stub: the real module (extraction, tar-split, ownership) lands separately.
use std::io::{Read, Write};
use std::path::Path;

use crate::oci::digest::Digest;

#[derive(Debug)]
pub struct ExtractSummary {
    pub diff_id: Digest,
    pub tar_size: u64,
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("archive support is not built yet")]
pub struct ArchiveError;

pub fn extract_layer<R: Read>(_tar: R, _layer_dir: &Path) -> Result<ExtractSummary, ArchiveError> {
    Err(ArchiveError)
}

pub fn reassemble_layer<W: Write>(
    _layer_dir: &Path,
    _out: W,
) -> Result<(Digest, u64), ArchiveError> {
    Err(ArchiveError)
}
