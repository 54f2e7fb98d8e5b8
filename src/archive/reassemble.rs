//! Rebuilding a layer's exact tar stream from its tar-split record and extracted tree.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;

use super::extract::DIFF_DIR;
use super::resolve::{BENEATH, DIR_FLAGS, PHYSICAL, openat2_retry};
use super::split::{self, SHADOW_DIR, SPLIT_FILE, Segment, SplitReader};
use super::{ArchiveError, entry_display};
use crate::oci::digest::{Digest, HashingWriter};

const COPY_BUFFER: usize = 1 << 20;

/// Writes the layer tar extracted into `layer_dir`, byte-identical to the original stream,
/// and returns its digest and length. File contents come from `diff/`; a file that is missing
/// or whose size changed is an error naming it. The digest is checked against the recorded
/// one, but only after `out` has received the bytes.
pub fn reassemble_layer<W: Write>(layer_dir: &Path, out: W) -> Result<(Digest, u64), ArchiveError> {
    let split_path = layer_dir.join(SPLIT_FILE);
    let corrupt = |e: split::ReadError| match e {
        split::ReadError::Io(source) => ArchiveError::Io {
            path: split_path.clone(),
            source,
        },
        split::ReadError::Corrupt(reason) => ArchiveError::CorruptRecord {
            path: split_path.clone(),
            reason,
        },
    };
    let mut record = SplitReader::open(&split_path).map_err(corrupt)?;
    let diff_path = layer_dir.join(DIFF_DIR);
    let diff =
        rustix::fs::open(&diff_path, DIR_FLAGS, Mode::empty()).map_err(|e| ArchiveError::Io {
            path: diff_path.clone(),
            source: e.into(),
        })?;
    let shadowed = shadowed_indices(layer_dir)?;
    let write_err = |source| ArchiveError::Write {
        layer: layer_dir.to_path_buf(),
        source,
    };
    let mut w = HashingWriter::new(out);
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        match record.next_segment().map_err(corrupt)? {
            Segment::Raw(bytes) => w.write_all(&bytes).map_err(write_err)?,
            Segment::File { index, path, size } => {
                let mismatch = |reason: String| ArchiveError::ContentMismatch {
                    layer: layer_dir.to_path_buf(),
                    entry: entry_display(&path),
                    reason,
                };
                let opened = if shadowed.contains(&index) {
                    let p = layer_dir.join(SHADOW_DIR).join(index.to_string());
                    rustix::fs::open(
                        &p,
                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    )
                } else {
                    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    // Recorded paths are physical; if one was not (no /proc at extraction),
                    // follow symlinks that stay inside the tree.
                    match openat2_retry(&diff, &path, flags, PHYSICAL) {
                        Err(Errno::LOOP) => openat2_retry(&diff, &path, flags, BENEATH),
                        other => other,
                    }
                };
                let fd = match opened {
                    Ok(fd) => fd,
                    Err(Errno::NOENT) => return Err(mismatch("file is missing".into())),
                    Err(Errno::LOOP | Errno::NOTDIR | Errno::XDEV) => {
                        return Err(mismatch("path no longer leads to the file".into()));
                    }
                    Err(e) => {
                        return Err(ArchiveError::Io {
                            path: diff_path.join(entry_display(&path)),
                            source: e.into(),
                        });
                    }
                };
                let st = rustix::fs::fstat(&fd).map_err(|e| ArchiveError::Io {
                    path: diff_path.join(entry_display(&path)),
                    source: e.into(),
                })?;
                if FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
                    return Err(mismatch("not a regular file".into()));
                }
                if st.st_size as u64 != size {
                    return Err(mismatch(format!(
                        "file has {} bytes, the tar {size}",
                        st.st_size
                    )));
                }
                let mut file = File::from(fd);
                let mut left = size;
                while left > 0 {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = match file.read(&mut buf[..want]) {
                        Ok(0) => return Err(mismatch("file is shorter than in the tar".into())),
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(source) => {
                            return Err(ArchiveError::Io {
                                path: diff_path.join(entry_display(&path)),
                                source,
                            });
                        }
                    };
                    w.write_all(&buf[..n]).map_err(write_err)?;
                    left -= n as u64;
                }
            }
            Segment::End { size, digest } => {
                let (got, got_size, mut inner) = w.finish();
                inner.flush().map_err(write_err)?;
                if got != digest || got_size != size {
                    return Err(ArchiveError::DigestMismatch {
                        layer: layer_dir.to_path_buf(),
                        got,
                        got_size,
                        want: digest,
                        want_size: size,
                    });
                }
                return Ok((got, got_size));
            }
        }
    }
}

fn shadowed_indices(layer_dir: &Path) -> Result<HashSet<u64>, ArchiveError> {
    let dir: PathBuf = layer_dir.join(SHADOW_DIR);
    let mut set = HashSet::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(set),
        Err(source) => return Err(ArchiveError::Io { path: dir, source }),
    };
    for entry in entries {
        let entry = entry.map_err(|source| ArchiveError::Io {
            path: dir.clone(),
            source,
        })?;
        if let Some(index) = entry.file_name().to_str().and_then(|n| n.parse().ok()) {
            set.insert(index);
        }
    }
    Ok(set)
}
