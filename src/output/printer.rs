//! The one way user output reaches stdout.
//!
//! Every write returns `io::Result` so that a closed pipe (`coracle images | head -1`) comes
//! back to `main` as an error it recognises with [`is_broken_pipe`] and turns into a quiet exit
//! 0, as ripgrep does, instead of a panic from `println!`. Warnings go to stderr with
//! [`eprint`], whose failures are ignored: there is nowhere left to report them.

use std::io::{self, Write};

/// Writes user output; stdout unless built with [`Printer::new`] (tests).
#[derive(Debug)]
pub struct Printer<W: Write = io::Stdout> {
    out: W,
}

impl Printer<io::Stdout> {
    pub fn stdout() -> Self {
        Printer { out: io::stdout() }
    }
}

impl Default for Printer<io::Stdout> {
    fn default() -> Self {
        Printer::stdout()
    }
}

impl<W: Write> Printer<W> {
    pub fn new(out: W) -> Self {
        Printer { out }
    }

    /// Writes `text` as is (rendered output carries its own newlines) and flushes.
    pub fn print(&mut self, text: &str) -> io::Result<()> {
        self.out.write_all(text.as_bytes())?;
        self.out.flush()
    }

    /// Writes `line` and a newline, and flushes.
    pub fn println(&mut self, line: &str) -> io::Result<()> {
        self.out.write_all(line.as_bytes())?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// Writes `text` to stderr as is, ignoring errors.
pub fn eprint(text: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

/// Whether `err`, or any error in its chain, is an `EPIPE` from writing output.
pub fn is_broken_pipe(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(err);
    while let Some(e) = next {
        if let Some(io_err) = e.downcast_ref::<io::Error>()
            && io_err.kind() == io::ErrorKind::BrokenPipe
        {
            return true;
        }
        next = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_to_the_writer() {
        let mut p = Printer::new(Vec::new());
        assert!(p.print("a\tb\n").is_ok());
        assert!(p.println("c").is_ok());
        assert_eq!(p.into_inner(), b"a\tb\nc\n");
    }

    #[test]
    fn broken_pipe_is_found_in_the_chain() {
        let err = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("printing images");
        assert!(is_broken_pipe(err.as_ref()));
        let other = anyhow::anyhow!("no such image");
        assert!(!is_broken_pipe(other.as_ref()));
    }
}
