//! Attributes as the container sees them: size, times and link count from the backing file,
//! owner, group, mode, type and device numbers from the ownership metadata.
//!
//! Owners are reported as stored (image ids). The kernel maps them through the user namespace
//! that mounted the filesystem: with a single mapping, every owner but root appears as the
//! overflow id (`nobody`), which is what the container should see.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuser::{FileAttr, FileType, INodeNo};

use crate::archive::{FileKind, Stat};

/// The `fuser` type of a kind.
pub(crate) fn file_type(kind: FileKind) -> FileType {
    match kind {
        FileKind::File => FileType::RegularFile,
        FileKind::Dir => FileType::Directory,
        FileKind::Symlink => FileType::Symlink,
        FileKind::Pipe => FileType::NamedPipe,
        FileKind::Socket => FileType::Socket,
        FileKind::Block { .. } => FileType::BlockDevice,
        FileKind::Char { .. } => FileType::CharDevice,
    }
}

/// The `fuser` type of an on-disk type (directory listings, before the metadata is read).
pub(crate) fn disk_file_type(t: rustix::fs::FileType) -> FileType {
    file_type(FileKind::from_file_type(t))
}

/// `rdev` as FUSE carries it (the kernel's `new_encode_dev`).
pub(crate) fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

fn time(secs: i64, nsecs: i64) -> SystemTime {
    let nsecs = nsecs.clamp(0, 999_999_999) as u32;
    if secs >= 0 {
        UNIX_EPOCH + Duration::new(secs as u64, nsecs)
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs()) + Duration::new(0, nsecs)
    }
}

/// The attributes of node `ino` backed by `st` with true metadata `meta`.
pub(crate) fn file_attr(ino: u64, st: &rustix::fs::Stat, meta: &Stat) -> FileAttr {
    let (size, blocks) = if meta.kind.is_placeholder() {
        (0, 0)
    } else {
        (st.st_size as u64, st.st_blocks as u64)
    };
    let rdev = match meta.kind {
        FileKind::Block { major, minor } | FileKind::Char { major, minor } => {
            encode_dev(major, minor)
        }
        _ => 0,
    };
    FileAttr {
        ino: INodeNo(ino),
        size,
        blocks,
        atime: time(st.st_atime, st.st_atime_nsec as i64),
        mtime: time(st.st_mtime, st.st_mtime_nsec as i64),
        ctime: time(st.st_ctime, st.st_ctime_nsec as i64),
        crtime: UNIX_EPOCH,
        kind: file_type(meta.kind),
        perm: (meta.mode & 0o7777) as u16,
        nlink: st.st_nlink as u32,
        uid: meta.uid,
        gid: meta.gid,
        rdev,
        blksize: st.st_blksize as u32,
        flags: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_as_the_kernel_decodes_them() {
        // new_decode_dev: major = (dev & 0xfff00) >> 8, minor = (dev & 0xff) | ((dev >> 12) & 0xfff00)
        for (major, minor) in [(1, 3), (5, 0), (259, 65_537), (7, 0)] {
            let dev = encode_dev(major, minor);
            assert_eq!((dev & 0xfff00) >> 8, major);
            assert_eq!((dev & 0xff) | ((dev >> 12) & 0xfff00), minor);
        }
    }

    #[test]
    fn times_before_the_epoch() {
        assert_eq!(time(-1, 0), UNIX_EPOCH - Duration::from_secs(1));
        assert_eq!(time(0, 5), UNIX_EPOCH + Duration::new(0, 5));
    }
}
