//! The `fuser::Filesystem` glue: each request is one call into [`Overlay`], whose value or
//! errno becomes the reply. Nothing here decides semantics.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use fuser::{
    FileHandle, FopenFlags, Generation, INodeNo, InitFlags, KernelConfig, OpenFlags, RenameFlags,
    ReplyAttr, ReplyCreate, ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry,
    ReplyOpen, ReplyStatfs, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use super::attr::disk_file_type;
use super::write::{Caller, NewEntry};
use super::{Overlay, ReadReply, TTL};
use crate::archive::FileKind;

const GEN: Generation = Generation(0);

fn caller(req: &Request, umask: u32) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        umask,
    }
}

fn reply_xattr(reply: ReplyXattr, data: super::Result<Vec<u8>>, size: u32) {
    match data {
        Err(e) => reply.error(e),
        Ok(d) if size == 0 => reply.size(d.len() as u32),
        Ok(d) if d.len() > size as usize => reply.error(fuser::Errno::ERANGE),
        Ok(d) => reply.data(&d),
    }
}

impl fuser::Filesystem for Overlay {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        for cap in [
            InitFlags::FUSE_DO_READDIRPLUS,
            InitFlags::FUSE_READDIRPLUS_AUTO,
            InitFlags::FUSE_PARALLEL_DIROPS,
            InitFlags::FUSE_CACHE_SYMLINKS,
            InitFlags::FUSE_BIG_WRITES,
            InitFlags::FUSE_ASYNC_READ,
            // The kernel enforces POSIX ACLs from the stored attributes and leaves the umask
            // to `make`, which applies a parent's default ACL instead (acl.rs).
            InitFlags::FUSE_POSIX_ACL,
            InitFlags::FUSE_DONT_MASK,
        ] {
            // A capability the kernel lacks is simply not used.
            let _ = config.add_capabilities(cap);
        }
        if self.writeback {
            // Writes land in the page cache and reach this process in batches: this process
            // is the only writer of every file, so the kernel's size and times are the
            // truth (see WRITEBACK_ENV for why it is not the default).
            let _ = config.add_capabilities(InitFlags::FUSE_WRITEBACK_CACHE);
        }
        let _ = config.set_max_write(1 << 20);
        if let Err(max) = config.set_max_readahead(1 << 20) {
            let _ = config.set_max_readahead(max);
        }
        Ok(())
    }

    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.lookup_entry(parent.0, name) {
            Ok(attr) => reply.entry(&TTL, &attr, GEN),
            Err(e) => reply.error(e),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        Overlay::forget(self, ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.attr_of_open(ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        _ctime: Option<std::time::SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<std::time::SystemTime>,
        _chgtime: Option<std::time::SystemTime>,
        _bkuptime: Option<std::time::SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        match Overlay::setattr(self, ino.0, mode, uid, gid, size, atime, mtime) {
            Ok(attr) => {
                self.meta_changed(ino.0);
                reply.attr(&TTL, &attr)
            }
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match Overlay::readlink(self, ino.0) {
            Ok(t) => reply.data(&t),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let major = (rdev & 0xfff00) >> 8;
        let minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
        let kind = match mode & libc::S_IFMT {
            libc::S_IFREG | 0 => FileKind::File,
            libc::S_IFIFO => FileKind::Pipe,
            libc::S_IFSOCK => FileKind::Socket,
            libc::S_IFCHR => FileKind::Char { major, minor },
            libc::S_IFBLK => FileKind::Block { major, minor },
            _ => return reply.error(fuser::Errno::EINVAL),
        };
        match self.make(
            parent.0,
            name,
            caller(req, umask),
            mode,
            NewEntry::File(kind),
        ) {
            Ok((attr, _)) => reply.entry(&TTL, &attr, GEN),
            Err(e) => reply.error(e),
        }
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        reply: ReplyEntry,
    ) {
        match self.make(parent.0, name, caller(req, umask), mode, NewEntry::Dir) {
            Ok((attr, _)) => reply.entry(&TTL, &attr, GEN),
            Err(e) => reply.error(e),
        }
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent.0, name, false) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match self.remove(parent.0, name, true) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let target = target.as_os_str().as_bytes();
        match self.make(
            parent.0,
            link_name,
            caller(req, 0),
            0o777,
            NewEntry::Symlink(target),
        ) {
            Ok((attr, _)) => reply.entry(&TTL, &attr, GEN),
            Err(e) => reply.error(e),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        match Overlay::rename(self, parent.0, name, newparent.0, newname, flags.bits()) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        match Overlay::link(self, ino.0, newparent.0, newname) {
            Ok(attr) => reply.entry(&TTL, &attr, GEN),
            Err(e) => reply.error(e),
        }
    }

    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // The kernel then opens files without asking (and keeps their pages cached between
        // opens: nothing but this process changes a file); reads and writes come by node
        // (`fdcache`).
        reply.error(fuser::Errno::ENOSYS);
    }

    fn read(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyData,
    ) {
        match Overlay::read(self, req.unique().0, ino.0, offset, size) {
            // The reply went out through the pipe; fuser's, sent when `reply` is dropped, is
            // a second one for a request already answered: the kernel refuses it (ENOENT, as
            // request ids are never reused) and nothing else happens. Forgetting `reply`
            // instead would keep the session's device open for good.
            Ok(ReadReply::Sent) => drop(reply),
            Ok(ReadReply::Data(d)) => reply.data(&d),
            Err(e) => reply.error(e),
        }
    }

    fn write(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        reply: ReplyWrite,
    ) {
        match Overlay::write(self, ino.0, offset, data, flags.0) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: fuser::LockOwner,
        reply: ReplyEmpty,
    ) {
        // Nothing to do on close (writes go straight to the backing file; no locks are kept
        // here). ENOSYS makes the kernel stop sending FLUSH (fc->no_flush): one round trip
        // less for every close.
        reply.error(fuser::Errno::ENOSYS);
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<fuser::LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        // Only a file created before the first OPEN was refused comes here: its fd is kept
        // by node.
        reply.ok();
    }

    fn fsync(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        datasync: bool,
        reply: ReplyEmpty,
    ) {
        match Overlay::fsync(self, ino.0, datasync) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }

    fn opendir(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        // The kernel then opens directories without asking (and caches their listings);
        // reads come by node (`listing`).
        reply.error(fuser::Errno::ENOSYS);
    }

    fn readdir(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let listing = match self.listing(ino.0, offset) {
            Ok(l) => l,
            Err(e) => return reply.error(e),
        };
        let node = match self.node(ino.0) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        if offset < 1 && reply.add(ino, 1, fuser::FileType::Directory, ".") {
            return reply.ok();
        }
        if offset < 2
            && reply.add(
                INodeNo(self.parent_ino(&node)),
                2,
                fuser::FileType::Directory,
                "..",
            )
        {
            return reply.ok();
        }
        for (cookie, e) in listing.after(offset) {
            let eino = match self.listed_ino(&node, e) {
                Ok(n) => n,
                Err(err) => return reply.error(err),
            };
            if reply.add(INodeNo(eino), *cookie, disk_file_type(e.kind), &e.name) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let listing = match self.listing(ino.0, offset) {
            Ok(l) => l,
            Err(e) => return reply.error(e),
        };
        let node = match self.node(ino.0) {
            Ok(n) => n,
            Err(e) => return reply.error(e),
        };
        if offset < 2 {
            // The kernel counts no lookup for `.` and `..` and ignores their attributes
            // (fuse_direntplus_link): the directory's own serve for both.
            let mut attr = match self.attr_of(ino.0) {
                Ok(a) => a,
                Err(e) => return reply.error(e),
            };
            if offset < 1 && reply.add(attr.ino, 1, ".", &TTL, &attr, GEN) {
                return reply.ok();
            }
            attr.ino = INodeNo(self.parent_ino(&node));
            if reply.add(attr.ino, 2, "..", &TTL, &attr, GEN) {
                return reply.ok();
            }
        }
        for (cookie, e) in listing.after(offset) {
            let found = match self.find(&node, &e.name) {
                Ok(Some(f)) => f,
                // Gone since the listing was made.
                Ok(None) => continue,
                Err(err) => return reply.error(err),
            };
            let attr = self.register(found);
            if reply.add(attr.ino, *cookie, &e.name, &TTL, &attr, GEN) {
                Overlay::forget(self, attr.ino.0, 1);
                break;
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        match Overlay::statfs(self) {
            Ok(s) => reply.statfs(
                s.f_blocks,
                s.f_bfree,
                s.f_bavail,
                s.f_files,
                s.f_ffree,
                s.f_bsize as u32,
                // Room for the `.wh.` prefix of any name's whiteout.
                (s.f_namemax as u32).saturating_sub(4),
                s.f_frsize as u32,
            ),
            Err(e) => reply.error(e),
        }
    }

    fn setxattr(
        &self,
        req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        let who = super::creds::Requester {
            pid: req.pid(),
            gid: req.gid(),
        };
        match Overlay::setxattr(self, ino.0, name, value, flags, who) {
            Ok(()) => {
                self.meta_changed(ino.0);
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, Overlay::getxattr(self, ino.0, name), size);
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        reply_xattr(reply, Overlay::listxattr(self, ino.0), size);
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match Overlay::removexattr(self, ino.0, name) {
            Ok(()) => {
                self.meta_changed(ino.0);
                reply.ok()
            }
            Err(e) => reply.error(e),
        }
    }

    fn create(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        match self.make(
            parent.0,
            name,
            caller(req, umask),
            mode,
            NewEntry::File(FileKind::File),
        ) {
            Ok((attr, Some(fd))) => {
                self.created(attr.ino.0, fd);
                reply.created(
                    &TTL,
                    &attr,
                    GEN,
                    FileHandle(0),
                    FopenFlags::FOPEN_KEEP_CACHE,
                );
            }
            Ok((_, None)) => reply.error(fuser::Errno::EIO),
            Err(e) => reply.error(e),
        }
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        match Overlay::fallocate(self, ino.0, offset, length, mode) {
            Ok(()) => reply.ok(),
            Err(e) => reply.error(e),
        }
    }
}
