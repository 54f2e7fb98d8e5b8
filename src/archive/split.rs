//! The tar-split record (`layer_dir/tar-split.gz`): everything of a layer tar except file
//! contents, so that the exact stream can be rebuilt from the extracted tree.
//!
//! Format, gzip-compressed (fast level): the magic line `coracle-tar-split 1\n`, then segments
//! tagged by one byte, integers little-endian:
//!
//! - `R` `len:u32` `bytes` — raw stream bytes (headers, PAX/GNU records, padding, trailer);
//! - `F` `index:u64` `size:u64` `path_len:u32` `path` — `size` content bytes of the entry at
//!   position `index`, read from `diff/<path>` (a physical path, no symlinks), or from
//!   `shadowed/<index>` if that exists (the entry was later replaced in the same tar);
//! - `E` `size:u64` `sha256:[u8;32]` — end: the stream's length and digest.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::Compression as GzLevel;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::oci::digest::Digest;

/// File name of the record inside `layer_dir`.
pub const SPLIT_FILE: &str = "tar-split.gz";
/// Directory inside `layer_dir` holding contents of entries replaced later in the same tar.
pub const SHADOW_DIR: &str = "shadowed";

const MAGIC: &[u8] = b"coracle-tar-split 1\n";
/// Raw bytes are buffered up to this size before being written as one segment.
const RAW_CHUNK: usize = 256 << 10;

pub(crate) struct SplitWriter {
    enc: GzEncoder<BufWriter<File>>,
    raw: Vec<u8>,
}

impl SplitWriter {
    pub fn create(path: &Path) -> io::Result<Self> {
        let file = File::options().write(true).create_new(true).open(path)?;
        let mut enc = GzEncoder::new(BufWriter::with_capacity(256 << 10, file), GzLevel::fast());
        enc.write_all(MAGIC)?;
        Ok(SplitWriter {
            enc,
            raw: Vec::with_capacity(RAW_CHUNK + (64 << 10)),
        })
    }

    /// The buffer raw bytes are appended to.
    pub fn raw_buf(&mut self) -> &mut Vec<u8> {
        &mut self.raw
    }

    /// Writes out the raw buffer if it has grown large.
    pub fn maybe_flush(&mut self) -> io::Result<()> {
        if self.raw.len() >= RAW_CHUNK {
            self.flush_raw()?;
        }
        Ok(())
    }

    fn flush_raw(&mut self) -> io::Result<()> {
        for chunk in self.raw.chunks(u32::MAX as usize) {
            self.enc.write_all(b"R")?;
            self.enc.write_all(&(chunk.len() as u32).to_le_bytes())?;
            self.enc.write_all(chunk)?;
        }
        self.raw.clear();
        Ok(())
    }

    /// Raw bytes from outside the buffer (the archive's trailer).
    pub fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.raw.extend_from_slice(bytes);
        self.maybe_flush()
    }

    /// A reference to an entry's content.
    pub fn file(&mut self, index: u64, path: &[u8], size: u64) -> io::Result<()> {
        self.flush_raw()?;
        let path_len = u32::try_from(path.len()).map_err(|_| io::Error::other("path too long"))?;
        self.enc.write_all(b"F")?;
        self.enc.write_all(&index.to_le_bytes())?;
        self.enc.write_all(&size.to_le_bytes())?;
        self.enc.write_all(&path_len.to_le_bytes())?;
        self.enc.write_all(path)
    }

    pub fn finish(mut self, size: u64, digest: &Digest) -> io::Result<()> {
        self.flush_raw()?;
        let mut sha = [0u8; 32];
        hex::decode_to_slice(digest.hex(), &mut sha).map_err(io::Error::other)?;
        self.enc.write_all(b"E")?;
        self.enc.write_all(&size.to_le_bytes())?;
        self.enc.write_all(&sha)?;
        let mut out = self.enc.finish()?;
        out.flush()
    }
}

/// One segment of a record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    Raw(Vec<u8>),
    File {
        index: u64,
        path: Vec<u8>,
        size: u64,
    },
    End {
        size: u64,
        digest: Digest,
    },
}

pub(crate) struct SplitReader {
    dec: BufReader<GzDecoder<BufReader<File>>>,
}

/// Why a record could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    Io(io::Error),
    Corrupt(String),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::InvalidInput {
            ReadError::Corrupt(e.to_string())
        } else {
            ReadError::Io(e)
        }
    }
}

impl SplitReader {
    pub fn open(path: &Path) -> Result<Self, ReadError> {
        let file = File::open(path).map_err(ReadError::Io)?;
        let mut dec = BufReader::with_capacity(256 << 10, GzDecoder::new(BufReader::new(file)));
        let mut magic = [0u8; MAGIC.len()];
        dec.read_exact(&mut magic)?;
        if magic != MAGIC {
            return Err(ReadError::Corrupt("not a coracle tar-split record".into()));
        }
        Ok(SplitReader { dec })
    }

    fn u32(&mut self) -> Result<u32, ReadError> {
        let mut b = [0u8; 4];
        self.dec.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn u64(&mut self) -> Result<u64, ReadError> {
        let mut b = [0u8; 8];
        self.dec.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// The next segment; the last one is always `End`.
    pub fn next_segment(&mut self) -> Result<Segment, ReadError> {
        let mut tag = [0u8; 1];
        self.dec.read_exact(&mut tag)?;
        match tag[0] {
            b'R' => {
                let len = self.u32()? as usize;
                let mut bytes = Vec::new();
                (&mut self.dec).take(len as u64).read_to_end(&mut bytes)?;
                if bytes.len() != len {
                    return Err(ReadError::Corrupt("truncated raw segment".into()));
                }
                Ok(Segment::Raw(bytes))
            }
            b'F' => {
                let index = self.u64()?;
                let size = self.u64()?;
                let len = self.u32()? as usize;
                if len > 1 << 20 {
                    return Err(ReadError::Corrupt("path too long".into()));
                }
                let mut path = vec![0u8; len];
                self.dec.read_exact(&mut path)?;
                Ok(Segment::File { index, path, size })
            }
            b'E' => {
                let size = self.u64()?;
                let mut sha = [0u8; 32];
                self.dec.read_exact(&mut sha)?;
                let digest = Digest::from_hex(&hex::encode(sha))
                    .map_err(|e| ReadError::Corrupt(e.to_string()))?;
                Ok(Segment::End { size, digest })
            }
            other => Err(ReadError::Corrupt(format!(
                "unknown segment tag {other:#x}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SPLIT_FILE);
        let digest = Digest::of_bytes(b"x");
        let mut w = SplitWriter::create(&path).unwrap();
        w.raw_buf().extend_from_slice(b"header");
        w.file(3, b"a/b", 1234).unwrap();
        w.raw(b"pad").unwrap();
        w.raw(b"trailer").unwrap();
        w.finish(42, &digest).unwrap();

        let mut r = SplitReader::open(&path).unwrap();
        assert_eq!(r.next_segment().unwrap(), Segment::Raw(b"header".to_vec()));
        assert_eq!(
            r.next_segment().unwrap(),
            Segment::File {
                index: 3,
                path: b"a/b".to_vec(),
                size: 1234
            }
        );
        assert_eq!(
            r.next_segment().unwrap(),
            Segment::Raw(b"padtrailer".to_vec())
        );
        assert_eq!(r.next_segment().unwrap(), Segment::End { size: 42, digest });
        assert!(matches!(r.next_segment(), Err(ReadError::Corrupt(_))));
    }
}
