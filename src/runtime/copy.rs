//! `cp`: files between a container and the host as a tar stream on a pipe, as Podman does.
//!
//! One side of the copy runs on the host (the command), the other in a child whose root is
//! the container's root ([`super::join::enter_root`]): a running container's mount
//! namespace (joined, with its user namespace), or a stopped one's root file system in a
//! user namespace of the container's mapping. Paths inside the container are therefore
//! resolved by the kernel against the container's root: an absolute symlink or a `..` in
//! the container stops at its root and never reaches the host. Host paths are only opened
//! by the command, container paths only by the child.
//!
//! Naming follows `docker cp`: a destination directory that exists receives the source
//! under its own name (a source ending in `/.` gives its contents instead); a destination
//! that does not exist (its parent must) becomes the copy; a file may replace a file, never
//! a directory a file or the other way round. Copied into a container, files belong to
//! the container's user (`--archive`, the default) or keep the ids of the tar
//! (`--archive=false`; an id the container's user namespace does not map is refused), with
//! set-id bits kept; copied out, to the calling user, or in a tar stream on standard output
//! as the container sees them (the true owners where its root cannot show them).

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Component, Path, PathBuf};

/// What a destination path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DestKind {
    Dir,
    File,
    /// Absent, in a directory that exists.
    Missing,
}

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{0}: no such file or directory")]
    NotFound(String),
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("cannot overwrite non-directory {0} with a directory")]
    DirOntoFile(String),
    #[error("{0}: the destination of a tar stream must be a directory")]
    NotADir(String),
    #[error("{0}: a path in the tar stream leaves the destination")]
    Escapes(String),
    #[error(
        "{path}: the owner {uid}:{gid} of the tar stream is not mapped in the container's user \
         namespace (copy with --archive to give it to the container's user)"
    )]
    Unmapped { path: String, uid: u64, gid: u64 },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CopyError + use<> {
    let path = path.display().to_string();
    move |source| CopyError::Io { path, source }
}

/// Whether `path` asks for a directory's contents (`dir/.`).
pub fn wants_contents(path: &str) -> bool {
    path == "." || path.ends_with("/.")
}

/// The kind of `path`, following a symlink (a destination is followed, as `cp` does).
pub fn dest_kind(path: &Path) -> Result<DestKind, CopyError> {
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Ok(DestKind::Dir),
        Ok(_) => Ok(DestKind::File),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let parent = parent_of(path);
            match fs::metadata(&parent) {
                Ok(m) if m.is_dir() => Ok(DestKind::Missing),
                _ => Err(CopyError::NotFound(parent.display().to_string())),
            }
        }
        Err(e) => Err(io_err(path)(e)),
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ if path.is_absolute() => PathBuf::from("/"),
        _ => PathBuf::from("."),
    }
}

/// The name a source is copied under: its last component (`/` for the root).
pub fn base_name(path: &Path) -> OsString {
    path.file_name()
        .map(OsStr::to_os_string)
        .unwrap_or_else(|| OsString::from("."))
}

/// Where a source goes for a destination `dest` of `kind`: the directory to extract in, and
/// the name the source's top entry takes there (`None`: its own name; `.` for contents).
pub fn placement(
    dest: &Path,
    kind: DestKind,
    contents: bool,
    source_is_dir: bool,
) -> Result<(PathBuf, Option<OsString>), CopyError> {
    match kind {
        DestKind::Dir if contents => Ok((dest.to_path_buf(), Some(".".into()))),
        DestKind::Dir => Ok((dest.to_path_buf(), None)),
        DestKind::File if source_is_dir => Err(CopyError::DirOntoFile(dest.display().to_string())),
        DestKind::File | DestKind::Missing => Ok((parent_of(dest), Some(base_name(dest)))),
    }
}

/// Whether the source `path` is a directory, following a symlink only when the path ends
/// in `/` or `/.` (a symlink itself is copied otherwise).
pub fn source_is_dir(path: &str) -> Result<bool, CopyError> {
    let p = Path::new(path);
    let follow = path.ends_with('/') || wants_contents(path);
    let meta = if follow {
        fs::metadata(p)
    } else {
        fs::symlink_metadata(p)
    };
    match meta {
        Ok(m) => Ok(m.is_dir()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(CopyError::NotFound(path.into())),
        Err(e) => Err(io_err(p)(e)),
    }
}

/// Writes a tar of the source `path` to `out`, its top entry named `top` (or its own name).
pub fn write_tar(path: &str, top: Option<&OsStr>, out: impl Write) -> Result<(), CopyError> {
    let p = Path::new(path);
    let name = top.map(OsStr::to_os_string).unwrap_or_else(|| base_name(p));
    let mut b = tar::Builder::new(out);
    b.follow_symlinks(false);
    b.mode(tar::HeaderMode::Complete);
    let dir = source_is_dir(path)?;
    let res = if dir {
        b.append_dir_all(&name, p)
    } else {
        b.append_path_with_name(p, &name)
    };
    res.and_then(|()| b.finish()).map_err(io_err(p))
}

/// [`write_tar`] in the container's root (`/` is its root): each entry's owner as the
/// container sees it, or the true one from `owners` (by path from the root without the
/// leading `/`, `diff::container::true_owners`) where the root file system cannot show it,
/// for the entries of the root's own mount (a volume's files are its own); entries in
/// name order.
pub fn write_tar_owned(
    path: &str,
    top: Option<&OsStr>,
    owners: &HashMap<Vec<u8>, (u32, u32)>,
    out: impl Write,
) -> Result<(), CopyError> {
    let p = Path::new(path);
    let name = top.map(OsStr::to_os_string).unwrap_or_else(|| base_name(p));
    let follow = source_is_dir(path)?;
    let real = real_path(p, follow).map_err(io_err(p))?;
    let root_mount = (!owners.is_empty())
        .then(|| mount_id(Path::new("/")))
        .transpose()
        .map_err(io_err(Path::new("/")))?;
    let mut b = tar::Builder::new(out);
    let mut stack = vec![(p.to_path_buf(), real, PathBuf::from(&name))];
    let mut first = true;
    while let Some((src, real, rel)) = stack.pop() {
        let meta = if std::mem::take(&mut first) && follow {
            fs::metadata(&src)
        } else {
            fs::symlink_metadata(&src)
        }
        .map_err(io_err(&src))?;
        let owner = match root_mount {
            Some(root) if mount_id(&src).map_err(io_err(&src))? == root => {
                let key = real.strip_prefix("/").unwrap_or(&real);
                owners.get(key.as_os_str().as_bytes()).copied()
            }
            _ => None,
        };
        append_entry(&mut b, &src, &rel, &meta, owner, None).map_err(io_err(&src))?;
        if meta.is_dir() {
            let mut names: Vec<OsString> = fs::read_dir(&src)
                .map_err(io_err(&src))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<io::Result<_>>()
                .map_err(io_err(&src))?;
            names.sort();
            for n in names.into_iter().rev() {
                stack.push((src.join(&n), real.join(&n), rel.join(&n)));
            }
        }
    }
    b.finish().map_err(io_err(p))
}

/// Where `path` really is from the root: its parent resolved (and itself, when `follow`).
fn real_path(path: &Path, follow: bool) -> io::Result<PathBuf> {
    if follow {
        return fs::canonicalize(path);
    }
    match path.file_name() {
        Some(n) => Ok(fs::canonicalize(parent_of(path))?.join(n)),
        None => fs::canonicalize(path),
    }
}

/// The id of the mount `path` (not followed) is on: bind mounts of one file system share a
/// device number, not a mount id.
fn mount_id(path: &Path) -> io::Result<u64> {
    use rustix::fs::{AtFlags, CWD, StatxFlags};
    let st = rustix::fs::statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::MNT_ID)?;
    Ok(st.stx_mnt_id)
}

/// Writes a tar of the whole file system below `/` (the container's root, in the child) to
/// `out`, for `export`: owners as the container sees them unless `owners` has the true ones
/// (by path without the leading `/`), entries sorted by name, a file linked more than once
/// as one file and hard links to it. Other file systems mounted in it (a running
/// container's `/proc`, `/dev`, `/sys`, its `/etc` files) are not entered: a directory
/// mount point is written as the directory it is, a file one is left out.
pub fn write_root_tar(
    out: impl Write,
    owners: &HashMap<Vec<u8>, (u32, u32)>,
) -> Result<(), CopyError> {
    use std::os::unix::fs::MetadataExt as _;

    let root = Path::new("/");
    let dev = fs::symlink_metadata(root).map_err(io_err(root))?.dev();
    let mut b = tar::Builder::new(out);
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut stack = vec![PathBuf::from("/")];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<OsString> = fs::read_dir(&dir)
            .map_err(io_err(&dir))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()
            .map_err(io_err(&dir))?;
        names.sort();
        // Depth first, in name order: children are pushed in reverse.
        let mut subdirs = Vec::new();
        for name in names {
            let path = dir.join(&name);
            let meta = fs::symlink_metadata(&path).map_err(io_err(&path))?;
            let mounted = meta.dev() != dev;
            if mounted && !meta.is_dir() {
                continue;
            }
            let rel = path.strip_prefix(root).unwrap_or(&path).to_path_buf();
            let owner = owners.get(rel.as_os_str().as_bytes()).copied();
            append_entry(&mut b, &path, &rel, &meta, owner, Some(&mut links))
                .map_err(io_err(&path))?;
            if meta.is_dir() && !mounted {
                subdirs.push(path);
            }
        }
        stack.extend(subdirs.into_iter().rev());
    }
    b.finish().map_err(io_err(root))
}

/// One entry of a tar: its header from `meta` (ids replaced by `owner`); with `links`, a
/// link to the first path of an inode seen before (`cp`'s extraction, which may rename the
/// top entry, takes every file as a file).
fn append_entry(
    b: &mut tar::Builder<impl Write>,
    path: &Path,
    rel: &Path,
    meta: &fs::Metadata,
    owner: Option<(u32, u32)>,
    links: Option<&mut HashMap<(u64, u64), PathBuf>>,
) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt as _;

    let mut h = tar::Header::new_gnu();
    h.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    if let Some((uid, gid)) = owner {
        h.set_uid(uid.into());
        h.set_gid(gid.into());
    }
    let ft = meta.file_type();
    if let Some(links) = links
        && ft.is_file()
        && meta.nlink() > 1
    {
        let key = (meta.dev(), meta.ino());
        if let Some(first) = links.get(&key) {
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            return b.append_link(&mut h, rel, first);
        }
        links.insert(key, rel.to_path_buf());
    }
    if ft.is_file() {
        b.append_data(&mut h, rel, File::open(path)?)
    } else if ft.is_symlink() {
        let target = fs::read_link(path)?;
        b.append_link(&mut h, rel, target)
    } else {
        h.set_size(0);
        b.append_data(&mut h, rel, io::empty())
    }
}

/// How extracted entries get their owners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Owners {
    /// Created by the extracting process (the calling user on the host).
    Caller,
    /// The ids in the tar headers.
    FromTar,
    /// These ids (`--archive`: the container's user).
    Set(u32, u32),
}

/// Extracts the tar `input` into `dir`, its top-level component renamed to `rename` (if
/// any). Every entry must stay inside `dir`: `..` components and absolute names are
/// refused, and entries are placed with the tar crate's `unpack_in` checks where their
/// names are kept.
pub fn extract(
    input: impl Read,
    dir: &Path,
    rename: Option<&OsStr>,
    owners: Owners,
) -> Result<(), CopyError> {
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_preserve_mtime(true);
    archive.set_overwrite(true);
    // Owners are given here (`own`), where an id the namespace does not map is a clear error.
    archive.set_preserve_ownerships(false);
    let entries = archive.entries().map_err(io_err(dir))?;
    for entry in entries {
        let mut entry = entry.map_err(io_err(dir))?;
        let name = entry.path().map_err(io_err(dir))?.into_owned();
        let header = entry.header();
        let ids = (header.uid().unwrap_or(0), header.gid().unwrap_or(0));
        let mode = header.mode().unwrap_or(0);
        let symlink = header.entry_type().is_symlink();
        let target = match rename {
            None => {
                if !entry.unpack_in(dir).map_err(io_err(&dir.join(&name)))? {
                    return Err(CopyError::Escapes(name.display().to_string()));
                }
                dir.join(&name)
            }
            Some(new) => {
                let rel = renamed(&name, new)
                    .ok_or_else(|| CopyError::Escapes(name.display().to_string()))?;
                let target = dir.join(&rel);
                entry.unpack(&target).map_err(io_err(&target))?;
                target
            }
        };
        let (uid, gid) = match owners {
            Owners::Caller => continue,
            Owners::Set(uid, gid) => (uid.into(), gid.into()),
            Owners::FromTar => ids,
        };
        own(&target, uid, gid, (!symlink).then_some(mode))?;
    }
    Ok(())
}

/// Gives `target` to `uid`:`gid`, then its `mode` again when it has set-id bits (a chown
/// clears them).
fn own(target: &Path, uid: u64, gid: u64, mode: Option<u32>) -> Result<(), CopyError> {
    let unmapped = || CopyError::Unmapped {
        path: target.display().to_string(),
        uid,
        gid,
    };
    let (Ok(u), Ok(g)) = (u32::try_from(uid), u32::try_from(gid)) else {
        return Err(unmapped());
    };
    match std::os::unix::fs::lchown(target, Some(u), Some(g)) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Err(unmapped()),
        res => res.map_err(io_err(target))?,
    }
    if let Some(mode) = mode.filter(|m| m & 0o6000 != 0) {
        use std::os::unix::fs::PermissionsExt as _;
        fs::set_permissions(target, fs::Permissions::from_mode(mode & 0o7777))
            .map_err(io_err(target))?;
    }
    Ok(())
}

/// `name` with its first component replaced by `new` (`.` keeps it in place); `None` for a
/// name with `..` or a root.
fn renamed(name: &Path, new: &OsStr) -> Option<PathBuf> {
    let mut parts = name
        .components()
        .filter(|c| !matches!(c, Component::CurDir));
    let mut out = PathBuf::from(new);
    parts.next()?;
    for c in parts {
        match c {
            Component::Normal(n) => out.push(n),
            _ => return None,
        }
    }
    if out.as_os_str().as_bytes().starts_with(b"/") {
        return None;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_id_bits_survive_the_chown() {
        use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
        let tmp = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o4755);
        b.append_data(&mut h, "suid", &b"x"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let (uid, gid) = (rustix::process::getuid(), rustix::process::getgid());
        extract(
            &tar[..],
            tmp.path(),
            None,
            Owners::Set(uid.as_raw(), gid.as_raw()),
        )
        .unwrap();
        let m = fs::metadata(tmp.path().join("suid")).unwrap();
        assert_eq!(m.permissions().mode() & 0o7777, 0o4755);
        assert_eq!(m.uid(), uid.as_raw());
    }

    #[test]
    fn names_are_renamed_inside() {
        let r = |n: &str| renamed(Path::new(n), OsStr::new("new"));
        assert_eq!(r("old"), Some(PathBuf::from("new")));
        assert_eq!(r("old/a/b"), Some(PathBuf::from("new/a/b")));
        assert_eq!(r("./old/a"), Some(PathBuf::from("new/a")));
        assert_eq!(r("old/../../x"), None);
        assert_eq!(r(""), None);
    }

    #[test]
    fn placements_as_docker_cp() {
        let d = Path::new("/d/x");
        assert_eq!(
            placement(d, DestKind::Dir, false, true).unwrap(),
            (PathBuf::from("/d/x"), None)
        );
        assert_eq!(
            placement(d, DestKind::Dir, true, true).unwrap(),
            (PathBuf::from("/d/x"), Some(".".into()))
        );
        assert_eq!(
            placement(d, DestKind::Missing, false, true).unwrap(),
            (PathBuf::from("/d"), Some("x".into()))
        );
        assert_eq!(
            placement(d, DestKind::File, false, false).unwrap(),
            (PathBuf::from("/d"), Some("x".into()))
        );
        assert!(placement(d, DestKind::File, false, true).is_err());
    }

    #[test]
    fn a_tree_round_trips_and_escapes_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir_all(src.join("sub")).unwrap();
        fs::write(src.join("sub/f"), "data").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.join("link")).unwrap();
        let mut tar = Vec::new();
        write_tar(src.to_str().unwrap(), None, &mut tar).unwrap();
        let out = tmp.path().join("out");
        fs::create_dir(&out).unwrap();
        extract(&tar[..], &out, None, Owners::Caller).unwrap();
        assert_eq!(fs::read_to_string(out.join("src/sub/f")).unwrap(), "data");
        assert_eq!(
            fs::read_link(out.join("src/link")).unwrap(),
            Path::new("/etc/passwd")
        );
        extract(&tar[..], &out, Some(OsStr::new("copy")), Owners::Caller).unwrap();
        assert_eq!(fs::read_to_string(out.join("copy/sub/f")).unwrap(), "data");

        // A symlink to outside, then a file through it: refused, nothing written outside.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        b.append_link(&mut h, "evil", tmp.path()).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        b.append_data(&mut h, "evil/escaped", &b"x"[..]).unwrap();
        let tar = b.into_inner().unwrap();
        let out2 = tmp.path().join("out2");
        fs::create_dir(&out2).unwrap();
        assert!(extract(&tar[..], &out2, None, Owners::Caller).is_err());
        assert!(!tmp.path().join("escaped").exists());
    }
}
