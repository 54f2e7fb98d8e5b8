//! Extraction and reassembly tests on tars built here, hostile ones included.

mod changes;
mod create;
mod hostile;
mod other;
mod tree;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use tar::{EntryType, Header};

use super::*;
use crate::oci::digest::Digest;

/// Builds test tars entry by entry, with full control of the header fields.
pub(super) struct Tar {
    b: tar::Builder<Vec<u8>>,
    gnu: bool,
}

impl Tar {
    pub(super) fn new() -> Self {
        Tar {
            b: tar::Builder::new(Vec::new()),
            gnu: false,
        }
    }

    pub(super) fn gnu() -> Self {
        Tar {
            b: tar::Builder::new(Vec::new()),
            gnu: true,
        }
    }

    pub(super) fn header(&self, kind: EntryType, mode: u32, uid: u64, gid: u64) -> Header {
        let mut h = if self.gnu {
            Header::new_gnu()
        } else {
            Header::new_ustar()
        };
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_mtime(1_600_000_000);
        h.set_size(0);
        h
    }

    /// Appends with the name written verbatim into the header (no validation).
    pub(super) fn raw(&mut self, mut h: Header, name: &[u8], data: &[u8]) -> &mut Self {
        let field = &mut h.as_old_mut().name;
        field.fill(0);
        field[..name.len()].copy_from_slice(name);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub(super) fn file_owned(
        &mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Self {
        let mut h = self.header(EntryType::Regular, mode, uid, gid);
        h.set_size(data.len() as u64);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    pub(super) fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.file_owned(name, data, 0o644, 0, 0)
    }

    pub(super) fn dir_owned(&mut self, name: &str, mode: u32, uid: u64, gid: u64) -> &mut Self {
        let h = self.header(EntryType::Directory, mode, uid, gid);
        self.raw(h, name.as_bytes(), b"")
    }

    pub(super) fn dir(&mut self, name: &str) -> &mut Self {
        self.dir_owned(name, 0o755, 0, 0)
    }

    pub(super) fn link(
        &mut self,
        kind: EntryType,
        name: &str,
        target: &str,
        uid: u64,
    ) -> &mut Self {
        let mut h = self.header(kind, 0o777, uid, uid);
        self.b.append_link(&mut h, name, target).unwrap();
        self
    }

    pub(super) fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.link(EntryType::Symlink, name, target, 0)
    }

    pub(super) fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.link(EntryType::Link, name, target, 0)
    }

    pub(super) fn device(
        &mut self,
        kind: EntryType,
        name: &str,
        mode: u32,
        major: u32,
        minor: u32,
    ) -> &mut Self {
        let mut h = self.header(kind, mode, 0, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(h, name.as_bytes(), b"")
    }

    pub(super) fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        self.b
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self
    }

    pub(super) fn finish(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }
}

pub(super) struct Extracted {
    _tmp: tempfile::TempDir,
    pub(super) layer: PathBuf,
    pub(super) summary: ExtractSummary,
}

impl Extracted {
    pub(super) fn diff(&self, rel: &str) -> PathBuf {
        self.layer.join(DIFF_DIR).join(rel)
    }
}

pub(super) fn try_extract(
    tar: &[u8],
) -> (
    tempfile::TempDir,
    PathBuf,
    Result<ExtractSummary, ArchiveError>,
) {
    let tmp = tempfile::tempdir().unwrap();
    let layer = tmp.path().join("layer");
    std::fs::create_dir(&layer).unwrap();
    let r = extract_layer(tar, &layer);
    (tmp, layer, r)
}

/// Extracts, then checks the reassembled stream is the original byte for byte.
pub(super) fn extract(tar: &[u8]) -> Extracted {
    let (tmp, layer, r) = try_extract(tar);
    let summary = r.unwrap_or_else(|e| panic!("extract: {e:#?}"));
    assert_eq!(summary.diff_id, Digest::of_bytes(tar));
    assert_eq!(summary.tar_size, tar.len() as u64);
    let mut out = Vec::new();
    let (digest, size) =
        reassemble_layer(&layer, &mut out).unwrap_or_else(|e| panic!("reassemble: {e:#?}"));
    assert_eq!(size, tar.len() as u64);
    assert!(out == tar, "reassembled stream differs");
    assert_eq!(digest, summary.diff_id);
    Extracted {
        _tmp: tmp,
        layer,
        summary,
    }
}

pub(super) fn refused(tar: &[u8]) -> ArchiveError {
    let (_tmp, _layer, r) = try_extract(tar);
    r.expect_err("hostile tar was accepted")
}

pub(super) fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 4096];
    match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(rustix::io::Errno::NODATA) => None,
        Err(e) => panic!("getxattr {}: {e}", path.display()),
    }
}

pub(super) fn stat_xattr(path: &Path) -> Option<String> {
    xattr(path, ownership::STAT_XATTR).map(|v| String::from_utf8(v).unwrap())
}

pub(super) fn disk_mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

pub(super) fn st(uid: u32, gid: u32, mode: u32, kind: FileKind) -> Stat {
    Stat {
        uid,
        gid,
        mode,
        kind,
    }
}
