//! Gzip on several cores: the stream is cut into chunks, each compressed as a gzip member of
//! its own on a thread, and the members written in order. Concatenated members are one valid
//! gzip stream (RFC 1952 §2.2), which every registry client reads (Go's `gzip.Reader` reads
//! multistream by default; so do zlib's `gunzip`, skopeo, Podman and coracle). A layer's size
//! no longer bounds how many cores compress it: a single large layer — the common case for
//! slow pushes — is compressed as fast as several small ones.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::thread::JoinHandle;

/// Large enough that what each member loses (the 32 KiB window at its start, 18 bytes of
/// header and trailer) does not matter.
const CHUNK: usize = 4 << 20;

pub struct ParallelGzEncoder<W: Write> {
    out: W,
    level: u32,
    threads: usize,
    buf: Vec<u8>,
    pending: VecDeque<JoinHandle<io::Result<Vec<u8>>>>,
}

impl<W: Write> ParallelGzEncoder<W> {
    pub fn new(out: W, level: u32, threads: usize) -> Self {
        ParallelGzEncoder {
            out,
            level,
            threads: threads.max(1),
            buf: Vec::with_capacity(CHUNK),
            pending: VecDeque::new(),
        }
    }

    fn compress(data: Vec<u8>, level: u32) -> io::Result<Vec<u8>> {
        let level = if incompressible(&data, level) {
            0
        } else {
            level
        };
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(data.len() / 2 + 64),
            flate2::Compression::new(level),
        );
        enc.write_all(&data)?;
        enc.finish()
    }

    fn write_oldest(&mut self) -> io::Result<()> {
        if let Some(h) = self.pending.pop_front() {
            let member = h
                .join()
                .map_err(|_| io::Error::other("a gzip compression thread panicked"))??;
            self.out.write_all(&member)?;
        }
        Ok(())
    }

    fn dispatch(&mut self) -> io::Result<()> {
        if self.pending.len() >= self.threads {
            self.write_oldest()?;
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        let level = self.level;
        let handle = std::thread::Builder::new()
            .name("coracle:gzip".into())
            .spawn(move || Self::compress(data, level))?;
        self.pending.push_back(handle);
        Ok(())
    }

    /// Compresses what is left and returns the inner writer. An empty input still makes one
    /// (empty) member, as a plain gzip encoder would.
    pub fn finish(mut self) -> io::Result<W> {
        if !self.buf.is_empty() || self.pending.is_empty() {
            self.dispatch()?;
        }
        while !self.pending.is_empty() {
            self.write_oldest()?;
        }
        self.out.flush()?;
        Ok(self.out)
    }
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

impl<W: Write> Write for ParallelGzEncoder<W> {
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
}
