//! Gzip on several cores: the stream is cut into chunks, each compressed as a gzip member of
//! its own on a thread, and the members written in order. Concatenated members are one valid
//! gzip stream (RFC 1952 §2.2), which every registry client reads (Go's `gzip.Reader` reads
//! multistream by default; so do zlib's `gunzip`, skopeo, Podman and coracle). A layer's size
//! no longer bounds how many cores compress it: a single large layer — the common case for
//! slow pushes — is compressed as fast as several small ones.

use std::io::{self, Write};
use std::sync::mpsc::{SyncSender, sync_channel};
use std::thread::JoinHandle;

/// Large enough that what each member loses (the 32 KiB window at its start, 18 bytes of
/// header and trailer) does not matter.
const CHUNK: usize = 4 << 20;

type Member = JoinHandle<io::Result<Vec<u8>>>;

/// The members are written (and so hashed, by a hashing writer) on a thread of their own:
/// the caller's thread, which reads and hashes the input, would otherwise also do all of the
/// output's work in turn — on an incompressible layer, most of the work there is.
pub struct ParallelGzEncoder<W: Write + Send + 'static> {
    level: u32,
    buf: Vec<u8>,
    /// Members in order, to the writer thread. Bounded so that `threads` chunks are in flight:
    /// the one the writer waits on, those queued, and the one whose `send` waits.
    members: Option<SyncSender<Member>>,
    writer: Option<JoinHandle<io::Result<W>>>,
    dispatched: bool,
}

impl<W: Write + Send + 'static> ParallelGzEncoder<W> {
    pub fn new(out: W, level: u32, threads: usize) -> Self {
        let (tx, rx) = sync_channel::<Member>(threads.max(2) - 2);
        let writer = std::thread::Builder::new()
            .name("coracle:gzip-out".into())
            .spawn(move || {
                let mut out = out;
                for member in rx {
                    let member = member
                        .join()
                        .map_err(|_| io::Error::other("a gzip compression thread panicked"))??;
                    out.write_all(&member)?;
                }
                out.flush()?;
                Ok(out)
            });
        let (members, writer) = match writer {
            Ok(w) => (Some(tx), Some(w)),
            // Reported by the first write.
            Err(_) => (None, None),
        };
        ParallelGzEncoder {
            level,
            buf: Vec::with_capacity(CHUNK),
            members,
            writer,
            dispatched: false,
        }
    }

    fn compress(data: Vec<u8>, level: u32) -> io::Result<Vec<u8>> {
        if level == 0 || incompressible(&data, level) {
            return Ok(stored_member(&data));
        }
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(data.len() / 2 + 64),
            flate2::Compression::new(level),
        );
        enc.write_all(&data)?;
        enc.finish()
    }

    /// The writer thread's outcome, once it has stopped (finished, or failed).
    fn join_writer(&mut self) -> io::Result<W> {
        self.members = None;
        match self.writer.take() {
            Some(w) => w
                .join()
                .map_err(|_| io::Error::other("the gzip writer thread panicked"))?,
            None => Err(io::Error::other("the gzip writer thread could not start")),
        }
    }

    fn dispatch(&mut self) -> io::Result<()> {
        self.dispatched = true;
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let level = self.level;
        let handle = std::thread::Builder::new()
            .name("coracle:gzip".into())
            .spawn(move || Self::compress(data, level))?;
        let sent = match &self.members {
            Some(tx) => tx.send(handle).is_ok(),
            None => false,
        };
        if !sent {
            // The writer stopped: its error is the one to report.
            return self
                .join_writer()
                .and_then(|_| Err(io::Error::other("the gzip writer thread stopped early")));
        }
        Ok(())
    }

    /// Compresses what is left and returns the inner writer. An empty input still makes one
    /// (empty) member, as a plain gzip encoder would.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() || !self.dispatched {
            self.dispatch()?;
        }
        self.join_writer()
    }
}

impl<W: Write + Send + 'static> Drop for ParallelGzEncoder<W> {
    /// An encoder given up (its input failed) waits for its writer, which would otherwise go
    /// on writing into a staging file being removed.
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = self.join_writer();
        }
    }
}

/// A gzip member holding `data` in stored deflate blocks, built directly: zlib's level 0
/// copies the data through its window for the same bytes.
fn stored_member(data: &[u8]) -> Vec<u8> {
    const BLOCK: usize = 65535;
    let blocks = data.len().div_ceil(BLOCK).max(1);
    let mut out = Vec::with_capacity(data.len() + blocks * 5 + 18);
    // ID1 ID2, deflate, no flags, no mtime, no extra flags, OS unknown — as flate2 writes.
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
    let mut chunks = data.chunks(BLOCK).peekable();
    if chunks.peek().is_none() {
        out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
    }
    while let Some(block) = chunks.next() {
        let last = chunks.peek().is_none();
        let len = block.len() as u16;
        out.push(u8::from(last));
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    let mut crc = flate2::Crc::new();
    crc.update(data);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

/// Bytes sampled at each of three places of a chunk.
const SAMPLE: usize = 16 << 10;

/// Whether deflate would gain (almost) nothing on `data` — already compressed files, random
/// data — judged from samples at its start, middle and end. Such a chunk is stored (level 0),
/// which costs a fifth of the time level 1 spends finding no matches, for a member a few
/// bytes larger than the chunk rather than a few percent.
fn incompressible(data: &[u8], level: u32) -> bool {
    if level == 0 || data.len() < 4 * SAMPLE {
        return false;
    }
    let mid = data.len() / 2;
    [0, mid, data.len() - SAMPLE].iter().all(|&at| {
        let sample = &data[at..at + SAMPLE];
        let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
        let mut out = Vec::with_capacity(SAMPLE + 1024);
        let done = c.compress_vec(sample, &mut out, flate2::FlushCompress::Finish);
        // Over 97 %: the matches deflate would find do not pay for the time.
        done.is_ok() && out.len() * 100 > sample.len() * 97
    })
}

impl<W: Write + Send + 'static> Write for ParallelGzEncoder<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.dispatch()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn members_decompress_to_the_input() {
        for len in [0usize, 10, CHUNK, CHUNK * 2 + 12345] {
            let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8 ^ (i / 7) as u8).collect();
            let mut enc = ParallelGzEncoder::new(Vec::new(), 1, 2);
            enc.write_all(&data).unwrap();
            let gz = enc.finish().unwrap();
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "length {len}");
        }
    }

    #[test]
    fn random_chunks_are_stored_text_is_compressed() {
        let mut x: u64 = 0x9e3779b97f4a7c15;
        let random: Vec<u8> = (0..CHUNK)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        assert!(incompressible(&random, 1));
        let text = b"the quick brown fox jumps over the lazy dog ".repeat(CHUNK / 44);
        assert!(!incompressible(&text, 1));
        let mut enc = ParallelGzEncoder::new(Vec::new(), 1, 2);
        enc.write_all(&random).unwrap();
        let gz = enc.finish().unwrap();
        assert!(gz.len() < random.len() + 1024, "stored: {}", gz.len());
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&gz[..])
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, random);
    }

    #[test]
    fn level_0_is_stored_members() {
        for len in [0usize, 1, 65535, 65536, CHUNK + 70000] {
            let data: Vec<u8> = (0..len).map(|i| (i % 13) as u8).collect();
            let mut enc = ParallelGzEncoder::new(Vec::new(), 0, 2);
            enc.write_all(&data).unwrap();
            let gz = enc.finish().unwrap();
            assert!(gz.len() >= data.len(), "length {len}: stored");
            let mut out = Vec::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_end(&mut out)
                .unwrap();
            assert_eq!(out, data, "length {len}");
        }
    }

    struct Failing;

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("disk full"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_output_fails_the_encoder() {
        let mut enc = ParallelGzEncoder::new(Failing, 1, 2);
        let data = vec![7u8; CHUNK * 5];
        let err = enc
            .write_all(&data)
            .err()
            .or_else(|| enc.finish().err())
            .expect("an error");
        assert!(err.to_string().contains("disk full"), "{err}");
    }
}
