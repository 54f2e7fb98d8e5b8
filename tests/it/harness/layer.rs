//! Layer tarballs built entry by entry, byte-reproducibly (fixed mtimes, given order).
//!
//! Headers are ustar; a path or link target that does not fit is carried in a PAX extended
//! header (`path`, `linkpath`), and so are extended attributes (`SCHILY.xattr.NAME`), the way
//! Go's archive/tar writes them. Names are written raw, so hostile paths (`../x`, `/etc/x`)
//! can be built too. User and group names are left empty.

use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};
use std::io::Write;

/// The modification time of every entry unless an entry says otherwise (2024-01-02T03:04:05Z).
pub const MTIME: u64 = 1_704_164_645;

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Gzip, deterministic (no name, no mtime in the gzip header).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(bytes).expect("gzip to memory");
    e.finish().expect("gzip to memory")
}

/// What an entry is.
#[derive(Clone, Debug)]
pub enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
    Char(u32, u32),
    Block(u32, u32),
    Fifo,
}

/// One tar entry.
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: String,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub xattrs: Vec<(String, Vec<u8>)>,
}

impl Entry {
    fn new(path: &str, kind: Kind, mode: u32) -> Entry {
        Entry {
            path: path.to_string(),
            kind,
            mode,
            uid: 0,
            gid: 0,
            mtime: MTIME,
            xattrs: Vec::new(),
        }
    }

    pub fn file(path: &str, data: impl Into<Vec<u8>>) -> Entry {
        Entry::new(path, Kind::File(data.into()), 0o644)
    }

    /// A directory; a trailing `/` is added to its name as tar writers do.
    pub fn dir(path: &str) -> Entry {
        let p = if path.ends_with('/') {
            path.to_string()
        } else {
            format!("{path}/")
        };
        Entry::new(&p, Kind::Dir, 0o755)
    }

    pub fn symlink(path: &str, target: &str) -> Entry {
        Entry::new(path, Kind::Symlink(target.into()), 0o777)
    }

    pub fn hardlink(path: &str, target: &str) -> Entry {
        Entry::new(path, Kind::Hardlink(target.into()), 0o644)
    }

    pub fn char_dev(path: &str, major: u32, minor: u32) -> Entry {
        Entry::new(path, Kind::Char(major, minor), 0o666)
    }

    pub fn block_dev(path: &str, major: u32, minor: u32) -> Entry {
        Entry::new(path, Kind::Block(major, minor), 0o660)
    }

    pub fn fifo(path: &str) -> Entry {
        Entry::new(path, Kind::Fifo, 0o644)
    }

    /// The OCI whiteout that deletes `path` from the layers below.
    pub fn whiteout(path: &str) -> Entry {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        Entry::file(&format!("{dir}.wh.{name}"), Vec::new())
    }

    /// The OCI opaque marker: `dir` hides everything below it in lower layers.
    pub fn opaque(dir: &str) -> Entry {
        Entry::file(
            &format!("{}/.wh..wh..opq", dir.trim_end_matches('/')),
            Vec::new(),
        )
    }

    pub fn mode(mut self, mode: u32) -> Entry {
        self.mode = mode;
        self
    }

    pub fn owner(mut self, uid: u64, gid: u64) -> Entry {
        self.uid = uid;
        self.gid = gid;
        self
    }

    pub fn mtime(mut self, mtime: u64) -> Entry {
        self.mtime = mtime;
        self
    }

    pub fn xattr(mut self, name: &str, value: impl Into<Vec<u8>>) -> Entry {
        self.xattrs.push((name.to_string(), value.into()));
        self
    }

    /// The tar header's type flag.
    fn type_flag(&self) -> u8 {
        match self.kind {
            Kind::File(_) => b'0',
            Kind::Hardlink(_) => b'1',
            Kind::Symlink(_) => b'2',
            Kind::Char(..) => b'3',
            Kind::Block(..) => b'4',
            Kind::Dir => b'5',
            Kind::Fifo => b'6',
        }
    }
}

/// Builds one layer tarball.
#[derive(Default)]
pub struct LayerBuilder {
    out: Vec<u8>,
}

impl LayerBuilder {
    pub fn new() -> LayerBuilder {
        LayerBuilder::default()
    }

    /// Appends `entry` (with its PAX header first when it needs one).
    pub fn push(&mut self, entry: Entry) -> &mut LayerBuilder {
        let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
        let mut h = [0u8; 512];
        // name / prefix
        let path = entry.path.as_bytes();
        if path.len() <= 100 {
            h[..path.len()].copy_from_slice(path);
        } else if let Some(split) = ustar_split(path) {
            let (prefix, name) = (&path[..split], &path[split + 1..]);
            h[..name.len()].copy_from_slice(name);
            h[345..345 + prefix.len()].copy_from_slice(prefix);
        } else {
            pax.push(("path".into(), path.to_vec()));
            h[..100].copy_from_slice(&path[..100]);
        }
        // link name
        if let Kind::Symlink(t) | Kind::Hardlink(t) = &entry.kind {
            let t = t.as_bytes();
            if t.len() <= 100 {
                h[157..157 + t.len()].copy_from_slice(t);
            } else {
                pax.push(("linkpath".into(), t.to_vec()));
                h[157..257].copy_from_slice(&t[..100]);
            }
        }
        for (k, v) in &entry.xattrs {
            pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
        }
        let data: &[u8] = match &entry.kind {
            Kind::File(d) => d,
            _ => &[],
        };
        octal(&mut h[100..108], entry.mode as u64);
        octal(&mut h[108..116], entry.uid);
        octal(&mut h[116..124], entry.gid);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], entry.mtime);
        h[156] = entry.type_flag();
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        let (major, minor) = match entry.kind {
            Kind::Char(a, b) | Kind::Block(a, b) => (a as u64, b as u64),
            _ => (0, 0),
        };
        octal(&mut h[329..337], major);
        octal(&mut h[337..345], minor);
        if !pax.is_empty() {
            self.push_pax(&entry, &pax);
        }
        finish_header(&mut h);
        self.out.extend_from_slice(&h);
        self.push_data(data);
        self
    }

    pub fn extend(&mut self, entries: impl IntoIterator<Item = Entry>) -> &mut LayerBuilder {
        for e in entries {
            self.push(e);
        }
        self
    }

    fn push_pax(&mut self, entry: &Entry, records: &[(String, Vec<u8>)]) {
        let mut body = Vec::new();
        for (k, v) in records {
            // "<len> <key>=<value>\n", where <len> counts the whole record, itself included.
            let rest = 1 + k.len() + 1 + v.len() + 1;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(format!("{len} {k}=").as_bytes());
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let base = entry.path.trim_end_matches('/');
        let base = base.rsplit('/').next().unwrap_or(base);
        let name = format!("PaxHeaders.0/{base}");
        let name = &name.as_bytes()[..name.len().min(100)];
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name);
        octal(&mut h[100..108], 0o644);
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], body.len() as u64);
        octal(&mut h[136..148], entry.mtime);
        h[156] = b'x';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        octal(&mut h[329..337], 0);
        octal(&mut h[337..345], 0);
        finish_header(&mut h);
        self.out.extend_from_slice(&h);
        self.push_data(&body);
    }

    fn push_data(&mut self, data: &[u8]) {
        self.out.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.out.extend(std::iter::repeat_n(0u8, pad));
    }

    /// The tarball with its two zero end blocks.
    pub fn finish(&mut self) -> Layer {
        let mut tar = std::mem::take(&mut self.out);
        tar.extend(std::iter::repeat_n(0u8, 1024));
        Layer::from_tar(tar)
    }
}

/// Where to split a long ustar path into prefix (≤155) and name (≤100), if anywhere.
fn ustar_split(path: &[u8]) -> Option<usize> {
    if path.len() > 256 {
        return None;
    }
    (1..path.len().min(156))
        .rev()
        .find(|&i| path[i] == b'/' && path.len() - i - 1 <= 100 && path.len() - i > 1)
}

/// Writes `v` as zero-padded octal, NUL-terminated, filling `field`.
fn octal(field: &mut [u8], v: u64) {
    let s = format!("{:0width$o}\0", v, width = field.len() - 1);
    assert!(s.len() == field.len(), "value {v} does not fit a tar field");
    field.copy_from_slice(s.as_bytes());
}

fn finish_header(h: &mut [u8; 512]) {
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| b as u32).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
}

/// One layer: its uncompressed tarball and a gzip of it.
#[derive(Clone, Debug)]
pub struct Layer {
    pub tar: Vec<u8>,
    pub gz: Vec<u8>,
}

impl Layer {
    pub fn from_tar(tar: Vec<u8>) -> Layer {
        let gz = gzip(&tar);
        Layer { tar, gz }
    }

    /// `sha256:` of the uncompressed tarball.
    pub fn diff_id(&self) -> String {
        sha256(&self.tar)
    }

    /// `sha256:` of the gzip blob.
    pub fn gz_digest(&self) -> String {
        sha256(&self.gz)
    }
}

/// The headers of a tarball, for comparing two layers entry by entry when their digests differ.
pub fn list_tar(tar: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(tar);
    let mut out = Vec::new();
    let Ok(entries) = a.entries() else {
        return vec!["<unreadable tar>".into()];
    };
    for e in entries {
        let Ok(mut e) = e else {
            out.push("<unreadable entry>".into());
            break;
        };
        let h = e.header().clone();
        let path = e
            .path()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let link = e
            .link_name()
            .ok()
            .flatten()
            .map(|l| format!(" -> {}", l.display()))
            .unwrap_or_default();
        let mut xattrs = Vec::new();
        if let Ok(Some(exts)) = e.pax_extensions() {
            for x in exts.flatten() {
                if let Ok(k) = x.key()
                    && k.starts_with("SCHILY.xattr.")
                {
                    xattrs.push(format!("{k}={}", hex::encode(x.value_bytes())));
                }
            }
        }
        out.push(format!(
            "{:?} {path}{link} mode={:o} uid={} gid={} size={} mtime={} dev={}:{} {}",
            h.entry_type(),
            h.mode().unwrap_or(0),
            h.uid().unwrap_or(0),
            h.gid().unwrap_or(0),
            h.size().unwrap_or(0),
            h.mtime().unwrap_or(0),
            h.device_major().ok().flatten().unwrap_or(0),
            h.device_minor().ok().flatten().unwrap_or(0),
            xattrs.join(",")
        ));
    }
    out
}
