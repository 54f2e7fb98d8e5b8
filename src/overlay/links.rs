//! Hardlinks across copy-up: when one name of a multiply-linked lower file is copied up, every
//! other name of it that the merged view still shows from that layer is linked to the copy in
//! the upper layer, so a write through one name is seen through the others, the link count
//! stays, and `diff`/`commit` see every changed name (as hardlinks again).
//!
//! A layer's names of each multiply-linked file come from one walk of the layer, made on the
//! first copy-up that needs it and kept for the mount's life (lower layers never change).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno as Sys;

use super::layers::{UPPER, join, rel, split};
use super::nodes::ROOT;
use super::{Found, Overlay, Result, errno};
use crate::archive::whiteout;

/// Inode number → the paths of a multiply-linked regular file in one layer.
pub(crate) type LinkIndex = HashMap<u64, Vec<Vec<u8>>>;

/// Walks the layer whose root is `root`, collecting the regular files with more than one
/// link.
fn index_layer(root: &OwnedFd) -> Result<LinkIndex> {
    let mut index = LinkIndex::new();
    let mut dirs: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(path) = dirs.pop() {
        let fd = rustix::fs::openat(
            root,
            rel(&path),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        let mut d = rustix::fs::Dir::read_from(&fd).map_err(errno)?;
        while let Some(e) = d.read() {
            let e = e.map_err(errno)?;
            let name = e.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = OsStr::from_bytes(name);
            let child = join(&path, name);
            match e.file_type() {
                FileType::Directory => dirs.push(child),
                FileType::RegularFile | FileType::Unknown => {
                    if whiteout::is_reserved(name) {
                        continue;
                    }
                    let st =
                        rustix::fs::statat(&fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(errno)?;
                    match FileType::from_raw_mode(st.st_mode) {
                        FileType::RegularFile if st.st_nlink > 1 => {
                            index.entry(st.st_ino).or_default().push(child);
                        }
                        FileType::Directory => dirs.push(child),
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
    Ok(index)
}

impl Overlay {
    /// What the merged view shows at `path` (no lookup is counted).
    pub(crate) fn resolve(&self, path: &[u8]) -> Result<Option<Found>> {
        let mut node = self.node(ROOT)?;
        let mut found = None;
        for comp in path.split(|b| *b == b'/').filter(|c| !c.is_empty()) {
            if let Some(f) = found.take() {
                let f: Found = f;
                node = f.node;
            }
            match self.find(&node, OsStr::from_bytes(comp)) {
                Ok(Some(f)) => found = Some(f),
                Ok(None) => return Ok(None),
                Err(e) if e == fuser::Errno::ENOTDIR => return Ok(None),
                Err(e) => return Err(e),
            }
        }
        Ok(found)
    }

    /// `path` of lower layer `src` (backing `st`) was just copied up: links its other names
    /// in that layer, where the merged view shows them from there, to the upper copy. The
    /// caller holds the copy-up lock.
    pub(crate) fn link_up_others(
        &self,
        src: usize,
        path: &[u8],
        st: &rustix::fs::Stat,
    ) -> Result<()> {
        if st.st_nlink <= 1 || FileType::from_raw_mode(st.st_mode) != FileType::RegularFile {
            return Ok(());
        }
        let layer = self.layers.layer(src)?;
        let index = match layer.hardlinks.get() {
            Some(i) => i,
            None => {
                let i = index_layer(layer.root())?;
                layer.hardlinks.get_or_init(|| i)
            }
        };
        let Some(names) = index.get(&st.st_ino) else {
            return Ok(());
        };
        let (cparent, cname) = split(path);
        let copy_dir = self.layers.open_dir(UPPER, cparent)?;
        for other in names.iter().filter(|n| n.as_slice() != path) {
            let Some(f) = self.resolve(other)? else {
                continue;
            };
            if f.node.layer() != src || f.node.key != (st.st_dev, st.st_ino) {
                continue;
            }
            let (oparent, oname) = split(other);
            let odir = self.upper_dir_locked(oparent)?;
            match rustix::fs::linkat(&copy_dir, cname, &odir, oname, AtFlags::empty()) {
                Ok(()) | Err(Sys::EXIST) => {}
                Err(e) => {
                    tracing::warn!(
                        "overlay: linking {:?} to the copy of {:?}: {e}",
                        String::from_utf8_lossy(other),
                        String::from_utf8_lossy(path)
                    );
                    return Err(errno(e));
                }
            }
        }
        Ok(())
    }
}
