//! A layer directory (an extracted layer's `diff/`, or a container's upper directory) back
//! into a layer tar: the inverse of [`super::extract_layer`].
//!
//! Headers carry the true metadata ([`super::ownership`]): owner, group and full mode from
//! `user.coracle.stat` (setuid/setgid/sticky included), devices and fifos from their
//! placeholder files, symlink owners from the layer's symlink table. Extended attributes go
//! into PAX `SCHILY.xattr.<name>` records under their image names (`user.*` as stored, the
//! kept ones without the `user.coracle.xattr.` prefix; coracle's own are never written).
//! Files sharing an inode are one regular entry and hardlink entries naming it (owner and
//! mode repeated, attributes only on the first). Whiteouts
//! and opaque markers are already OCI `.wh.` files and are written as the empty files they are.
//! Sockets cannot be in a tar and are left out (as GNU tar and Podman do).
//!
//! # The canonical form
//!
//! The same tree always gives the same bytes:
//! - depth first, a directory before its contents; in each directory the `.wh.` names first
//!   (the image spec asks whiteouts to come before their siblings), then the others, each
//!   group sorted by bytes. The root is written (as `./`) only when its metadata is not the
//!   default `0:0 0755` without attributes;
//! - ustar headers built with the `tar` crate's setters: the name (directories with a
//!   trailing `/`, no `./` prefix) and link name in their fields, cut to 100 bytes when
//!   longer; mode `& 0o7777`; mtime in whole seconds (as containers/storage truncates it);
//!   empty uname/gname; device numbers only for devices; nothing else;
//! - a PAX `x` record (as `tar::Builder::append_pax_extensions` writes it: an otherwise empty
//!   ustar header) before an entry that needs one, its keys sorted by bytes: `path` and
//!   `linkpath` longer than 100 bytes, `uid`/`gid` above `0o7777777`, `size` above
//!   `0o77777777777`, an `mtime` outside the header's range (the header field is then 0),
//!   and `SCHILY.xattr.*`;
//! - two zero blocks at the end and nothing after them.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use super::ownership::{self, FileKind, Stat};
use super::resolve::join;
use super::symlinks::SymlinkTable;
use super::whiteout;
use super::{ArchiveError, entry_display};
use crate::oci::digest::{Digest, HashingWriter};

/// What [`create_layer`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateSummary {
    /// sha256 of the stream: the layer's diff ID.
    pub diff_id: Digest,
    /// Length of the stream.
    pub tar_size: u64,
    /// Number of entries written (PAX records not counted).
    pub entries: u64,
}

/// Largest value of the 8-byte numeric fields (7 octal digits).
const MAX_SMALL: u64 = 0o7_777_777;
/// Largest value of the 12-byte numeric fields (11 octal digits).
const MAX_LARGE: u64 = 0o77_777_777_777;
const NAME_FIELD: usize = 100;

/// How a walk opens directories and files of a tree it reads (never following a link, never
/// blocking on a fifo); `vfs_changes` walks the same way.
pub(super) const DIR_OPEN: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
pub(super) const FILE_OPEN: OFlags = OFlags::RDONLY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::NOCTTY)
    .union(OFlags::NONBLOCK)
    .union(OFlags::CLOEXEC);

/// Writes the layer tar of `tree` (whose symlinks are described by `symlinks`) to `out`,
/// hashing it on the way. Returns what was written and `out`, flushed.
pub fn create_layer<W: Write>(
    tree: &Path,
    symlinks: &SymlinkTable,
    out: W,
) -> Result<(CreateSummary, W), ArchiveError> {
    create_layer_excluding(tree, symlinks, &[], out)
}

/// [`create_layer`] leaving out the non-directory entries at the paths `exclude` (relative to
/// `tree`, no leading `/`): `commit` leaves out the mount targets the runtime made.
pub fn create_layer_excluding<W: Write>(
    tree: &Path,
    symlinks: &SymlinkTable,
    exclude: &[Vec<u8>],
    out: W,
) -> Result<(CreateSummary, W), ArchiveError> {
    let io_err = |source: Errno| ArchiveError::Io {
        path: tree.to_path_buf(),
        source: source.into(),
    };
    let root = rustix::fs::open(tree, DIR_OPEN, Mode::empty()).map_err(io_err)?;
    let mut w = Writer {
        tree,
        out: BufWriter::with_capacity(256 << 10, HashingWriter::new(out)),
        symlinks,
        exclude,
        links: HashMap::new(),
        entries: 0,
    };
    let st = rustix::fs::fstat(&root).map_err(io_err)?;
    let stat = ownership::read_stat_fd_mode(&root, st.st_mode, "/")?;
    let xattrs = ownership::read_xattrs(&root).map_err(io_err)?;
    let root_default = Stat {
        uid: 0,
        gid: 0,
        mode: 0o755,
        kind: FileKind::Dir,
    };
    if stat != root_default || !xattrs.is_empty() {
        w.header(&Entry {
            name: b"./".to_vec(),
            link: Vec::new(),
            flag: b'5',
            stat,
            size: 0,
            mtime: st.st_mtime,
            xattrs,
        })?;
    }
    w.dir(&root, b"")?;
    w.finish()
}

/// The emission order of a directory's children: `.wh.` names first, each group by bytes.
pub(crate) fn sort_children(names: &mut [Vec<u8>]) {
    let plain = |n: &[u8]| !n.starts_with(whiteout::WHITEOUT_PREFIX.as_bytes());
    names.sort_by(|a, b| (plain(a), a).cmp(&(plain(b), b)));
}

/// The names in the directory `fd`, `.` and `..` left out, unsorted.
pub(crate) fn read_names(fd: &OwnedFd) -> Result<Vec<Vec<u8>>, Errno> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(fd)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(name.to_vec());
        }
    }
    Ok(names)
}

/// One tar entry to write.
pub(crate) struct Entry {
    pub(crate) name: Vec<u8>,
    pub(crate) link: Vec<u8>,
    pub(crate) flag: u8,
    pub(crate) stat: Stat,
    pub(crate) size: u64,
    pub(crate) mtime: i64,
    pub(crate) xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// The canonical writer for entries chosen elsewhere (a vfs container's changes,
/// [`super::vfs_changes`]): the same headers, contents and hardlink handling as
/// [`create_layer`].
pub(crate) struct EntryWriter<'a, W: Write>(Writer<'a, W>);

impl<'a, W: Write> EntryWriter<'a, W> {
    /// `tree` names the source in errors; `symlinks` is not consulted.
    pub(crate) fn new(tree: &'a Path, symlinks: &'a SymlinkTable, out: W) -> Self {
        EntryWriter(Writer {
            tree,
            out: BufWriter::with_capacity(256 << 10, HashingWriter::new(out)),
            symlinks,
            exclude: &[],
            links: HashMap::new(),
            entries: 0,
        })
    }

    pub(crate) fn header(&mut self, e: &Entry) -> Result<(), ArchiveError> {
        self.0.header(e)
    }

    pub(crate) fn content(
        &mut self,
        file: File,
        path: &[u8],
        size: u64,
    ) -> Result<(), ArchiveError> {
        self.0.content(file, path, size)
    }

    /// See [`Writer::first_link`].
    pub(crate) fn first_link(&mut self, st: &rustix::fs::Stat, path: &[u8]) -> Option<Vec<u8>> {
        self.0.first_link(st, path)
    }

    /// Writes the end of the archive; what was written and `out`, flushed.
    pub(crate) fn finish(self) -> Result<(CreateSummary, W), ArchiveError> {
        self.0.finish()
    }
}

struct Writer<'a, W: Write> {
    tree: &'a Path,
    out: BufWriter<HashingWriter<W>>,
    symlinks: &'a SymlinkTable,
    /// Non-directory paths left out.
    exclude: &'a [Vec<u8>],
    /// (device, inode) -> name of the first entry of a file with several links.
    links: HashMap<(u64, u64), Vec<u8>>,
    entries: u64,
}

impl<W: Write> Writer<'_, W> {
    /// Writes the end of the archive; what was written and `out`, flushed.
    fn finish(mut self) -> Result<(CreateSummary, W), ArchiveError> {
        let tree = self.tree;
        let write_err = |source: io::Error| ArchiveError::Write {
            layer: tree.to_path_buf(),
            source,
        };
        self.out.write_all(&[0u8; 1024]).map_err(write_err)?;
        let hashing = self
            .out
            .into_inner()
            .map_err(|e| write_err(e.into_error()))?;
        let (diff_id, tar_size, mut out) = hashing.finish();
        out.flush().map_err(write_err)?;
        Ok((
            CreateSummary {
                diff_id,
                tar_size,
                entries: self.entries,
            },
            out,
        ))
    }

    fn write_err(&self, source: io::Error) -> ArchiveError {
        ArchiveError::Write {
            layer: self.tree.to_path_buf(),
            source,
        }
    }

    fn dir(&mut self, fd: &OwnedFd, phys: &[u8]) -> Result<(), ArchiveError> {
        let dir_err = |e: Errno| ArchiveError::Io {
            path: self.tree.join(entry_display(phys)),
            source: e.into(),
        };
        let mut names = read_names(fd).map_err(dir_err)?;
        sort_children(&mut names);
        for name in names {
            let path = join(phys, &name);
            let err = |e: Errno| ArchiveError::Io {
                path: self.tree.join(entry_display(&path)),
                source: e.into(),
            };
            let st =
                rustix::fs::statat(fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW).map_err(err)?;
            let kind = FileType::from_raw_mode(st.st_mode);
            if kind != FileType::Directory && self.exclude.contains(&path) {
                continue;
            }
            match kind {
                FileType::Directory => {
                    let child = rustix::fs::openat(fd, name.as_slice(), DIR_OPEN, Mode::empty())
                        .map_err(err)?;
                    let st = rustix::fs::fstat(&child).map_err(err)?;
                    let stat =
                        ownership::read_stat_fd_mode(&child, st.st_mode, &entry_display(&path))?;
                    let xattrs = ownership::read_xattrs(&child).map_err(err)?;
                    let mut name = path.clone();
                    name.push(b'/');
                    self.header(&Entry {
                        name,
                        link: Vec::new(),
                        flag: b'5',
                        stat,
                        size: 0,
                        mtime: st.st_mtime,
                        xattrs,
                    })?;
                    self.dir(&child, &path)?;
                }
                FileType::Symlink => {
                    let target =
                        rustix::fs::readlinkat(fd, name.as_slice(), Vec::new()).map_err(err)?;
                    let (stat, xattrs) = match self.symlinks.get(&path) {
                        Some(meta) => (meta.stat, meta.xattrs.clone()),
                        None => (Stat::SYMLINK_DEFAULT, Vec::new()),
                    };
                    // A symlink with several names (tar allows hardlinks to symlinks).
                    let (flag, link, xattrs) = match self.first_link(&st, &path) {
                        Some(first) => (b'1', first, Vec::new()),
                        None => (b'2', target.into_bytes(), xattrs),
                    };
                    self.header(&Entry {
                        name: path,
                        link,
                        flag,
                        stat,
                        size: 0,
                        mtime: st.st_mtime,
                        xattrs,
                    })?;
                }
                FileType::RegularFile => self.file(fd, &name, path)?,
                FileType::Socket => {
                    tracing::debug!("leaving out the socket {}", entry_display(&path));
                }
                _ => {
                    // A real fifo or device (not made by coracle, which writes placeholders):
                    // its type and numbers are on disk, its owner is unknown (root).
                    let mut stat = Stat::from_disk(st.st_mode);
                    let rdev = st.st_rdev;
                    let (major, minor) = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
                    stat.kind = match stat.kind {
                        FileKind::Char { .. } => FileKind::Char { major, minor },
                        FileKind::Block { .. } => FileKind::Block { major, minor },
                        k => k,
                    };
                    self.special(path, stat, Vec::new(), st.st_mtime)?;
                }
            }
        }
        Ok(())
    }

    /// A regular file, a placeholder or a further link to an inode already written.
    fn file(&mut self, dir: &OwnedFd, name: &[u8], path: Vec<u8>) -> Result<(), ArchiveError> {
        let err = |e: Errno| ArchiveError::Io {
            path: self.tree.join(entry_display(&path)),
            source: e.into(),
        };
        let fd = rustix::fs::openat(dir, name, FILE_OPEN, Mode::empty()).map_err(err)?;
        let st = rustix::fs::fstat(&fd).map_err(err)?;
        let shown = entry_display(&path);
        let stat = ownership::read_stat_fd_mode(&fd, st.st_mode, &shown)?;
        if stat.kind == FileKind::Socket {
            tracing::debug!("leaving out the socket {shown}");
            return Ok(());
        }
        let xattrs = ownership::read_xattrs(&fd).map_err(err)?;
        if let Some(link) = self.first_link(&st, &path) {
            // The inode's attributes went with its first name; extraction ignores a link's.
            return self.header(&Entry {
                name: path,
                link,
                flag: b'1',
                stat,
                size: 0,
                mtime: st.st_mtime,
                xattrs: Vec::new(),
            });
        }
        if stat.kind != FileKind::File {
            return self.special(path, stat, xattrs, st.st_mtime);
        }
        let size = st.st_size as u64;
        self.header(&Entry {
            name: path.clone(),
            link: Vec::new(),
            flag: b'0',
            stat,
            size,
            mtime: st.st_mtime,
            xattrs,
        })?;
        self.content(File::from(fd), &path, size)
    }

    /// The name this inode was first written under, if it was; otherwise remembers `path`
    /// for its other names.
    fn first_link(&mut self, st: &rustix::fs::Stat, path: &[u8]) -> Option<Vec<u8>> {
        if st.st_nlink < 2 {
            return None;
        }
        let key = (st.st_dev, st.st_ino);
        if let Some(first) = self.links.get(&key) {
            return Some(first.clone());
        }
        self.links.insert(key, path.to_vec());
        None
    }

    /// A fifo or device (from its placeholder or a real one).
    fn special(
        &mut self,
        path: Vec<u8>,
        stat: Stat,
        xattrs: Vec<(Vec<u8>, Vec<u8>)>,
        mtime: i64,
    ) -> Result<(), ArchiveError> {
        let flag = match stat.kind {
            FileKind::Char { .. } => b'3',
            FileKind::Block { .. } => b'4',
            FileKind::Pipe => b'6',
            _ => {
                tracing::debug!("leaving out the socket {}", entry_display(&path));
                return Ok(());
            }
        };
        self.header(&Entry {
            name: path,
            link: Vec::new(),
            flag,
            stat,
            size: 0,
            mtime,
            xattrs,
        })
    }

    /// Copies exactly `size` bytes of `file` and the padding; a file that changed size while
    /// being read is an error rather than a corrupt stream.
    fn content(&mut self, file: File, path: &[u8], size: u64) -> Result<(), ArchiveError> {
        let changed = |reason: String| ArchiveError::ContentMismatch {
            layer: self.tree.to_path_buf(),
            entry: entry_display(path),
            reason,
        };
        let read_err = |source: io::Error| ArchiveError::Io {
            path: self.tree.join(entry_display(path)),
            source,
        };
        let mut limited = file.take(size);
        let copied = match io::copy(&mut limited, &mut self.out) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WriteZero => return Err(self.write_err(e)),
            Err(e) => {
                // `io::copy` does not say which side failed: ask the writer.
                return Err(match self.out.flush() {
                    Err(w) => self.write_err(w),
                    Ok(()) => read_err(e),
                });
            }
        };
        if copied != size {
            return Err(changed(format!(
                "shrank to {copied} bytes while being archived ({size} expected)"
            )));
        }
        let mut file = limited.into_inner();
        let mut probe = [0u8; 1];
        if file.read(&mut probe).map_err(read_err)? != 0 {
            return Err(changed(format!(
                "grew beyond {size} bytes while being archived"
            )));
        }
        let pad = (512 - size % 512) % 512;
        self.out
            .write_all(&[0u8; 512][..pad as usize])
            .map_err(|e| self.write_err(e))
    }

    /// Writes the PAX record (if any) and the header block of `e`.
    fn header(&mut self, e: &Entry) -> Result<(), ArchiveError> {
        let unsupported = |what: String| ArchiveError::Unsupported {
            entry: entry_display(&e.name),
            what,
        };
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut h = tar::Header::new_ustar();
        {
            let old = h.as_old_mut();
            let n = e.name.len().min(NAME_FIELD);
            old.name[..n].copy_from_slice(&e.name[..n]);
            let n = e.link.len().min(NAME_FIELD);
            old.linkname[..n].copy_from_slice(&e.link[..n]);
        }
        if e.name.len() > NAME_FIELD {
            pax.push((b"path".to_vec(), e.name.clone()));
        }
        if e.link.len() > NAME_FIELD {
            pax.push((b"linkpath".to_vec(), e.link.clone()));
        }
        h.set_mode(e.stat.mode & 0o7777);
        let mut id = |key: &[u8], v: u32| {
            if u64::from(v) > MAX_SMALL {
                pax.push((key.to_vec(), v.to_string().into_bytes()));
                0
            } else {
                u64::from(v)
            }
        };
        let uid = id(b"uid", e.stat.uid);
        let gid = id(b"gid", e.stat.gid);
        h.set_uid(uid);
        h.set_gid(gid);
        if e.size > MAX_LARGE {
            pax.push((b"size".to_vec(), e.size.to_string().into_bytes()));
            h.set_size(0);
        } else {
            h.set_size(e.size);
        }
        match u64::try_from(e.mtime) {
            Ok(t) if t <= MAX_LARGE => h.set_mtime(t),
            _ => {
                pax.push((b"mtime".to_vec(), e.mtime.to_string().into_bytes()));
                h.set_mtime(0);
            }
        }
        h.set_entry_type(tar::EntryType::new(e.flag));
        if let FileKind::Char { major, minor } | FileKind::Block { major, minor } = e.stat.kind {
            if u64::from(major) > MAX_SMALL || u64::from(minor) > MAX_SMALL {
                return Err(unsupported(format!(
                    "device numbers {major}:{minor} do not fit a tar header"
                )));
            }
            h.set_device_major(major)
                .and_then(|()| h.set_device_minor(minor))
                .map_err(|e| unsupported(e.to_string()))?;
        }
        for (name, value) in &e.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name);
            pax.push((key, value.clone()));
        }
        h.set_cksum();
        if !pax.is_empty() {
            pax.sort();
            let record = pax_record(&pax);
            let mut ph = tar::Header::new_ustar();
            ph.set_size(record.len() as u64);
            ph.set_entry_type(tar::EntryType::XHeader);
            ph.set_cksum();
            let pad = (512 - record.len() % 512) % 512;
            self.write(ph.as_bytes())?;
            self.write(&record)?;
            self.write(&[0u8; 512][..pad])?;
        }
        self.write(h.as_bytes())?;
        self.entries += 1;
        Ok(())
    }

    fn write(&mut self, b: &[u8]) -> Result<(), ArchiveError> {
        self.out.write_all(b).map_err(|e| self.write_err(e))
    }
}

/// PAX records `"<len> <key>=<value>\n"`, the length counting itself.
fn pax_record(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut digits = 1;
        while rest + digits >= 10usize.pow(digits as u32) {
            digits += 1;
        }
        out.extend_from_slice((rest + digits).to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(key);
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_lengths_count_themselves() {
        // 1 + "5 a=\n": the length field grows from one to two digits at 10.
        assert_eq!(pax_record(&[(b"a".to_vec(), vec![])]), b"5 a=\n");
        assert_eq!(
            pax_record(&[(b"path".to_vec(), b"12".to_vec())]),
            b"11 path=12\n"
        );
        assert_eq!(
            pax_record(&[(b"path".to_vec(), b"1".to_vec())]),
            b"9 path=1\n"
        );
    }

    #[test]
    fn whiteouts_come_first() {
        let mut names: Vec<Vec<u8>> = ["b", "-x", ".wh.b", ".wh..wh..opq", "a", ".hidden"]
            .iter()
            .map(|s| s.as_bytes().to_vec())
            .collect();
        sort_children(&mut names);
        let got: Vec<&str> = names
            .iter()
            .map(|n| std::str::from_utf8(n).unwrap())
            .collect();
        assert_eq!(got, [".wh..wh..opq", ".wh.b", "-x", ".hidden", "a", "b"]);
    }
}
