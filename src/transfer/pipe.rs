//! A byte pipe into a worker thread, so that reading an archive, decompressing a layer and
//! extracting it run on different cores. Bounded: at most `DEPTH` chunks wait in the pipe,
//! which keeps memory flat however large the layer.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

// 256 KiB chunks amortise the channel as well as 1 MiB ones did (measured on load), and keep a
// pull of two layers at once under its 64 MiB peak RSS.
const CHUNK: usize = 256 << 10;
const DEPTH: usize = 4;

/// The writing end; dropping it (or [`PipeWriter::finish`]) is the end of the stream.
pub struct PipeWriter {
    tx: Option<SyncSender<Vec<u8>>>,
    buf: Vec<u8>,
}

/// The reading end, given to the worker.
pub struct PipeReader {
    rx: Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    pos: usize,
}

/// Starts `work` on a new thread reading what is written into the returned writer.
pub fn spawn<T, F>(name: &str, work: F) -> io::Result<(PipeWriter, JoinHandle<T>)>
where
    T: Send + 'static,
    F: FnOnce(PipeReader) -> T + Send + 'static,
{
    let (tx, rx) = sync_channel(DEPTH);
    let reader = PipeReader {
        rx,
        chunk: Vec::new(),
        pos: 0,
    };
    let handle = std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || work(reader))?;
    Ok((
        PipeWriter {
            tx: Some(tx),
            buf: Vec::with_capacity(CHUNK),
        },
        handle,
    ))
}

impl PipeWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        match &self.tx {
            Some(tx) => tx.send(chunk).map_err(|_| {
                io::Error::new(io::ErrorKind::BrokenPipe, "the worker stopped reading")
            }),
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "pipe already closed",
            )),
        }
    }

    /// Sends what is buffered and closes the pipe.
    pub fn finish(mut self) -> io::Result<()> {
        let res = self.send();
        self.tx = None;
        res
    }
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        let _ = self.send();
    }
}

impl Read for PipeReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.chunk.len() - self.pos);
        out[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_bytes_in_order() {
        let (mut w, h) = spawn("test", |mut r: PipeReader| {
            let mut v = Vec::new();
            r.read_to_end(&mut v).map(|_| v)
        })
        .unwrap();
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| (i % 251) as u8).collect();
        w.write_all(&data).unwrap();
        w.finish().unwrap();
        assert_eq!(h.join().unwrap().unwrap(), data);
    }

    #[test]
    fn a_stopped_worker_is_a_broken_pipe() {
        let (mut w, h) = spawn("test", |_r: PipeReader| ()).unwrap();
        h.join().unwrap();
        let err = w.write_all(&vec![0u8; 3 * CHUNK]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
