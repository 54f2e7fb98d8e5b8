//! Reads of lower-layer files served from mapped windows of them. A reply written from a
//! mapping is copied by the kernel straight from the backing file's page cache into the
//! FUSE request: one copy fewer than `pread` into a buffer, which is the bulk of this
//! process's work for a large read (it also halves its CPU seconds).
//!
//! Each worker thread keeps one window (a few MiB of one file) mapped and serves the next
//! reads from it: mapping and unmapping per request would cost more than the copy saved,
//! since an unmap interrupts the other CPUs running this process's threads to flush their
//! TLBs. The window's pages count in this process's RSS only while mapped, so it stays
//! small. Lower files are never written nor truncated while mounted (the store's promise),
//! so a mapping of one stays valid.

use std::cell::RefCell;
use std::os::fd::BorrowedFd;

use rustix::io::Errno;

use crate::sys::mmap::MappedRange;

/// Reads at least this long are served from a window; shorter ones cost less as a `pread`
/// (readahead asks for 128–256 KiB at a time when a file is read through).
pub(crate) const MAP_READS_FROM: usize = 64 * 1024;

/// The most of a file one window maps.
const WINDOW: u64 = 8 << 20;

/// A lower file, known by its backing inode, and its length.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FileId {
    dev: u64,
    ino: u64,
    len: u64,
}

impl FileId {
    pub fn of(st: &rustix::fs::Stat) -> Self {
        FileId {
            dev: st.st_dev,
            ino: st.st_ino,
            len: st.st_size as u64,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }
}

struct Window {
    file: FileId,
    start: u64,
    map: MappedRange,
}

impl Window {
    /// Bytes `offset..offset + len` if this window holds all of them.
    fn bytes(&self, file: FileId, offset: u64, len: usize) -> Option<&[u8]> {
        if self.file != file || offset < self.start {
            return None;
        }
        let at = usize::try_from(offset - self.start).ok()?;
        self.map.get(at..at.checked_add(len)?)
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Window>> = const { RefCell::new(None) };
}

/// Hands up to `size` bytes of `file` (open as `fd`) from `offset` to `reply`, from this
/// thread's window, moved there first if it does not hold them. A failed mapping gives
/// `reply` back, for the caller to read the bytes another way.
pub(crate) fn read<R, F: FnOnce(&[u8]) -> R>(
    fd: BorrowedFd<'_>,
    file: FileId,
    offset: u64,
    size: u32,
    reply: F,
) -> Result<R, (Errno, F)> {
    let len = file.len.saturating_sub(offset).min(u64::from(size)) as usize;
    if len == 0 {
        return Ok(reply(&[]));
    }
    CURRENT.with(|current| {
        let mut current = current.borrow_mut();
        if let Some(bytes) = current.as_ref().and_then(|w| w.bytes(file, offset, len)) {
            return Ok(reply(bytes));
        }
        // The old window goes first: two at once would double what is mapped.
        *current = None;
        let page = rustix::param::page_size() as u64;
        let start = offset - offset % page;
        let end = (start + WINDOW).max(offset + len as u64).min(file.len);
        let map = match MappedRange::of_unchanging_file(fd, start, (end - start) as usize) {
            Ok(map) => map,
            Err(e) => return Err((e, reply)),
        };
        let window = current.insert(Window { file, start, map });
        match window.bytes(file, offset, len) {
            Some(bytes) => Ok(reply(bytes)),
            None => Err((Errno::INVAL, reply)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn serves_reads_across_windows_and_files() -> std::io::Result<()> {
        let data: Vec<u8> = (0..(WINDOW as usize + 300_000))
            .map(|i| (i % 251) as u8)
            .collect();
        let mut a = tempfile::tempfile()?;
        a.write_all(&data)?;
        let a_id = FileId::of(&rustix::fs::fstat(&a)?);
        let mut b = tempfile::tempfile()?;
        b.write_all(b"another file")?;
        let b_id = FileId::of(&rustix::fs::fstat(&b)?);
        let got = |f: &std::fs::File, id, off: u64, size| {
            read(f.as_fd(), id, off, size, |d| d.to_vec()).map_err(|(e, _)| e)
        };
        // within the first window, then one straddling its end, then past the file's end
        assert_eq!(got(&a, a_id, 4097, 100_000)?, &data[4097..104_097]);
        let tail = WINDOW as usize - 1000;
        assert_eq!(
            got(&a, a_id, tail as u64, 131_072)?,
            &data[tail..tail + 131_072]
        );
        let near_end = data.len() - 10;
        assert_eq!(got(&a, a_id, near_end as u64, 4096)?, &data[near_end..]);
        assert!(got(&a, a_id, data.len() as u64 + 5, 4096)?.is_empty());
        // another file on the same thread: its own bytes, not the window of the first
        assert_eq!(got(&b, b_id, 0, 4096)?, b"another file");
        assert_eq!(got(&a, a_id, 0, 10)?, &data[..10]);
        Ok(())
    }
}
