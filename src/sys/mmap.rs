//! Read-only mappings of file ranges, for the overlay's reads of lower-layer files: the
//! reply is written to `/dev/fuse` straight from the file's page cache, one copy fewer than
//! reading into a buffer first.

use std::ffi::c_void;
use std::os::fd::BorrowedFd;
use std::ptr::NonNull;

use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

/// `len` bytes of a file from some offset, mapped read-only; unmapped on drop.
pub struct MappedRange {
    base: NonNull<c_void>,
    map_len: usize,
    /// Where the asked-for bytes start within the mapping (the offset is rounded down to a
    /// page).
    skip: usize,
    len: usize,
}

// SAFETY: the mapping is read-only and owned by this value alone; sharing or moving it
// between threads is no different from sharing a `&[u8]`/`Box<[u8]>`.
unsafe impl Send for MappedRange {}
// SAFETY: as above: only shared reads.
unsafe impl Sync for MappedRange {}

impl MappedRange {
    /// Maps bytes `offset..offset + len` of `fd`; their pages are found when first read.
    ///
    /// The range must lie within the file and the file must not change while mapped: that is
    /// what lower layers promise (extracted once, never written, never truncated). Bytes of a
    /// file that shrank under the mapping raise SIGBUS when this process reads them; the
    /// kernel copying them for a `write` fails with EFAULT instead.
    pub fn of_unchanging_file(fd: BorrowedFd<'_>, offset: u64, len: usize) -> Result<Self, Errno> {
        let page = rustix::param::page_size() as u64;
        let start = offset - offset % page;
        let skip = (offset - start) as usize;
        let map_len = skip + len;
        if len == 0 {
            return Err(Errno::INVAL);
        }
        // SAFETY: a new mapping at an address the kernel picks: no existing memory is
        // touched. The caller promises the range stays inside an unchanging file (above).
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                map_len,
                ProtFlags::READ,
                MapFlags::SHARED,
                fd,
                start,
            )
        }?;
        let base = NonNull::new(base).ok_or(Errno::NOMEM)?;
        Ok(MappedRange {
            base,
            map_len,
            skip,
            len,
        })
    }
}

impl std::ops::Deref for MappedRange {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `skip + len == map_len` bytes are mapped readable from `base` for as long
        // as `self` lives, and nothing writes the file (the constructor's contract).
        unsafe {
            std::slice::from_raw_parts(self.base.as_ptr().cast::<u8>().add(self.skip), self.len)
        }
    }
}

impl Drop for MappedRange {
    fn drop(&mut self) {
        // SAFETY: `base`/`map_len` are exactly the mapping made in the constructor, and no
        // slice of it outlives `self` (the borrow checker ties them to `&self`).
        if let Err(e) = unsafe { rustix::mm::munmap(self.base.as_ptr(), self.map_len) } {
            tracing::warn!("unmapping a file range: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn maps_an_unaligned_range() -> std::io::Result<()> {
        let mut f = tempfile::tempfile()?;
        let data: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
        f.write_all(&data)?;
        let m = MappedRange::of_unchanging_file(f.as_fd(), 5_000, 9_000)?;
        assert_eq!(&m[..], &data[5_000..14_000]);
        Ok(())
    }
}
