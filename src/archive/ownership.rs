//! The true metadata of an extracted entry, kept without privileges.
//!
//! Every file in the store belongs to the user who extracted it. The owner, group, full mode
//! (setuid/setgid/sticky included), file type and device numbers from the tar header live in
//! one extended attribute, `user.coracle.stat`, whose value mirrors containers/storage's
//! override_stat: `uid:gid:mode:type`, mode as 4-digit octal, type one of
//! `file|dir|symlink|pipe|socket|block-MAJ-MIN|char-MAJ-MIN`.
//!
//! To save system calls the attribute is optional: **no attribute means `0:0`, the on-disk
//! permission bits and the on-disk type**. It is written only when the true metadata differs
//! from that default (see [`Stat::needs_xattr`]).
//!
//! Extended attributes a user cannot set (`security.*`, `trusted.*`, `system.*` ACLs) are
//! kept as `user.coracle.xattr.<original name>`; `user.*` attributes are stored as they are.
//! The whole `user.coracle.` namespace is ours: a tar may not carry it.
//!
//! This module is the only reader and writer of these attributes.

use std::borrow::Cow;
use std::fmt;
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{FileType, XattrFlags};
use rustix::io::Errno;

use super::ArchiveError;

/// The ownership attribute.
pub const STAT_XATTR: &str = "user.coracle.stat";
/// Room for the longest value this version writes (55 bytes) and fields later ones append.
const STAT_BUF: usize = 1024;
/// Prefix under which attributes a user cannot set are kept.
pub const KEPT_XATTR_PREFIX: &str = "user.coracle.xattr.";
/// The namespace reserved for coracle's metadata.
pub const RESERVED_PREFIX: &str = "user.coracle.";

/// The type of an entry as the image means it (not as it is stored on disk).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    File,
    Dir,
    Symlink,
    Pipe,
    Socket,
    Block { major: u32, minor: u32 },
    Char { major: u32, minor: u32 },
}

impl FileKind {
    /// Kinds that are stored on disk as empty placeholder regular files.
    pub fn is_placeholder(self) -> bool {
        matches!(
            self,
            FileKind::Pipe | FileKind::Socket | FileKind::Block { .. } | FileKind::Char { .. }
        )
    }

    /// The `S_IFMT` bits of this kind.
    pub fn format_bits(self) -> u32 {
        match self {
            FileKind::File => libc::S_IFREG,
            FileKind::Dir => libc::S_IFDIR,
            FileKind::Symlink => libc::S_IFLNK,
            FileKind::Pipe => libc::S_IFIFO,
            FileKind::Socket => libc::S_IFSOCK,
            FileKind::Block { .. } => libc::S_IFBLK,
            FileKind::Char { .. } => libc::S_IFCHR,
        }
    }

    /// The kind of an on-disk file type.
    pub fn from_file_type(t: FileType) -> FileKind {
        match t {
            FileType::Directory => FileKind::Dir,
            FileType::Symlink => FileKind::Symlink,
            FileType::Fifo => FileKind::Pipe,
            FileType::Socket => FileKind::Socket,
            // A real device on disk was not made by us; its numbers are not known here.
            FileType::BlockDevice => FileKind::Block { major: 0, minor: 0 },
            FileType::CharacterDevice => FileKind::Char { major: 0, minor: 0 },
            _ => FileKind::File,
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileKind::File => f.write_str("file"),
            FileKind::Dir => f.write_str("dir"),
            FileKind::Symlink => f.write_str("symlink"),
            FileKind::Pipe => f.write_str("pipe"),
            FileKind::Socket => f.write_str("socket"),
            FileKind::Block { major, minor } => write!(f, "block-{major}-{minor}"),
            FileKind::Char { major, minor } => write!(f, "char-{major}-{minor}"),
        }
    }
}

/// The true owner, group, permission bits (`0o7777`) and kind of an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Stat {
    pub uid: u32,
    pub gid: u32,
    /// Permission bits including setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    pub kind: FileKind,
}

/// Why a `user.coracle.stat` value could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatParseError {
    #[error("expected uid:gid:mode[:type]")]
    TooFewFields,
    #[error("invalid {field} {value:?}")]
    BadField { field: &'static str, value: String },
    #[error("unknown file type {0:?}")]
    UnknownType(String),
}

impl Stat {
    /// The default metadata of a symlink: root-owned, `0777`.
    pub const SYMLINK_DEFAULT: Stat = Stat {
        uid: 0,
        gid: 0,
        mode: 0o777,
        kind: FileKind::Symlink,
    };

    /// `uid:gid:mode:type`, mode as at least 4 octal digits.
    pub fn encode(&self) -> String {
        format!(
            "{}:{}:{:04o}:{}",
            self.uid,
            self.gid,
            self.mode & 0o7777,
            self.kind
        )
    }

    /// Parses an attribute value. The type is optional (older writers had three fields) and
    /// defaults to `disk_kind`; fields after the fourth are ignored so that later versions can
    /// append some.
    pub fn decode(value: &str, disk_kind: FileKind) -> Result<Stat, StatParseError> {
        let mut parts = value.split(':');
        let (Some(uid), Some(gid), Some(mode)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(StatParseError::TooFewFields);
        };
        let bad = |field: &'static str, value: &str| StatParseError::BadField {
            field,
            value: value.to_string(),
        };
        let uid: u32 = uid.parse().map_err(|_| bad("uid", uid))?;
        let gid: u32 = gid.parse().map_err(|_| bad("gid", gid))?;
        let mode_bits = u32::from_str_radix(mode, 8).map_err(|_| bad("mode", mode))?;
        if mode.is_empty() || mode.starts_with('+') || mode_bits > 0o7777 {
            return Err(bad("mode", mode));
        }
        let kind = match parts.next() {
            None => disk_kind,
            Some(t) => parse_kind(t)?,
        };
        Ok(Stat {
            uid,
            gid,
            mode: mode_bits,
            kind,
        })
    }

    /// The permission bits this entry has on disk: owner-accessible (`u+rw`, directories
    /// `u+rwx`), executable bits kept, setuid/setgid/sticky stripped. Symlinks are `0777`.
    pub fn disk_mode(&self) -> u32 {
        match self.kind {
            FileKind::Dir => (self.mode & 0o777) | 0o700,
            FileKind::Symlink => 0o777,
            _ => (self.mode & 0o777) | 0o600,
        }
    }

    /// The type of the on-disk object: placeholders are regular files.
    pub fn disk_kind(&self) -> FileKind {
        if self.kind.is_placeholder() {
            FileKind::File
        } else {
            self.kind
        }
    }

    /// Whether the attribute must be written: the metadata differs from the default an
    /// attribute-less file stands for (`0:0`, on-disk mode, on-disk type).
    pub fn needs_xattr(&self) -> bool {
        self.uid != 0
            || self.gid != 0
            || self.kind.is_placeholder()
            || self.mode != self.disk_mode()
    }

    /// The full `st_mode` (format and permission bits) to present.
    pub fn st_mode(&self) -> u32 {
        self.kind.format_bits() | (self.mode & 0o7777)
    }

    /// The metadata an attribute-less on-disk object stands for.
    pub fn from_disk(st_mode: u32) -> Stat {
        Stat {
            uid: 0,
            gid: 0,
            mode: st_mode & 0o7777,
            kind: FileKind::from_file_type(FileType::from_raw_mode(st_mode)),
        }
    }
}

fn parse_kind(t: &str) -> Result<FileKind, StatParseError> {
    let device = |rest: &str| -> Option<(u32, u32)> {
        let (major, minor) = rest.split_once('-')?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    };
    let unknown = || StatParseError::UnknownType(t.to_string());
    Ok(match t {
        "file" => FileKind::File,
        "dir" => FileKind::Dir,
        "symlink" => FileKind::Symlink,
        "pipe" => FileKind::Pipe,
        "socket" => FileKind::Socket,
        _ => {
            if let Some(rest) = t.strip_prefix("block-") {
                let (major, minor) = device(rest).ok_or_else(unknown)?;
                FileKind::Block { major, minor }
            } else if let Some(rest) = t.strip_prefix("char-") {
                let (major, minor) = device(rest).ok_or_else(unknown)?;
                FileKind::Char { major, minor }
            } else {
                return Err(unknown());
            }
        }
    })
}

/// The effective (true) metadata of an extracted entry, by path. A symlink yields
/// [`Stat::SYMLINK_DEFAULT`]: its real metadata is in the layer's symlink table
/// ([`super::symlinks::SymlinkTable`]).
pub fn read_stat(path: &Path) -> Result<Stat, ArchiveError> {
    let io_err = |source: Errno| ArchiveError::Io {
        path: path.to_path_buf(),
        source: source.into(),
    };
    let st = rustix::fs::lstat(path).map_err(io_err)?;
    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        return Ok(Stat::SYMLINK_DEFAULT);
    }
    let mut buf = [0u8; STAT_BUF];
    let got = rustix::fs::lgetxattr(path, STAT_XATTR, &mut buf[..]);
    finish_read(got, &buf, st.st_mode).map_err(|e| match e {
        ReadError::Io(errno) => io_err(errno),
        ReadError::Parse(value, reason) => ArchiveError::BadStat {
            path: path.display().to_string(),
            value,
            reason,
        },
    })
}

/// The effective (true) metadata of an extracted entry open as `fd` (not an `O_PATH` fd).
/// `name` is only used in errors.
pub fn read_stat_fd<Fd: AsFd>(fd: Fd, name: &str) -> Result<Stat, ArchiveError> {
    let fd = fd.as_fd();
    let st = rustix::fs::fstat(fd).map_err(|source| ArchiveError::Io {
        path: name.into(),
        source: source.into(),
    })?;
    read_stat_fd_mode(fd, st.st_mode, name)
}

/// [`read_stat_fd`] for a caller that already has the file's `st_mode` (one `fstat` less).
pub fn read_stat_fd_mode<Fd: AsFd>(fd: Fd, st_mode: u32, name: &str) -> Result<Stat, ArchiveError> {
    let fd = fd.as_fd();
    let io_err = |source: Errno| ArchiveError::Io {
        path: name.into(),
        source: source.into(),
    };
    if FileType::from_raw_mode(st_mode) == FileType::Symlink {
        return Ok(Stat::SYMLINK_DEFAULT);
    }
    let mut buf = [0u8; STAT_BUF];
    let got = rustix::fs::fgetxattr(fd, STAT_XATTR, &mut buf[..]);
    finish_read(got, &buf, st_mode).map_err(|e| match e {
        ReadError::Io(errno) => io_err(errno),
        ReadError::Parse(value, reason) => ArchiveError::BadStat {
            path: name.to_string(),
            value,
            reason,
        },
    })
}

/// [`read_stat_fd_mode`] by path (`lgetxattr`, the last component not followed): one
/// system call where an open, `fgetxattr` and close take three.
pub fn read_stat_path_mode(
    path: &std::path::Path,
    st_mode: u32,
    name: &str,
) -> Result<Stat, ArchiveError> {
    if FileType::from_raw_mode(st_mode) == FileType::Symlink {
        return Ok(Stat::SYMLINK_DEFAULT);
    }
    let mut buf = [0u8; STAT_BUF];
    let got = rustix::fs::lgetxattr(path, STAT_XATTR, &mut buf[..]);
    finish_read(got, &buf, st_mode).map_err(|e| match e {
        ReadError::Io(errno) => ArchiveError::Io {
            path: name.into(),
            source: errno.into(),
        },
        ReadError::Parse(value, reason) => ArchiveError::BadStat {
            path: name.to_string(),
            value,
            reason,
        },
    })
}

enum ReadError {
    Io(Errno),
    Parse(String, StatParseError),
}

fn finish_read(
    got: rustix::io::Result<usize>,
    buf: &[u8],
    st_mode: u32,
) -> Result<Stat, ReadError> {
    let disk = Stat::from_disk(st_mode);
    match got {
        Ok(n) => {
            let value = String::from_utf8_lossy(&buf[..n]);
            Stat::decode(&value, disk.kind).map_err(|e| ReadError::Parse(value.into_owned(), e))
        }
        Err(Errno::NODATA) | Err(Errno::OPNOTSUPP) => Ok(disk),
        Err(e) => Err(ReadError::Io(e)),
    }
}

/// Writes the ownership attribute for `stat` on `fd`, or removes a stale one when the
/// default applies and `may_exist` (the object existed before).
pub(crate) fn write_stat<Fd: AsFd>(fd: Fd, stat: &Stat, may_exist: bool) -> rustix::io::Result<()> {
    if stat.needs_xattr() {
        rustix::fs::fsetxattr(
            fd,
            STAT_XATTR,
            stat.encode().as_bytes(),
            XattrFlags::empty(),
        )
    } else if may_exist {
        match rustix::fs::fremovexattr(fd, STAT_XATTR) {
            Ok(()) | Err(Errno::NODATA) => Ok(()),
            Err(e) => Err(e),
        }
    } else {
        Ok(())
    }
}

/// Where an image's extended attribute is stored on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum XattrName<'a> {
    /// A `user.*` attribute, stored under its own name.
    Direct(&'a [u8]),
    /// An attribute a user cannot set, kept as `user.coracle.xattr.<name>`.
    Kept(Vec<u8>),
}

impl XattrName<'_> {
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            XattrName::Direct(n) => n,
            XattrName::Kept(n) => n,
        }
    }
}

/// The on-disk name for an image's attribute `name`, or `None` if the name is refused
/// (coracle's own namespace, empty, or containing NUL).
pub fn stored_xattr_name(name: &[u8]) -> Option<XattrName<'_>> {
    if name.is_empty() || name.contains(&0) || name.starts_with(RESERVED_PREFIX.as_bytes()) {
        return None;
    }
    if name.starts_with(b"user.") {
        Some(XattrName::Direct(name))
    } else {
        let mut kept = KEPT_XATTR_PREFIX.as_bytes().to_vec();
        kept.extend_from_slice(name);
        Some(XattrName::Kept(kept))
    }
}

/// The image's name for an on-disk attribute name, or `None` when the attribute is not part
/// of the image (coracle's own metadata, or one the host put there such as `security.selinux`).
pub fn image_xattr_name(stored: &[u8]) -> Option<Cow<'_, [u8]>> {
    if let Some(orig) = stored.strip_prefix(KEPT_XATTR_PREFIX.as_bytes()) {
        return (!orig.is_empty()).then_some(Cow::Borrowed(orig));
    }
    if stored.starts_with(RESERVED_PREFIX.as_bytes()) || !stored.starts_with(b"user.") {
        return None;
    }
    Some(Cow::Borrowed(stored))
}

/// The image's extended attributes of an extracted entry open as `fd`, by their image names,
/// sorted by name.
pub fn read_xattrs<Fd: AsFd>(fd: Fd) -> rustix::io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let fd = fd.as_fd();
    let mut names = vec![0u8; 1024];
    let len = loop {
        match rustix::fs::flistxattr(fd, &mut names[..]) {
            Ok(n) => break n,
            Err(Errno::RANGE) => names.resize(names.len() * 4, 0),
            Err(Errno::OPNOTSUPP) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        }
    };
    let mut out = Vec::new();
    for stored in names[..len].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let Some(image_name) = image_xattr_name(stored) else {
            continue;
        };
        let mut value = vec![0u8; 256];
        let n = loop {
            match rustix::fs::fgetxattr(fd, stored, &mut value[..]) {
                Ok(n) => break n,
                Err(Errno::RANGE) => value.resize(value.len() * 4, 0),
                Err(e) => return Err(e),
            }
        };
        value.truncate(n);
        out.push((image_name.into_owned(), value));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codec_round_trip() {
        let cases = [
            (
                Stat {
                    uid: 0,
                    gid: 0,
                    mode: 0o644,
                    kind: FileKind::File,
                },
                "0:0:0644:file",
            ),
            (
                Stat {
                    uid: 1000,
                    gid: 100,
                    mode: 0o4755,
                    kind: FileKind::File,
                },
                "1000:100:4755:file",
            ),
            (
                Stat {
                    uid: 65534,
                    gid: 65534,
                    mode: 0o1777,
                    kind: FileKind::Dir,
                },
                "65534:65534:1777:dir",
            ),
            (
                Stat {
                    uid: 100000,
                    gid: 100001,
                    mode: 0,
                    kind: FileKind::Dir,
                },
                "100000:100001:0000:dir",
            ),
            (
                Stat {
                    uid: 0,
                    gid: 0,
                    mode: 0o777,
                    kind: FileKind::Symlink,
                },
                "0:0:0777:symlink",
            ),
            (
                Stat {
                    uid: 0,
                    gid: 5,
                    mode: 0o620,
                    kind: FileKind::Char {
                        major: 136,
                        minor: 3,
                    },
                },
                "0:5:0620:char-136-3",
            ),
            (
                Stat {
                    uid: 0,
                    gid: 6,
                    mode: 0o660,
                    kind: FileKind::Block { major: 8, minor: 0 },
                },
                "0:6:0660:block-8-0",
            ),
            (
                Stat {
                    uid: 1,
                    gid: 1,
                    mode: 0o644,
                    kind: FileKind::Pipe,
                },
                "1:1:0644:pipe",
            ),
            (
                Stat {
                    uid: 1,
                    gid: 1,
                    mode: 0o755,
                    kind: FileKind::Socket,
                },
                "1:1:0755:socket",
            ),
            (
                Stat {
                    uid: u32::MAX,
                    gid: 0,
                    mode: 0o7777,
                    kind: FileKind::File,
                },
                "4294967295:0:7777:file",
            ),
        ];
        for (stat, text) in cases {
            assert_eq!(stat.encode(), text);
            assert_eq!(Stat::decode(text, FileKind::File), Ok(stat), "{text}");
        }
    }

    #[test]
    fn decode_is_forward_compatible() {
        let three = Stat::decode("1:2:0755", FileKind::Dir).unwrap();
        assert_eq!(
            three,
            Stat {
                uid: 1,
                gid: 2,
                mode: 0o755,
                kind: FileKind::Dir
            }
        );
        let five = Stat::decode("1:2:0755:file:future:fields", FileKind::Dir).unwrap();
        assert_eq!(five.kind, FileKind::File);
    }

    #[test]
    fn decode_rejects_garbage() {
        for bad in [
            "",
            "1",
            "1:2",
            "x:2:0755",
            "1:y:0755",
            "1:2:0999",
            "1:2:17777",
            "1:2:+755",
            "1:2::file",
            "1:2:0755:weird",
            "1:2:0755:char-1",
            "1:2:0755:block-a-b",
            "-1:0:0755",
        ] {
            assert!(Stat::decode(bad, FileKind::File).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn xattr_needed_only_off_default() {
        let s = |uid, mode, kind| Stat {
            uid,
            gid: 0,
            mode,
            kind,
        };
        assert!(!s(0, 0o644, FileKind::File).needs_xattr());
        assert!(!s(0, 0o755, FileKind::File).needs_xattr());
        assert!(!s(0, 0o700, FileKind::Dir).needs_xattr());
        assert!(s(0, 0o444, FileKind::File).needs_xattr()); // disk gets u+w
        assert!(s(0, 0o000, FileKind::Dir).needs_xattr());
        assert!(s(0, 0o4755, FileKind::File).needs_xattr());
        assert!(s(0, 0o1777, FileKind::Dir).needs_xattr());
        assert!(s(1000, 0o644, FileKind::File).needs_xattr());
        assert!(s(0, 0o644, FileKind::Pipe).needs_xattr());
        assert_eq!(s(0, 0o4555, FileKind::File).disk_mode(), 0o755);
        assert_eq!(s(0, 0o000, FileKind::Dir).disk_mode(), 0o700);
        assert_eq!(s(0, 0o1777, FileKind::Dir).disk_mode(), 0o777);
        assert_eq!(s(0, 0o4111, FileKind::File).disk_mode(), 0o711);
    }

    #[test]
    fn xattr_names() {
        assert_eq!(
            stored_xattr_name(b"user.foo"),
            Some(XattrName::Direct(b"user.foo"))
        );
        assert_eq!(
            stored_xattr_name(b"security.capability"),
            Some(XattrName::Kept(
                b"user.coracle.xattr.security.capability".to_vec()
            ))
        );
        assert_eq!(stored_xattr_name(b"user.coracle.stat"), None);
        assert_eq!(stored_xattr_name(b"user.coracle.xattr.x"), None);
        assert_eq!(stored_xattr_name(b""), None);
        assert_eq!(stored_xattr_name(b"user.a\0b"), None);
        for name in [
            &b"user.foo"[..],
            b"security.capability",
            b"trusted.overlay.opaque",
            b"system.posix_acl_access",
        ] {
            let stored = stored_xattr_name(name).unwrap();
            assert_eq!(image_xattr_name(stored.as_bytes()).as_deref(), Some(name));
        }
        assert_eq!(image_xattr_name(b"user.coracle.stat"), None);
        assert_eq!(image_xattr_name(b"security.selinux"), None);
    }

    /// Mutated attribute values and names never panic the codec; what decodes encodes to a
    /// value that decodes the same, and a stored name gives back the image's name (fuzz/
    /// ownership does the same with coverage guidance).
    #[test]
    fn mutated_values_never_panic() {
        let seeds: &[&[u8]] = &[
            b"4294967295:0:7777:char-4294967295-0",
            b"1:2:0755",
            b"0:0:0644:block-8-1:later",
            b"security.capability",
            b"user.coracle.xattr.trusted.x",
        ];
        let mut decoded = 0;
        let count = crate::oci::mutate::each_mutation(seeds, b":-+0789abk.\0\xff", |bytes| {
            let value = String::from_utf8_lossy(bytes);
            if let Ok(stat) = Stat::decode(&value, FileKind::File) {
                assert!(stat.mode <= 0o7777, "{value:?}");
                assert_eq!(
                    Stat::decode(&stat.encode(), FileKind::Dir),
                    Ok(stat),
                    "{value:?}"
                );
                decoded += 1;
            }
            if let Some(stored) = stored_xattr_name(bytes) {
                assert_eq!(
                    image_xattr_name(stored.as_bytes()).as_deref(),
                    Some(bytes),
                    "{value:?}"
                );
            }
        });
        assert!(count > 2_000, "{count} mutations");
        assert!(decoded > 100, "only {decoded} decoded");
    }
}
