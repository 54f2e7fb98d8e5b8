//! Hashing the layer stream on a second thread while it is being extracted.
//!
//! The extractor reads the stream through [`PipelinedReader`], a `BufRead` over 1 MiB
//! buffers. Once a buffer has been consumed it is handed to the hashing thread, which hashes
//! it and sends it back for reuse, so sha256 overlaps with parsing and file writes. The digest
//! therefore covers exactly the bytes read, in order.

use std::io::{self, BufRead, Read};
use std::sync::mpsc::{Receiver, SyncSender};

use crate::oci::digest::{Digest, Hasher};

const BUFFER: usize = 1 << 20;
/// Buffers in flight between the threads.
const DEPTH: usize = 3;

pub(crate) struct PipelinedReader<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    filled: usize,
    to_hasher: SyncSender<Vec<u8>>,
    recycled: Receiver<Vec<u8>>,
    allocated: usize,
}

/// Runs `f` with a reader of `inner` whose bytes are hashed on another thread; returns `f`'s
/// result with the digest and length of everything `f` read. The error is the hashing
/// thread's failure.
pub(crate) fn with_hashing_reader<R: Read, T>(
    inner: R,
    f: impl FnOnce(&mut PipelinedReader<R>) -> T,
) -> io::Result<(T, Digest, u64)> {
    let (to_hasher, from_reader) = std::sync::mpsc::sync_channel::<Vec<u8>>(DEPTH);
    let (to_reader, recycled) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        let hasher = std::thread::Builder::new()
            .name("coracle:hash".into())
            .spawn_scoped(s, move || {
                let mut h = Hasher::new();
                for buf in from_reader {
                    h.update(&buf);
                    // The reader may be gone already; the buffer is then just dropped.
                    let _ = to_reader.send(buf);
                }
                let len = h.len();
                (h.finish(), len)
            })?;
        let mut reader = PipelinedReader {
            inner,
            buf: Vec::new(),
            pos: 0,
            filled: 0,
            to_hasher,
            recycled,
            allocated: 0,
        };
        let result = f(&mut reader);
        let sent = reader.hand_over();
        drop(reader);
        let (digest, len) = hasher
            .join()
            .map_err(|_| io::Error::other("hashing thread panicked"))?;
        sent?;
        Ok((result, digest, len))
    })
}

impl<R: Read> PipelinedReader<R> {
    /// Sends the current buffer, all consumed, to the hasher.
    fn hand_over(&mut self) -> io::Result<()> {
        if self.filled == 0 {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.buf);
        buf.truncate(self.filled);
        self.pos = 0;
        self.filled = 0;
        self.to_hasher
            .send(buf)
            .map_err(|_| io::Error::other("hashing thread stopped"))
    }

    fn next_buffer(&mut self) -> Vec<u8> {
        let mut buf = match self.recycled.try_recv() {
            Ok(b) => b,
            Err(_) if self.allocated < DEPTH + 2 => {
                self.allocated += 1;
                Vec::with_capacity(BUFFER)
            }
            // All buffers are with the hasher: wait for one.
            Err(_) => self
                .recycled
                .recv()
                .unwrap_or_else(|_| Vec::with_capacity(BUFFER)),
        };
        buf.clear();
        buf.resize(BUFFER, 0);
        buf
    }
}

impl<R: Read> BufRead for PipelinedReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.filled {
            self.hand_over()?;
            let mut buf = self.next_buffer();
            let n = loop {
                match self.inner.read(&mut buf) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        self.buf = buf;
                        return Err(e);
                    }
                }
            };
            self.buf = buf;
            self.filled = n;
        }
        Ok(&self.buf[self.pos..self.filled])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.filled);
    }
}

impl<R: Read> Read for PipelinedReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(out.len());
        out[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_covers_every_byte_read() {
        let data: Vec<u8> = (0..5_000_000u32).map(|i| (i % 251) as u8).collect();
        // A reader handing out odd-sized pieces.
        struct Chunky<'a>(&'a [u8]);
        impl Read for Chunky<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = out.len().min(self.0.len()).min(777_777);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let (copied, digest, len) = with_hashing_reader(Chunky(&data), |r| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        })
        .unwrap();
        let copied = copied.unwrap();
        assert_eq!(copied, data);
        assert_eq!(len, data.len() as u64);
        assert_eq!(digest, Digest::of_bytes(&data));
    }
}
