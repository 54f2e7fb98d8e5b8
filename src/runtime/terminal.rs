//! The user's terminal while a command relays it to a container (`run -it`, `attach`,
//! `start -ai`; `exec -it` later): raw mode for as long as a [`RawMode`] guard lives, the
//! window size, and the input pump that watches for the detach keys (`--detach-keys`).

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};

use rustix::termios::{self, OptionalActions, Termios};

use super::lifecycle::DetachKeys;

/// The terminal of `fd` in raw mode (no echo, no line editing, no signals from keys: every
/// byte goes to the container, whose own terminal does all that) until dropped, which
/// restores what it was — on every way out of the scope, panics included.
#[derive(Debug)]
pub struct RawMode<'a> {
    fd: BorrowedFd<'a>,
    saved: Termios,
}

impl<'a> RawMode<'a> {
    /// Raw mode on `fd`; `None` when it is not a terminal.
    pub fn enable(fd: BorrowedFd<'a>) -> io::Result<Option<RawMode<'a>>> {
        if !termios::isatty(fd) {
            return Ok(None);
        }
        let saved = termios::tcgetattr(fd)?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, OptionalActions::Now, &raw)?;
        Ok(Some(RawMode { fd, saved }))
    }
}

impl Drop for RawMode<'_> {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd, OptionalActions::Now, &self.saved);
    }
}

/// The size of the terminal `fd` as (rows, columns), when it is one.
pub fn window_size(fd: impl AsFd) -> Option<(u16, u16)> {
    let ws = termios::tcgetwinsize(fd).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

/// Sets the size of the terminal `fd` (a pty master: its slave's processes get SIGWINCH).
pub fn set_window_size(fd: impl AsFd, rows: u16, cols: u16) -> io::Result<()> {
    let ws = termios::Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    termios::tcsetwinsize(fd, ws).map_err(io::Error::from)
}

/// Finds the detach sequence in a stream of input. Bytes that start the sequence are held
/// back until it is clear whether it follows; if not, they are passed on.
#[derive(Debug)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

/// What a piece of input amounts to.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// Bytes for the container.
    Data(Vec<u8>),
    /// The detach sequence was typed; the bytes before it are for the container.
    Detach(Vec<u8>),
}

impl DetachMatcher {
    pub fn new(keys: &DetachKeys) -> DetachMatcher {
        DetachMatcher {
            keys: keys.0.clone(),
            matched: 0,
        }
    }

    pub fn feed(&mut self, data: &[u8]) -> Input {
        if self.keys.is_empty() {
            return Input::Data(data.to_vec());
        }
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Input::Detach(out);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                    if self.keys.len() == 1 {
                        self.matched = 0;
                        return Input::Detach(out);
                    }
                } else {
                    out.push(b);
                }
            }
        }
        Input::Data(out)
    }
}

/// What [`pump_input`] saw last.
#[derive(Debug, PartialEq, Eq)]
pub enum PumpEnd {
    /// The input ended.
    Eof,
    /// The detach keys were typed.
    Detached,
    /// The receiver refused more input.
    Closed,
}

/// Reads `from` until it ends, the detach keys come (`detach`, for a terminal) or `send`
/// fails, passing the input on in pieces.
pub fn pump_input(
    mut from: impl Read,
    detach: Option<&DetachKeys>,
    mut send: impl FnMut(&[u8]) -> io::Result<()>,
) -> PumpEnd {
    let mut matcher = detach.map(DetachMatcher::new);
    let mut buf = vec![0u8; super::attach::CHUNK];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return PumpEnd::Eof,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return PumpEnd::Eof,
        };
        let (data, detached) = match &mut matcher {
            Some(m) => match m.feed(&buf[..n]) {
                Input::Data(d) => (d, false),
                Input::Detach(d) => (d, true),
            },
            None => (buf[..n].to_vec(), false),
        };
        if !data.is_empty() && send(&data).is_err() {
            return PumpEnd::Closed;
        }
        if detached {
            return PumpEnd::Detached;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_sequence_is_found_across_pieces() {
        let keys = DetachKeys(vec![16, 17]);
        let mut m = DetachMatcher::new(&keys);
        assert_eq!(m.feed(b"ab"), Input::Data(b"ab".to_vec()));
        assert_eq!(m.feed(&[b'x', 16]), Input::Data(b"x".to_vec()));
        assert_eq!(m.feed(&[17, b'z']), Input::Detach(Vec::new()));
        // A start of the sequence not followed by the rest is passed on.
        let mut m = DetachMatcher::new(&keys);
        assert_eq!(m.feed(&[16, b'a']), Input::Data(vec![16, b'a']));
        assert_eq!(m.feed(&[16, 16, 17]), Input::Detach(vec![16]));
        let mut none = DetachMatcher::new(&DetachKeys(Vec::new()));
        assert_eq!(none.feed(&[16, 17]), Input::Data(vec![16, 17]));
    }

    #[test]
    fn pump_stops_at_the_keys() {
        let keys = DetachKeys(vec![16, 17]);
        let mut got = Vec::new();
        let end = pump_input(&b"hello\x10\x11more"[..], Some(&keys), |d| {
            got.extend_from_slice(d);
            Ok(())
        });
        assert_eq!(end, PumpEnd::Detached);
        assert_eq!(got, b"hello");
        let mut got = Vec::new();
        let end = pump_input(&b"plain"[..], None, |d| {
            got.extend_from_slice(d);
            Ok(())
        });
        assert_eq!((end, got.as_slice()), (PumpEnd::Eof, &b"plain"[..]));
    }

    #[test]
    fn raw_mode_is_restored() {
        let pty = crate::sys::pty::openpty().unwrap();
        let before = termios::tcgetattr(&pty.slave).unwrap();
        {
            let _raw = RawMode::enable(pty.slave.as_fd()).unwrap().unwrap();
            let now = termios::tcgetattr(&pty.slave).unwrap();
            assert!(!now.local_modes.contains(termios::LocalModes::ECHO));
        }
        let after = termios::tcgetattr(&pty.slave).unwrap();
        assert_eq!(before.local_modes, after.local_modes);
        set_window_size(&pty.master, 30, 100).unwrap();
        assert_eq!(window_size(&pty.slave), Some((30, 100)));
        let (r, _w) = std::io::pipe().unwrap();
        assert!(RawMode::enable(r.as_fd()).unwrap().is_none());
    }
}
