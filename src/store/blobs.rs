//! `blobs/sha256/<hex>`: manifests, configs and compressed layers, exactly as received.
//!
//! Blobs only enter the store by rename from a staging directory after their digest was
//! checked; readers may therefore trust that a file's name is its digest.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::oci::digest::{Digest, HashingWriter};

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {digest} is not in the store ({path})")]
    Missing { digest: Digest, path: PathBuf },
    #[error("reading blob {digest} from {path}")]
    Read {
        digest: Digest,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing blob to {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The blob directory of a store.
#[derive(Debug, Clone)]
pub struct Blobs {
    dir: PathBuf,
}

impl Blobs {
    pub fn new(dir: PathBuf) -> Self {
        Blobs { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.dir.join(digest.hex())
    }

    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).exists()
    }

    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, BlobError> {
        let path = self.path(digest);
        fs::read(&path).map_err(|source| read_error(digest, path, source))
    }

    pub fn open(&self, digest: &Digest) -> Result<File, BlobError> {
        let path = self.path(digest);
        File::open(&path).map_err(|source| read_error(digest, path, source))
    }

    /// Every blob digest in the store (for garbage collection and `system check`).
    pub fn list(&self) -> io::Result<Vec<Digest>> {
        list_digest_dir(&self.dir)
    }
}

fn read_error(digest: &Digest, path: PathBuf, source: io::Error) -> BlobError {
    if source.kind() == io::ErrorKind::NotFound {
        BlobError::Missing {
            digest: digest.clone(),
            path,
        }
    } else {
        BlobError::Read {
            digest: digest.clone(),
            path,
            source,
        }
    }
}

/// The digests a directory of `<hex>` entries holds (blobs, layers); missing means none.
pub(crate) fn list_digest_dir(dir: &Path) -> io::Result<Vec<Digest>> {
    Ok(crate::store::entry_names(dir)?
        .iter()
        .filter_map(|n| Digest::from_hex(&n.to_string_lossy()).ok())
        .collect())
}

/// Writes `data` into `dir/<hex>` (a staging directory) and returns its digest.
pub fn stage_bytes(dir: &Path, data: &[u8]) -> Result<Digest, BlobError> {
    let digest = Digest::of_bytes(data);
    let path = dir.join(digest.hex());
    fs::write(&path, data).map_err(|source| BlobError::Write { path, source })?;
    Ok(digest)
}

/// A blob being written into a staging directory while its digest is computed.
pub struct StagedBlobWriter {
    path: PathBuf,
    inner: HashingWriter<io::BufWriter<File>>,
}

impl StagedBlobWriter {
    pub fn create(path: PathBuf) -> Result<Self, BlobError> {
        let file = File::create(&path).map_err(|source| BlobError::Write {
            path: path.clone(),
            source,
        })?;
        Ok(StagedBlobWriter {
            path,
            inner: HashingWriter::new(io::BufWriter::with_capacity(1 << 20, file)),
        })
    }

    /// Flushes and returns the digest, size and path of what was written.
    pub fn finish(self) -> Result<(Digest, u64, PathBuf), BlobError> {
        let (digest, size, buf) = self.inner.finish();
        buf.into_inner().map_err(|e| BlobError::Write {
            path: self.path.clone(),
            source: e.into_error(),
        })?;
        Ok((digest, size, self.path))
    }
}

impl Write for StagedBlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
