//! Extended attributes as the container sees them: the image's names (`user.*` as stored,
//! `security.capability` and other unsettable ones from `user.coracle.xattr.<name>`), never
//! coracle's own `user.coracle.*` metadata, which can be neither read nor set from inside
//! (`crate::archive::ownership` maps the names). Symlinks keep theirs in the symlink table.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use rustix::fs::XattrFlags;
use rustix::io::Errno as Sys;

use super::copyup::get_raw_xattr;
use super::creds::Requester;
use super::layers::UPPER;
use super::{Overlay, Result, errno};
use crate::archive::FileKind;
use crate::archive::ownership::{read_xattrs, stored_xattr_name};

impl Overlay {
    pub(crate) fn getxattr(&self, ino: u64, name: &OsStr) -> Result<Vec<u8>> {
        let stored = stored_xattr_name(name.as_bytes()).ok_or(fuser::Errno::NO_XATTR)?;
        let node = self.node(ino)?;
        if node.kind == FileKind::Symlink {
            let meta = self.layers.symlink_meta(node.layer(), &node.path)?;
            return meta
                .xattrs
                .into_iter()
                .find(|(n, _)| n.as_slice() == name.as_bytes())
                .map(|(_, v)| v)
                .ok_or(fuser::Errno::NO_XATTR);
        }
        let fd = self.layers.open_meta(node.layer(), &node.path)?;
        get_raw_xattr(&fd, stored.as_bytes())
    }

    /// The names, each followed by NUL.
    pub(crate) fn listxattr(&self, ino: u64) -> Result<Vec<u8>> {
        let node = self.node(ino)?;
        let names: Vec<Vec<u8>> = if node.kind == FileKind::Symlink {
            let meta = self.layers.symlink_meta(node.layer(), &node.path)?;
            meta.xattrs.into_iter().map(|(n, _)| n).collect()
        } else {
            let fd = self.layers.open_meta(node.layer(), &node.path)?;
            read_xattrs(&fd)
                .map_err(errno)?
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        let mut out = Vec::new();
        for n in names {
            out.extend_from_slice(&n);
            out.push(0);
        }
        Ok(out)
    }

    pub(crate) fn setxattr(
        &self,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        who: Requester,
    ) -> Result<()> {
        // POSIX ACLs are stored like other attributes (the kernel checks them and sends the
        // mode they imply: acl.rs); no other `system.` attribute means anything here.
        let n = name.as_bytes();
        if n.starts_with(b"system.")
            && n != super::acl::ACCESS.as_bytes()
            && n != super::acl::DEFAULT.as_bytes()
        {
            return Err(fuser::Errno::EOPNOTSUPP);
        }
        let stored = stored_xattr_name(name.as_bytes()).ok_or(fuser::Errno::EPERM)?;
        if n == super::acl::ACCESS.as_bytes() {
            return self.set_access_acl(ino, value, who);
        }
        self.copy_up(ino)?;
        let node = self.node(ino)?;
        let create = flags & libc::XATTR_CREATE != 0;
        let replace = flags & libc::XATTR_REPLACE != 0;
        if node.kind == FileKind::Symlink {
            let mut meta = self.layers.symlink_meta(UPPER, &node.path)?;
            let pos = meta
                .xattrs
                .iter()
                .position(|(n, _)| n.as_slice() == name.as_bytes());
            match (pos, create, replace) {
                (Some(_), true, _) => return Err(fuser::Errno::EEXIST),
                (None, _, true) => return Err(fuser::Errno::NO_XATTR),
                (Some(i), _, _) => {
                    if let Some(e) = meta.xattrs.get_mut(i) {
                        e.1 = value.to_vec();
                    }
                }
                (None, _, _) => {
                    meta.xattrs.push((name.as_bytes().to_vec(), value.to_vec()));
                    meta.xattrs.sort();
                }
            }
            return self.layers.update_symlinks(|t| t.set(&node.path, meta));
        }
        let fd = self.layers.open_meta(UPPER, &node.path)?;
        rustix::fs::fsetxattr(
            &fd,
            stored.as_bytes(),
            value,
            XattrFlags::from_bits_retain(flags as u32),
        )
        .map_err(errno)
    }

    /// An access ACL sets the permission bits it implies (the filesystem's job under
    /// `FUSE_POSIX_ACL`), and is kept only when it says more than they do. As the kernel's
    /// posix_acl_update_mode does, it clears the set-gid bit unless the caller is in the
    /// file's group or holds `CAP_FSETID`.
    fn set_access_acl(&self, ino: u64, value: &[u8], who: Requester) -> Result<()> {
        let (perm, extended) = super::acl::mode_of(value).ok_or(fuser::Errno::EINVAL)?;
        let old = self.attr_of(ino)?;
        let mut mode = (u32::from(old.perm) & !0o777) | perm;
        if mode & 0o2000 != 0 && !who.in_group_or_capable(old.gid) {
            mode &= !0o2000;
        }
        self.setattr(ino, Some(mode), None, None, None, None, None)?;
        let name = OsStr::new(super::acl::ACCESS);
        if extended {
            let stored = stored_xattr_name(name.as_bytes()).ok_or(fuser::Errno::EPERM)?;
            let node = self.node(ino)?;
            let fd = self.layers.open_meta(UPPER, &node.path)?;
            rustix::fs::fsetxattr(&fd, stored.as_bytes(), value, XattrFlags::empty()).map_err(errno)
        } else {
            match self.removexattr(ino, name) {
                Err(e) if e == fuser::Errno::NO_XATTR => Ok(()),
                res => res,
            }
        }
    }

    pub(crate) fn removexattr(&self, ino: u64, name: &OsStr) -> Result<()> {
        let stored = stored_xattr_name(name.as_bytes()).ok_or(fuser::Errno::NO_XATTR)?;
        // Nothing to copy up for an attribute the entry does not have.
        self.getxattr(ino, name)?;
        self.copy_up(ino)?;
        let node = self.node(ino)?;
        if node.kind == FileKind::Symlink {
            let mut meta = self.layers.symlink_meta(UPPER, &node.path)?;
            meta.xattrs.retain(|(n, _)| n.as_slice() != name.as_bytes());
            return self.layers.update_symlinks(|t| t.set(&node.path, meta));
        }
        let fd = self.layers.open_meta(UPPER, &node.path)?;
        match rustix::fs::fremovexattr(&fd, stored.as_bytes()) {
            Ok(()) => Ok(()),
            Err(Sys::NODATA) => Err(fuser::Errno::NO_XATTR),
            Err(e) => Err(errno(e)),
        }
    }
}
