//! `READ` replies spliced from a lower file into `/dev/fuse`, as libfuse servers
//! (fuse-overlayfs) send them: the reply's header is written into a pipe, the file's page
//! cache pages are spliced after it (references, not copies), and the pipe is spliced into the
//! FUSE device, which copies the pages once into the reading process's page cache. fuser
//! only writes replies from memory, which costs the server a copy (or, from a mapping, a
//! page-table walk per page) and its readers a round trip that much longer.
//!
//! The reply goes to a duplicate of the session's `/dev/fuse` descriptor ([`Device`]); the
//! session must not clone a descriptor per thread (`clone_fd`), since the kernel matches a
//! reply only on the descriptor its request was read from. fuser's own reply object then
//! sends a second reply, which the kernel refuses (see `fs.rs`).

use std::cell::RefCell;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, OnceLock};

use rustix::pipe::{PipeFlags, SpliceFlags};

/// A reply's header: `struct fuse_out_header` (length, error, request id).
const HEADER_LEN: usize = 16;

/// Reads at least this long are spliced; shorter ones cost less as a `pread` than as a pipe's
/// three system calls (readahead asks for 128–256 KiB at a time when a file is read through).
pub(crate) const FROM: usize = 64 * 1024;

/// The most a pipe may hold without privileges (`/proc/sys/fs/pipe-max-size`'s default).
const PIPE_SIZE: usize = 1 << 20;

/// The session's `/dev/fuse` descriptor, set once it is mounted.
#[derive(Clone, Default)]
pub(crate) struct Device(Arc<OnceLock<OwnedFd>>);

impl Device {
    /// Keeps a duplicate of the session's descriptor `fd`.
    pub fn attach(&self, fd: BorrowedFd<'_>) {
        match fd.try_clone_to_owned() {
            Ok(dup) => {
                let _ = self.0.set(dup);
            }
            Err(e) => tracing::debug!("overlay: no spliced replies: {e}"),
        }
    }

    fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.0.get().map(|fd| fd.as_fd())
    }
}

struct Pipe {
    read: OwnedFd,
    write: OwnedFd,
    capacity: usize,
}

impl Pipe {
    fn new() -> rustix::io::Result<Pipe> {
        let (read, write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        let capacity = rustix::pipe::fcntl_setpipe_size(&write, PIPE_SIZE)
            .or_else(|_| rustix::pipe::fcntl_getpipe_size(&write))?;
        Ok(Pipe {
            read,
            write,
            capacity,
        })
    }

    /// Fills the pipe with the reply and splices it into `device`; on any failure the pipe
    /// may hold a partial reply and must be dropped.
    fn send(
        &self,
        device: BorrowedFd<'_>,
        unique: u64,
        file: BorrowedFd<'_>,
        mut offset: u64,
        len: usize,
    ) -> rustix::io::Result<()> {
        let total = HEADER_LEN + len;
        let mut header = [0u8; HEADER_LEN];
        header[..4].copy_from_slice(&(total as u32).to_ne_bytes());
        header[8..].copy_from_slice(&unique.to_ne_bytes());
        if rustix::io::write(&self.write, &header)? != HEADER_LEN {
            return Err(rustix::io::Errno::IO);
        }
        let mut left = len;
        while left > 0 {
            // Never blocking on a full pipe: the reply would be stuck half-made.
            let n = rustix::pipe::splice(
                file,
                Some(&mut offset),
                &self.write,
                None,
                left,
                SpliceFlags::NONBLOCK,
            )?;
            if n == 0 {
                // The file is shorter than promised: the header's length would be wrong.
                return Err(rustix::io::Errno::IO);
            }
            left -= n;
        }
        // The device takes a reply whole, in one call.
        if rustix::pipe::splice(&self.read, None, device, None, total, SpliceFlags::empty())?
            != total
        {
            return Err(rustix::io::Errno::IO);
        }
        Ok(())
    }
}

thread_local! {
    static PIPE: RefCell<Option<Pipe>> = const { RefCell::new(None) };
}

/// Sends the whole reply to `READ` request `unique`: `len` bytes (more than none) of `file`
/// from `offset`, which the file must have. `false` when nothing could be sent this way (no
/// device, a reply larger than a pipe, a failed splice): the caller replies as usual.
pub(crate) fn reply(
    device: &Device,
    unique: u64,
    file: BorrowedFd<'_>,
    offset: u64,
    len: usize,
) -> bool {
    let Some(device) = device.fd() else {
        return false;
    };
    PIPE.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            match Pipe::new() {
                Ok(p) => *slot = Some(p),
                Err(e) => {
                    tracing::debug!("overlay: no pipe for spliced replies: {e}");
                    return false;
                }
            }
        }
        let Some(pipe) = slot.as_ref() else {
            return false;
        };
        // A pipe holds up to a page per buffer: the header takes one, and data from an
        // unaligned offset spans one page more than its length.
        let page = rustix::param::page_size();
        if len + 2 * page > pipe.capacity {
            return false;
        }
        match pipe.send(device, unique, file, offset, len) {
            Ok(()) => true,
            Err(e) => {
                tracing::debug!("overlay: splicing a read of {len} bytes at {offset}: {e}");
                // Whatever part of the reply is in the pipe goes with it.
                *slot = None;
                false
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn a_reply_is_the_header_then_the_bytes() -> std::io::Result<()> {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        let mut file = tempfile::tempfile()?;
        file.write_all(&data)?;
        // A pipe stands in for /dev/fuse: it takes spliced pages the same way.
        let (dev_read, dev_write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
        rustix::pipe::fcntl_setpipe_size(&dev_write, PIPE_SIZE)?;
        let device = Device::default();
        assert!(
            !reply(&device, 7, file.as_fd(), 0, 10),
            "no device attached yet"
        );
        device.attach(dev_write.as_fd());
        assert!(reply(&device, 42, file.as_fd(), 5_000, 100_000));
        let mut got = vec![0u8; HEADER_LEN + 100_000];
        let mut at = 0;
        while at < got.len() {
            at += rustix::io::read(&dev_read, &mut got[at..])?;
        }
        assert_eq!(&got[..4], &100_016u32.to_ne_bytes(), "length");
        assert_eq!(&got[4..8], &0i32.to_ne_bytes(), "error");
        assert_eq!(&got[8..16], &42u64.to_ne_bytes(), "request");
        assert_eq!(&got[HEADER_LEN..], &data[5_000..105_000]);
        // past the end of the file: refused whole, nothing sent
        assert!(!reply(&device, 43, file.as_fd(), 299_000, 5_000));
        // too large for a pipe: left to the caller
        assert!(!reply(&device, 44, file.as_fd(), 0, PIPE_SIZE));
        Ok(())
    }
}
