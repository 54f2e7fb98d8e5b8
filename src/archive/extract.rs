//! Extracting one layer stream into `layer_dir/diff/` without privileges.
//!
//! Order per entry: clean the name (refusing `..`, absolute paths, NUL), resolve the parent
//! beneath the root ([`super::resolve`]), create the final component without following it
//! (`O_EXCL`/`O_NOFOLLOW`, `mkdirat`, `symlinkat`, `linkat` without `AT_SYMLINK_FOLLOW`),
//! replacing what is there as tar does: a later entry replaces an earlier non-directory, a
//! directory over a directory only updates its metadata. Then the true metadata goes into
//! `user.coracle.stat` when it is not the default ([`super::ownership`]), and the mtime is set.
//! Directory mtimes are set at the very end, after their contents stopped changing.
//!
//! A replaced file whose content the tar-split record points at is moved to
//! `layer_dir/shadowed/<index>` instead of being deleted, so the stream still reassembles.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timestamps, XattrFlags};
use rustix::io::Errno;

use super::ownership::{self, FileKind, Stat, XattrName};
use super::pipeline::with_hashing_reader;
use super::resolve::{self, DIR_FLAGS, PHYSICAL, Tree, is_under, join};
use super::split::{SHADOW_DIR, SPLIT_FILE, SplitWriter};
use super::stream::{Header, Kind, TarStream, Time};
use super::symlinks::{SymlinkMeta, SymlinkTable};
use super::{ArchiveError, ExtractSummary, Refusal, entry_display};

/// The extracted tree inside `layer_dir`.
pub const DIFF_DIR: &str = "diff";

/// Extracts the uncompressed layer stream `tar` into `layer_dir` (which exists and is empty),
/// reading it to end of stream. On error `layer_dir` holds a partial tree: the caller discards
/// its staging directory.
pub fn extract_layer<R: Read>(tar: R, layer_dir: &Path) -> Result<ExtractSummary, ArchiveError> {
    let io_err = |path: PathBuf| move |source| ArchiveError::Io { path, source };
    let diff = layer_dir.join(DIFF_DIR);
    std::fs::create_dir(&diff).map_err(io_err(diff.clone()))?;
    // The root is root:root 0755 unless the tar says otherwise, whatever the umask.
    if resolve::umask() & 0o755 != 0 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&diff, std::fs::Permissions::from_mode(0o755))
            .map_err(io_err(diff.clone()))?;
    }
    let split_path = layer_dir.join(SPLIT_FILE);
    let split_err = |source| ArchiveError::Io {
        path: split_path.clone(),
        source,
    };
    let mut split = SplitWriter::create(&split_path).map_err(split_err)?;
    let mut x = Extractor::new(layer_dir, &diff)?;
    // sha256 runs on a second thread over the same buffers (see `pipeline`).
    let (result, diff_id, tar_size) = with_hashing_reader(tar, |reader| {
        let mut stream = TarStream::new(reader);
        let mut entries = 0;
        while let Some(h) = stream.next(split.raw_buf())? {
            x.entry(&h, &mut stream, &mut split)?;
            split.maybe_flush().map_err(split_err)?;
            entries += 1;
        }
        stream.rest(|b| split.raw(b).map_err(split_err))?;
        Ok::<_, ArchiveError>(entries)
    })
    .map_err(|source| ArchiveError::Read {
        entry: "layer stream".into(),
        source,
    })?;
    let entries = result?;
    split.finish(tar_size, &diff_id).map_err(split_err)?;
    x.finish()?;
    Ok(ExtractSummary {
        diff_id,
        tar_size,
        entries,
    })
}

/// A cleaned entry name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Clean {
    Root,
    Rel(Vec<u8>),
}

/// Normalises `name` (`./` prefixes, repeated or trailing `/`), refusing names that could
/// leave the root lexically. `/` alone names the root; other absolute names are refused.
pub(crate) fn clean_path(name: &[u8]) -> Result<Clean, Refusal> {
    if name.is_empty() {
        return Err(Refusal::EmptyName);
    }
    if name.contains(&0) {
        return Err(Refusal::NulInName);
    }
    let mut out = Vec::with_capacity(name.len());
    for comp in name.split(|b| *b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err(Refusal::DotDot),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        return Ok(Clean::Root);
    }
    if name[0] == b'/' {
        return Err(Refusal::Absolute);
    }
    Ok(Clean::Rel(out))
}

struct Extractor {
    layer_dir: PathBuf,
    split_path: PathBuf,
    tree: Tree,
    umask: u32,
    /// Physical path -> entry index of every file whose content the record points at.
    content: HashMap<Vec<u8>, u64>,
    /// Physical path -> (atime, mtime) of directories, applied at the end.
    dir_times: HashMap<Vec<u8>, (Time, Time)>,
    symlinks: SymlinkTable,
    shadow: Option<OwnedFd>,
}

/// Where an entry goes: its parent directory, its name there and its physical path.
#[derive(Clone, Copy)]
struct Target<'a> {
    parent: BorrowedFd<'a>,
    base: &'a [u8],
    phys: &'a [u8],
}

/// What became of an existing entry where a new one goes.
#[derive(PartialEq, Eq)]
enum Existing {
    Removed,
    /// Both are directories: the old one stays.
    KeptDir,
}

const CREATE_FLAGS: OFlags = OFlags::WRONLY
    .union(OFlags::CREATE)
    .union(OFlags::EXCL)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);
const NOFOLLOW_DIR: OFlags = DIR_FLAGS.union(OFlags::NOFOLLOW);

impl Extractor {
    fn new(layer_dir: &Path, diff: &Path) -> Result<Self, ArchiveError> {
        let umask = resolve::umask();
        let tree = Tree::open(diff, umask).map_err(|source| ArchiveError::Io {
            path: diff.to_path_buf(),
            source,
        })?;
        Ok(Extractor {
            layer_dir: layer_dir.to_path_buf(),
            split_path: layer_dir.join(SPLIT_FILE),
            tree,
            umask,
            content: HashMap::new(),
            dir_times: HashMap::new(),
            symlinks: SymlinkTable::default(),
            shadow: None,
        })
    }

    fn entry<R: BufRead>(
        &mut self,
        h: &Header,
        stream: &mut TarStream<R>,
        split: &mut SplitWriter,
    ) -> Result<(), ArchiveError> {
        let name = entry_display(&h.name);
        let refuse = |reason| ArchiveError::Refused {
            entry: name.clone(),
            reason,
        };
        let extract_err = |e: Errno| ArchiveError::Extract {
            entry: name.clone(),
            source: e.into(),
        };
        let stat = entry_stat(h).map_err(refuse)?;
        let xattrs = entry_xattrs(h).map_err(refuse)?;
        let times = (h.atime.unwrap_or(h.mtime), h.mtime);

        let rel = match clean_path(&h.name).map_err(refuse)? {
            Clean::Root => {
                if h.kind != Kind::Dir {
                    return Err(refuse(Refusal::RootTypeChange));
                }
                let root = self.tree.root();
                set_meta(root, &stat, &xattrs, true, self.umask).map_err(extract_err)?;
                self.dir_times.insert(Vec::new(), times);
                return stream.padding(h, split.raw_buf());
            }
            Clean::Rel(rel) => rel,
        };
        let (parent, base) = match rel.iter().rposition(|b| *b == b'/') {
            Some(i) => (&rel[..i], &rel[i + 1..]),
            None => (&b""[..], &rel[..]),
        };
        let dir = self.tree.take_parent(parent).map_err(|e| match e {
            Errno::XDEV => refuse(Refusal::Escapes),
            e => extract_err(e),
        })?;
        let phys = join(&dir.phys, base);
        let t = Target {
            parent: dir.fd.as_fd(),
            base,
            phys: &phys,
        };
        let result = match h.kind {
            Kind::Regular | Kind::Char | Kind::Block | Kind::Fifo => {
                self.file(t, h, &stat, &xattrs, stream, split)
            }
            Kind::Dir => self.dir(t, &stat, &xattrs).map_err(extract_err),
            Kind::Symlink if h.link.contains(&0) => Err(refuse(Refusal::NulInLinkTarget)),
            Kind::Symlink => self.symlink(t, h, stat).map_err(extract_err),
            Kind::Hardlink => self.hardlink(t, h, &name),
        };
        self.tree.put_back(dir);
        result?;
        if h.kind == Kind::Dir {
            self.dir_times.insert(phys, times);
        }
        stream.padding(h, split.raw_buf())
    }

    /// Regular files and the placeholders of devices and fifos.
    fn file<R: BufRead>(
        &mut self,
        t: Target<'_>,
        h: &Header,
        stat: &Stat,
        xattrs: &[(XattrName<'_>, &[u8])],
        stream: &mut TarStream<R>,
        split: &mut SplitWriter,
    ) -> Result<(), ArchiveError> {
        let extract_err = |e: Errno| ArchiveError::Extract {
            entry: entry_display(&h.name),
            source: e.into(),
        };
        let disk_mode = stat.disk_mode();
        let fd = self
            .create(t, false, |t| {
                rustix::fs::openat(
                    t.parent,
                    t.base,
                    CREATE_FLAGS,
                    Mode::from_raw_mode(disk_mode),
                )
            })
            .map_err(extract_err)?;
        let mut file = File::from(fd);
        if h.size > 0 {
            split
                .file(h.index, t.phys, h.size)
                .map_err(|source| ArchiveError::Io {
                    path: self.split_path.clone(),
                    source,
                })?;
            stream.content(h, |chunk| {
                file.write_all(chunk)
                    .map_err(|source| ArchiveError::Extract {
                        entry: entry_display(&h.name),
                        source,
                    })
            })?;
            self.content.insert(t.phys.to_vec(), h.index);
        }
        set_meta(file.as_fd(), stat, xattrs, false, self.umask).map_err(extract_err)?;
        rustix::fs::futimens(&file, &timestamps(h.atime.unwrap_or(h.mtime), h.mtime))
            .map_err(extract_err)
    }

    fn dir(
        &mut self,
        t: Target<'_>,
        stat: &Stat,
        xattrs: &[(XattrName<'_>, &[u8])],
    ) -> Result<(), Errno> {
        let disk_mode = stat.disk_mode();
        let mkdir =
            |t: Target<'_>| rustix::fs::mkdirat(t.parent, t.base, Mode::from_raw_mode(disk_mode));
        let existed = match mkdir(t) {
            Ok(()) => false,
            Err(Errno::EXIST) => match self.remove_existing(t, true)? {
                Existing::KeptDir => true,
                Existing::Removed => {
                    mkdir(t)?;
                    false
                }
            },
            Err(e) => return Err(e),
        };
        if existed || stat.needs_xattr() || !xattrs.is_empty() || disk_mode & self.umask != 0 {
            let fd = rustix::fs::openat(t.parent, t.base, NOFOLLOW_DIR, Mode::empty())?;
            set_meta(fd.as_fd(), stat, xattrs, existed, self.umask)?;
        }
        Ok(())
    }

    fn symlink(&mut self, t: Target<'_>, h: &Header, stat: Stat) -> Result<(), Errno> {
        self.create(t, false, |t| {
            rustix::fs::symlinkat(h.link.as_slice(), t.parent, t.base)
        })?;
        let times = timestamps(h.atime.unwrap_or(h.mtime), h.mtime);
        rustix::fs::utimensat(t.parent, t.base, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        let mut xattrs: Vec<(Vec<u8>, Vec<u8>)> = h.xattrs.clone();
        xattrs.sort();
        self.symlinks.set(t.phys, SymlinkMeta { stat, xattrs });
        Ok(())
    }

    /// A hardlink to an earlier entry of this layer. Its header's metadata is not applied:
    /// the inode keeps its own.
    fn hardlink(&mut self, t: Target<'_>, h: &Header, name: &str) -> Result<(), ArchiveError> {
        let refuse = |reason| ArchiveError::Refused {
            entry: name.to_string(),
            reason,
        };
        let extract_err = |e: Errno| ArchiveError::Extract {
            entry: name.to_string(),
            source: e.into(),
        };
        let target = match clean_path(&h.link) {
            Ok(Clean::Rel(target)) => target,
            Ok(Clean::Root) => {
                return Err(refuse(Refusal::HardlinkTarget("is the root directory")));
            }
            Err(Refusal::EmptyName) => return Err(refuse(Refusal::HardlinkTarget("is empty"))),
            Err(Refusal::NulInName) => return Err(refuse(Refusal::HardlinkTarget("contains NUL"))),
            Err(_) => return Err(refuse(Refusal::HardlinkTarget("leaves the layer"))),
        };
        let (tparent, tbase) = match target.iter().rposition(|b| *b == b'/') {
            Some(i) => (&target[..i], &target[i + 1..]),
            None => (&b""[..], &target[..]),
        };
        let tdir = self.tree.open_dir(tparent).map_err(|e| match e {
            Errno::XDEV => refuse(Refusal::HardlinkTarget("leaves the layer")),
            Errno::NOENT | Errno::NOTDIR => {
                refuse(Refusal::HardlinkTarget("is not an earlier entry"))
            }
            e => extract_err(e),
        })?;
        let tphys = join(&tdir.phys, tbase);
        if tphys == t.phys {
            // A link to itself: nothing to do.
            return Ok(());
        }
        let linked = self.create(t, false, |t| {
            rustix::fs::linkat(&tdir.fd, tbase, t.parent, t.base, AtFlags::empty())
        });
        match linked {
            Ok(()) => {}
            Err(Errno::NOENT) => {
                return Err(refuse(Refusal::HardlinkTarget("is not an earlier entry")));
            }
            Err(Errno::PERM) => return Err(refuse(Refusal::HardlinkTarget("is a directory"))),
            Err(e) => return Err(extract_err(e)),
        }
        if let Some(meta) = self.symlinks.get(&tphys).cloned() {
            self.symlinks.set(t.phys, meta);
        }
        Ok(())
    }

    /// Runs `make`; if the name exists, replaces it as tar does and runs `make` again.
    fn create<T>(
        &mut self,
        t: Target<'_>,
        is_dir: bool,
        make: impl Fn(Target<'_>) -> Result<T, Errno>,
    ) -> Result<T, Errno> {
        match make(t) {
            Err(Errno::EXIST) => {
                self.remove_existing(t, is_dir)?;
                make(t)
            }
            other => other,
        }
    }

    /// Removes whatever is at `t` unless both it and the new entry are directories.
    fn remove_existing(&mut self, t: Target<'_>, new_is_dir: bool) -> Result<Existing, Errno> {
        let st = rustix::fs::statat(t.parent, t.base, AtFlags::SYMLINK_NOFOLLOW)?;
        let ft = FileType::from_raw_mode(st.st_mode);
        if ft == FileType::Directory {
            if new_is_dir {
                return Ok(Existing::KeptDir);
            }
            self.remove_tree(t)?;
            self.dir_times.retain(|p, _| !is_under(p, t.phys));
            self.symlinks.remove_tree(t.phys);
        } else {
            self.remove_one(t, ft)?;
        }
        self.tree.invalidate();
        Ok(Existing::Removed)
    }

    /// Removes a non-directory; a file the record points at moves to `shadowed/`.
    fn remove_one(&mut self, t: Target<'_>, ft: FileType) -> Result<(), Errno> {
        if ft == FileType::RegularFile
            && let Some(index) = self.content.remove(t.phys)
        {
            let shadow = self.shadow_dir()?;
            return rustix::fs::renameat(t.parent, t.base, shadow, index.to_string());
        }
        if ft == FileType::Symlink {
            self.symlinks.remove(t.phys);
        }
        rustix::fs::unlinkat(t.parent, t.base, AtFlags::empty())
    }

    fn remove_tree(&mut self, t: Target<'_>) -> Result<(), Errno> {
        let fd = rustix::fs::openat(t.parent, t.base, NOFOLLOW_DIR, Mode::empty())?;
        let mut children = Vec::new();
        for entry in rustix::fs::Dir::read_from(&fd)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                children.push((name.to_vec(), entry.file_type()));
            }
        }
        for (name, mut ft) in children {
            if ft == FileType::Unknown {
                let st = rustix::fs::statat(&fd, name.as_slice(), AtFlags::SYMLINK_NOFOLLOW)?;
                ft = FileType::from_raw_mode(st.st_mode);
            }
            let phys = join(t.phys, &name);
            let child = Target {
                parent: fd.as_fd(),
                base: &name,
                phys: &phys,
            };
            if ft == FileType::Directory {
                self.remove_tree(child)?;
            } else {
                self.remove_one(child, ft)?;
            }
        }
        drop(fd);
        rustix::fs::unlinkat(t.parent, t.base, AtFlags::REMOVEDIR)
    }

    fn shadow_dir(&mut self) -> Result<BorrowedFd<'_>, Errno> {
        if self.shadow.is_none() {
            let path = self.layer_dir.join(SHADOW_DIR);
            match rustix::fs::mkdir(&path, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(e),
            }
            self.shadow = Some(rustix::fs::open(&path, NOFOLLOW_DIR, Mode::empty())?);
        }
        match &self.shadow {
            Some(fd) => Ok(fd.as_fd()),
            None => Err(Errno::NOENT),
        }
    }

    /// Sets directory mtimes, now that their contents are final, and writes the symlink table.
    fn finish(self) -> Result<(), ArchiveError> {
        for (phys, (atime, mtime)) in &self.dir_times {
            let err = |e: Errno| ArchiveError::Extract {
                entry: entry_display(phys),
                source: e.into(),
            };
            let ts = timestamps(*atime, *mtime);
            if phys.is_empty() {
                rustix::fs::futimens(self.tree.root(), &ts).map_err(err)?;
                continue;
            }
            match resolve::openat2_retry(self.tree.root(), phys, NOFOLLOW_DIR, PHYSICAL) {
                Ok(fd) => rustix::fs::futimens(&fd, &ts).map_err(err)?,
                // Replaced since by something else; its metadata went with it.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {}
                Err(e) => return Err(err(e)),
            }
        }
        self.symlinks.store(&self.layer_dir)
    }
}

/// Writes the ownership attribute, the image's attributes and, where the umask took bits
/// away or the object existed, the on-disk mode.
fn set_meta(
    fd: BorrowedFd<'_>,
    stat: &Stat,
    xattrs: &[(XattrName<'_>, &[u8])],
    existed: bool,
    umask: u32,
) -> Result<(), Errno> {
    ownership::write_stat(fd, stat, existed)?;
    for (name, value) in xattrs {
        rustix::fs::fsetxattr(fd, name.as_bytes(), value, XattrFlags::empty())?;
    }
    let disk_mode = stat.disk_mode();
    if existed || disk_mode & umask != 0 {
        rustix::fs::fchmod(fd, Mode::from_raw_mode(disk_mode))?;
    }
    Ok(())
}

/// The true metadata the header describes.
fn entry_stat(h: &Header) -> Result<Stat, Refusal> {
    let uid = u32::try_from(h.uid).map_err(|_| Refusal::IdOutOfRange(h.uid))?;
    let gid = u32::try_from(h.gid).map_err(|_| Refusal::IdOutOfRange(h.gid))?;
    let kind = match h.kind {
        Kind::Regular | Kind::Hardlink => FileKind::File,
        Kind::Dir => FileKind::Dir,
        Kind::Symlink => FileKind::Symlink,
        Kind::Fifo => FileKind::Pipe,
        Kind::Char => FileKind::Char {
            major: h.dev_major,
            minor: h.dev_minor,
        },
        Kind::Block => FileKind::Block {
            major: h.dev_major,
            minor: h.dev_minor,
        },
    };
    Ok(Stat {
        uid,
        gid,
        mode: h.mode & 0o7777,
        kind,
    })
}

/// The header's extended attributes with their on-disk names.
fn entry_xattrs(h: &Header) -> Result<Vec<(XattrName<'_>, &[u8])>, Refusal> {
    h.xattrs
        .iter()
        .map(|(name, value)| match ownership::stored_xattr_name(name) {
            Some(stored) => Ok((stored, value.as_slice())),
            None if name.starts_with(ownership::RESERVED_PREFIX.as_bytes()) => {
                Err(Refusal::ReservedXattr(entry_display(name)))
            }
            None => Err(Refusal::BadXattrName(entry_display(name))),
        })
        .collect()
}

fn timestamps(atime: Time, mtime: Time) -> Timestamps {
    let ts = |t: Time| rustix::fs::Timespec {
        tv_sec: t.secs,
        tv_nsec: t.nanos.into(),
    };
    Timestamps {
        last_access: ts(atime),
        last_modification: ts(mtime),
    }
}
