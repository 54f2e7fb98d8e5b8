//! The monitor's side of attaching: it holds the container's standard streams (pipes, or a
//! terminal's master), writes their output to the log and to every attached client, passes
//! clients' input, terminal sizes and signals on, and waits for the init — all in one
//! `poll(2)` loop of a single thread, without ever blocking on one party: output for a
//! client is buffered, and the container's output is no longer read while a client is far
//! behind (the container then waits, as it would on a full pipe).

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::attach::{AttachOptions, CHUNK, Decoder, Frame};
use super::channel::Report;
use super::logs::{LogWriter, Stream};
use super::userns::ChildExit;
use crate::sys::poll;

/// How far a client may fall behind before the container's output waits for it.
const BACKLOG: usize = 1 << 20;

/// The signals the monitor handles itself: the init's end, and those passed on to the init.
pub fn monitor_signals() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGINT,
        Signal::SIGQUIT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGUSR1,
        Signal::SIGUSR2,
    ] {
        set.add(s);
    }
    set
}

/// Blocks [`monitor_signals`] and returns a descriptor that reads them.
pub fn signal_fd() -> nix::Result<SignalFd> {
    let set = monitor_signals();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
    SignalFd::with_flags(&set, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

/// Work of the monitor's besides relaying that the loop wakes for (health checks): a
/// descriptor to read, a deadline, and a call after every wake-up.
pub trait Timer {
    /// A descriptor whose input wakes the loop.
    fn fd(&self) -> Option<BorrowedFd<'_>>;
    /// When the loop must wake at the latest.
    fn deadline(&self) -> Option<Instant>;
    /// Called after every wake-up of the loop, whatever woke it.
    fn wake(&mut self, now: Instant);
}

/// The monitor's ends of a running container's standard streams.
#[derive(Debug, Default)]
pub struct ContainerIo {
    pub outputs: Vec<(Stream, OwnedFd)>,
    /// Where input goes (with `-i`; with `-t`, a copy of the master).
    pub stdin: Option<OwnedFd>,
    /// The terminal's master (`-t`), for resizes.
    pub master: Option<OwnedFd>,
}

impl ContainerIo {
    /// Makes every descriptor non-blocking.
    pub fn nonblocking(&self) -> io::Result<()> {
        let fds = self
            .outputs
            .iter()
            .map(|(_, f)| f.as_fd())
            .chain(self.stdin.iter().map(|f| f.as_fd()));
        for fd in fds {
            set_nonblocking(fd)?;
        }
        Ok(())
    }
}

fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    let flags = OFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFL)?);
    fcntl(fd, FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

#[derive(Debug)]
struct Client {
    sock: UnixStream,
    /// What it attached to (`None` until its hello came).
    opts: Option<AttachOptions>,
    dec: Decoder,
    out: Vec<u8>,
    closed: bool,
}

impl Client {
    fn new(sock: UnixStream) -> io::Result<Client> {
        sock.set_nonblocking(true)?;
        Ok(Client {
            sock,
            opts: None,
            dec: Decoder::default(),
            out: Vec::new(),
            closed: false,
        })
    }

    fn wants(&self, stream: Stream) -> bool {
        self.opts.is_some_and(|o| match stream {
            Stream::Stdout => o.stdout,
            Stream::Stderr => o.stderr,
        })
    }

    /// Writes what it can of the buffered output.
    fn write_some(&mut self) {
        while !self.out.is_empty() {
            match (&self.sock).write(&self.out) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    self.closed = true;
                    self.out.clear();
                    return;
                }
            }
        }
    }
}

/// What the clients asked of the container while the loop ran.
#[derive(Debug, Default)]
struct Input {
    buf: Vec<u8>,
    close: bool,
}

/// The attached clients, the listening socket and the log.
#[derive(Debug)]
pub struct Relay {
    listener: Option<UnixListener>,
    clients: Vec<Client>,
    log: Option<LogWriter>,
}

impl Relay {
    pub fn new(
        listener: Option<UnixListener>,
        first: Option<UnixStream>,
        log: Option<LogWriter>,
    ) -> io::Result<Relay> {
        if let Some(l) = &listener {
            l.set_nonblocking(true)?;
        }
        let clients = first.map(Client::new).transpose()?.into_iter().collect();
        Ok(Relay {
            listener,
            clients,
            log,
        })
    }

    /// Queues a report for every client.
    pub fn broadcast(&mut self, report: &Report) {
        let bytes = Frame::Report(report.clone()).encode();
        for c in self.clients.iter_mut().filter(|c| !c.closed) {
            c.out.extend_from_slice(&bytes);
        }
    }

    /// Sends what is buffered, waiting at most `limit` for slow clients.
    pub fn flush(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            for c in &mut self.clients {
                c.write_some();
            }
            self.clients.retain(|c| !c.closed || !c.out.is_empty());
            let waiting: Vec<&Client> = self.clients.iter().filter(|c| !c.out.is_empty()).collect();
            let left = deadline.saturating_duration_since(Instant::now());
            if waiting.is_empty() || left.is_zero() {
                return;
            }
            let fds: Vec<(BorrowedFd<'_>, i16)> = waiting
                .iter()
                .map(|c| (c.sock.as_fd(), poll::OUT))
                .collect();
            if poll::poll(&fds, Some(left)).is_err() {
                return;
            }
        }
    }

    /// Closes every client's connection (they read end of file).
    pub fn close_clients(&mut self) {
        self.clients.clear();
    }

    /// Relays until the init `pid` ends; returns how it ended. Output still in the pipes
    /// when it ended is read to the end first.
    pub fn serve(
        &mut self,
        io: &mut ContainerIo,
        pid: Pid,
        signals: &SignalFd,
    ) -> io::Result<ChildExit> {
        self.serve_with(io, pid, signals, None)
    }

    /// [`Relay::serve`], waking `timer` as it asks.
    pub fn serve_with(
        &mut self,
        io: &mut ContainerIo,
        pid: Pid,
        signals: &SignalFd,
        mut timer: Option<&mut dyn Timer>,
    ) -> io::Result<ChildExit> {
        let mut input = Input::default();
        let mut buf = vec![0u8; CHUNK];
        loop {
            let behind = self.clients.iter().any(|c| c.out.len() > BACKLOG);
            let mut fds: Vec<(BorrowedFd<'_>, i16)> = vec![(signals.as_fd(), poll::IN)];
            if let Some(l) = &self.listener {
                fds.push((l.as_fd(), poll::IN));
            }
            let first_client = fds.len();
            for c in &self.clients {
                let mut ev = 0;
                if input.buf.len() < BACKLOG {
                    ev |= poll::IN;
                }
                if !c.out.is_empty() {
                    ev |= poll::OUT;
                }
                fds.push((c.sock.as_fd(), ev));
            }
            let first_output = fds.len();
            for (_, f) in &io.outputs {
                fds.push((f.as_fd(), if behind { 0 } else { poll::IN }));
            }
            if let Some(fd) = timer.as_ref().and_then(|t| t.fd()) {
                fds.push((fd, poll::IN));
            }
            let stdin_at = fds.len();
            if let Some(s) = &io.stdin
                && !input.buf.is_empty()
            {
                fds.push((s.as_fd(), poll::OUT));
            }
            // Rounded up: a wake-up just before the deadline would find nothing to do.
            let timeout = timer
                .as_ref()
                .and_then(|t| t.deadline())
                .map(|d| d.saturating_duration_since(Instant::now()) + Duration::from_millis(1));
            let ready = poll::poll(&fds, timeout)?;
            drop(fds);
            if let Some(t) = timer.as_mut() {
                t.wake(Instant::now());
            }

            for (i, c) in self.clients.iter_mut().enumerate() {
                let ev = ready[first_client + i];
                if ev & (poll::IN | poll::HUP | poll::ERR) != 0 {
                    read_client(c, &mut input, io, pid, &mut buf);
                }
                if ev & poll::OUT != 0 {
                    c.write_some();
                }
            }
            self.clients.retain(|c| !c.closed);
            if self.listener.is_some() && ready[1] & poll::IN != 0 {
                self.accept();
            }
            let mut gone = Vec::new();
            for i in 0..io.outputs.len() {
                if ready[first_output + i] & (poll::IN | poll::HUP | poll::ERR) != 0
                    && !self.read_output(io, i, &mut buf, false)
                {
                    gone.push(i);
                }
            }
            for i in gone.into_iter().rev() {
                io.outputs.remove(i);
            }
            if ready.len() > stdin_at && ready[stdin_at] != 0 {
                write_stdin(io, &mut input);
            }
            if input.close && input.buf.is_empty() && io.master.is_none() {
                io.stdin = None;
            }
            if ready[0] & poll::IN != 0
                && let Some(exit) = take_signals(signals, pid)?
            {
                for i in 0..io.outputs.len() {
                    self.read_output(io, i, &mut buf, true);
                }
                io.outputs.clear();
                return Ok(exit);
            }
        }
    }

    fn accept(&mut self) {
        let Some(l) = &self.listener else { return };
        while let Ok((sock, _)) = l.accept() {
            if let Ok(c) = Client::new(sock) {
                self.clients.push(c);
            }
        }
    }

    /// Reads output `i` (to its end with `drain`); false once it is closed.
    fn read_output(&mut self, io: &ContainerIo, i: usize, buf: &mut [u8], drain: bool) -> bool {
        let (stream, fd) = &io.outputs[i];
        loop {
            match nix::unistd::read(fd, buf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.dispatch(*stream, &buf[..n]);
                    if !drain {
                        return true;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(Errno::EAGAIN) => return true,
                // A terminal's master reads EIO once no process has the slave open.
                Err(_) => return false,
            }
        }
    }

    fn dispatch(&mut self, stream: Stream, data: &[u8]) {
        if let Some(log) = &mut self.log
            && let Err(e) = log.write(stream, data)
        {
            tracing::warn!("writing the container's log: {e}");
        }
        let frame = match stream {
            Stream::Stdout => Frame::Stdout(data.to_vec()),
            Stream::Stderr => Frame::Stderr(data.to_vec()),
        }
        .encode();
        for c in self.clients.iter_mut().filter(|c| c.wants(stream)) {
            c.out.extend_from_slice(&frame);
        }
    }
}

fn read_client(c: &mut Client, input: &mut Input, io: &ContainerIo, pid: Pid, buf: &mut [u8]) {
    loop {
        match (&c.sock).read(buf) {
            Ok(0) => {
                c.closed = true;
                break;
            }
            Ok(n) => c.dec.push(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(_) => {
                c.closed = true;
                break;
            }
        }
    }
    loop {
        let frame = match c.dec.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                c.closed = true;
                break;
            }
        };
        let stdin = c.opts.is_some_and(|o| o.stdin) && io.stdin.is_some();
        match frame {
            Frame::Hello(o) => c.opts = Some(o),
            Frame::Stdin(d) if stdin => input.buf.extend_from_slice(&d),
            Frame::StdinEof if stdin => input.close = true,
            Frame::Resize { rows, cols } => {
                if let Some(m) = &io.master {
                    let _ = super::terminal::set_window_size(m, rows, cols);
                }
            }
            Frame::Signal(s) => {
                if let Ok(sig) = Signal::try_from(s) {
                    let _ = nix::sys::signal::kill(pid, sig);
                }
            }
            _ => {}
        }
    }
}

fn write_stdin(io: &mut ContainerIo, input: &mut Input) {
    let Some(fd) = &io.stdin else {
        input.buf.clear();
        return;
    };
    loop {
        if input.buf.is_empty() {
            return;
        }
        match nix::unistd::write(fd, &input.buf) {
            Ok(n) => {
                input.buf.drain(..n);
            }
            Err(Errno::EINTR) => {}
            Err(Errno::EAGAIN) => return,
            // The container closed its input.
            Err(_) => {
                input.buf.clear();
                io.stdin = None;
                return;
            }
        }
    }
}

/// Handles the signals that arrived: the init's end (returned), others passed on to it.
fn take_signals(signals: &SignalFd, pid: Pid) -> io::Result<Option<ChildExit>> {
    while let Some(info) = signals.read_signal()? {
        let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
            continue;
        };
        if sig != Signal::SIGCHLD {
            let _ = nix::sys::signal::kill(pid, sig);
        }
    }
    match nix::sys::wait::waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
        Ok(WaitStatus::Exited(_, code)) => Ok(Some(ChildExit::Exited(code))),
        Ok(WaitStatus::Signaled(_, sig, _)) => Ok(Some(ChildExit::Signaled(sig))),
        Ok(_) => Ok(None),
        Err(e) => Err(e.into()),
    }
}
