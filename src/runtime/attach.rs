//! The attach protocol between a container's monitor and the commands that talk to it
//! (`run`, `start -a`, `attach`), over a unix stream socket: the monitor's listening socket
//! `<runroot>/containers/<id>/attach`, or the socket pair the starting command made.
//!
//! Every message is a frame: one kind byte, a 4-byte little-endian length, the payload. The
//! monitor sends the container's output ([`Frame::Stdout`], [`Frame::Stderr`]) and reports
//! ([`Frame::Report`]: the start, a failure, the exit status); a client first says what it
//! attaches to ([`Frame::Hello`]), then sends input, terminal sizes and signals. The monitor
//! closes the socket once it has nothing more to say: after the exit status and the clean-up.

use std::io::{self, Read, Write};
use std::os::fd::AsFd as _;
use std::os::unix::net::UnixStream;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::channel::Report;

/// The longest payload accepted (output is sent in chunks of at most [`CHUNK`]).
const MAX_FRAME: u32 = 1 << 20;
/// The largest piece of output or input read at once.
pub const CHUNK: usize = 32 * 1024;

/// The name of the monitor's socket in the container's run directory.
pub const SOCKET: &str = "attach";

/// What a client attaches to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttachOptions {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
    Report(Report),
    Hello(AttachOptions),
    Stdin(Vec<u8>),
    /// The client's input ended: the container's standard input is closed.
    StdinEof,
    /// The client's terminal size.
    Resize {
        rows: u16,
        cols: u16,
    },
    /// A signal for the container's process (`--sig-proxy`).
    Signal(i32),
}

impl Frame {
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload): (u8, Vec<u8>) = match self {
            Frame::Stdout(b) => (1, b.clone()),
            Frame::Stderr(b) => (2, b.clone()),
            Frame::Report(r) => (3, serde_json::to_vec(r).unwrap_or_default()),
            Frame::Hello(o) => (4, serde_json::to_vec(o).unwrap_or_default()),
            Frame::Stdin(b) => (5, b.clone()),
            Frame::StdinEof => (6, Vec::new()),
            Frame::Resize { rows, cols } => {
                let mut p = rows.to_le_bytes().to_vec();
                p.extend_from_slice(&cols.to_le_bytes());
                (7, p)
            }
            Frame::Signal(s) => (8, s.to_le_bytes().to_vec()),
        };
        let mut out = Vec::with_capacity(payload.len() + 5);
        out.push(kind);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    fn decode(kind: u8, p: Vec<u8>) -> io::Result<Frame> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
        fn json<T: serde::de::DeserializeOwned>(p: &[u8]) -> io::Result<T> {
            serde_json::from_slice(p).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
        }
        Ok(match kind {
            1 => Frame::Stdout(p),
            2 => Frame::Stderr(p),
            3 => Frame::Report(json(&p)?),
            4 => Frame::Hello(json(&p)?),
            5 => Frame::Stdin(p),
            6 => Frame::StdinEof,
            7 if p.len() == 4 => Frame::Resize {
                rows: u16::from_le_bytes([p[0], p[1]]),
                cols: u16::from_le_bytes([p[2], p[3]]),
            },
            8 if p.len() == 4 => Frame::Signal(i32::from_le_bytes([p[0], p[1], p[2], p[3]])),
            _ => return Err(bad("an unknown attach frame")),
        })
    }
}

/// Frames from a byte stream that arrives in pieces.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole frame, if one arrived.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        if self.buf.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
        if len > MAX_FRAME {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("an attach frame of {len} bytes"),
            ));
        }
        let end = 5 + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let kind = self.buf[0];
        let payload = self.buf[5..end].to_vec();
        self.buf.drain(..end);
        Frame::decode(kind, payload).map(Some)
    }

    /// Bytes of an unfinished frame are waiting.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Reads frames from a blocking stream.
#[derive(Debug)]
pub struct FrameReader<R> {
    from: R,
    dec: Decoder,
}

impl<R: Read> FrameReader<R> {
    pub fn new(from: R) -> Self {
        Self::resume(from, Decoder::default())
    }

    /// Goes on with what another reader of the same stream had read ahead.
    pub fn resume(from: R, dec: Decoder) -> Self {
        FrameReader { from, dec }
    }

    /// What was read ahead of the frames returned.
    pub fn into_decoder(self) -> Decoder {
        self.dec
    }

    /// The next frame; `None` at end of file between frames.
    pub fn next_frame(&mut self) -> io::Result<Option<Frame>> {
        let mut buf = vec![0u8; CHUNK + 5];
        loop {
            if let Some(f) = self.dec.next_frame()? {
                return Ok(Some(f));
            }
            match self.from.read(&mut buf) {
                Ok(0) if self.dec.is_empty() => return Ok(None),
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => self.dec.push(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A client that detached shut the socket down under this reader.
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes one frame.
pub fn send(to: &mut impl Write, frame: &Frame) -> io::Result<()> {
    to.write_all(&frame.encode())
}

/// Connects to the monitor's socket in the run directory `run_dir`. The path goes through
/// the directory's descriptor (`/proc/self/fd/N/attach`), so a long runroot does not hit the
/// 108-byte limit of a socket address.
pub fn connect(run_dir: &Path) -> io::Result<UnixStream> {
    let dir = std::fs::File::open(run_dir)?;
    let short = proc_fd_path(&dir);
    UnixStream::connect(short)
}

/// `/proc/self/fd/N/attach` for the open directory `dir`.
pub fn proc_fd_path(dir: &std::fs::File) -> std::path::PathBuf {
    use std::os::fd::AsRawFd as _;
    Path::new("/proc/self/fd")
        .join(dir.as_fd().as_raw_fd().to_string())
        .join(SOCKET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_in_pieces() {
        let frames = vec![
            Frame::Stdout(b"out".to_vec()),
            Frame::Stderr(Vec::new()),
            Frame::Report(Report::Exited { code: 3 }),
            Frame::Hello(AttachOptions {
                stdin: true,
                stdout: true,
                stderr: false,
            }),
            Frame::Stdin(vec![0; 100]),
            Frame::StdinEof,
            Frame::Resize { rows: 24, cols: 80 },
            Frame::Signal(15),
        ];
        let bytes: Vec<u8> = frames.iter().flat_map(Frame::encode).collect();
        let mut dec = Decoder::default();
        let mut got = Vec::new();
        for piece in bytes.chunks(3) {
            dec.push(piece);
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got, frames);
        assert!(dec.is_empty());
        let mut r = FrameReader::new(&bytes[..]);
        assert_eq!(r.next_frame().unwrap(), Some(frames[0].clone()));
        let mut dec = Decoder::default();
        dec.push(&[9, 0, 0, 0, 0]);
        assert!(dec.next_frame().is_err());
        dec = Decoder::default();
        dec.push(&[1, 255, 255, 255, 255]);
        assert!(dec.next_frame().is_err());
    }
}

/// How a command relays its own standard streams to a container.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub streams: AttachOptions,
    /// The container has a terminal: the user's goes into raw mode, its size follows.
    pub tty: bool,
    /// The keys that detach (a terminal only).
    pub detach_keys: super::lifecycle::DetachKeys,
    /// Signals this command receives go to the container (`--sig-proxy`).
    pub sig_proxy: bool,
}

/// How an attached session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEnd {
    /// The monitor closed the socket; the reports it sent last.
    Ended,
    /// The user typed the detach keys; the container runs on.
    Detached,
}

/// Signals a command passes on to the container with `--sig-proxy` (Podman's list less
/// those that concern the command itself).
const PROXIED: [nix::sys::signal::Signal; 6] = {
    use nix::sys::signal::Signal::*;
    [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2]
};

/// Relays this command's standard streams to the monitor on `sock` until the monitor closes
/// it or the user detaches; every report goes to `on_report`. The [`Frame::Hello`] was
/// sent already; `ahead` holds what was read of the socket before. Threads: one reads
/// standard input, one waits for signals; they are left behind when this returns (the
/// command is about to end).
pub fn relay(
    sock: UnixStream,
    ahead: Decoder,
    cfg: &ClientConfig,
    mut on_report: impl FnMut(&Report),
) -> io::Result<SessionEnd> {
    use nix::sys::signal::{SigSet, SigmaskHow, Signal};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let stdin = io::stdin();
    let _raw = if cfg.tty && cfg.streams.stdin {
        super::terminal::RawMode::enable(stdin.as_fd())?
    } else {
        None
    };
    let writer = Arc::new(Mutex::new(sock.try_clone()?));
    let send_frame = {
        let writer = Arc::clone(&writer);
        move |f: &Frame| -> io::Result<()> {
            let mut w = writer.lock().map_err(|_| io::Error::other("poisoned"))?;
            send(&mut *w, f)
        }
    };
    if cfg.tty
        && let Some((rows, cols)) = super::terminal::window_size(io::stdout())
            .or_else(|| super::terminal::window_size(stdin.as_fd()))
    {
        send_frame(&Frame::Resize { rows, cols })?;
    }

    // Blocked in this thread before the helper threads start, so that they inherit the mask
    // and only the waiting thread takes these signals.
    let mut set = SigSet::empty();
    if cfg.tty {
        set.add(Signal::SIGWINCH);
    }
    if cfg.sig_proxy {
        for s in PROXIED {
            set.add(s);
        }
    }
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
        .map_err(io::Error::from)?;
    struct Restore(SigSet);
    impl Drop for Restore {
        fn drop(&mut self) {
            let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.0), None);
        }
    }
    let _restore = Restore(old);
    if set.iter().next().is_some() {
        let send_frame = send_frame.clone();
        std::thread::spawn(move || {
            while let Ok(sig) = set.wait() {
                let frame = match sig {
                    Signal::SIGWINCH => match super::terminal::window_size(io::stdout()) {
                        Some((rows, cols)) => Frame::Resize { rows, cols },
                        None => continue,
                    },
                    s => Frame::Signal(s as i32),
                };
                if send_frame(&frame).is_err() {
                    return;
                }
            }
        });
    }

    let detached = Arc::new(AtomicBool::new(false));
    if cfg.streams.stdin {
        let send_frame = send_frame.clone();
        let detached = Arc::clone(&detached);
        let tty = cfg.tty;
        let keys = tty.then(|| cfg.detach_keys.clone());
        let shut = sock.try_clone()?;
        std::thread::spawn(move || {
            let end = super::terminal::pump_input(io::stdin().lock(), keys.as_ref(), |d| {
                send_frame(&Frame::Stdin(d.to_vec()))
            });
            match end {
                super::terminal::PumpEnd::Detached => {
                    detached.store(true, Ordering::SeqCst);
                    let _ = shut.shutdown(std::net::Shutdown::Both);
                }
                // A terminal's end of input is a key the container's terminal already saw.
                super::terminal::PumpEnd::Eof if !tty => {
                    let _ = send_frame(&Frame::StdinEof);
                }
                _ => {}
            }
        });
    }

    let interrupt = interrupt_fd()?;
    let mut reader = FrameReader::resume(&sock, ahead);
    loop {
        // An interruptible command (build) waits for its signals here, without a thread: the
        // container is killed and the session goes on to its end.
        if let Some(sfd) = &interrupt
            && reader.dec.is_empty()
        {
            let ready = crate::sys::poll::poll(
                &[
                    (sock.as_fd(), crate::sys::poll::IN),
                    (sfd.as_fd(), crate::sys::poll::IN),
                ],
                None,
            )?;
            if ready.get(1).is_some_and(|r| *r != 0) {
                if take_interrupts(sfd) {
                    let _ = send_frame(&Frame::Signal(nix::sys::signal::Signal::SIGKILL as i32));
                }
                if ready.first().is_none_or(|r| *r == 0) {
                    continue;
                }
            }
        }
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) if detached.load(Ordering::SeqCst) => break,
            Err(e) => return Err(e),
        };
        match frame {
            // Output that cannot be written (a closed pipe) is dropped; the container runs on.
            Frame::Stdout(d) => {
                let mut out = io::stdout().lock();
                let _ = out.write_all(&d).and_then(|()| out.flush());
            }
            Frame::Stderr(d) => {
                let mut err = io::stderr().lock();
                let _ = err.write_all(&d).and_then(|()| err.flush());
            }
            Frame::Report(r) => on_report(&r),
            _ => {}
        }
    }
    if detached.load(Ordering::SeqCst) {
        return Ok(SessionEnd::Detached);
    }
    Ok(SessionEnd::Ended)
}

/// Signals that interrupt a command made interruptible by [`block_interrupts`].
fn interrupt_set() -> nix::sys::signal::SigSet {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(s);
    }
    set
}

static INTERRUPTIBLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
static INTERRUPTED: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

/// Makes this command interruptible between and during its attached sessions: SIGINT,
/// SIGTERM and SIGHUP are blocked (call before any thread starts, so that every thread has
/// them blocked) and taken only where [`interrupted`] or a session's relay looks for them.
/// A session that sees one kills its container.
pub fn block_interrupts() -> io::Result<()> {
    use nix::sys::signal::SigmaskHow;
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&interrupt_set()), None)
        .map_err(io::Error::from)?;
    INTERRUPTIBLE.store(true, std::sync::atomic::Ordering::SeqCst);
    Ok(())
}

fn interrupt_fd() -> io::Result<Option<nix::sys::signalfd::SignalFd>> {
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    if !INTERRUPTIBLE.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(None);
    }
    SignalFd::with_flags(
        &interrupt_set(),
        SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC,
    )
    .map(Some)
    .map_err(io::Error::from)
}

/// Reads the pending interrupts; whether there was one.
fn take_interrupts(sfd: &nix::sys::signalfd::SignalFd) -> bool {
    let mut any = false;
    while let Ok(Some(info)) = sfd.read_signal() {
        INTERRUPTED.store(info.ssi_signo as i32, std::sync::atomic::Ordering::SeqCst);
        any = true;
    }
    any
}

/// The signal that interrupted this command (taking any that is pending now), if one did.
pub fn interrupted() -> Option<i32> {
    if let Ok(Some(sfd)) = interrupt_fd() {
        take_interrupts(&sfd);
    }
    match INTERRUPTED.load(std::sync::atomic::Ordering::SeqCst) {
        0 => None,
        n => Some(n),
    }
}
