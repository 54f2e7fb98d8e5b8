//! A [`Plan`] as a layer tar, and as a digest.
//!
//! The tar follows the project's canonical form (see `archive::create`): ustar headers with
//! the name and link name in their fields, a PAX record for what does not fit, directories
//! with a trailing `/`, empty uname/gname, two zero blocks at the end.
//!
//! The digest covers each entry's name, kind, owner, mode, time, link target and the sha256
//! of its content: everything the tar holds, so the same digest means the same layer.

use std::fs::File;
use std::io::{self, Read, Write};

use crate::archive::ownership::FileKind;
use crate::oci::digest::{Digest, Hasher};

use super::CopyError;
use super::plan::{Body, Item, Plan};

/// Bumped when the plan or its hashing changes meaning, so old cache keys stop matching.
const DIGEST_VERSION: &[u8] = b"coracle-copy-1\0";

pub(super) fn digest(plan: &Plan) -> Result<Digest, CopyError> {
    let mut h = Hasher::new();
    h.update(DIGEST_VERSION);
    for item in &plan.items {
        let field = |h: &mut Hasher, b: &[u8]| {
            h.update(&(b.len() as u64).to_le_bytes());
            h.update(b);
        };
        field(&mut h, item.name.as_bytes());
        field(&mut h, item.stat.encode().as_bytes());
        field(&mut h, &item.mtime.to_le_bytes());
        match &item.body {
            Body::Empty => field(&mut h, b"empty"),
            Body::Symlink(t) => {
                field(&mut h, b"symlink");
                field(&mut h, t);
            }
            Body::Hardlink(t) => {
                field(&mut h, b"hardlink");
                field(&mut h, t.as_bytes());
            }
            Body::Bytes(b) => {
                field(&mut h, b"content");
                field(&mut h, Digest::of_bytes(b).hex().as_bytes());
            }
            Body::File { host, size } => {
                field(&mut h, b"content");
                let mut content = Hasher::new();
                let mut f = File::open(host).map_err(|source| CopyError::Io {
                    path: host.display().to_string(),
                    source,
                })?;
                let mut buf = vec![0u8; 64 << 10];
                loop {
                    let n = f.read(&mut buf).map_err(|source| CopyError::Io {
                        path: host.display().to_string(),
                        source,
                    })?;
                    if n == 0 {
                        break;
                    }
                    content.update(&buf[..n]);
                }
                if content.len() != *size {
                    return Err(changed(host, *size, content.len()));
                }
                field(&mut h, content.finish().hex().as_bytes());
            }
        }
    }
    Ok(h.finish())
}

fn changed(host: &std::path::Path, want: u64, got: u64) -> CopyError {
    CopyError::Io {
        path: host.display().to_string(),
        source: io::Error::other(format!(
            "changed while being copied ({want} bytes expected, {got} read)"
        )),
    }
}

pub(super) fn tar<W: Write>(plan: &Plan, out: W) -> Result<(), CopyError> {
    let mut out = io::BufWriter::with_capacity(256 << 10, out);
    for item in &plan.items {
        write_item(&mut out, item)?;
    }
    out.write_all(&[0u8; 1024]).map_err(CopyError::Write)?;
    out.flush().map_err(CopyError::Write)
}

const NAME_FIELD: usize = 100;
const MAX_SMALL: u64 = 0o7_777_777;
const MAX_LARGE: u64 = 0o77_777_777_777;

fn write_item<W: Write>(out: &mut W, item: &Item) -> Result<(), CopyError> {
    let mut name = item.name.clone().into_bytes();
    let (flag, link, size): (u8, &[u8], u64) = match (&item.body, item.stat.kind) {
        (_, FileKind::Dir) => {
            name.push(b'/');
            (b'5', b"", 0)
        }
        (Body::Symlink(t), _) => (b'2', t, 0),
        (Body::Hardlink(t), _) => (b'1', t.as_bytes(), 0),
        (Body::File { size, .. }, _) => (b'0', b"", *size),
        (Body::Bytes(b), _) => (b'0', b"", b.len() as u64),
        (Body::Empty, FileKind::Char { .. }) => (b'3', b"", 0),
        (Body::Empty, FileKind::Block { .. }) => (b'4', b"", 0),
        (Body::Empty, FileKind::Pipe) => (b'6', b"", 0),
        (Body::Empty, _) => (b'0', b"", 0),
    };
    let mut pax: Vec<(&[u8], Vec<u8>)> = Vec::new();
    let mut h = tar::Header::new_ustar();
    {
        let old = h.as_old_mut();
        let n = name.len().min(NAME_FIELD);
        old.name[..n].copy_from_slice(&name[..n]);
        let n = link.len().min(NAME_FIELD);
        old.linkname[..n].copy_from_slice(&link[..n]);
    }
    if name.len() > NAME_FIELD {
        pax.push((b"path", name.clone()));
    }
    if link.len() > NAME_FIELD {
        pax.push((b"linkpath", link.to_vec()));
    }
    h.set_mode(item.stat.mode & 0o7777);
    for (key, v) in [(&b"uid"[..], item.stat.uid), (b"gid", item.stat.gid)] {
        let v = u64::from(v);
        let field = if v > MAX_SMALL {
            pax.push((key, v.to_string().into_bytes()));
            0
        } else {
            v
        };
        if key == b"uid" {
            h.set_uid(field);
        } else {
            h.set_gid(field);
        }
    }
    if size > MAX_LARGE {
        pax.push((b"size", size.to_string().into_bytes()));
        h.set_size(0);
    } else {
        h.set_size(size);
    }
    match u64::try_from(item.mtime) {
        Ok(t) if t <= MAX_LARGE => h.set_mtime(t),
        _ => {
            pax.push((b"mtime", item.mtime.to_string().into_bytes()));
            h.set_mtime(0);
        }
    }
    h.set_entry_type(tar::EntryType::new(flag));
    if let FileKind::Char { major, minor } | FileKind::Block { major, minor } = item.stat.kind {
        h.set_device_major(major)
            .and_then(|()| h.set_device_minor(minor))
            .map_err(CopyError::Write)?;
    }
    h.set_cksum();
    if !pax.is_empty() {
        pax.sort();
        let mut record = Vec::new();
        for (key, value) in &pax {
            let rest = key.len() + value.len() + 3;
            let mut digits = 1;
            while rest + digits >= 10usize.pow(digits as u32) {
                digits += 1;
            }
            record.extend_from_slice((rest + digits).to_string().as_bytes());
            record.push(b' ');
            record.extend_from_slice(key);
            record.push(b'=');
            record.extend_from_slice(value);
            record.push(b'\n');
        }
        let mut ph = tar::Header::new_ustar();
        ph.set_size(record.len() as u64);
        ph.set_entry_type(tar::EntryType::XHeader);
        ph.set_cksum();
        out.write_all(ph.as_bytes()).map_err(CopyError::Write)?;
        out.write_all(&record).map_err(CopyError::Write)?;
        pad(out, record.len() as u64)?;
    }
    out.write_all(h.as_bytes()).map_err(CopyError::Write)?;
    match &item.body {
        Body::Bytes(b) => {
            out.write_all(b).map_err(CopyError::Write)?;
            pad(out, size)?;
        }
        Body::File { host, size } => {
            let f = File::open(host).map_err(|source| CopyError::Io {
                path: host.display().to_string(),
                source,
            })?;
            let copied = io::copy(&mut f.take(*size), out).map_err(CopyError::Write)?;
            if copied != *size {
                return Err(changed(host, *size, copied));
            }
            pad(out, *size)?;
        }
        _ => {}
    }
    Ok(())
}

fn pad<W: Write>(out: &mut W, len: u64) -> Result<(), CopyError> {
    let pad = ((512 - len % 512) % 512) as usize;
    out.write_all(&[0u8; 512][..pad]).map_err(CopyError::Write)
}
