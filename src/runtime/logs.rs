//! Container logs in the Kubernetes file format Podman's `k8s-file` driver writes (CRI
//! logging): one entry per line, `TIMESTAMP STREAM TAG CONTENT`, the timestamp RFC 3339 with
//! nanoseconds, the stream `stdout` or `stderr`, the tag `F` for a full line (its newline
//! dropped) or `P` for part of one (output that did not end with a newline yet).
//!
//! The monitor writes them ([`LogWriter`]); when the file would grow past its limit it is
//! renamed to `<path>.1` (replacing the previous one) and a new file started, so a log never
//! takes more than twice its limit. `logs` reads both ([`read`], [`Follower`]).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, FixedOffset, Local, SecondsFormat};

/// Which of the container's output streams an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// The rotated generation of `path`.
pub fn rotated(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_os_string();
    s.push(".1");
    PathBuf::from(s)
}

/// Appends a container's output to its log.
#[derive(Debug)]
pub struct LogWriter {
    path: PathBuf,
    file: File,
    size: u64,
    limit: u64,
}

impl LogWriter {
    /// Opens (creating) `path` for appending; rotated when it would pass `limit` bytes.
    pub fn open(path: &Path, limit: u64) -> io::Result<LogWriter> {
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            path: path.to_path_buf(),
            file,
            size,
            limit,
        })
    }

    /// Writes a chunk of `stream` as entries: one `F` entry per line, a `P` entry for a last
    /// line without its newline.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> io::Result<()> {
        let now = Local::now().to_rfc3339_opts(SecondsFormat::Nanos, false);
        let mut batch = Vec::with_capacity(data.len() + 64);
        for line in data.split_inclusive(|b| *b == b'\n') {
            let (text, tag) = match line.strip_suffix(b"\n") {
                Some(t) => (t, 'F'),
                None => (line, 'P'),
            };
            let head = format!("{now} {} {tag} ", stream.name());
            let len = (head.len() + text.len() + 1) as u64;
            // Rotated between entries, so that no file passes the limit (an entry longer
            // than the limit alone excepted).
            if self.size + batch.len() as u64 > 0
                && self.size + batch.len() as u64 + len > self.limit
            {
                self.file.write_all(&batch)?;
                batch.clear();
                self.rotate()?;
            }
            batch.extend_from_slice(head.as_bytes());
            batch.extend_from_slice(text);
            batch.push(b'\n');
        }
        self.file.write_all(&batch)?;
        self.size += batch.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        fs::rename(&self.path, rotated(&self.path))?;
        *self = LogWriter::open(&self.path, self.limit)?;
        Ok(())
    }
}

/// One logical line of output: `P` entries joined with the `F` entry that ends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// The time of its first part.
    pub time: DateTime<FixedOffset>,
    /// The timestamp as written.
    pub stamp: String,
    pub stream: Stream,
    pub text: Vec<u8>,
    /// Ended by a newline (false: the output stopped in the middle of a line).
    pub complete: bool,
}

/// Joins entries (`line` bytes without their newline) into logical lines; a partial line
/// at the end stays in `pending`.
#[derive(Debug, Default)]
pub struct Assembler {
    pending: Vec<LogLine>,
}

impl Assembler {
    /// Takes one entry; returns the line it completes.
    pub fn push(&mut self, entry: &[u8]) -> Option<LogLine> {
        let (stamp, stream, partial, text) = parse_entry(entry)?;
        let time = DateTime::parse_from_rfc3339(stamp).ok()?;
        let idx = self.pending.iter().position(|l| l.stream == stream);
        let line = match idx {
            Some(i) => {
                let mut l = self.pending.remove(i);
                l.text.extend_from_slice(text);
                l
            }
            None => LogLine {
                time,
                stamp: stamp.to_string(),
                stream,
                text: text.to_vec(),
                complete: false,
            },
        };
        if partial {
            self.pending.push(line);
            None
        } else {
            Some(LogLine {
                complete: true,
                ..line
            })
        }
    }

    /// The lines still waiting for their end.
    pub fn finish(self) -> Vec<LogLine> {
        self.pending
    }
}

fn parse_entry(entry: &[u8]) -> Option<(&str, Stream, bool, &[u8])> {
    let mut parts = entry.splitn(4, |b| *b == b' ');
    let stamp = std::str::from_utf8(parts.next()?).ok()?;
    let stream = match parts.next()? {
        b"stdout" => Stream::Stdout,
        b"stderr" => Stream::Stderr,
        _ => return None,
    };
    let partial = match parts.next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    Some((stamp, stream, partial, parts.next().unwrap_or_default()))
}

/// Every line of the log at `path` (its rotated generation first); a missing log is empty.
pub fn read(path: &Path) -> io::Result<Vec<LogLine>> {
    let mut asm = Assembler::default();
    let mut lines = Vec::new();
    for p in [rotated(path), path.to_path_buf()] {
        let data = match fs::read(&p) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("reading {}: {e}", p.display()),
                ));
            }
        };
        for entry in data.split(|b| *b == b'\n') {
            if let Some(l) = asm.push(entry) {
                lines.push(l);
            }
        }
    }
    lines.extend(asm.finish());
    Ok(lines)
}

/// Reads a log from its start and then what is appended to it, across rotations (`logs`,
/// `logs -f`).
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    file: Option<File>,
    inode: u64,
    partial: Vec<u8>,
    asm: Assembler,
    /// The rotated generation is still to be read (first call only).
    rotated_first: bool,
}

impl Follower {
    /// Starts at the beginning of the rotated generation of `path`.
    pub fn new(path: &Path) -> Follower {
        Follower {
            path: path.to_path_buf(),
            file: None,
            inode: 0,
            partial: Vec::new(),
            asm: Assembler::default(),
            rotated_first: true,
        }
    }

    /// Starts at the current end of `path`.
    pub fn at_end(path: &Path) -> io::Result<Follower> {
        let mut f = Follower::new(path);
        f.rotated_first = false;
        if let Ok(mut file) = File::open(path) {
            file.seek(SeekFrom::End(0))?;
            f.inode = file.metadata()?.ino();
            f.file = Some(file);
        }
        Ok(f)
    }

    fn take(&mut self, data: &[u8], lines: &mut Vec<LogLine>) {
        self.partial.extend_from_slice(data);
        if let Some(end) = self.partial.iter().rposition(|b| *b == b'\n') {
            let rest = self.partial.split_off(end + 1);
            let whole = std::mem::replace(&mut self.partial, rest);
            for entry in whole.split(|b| *b == b'\n') {
                if let Some(l) = self.asm.push(entry) {
                    lines.push(l);
                }
            }
        }
    }

    /// The complete lines written since the last call.
    pub fn poll(&mut self) -> io::Result<Vec<LogLine>> {
        let mut lines = Vec::new();
        if std::mem::take(&mut self.rotated_first) {
            match fs::read(rotated(&self.path)) {
                Ok(data) => {
                    self.take(&data, &mut lines);
                    self.partial.clear();
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        loop {
            if let Some(file) = &mut self.file {
                let mut data = Vec::new();
                file.read_to_end(&mut data)?;
                self.take(&data, &mut lines);
            }
            // A new file at the path: the old one was rotated (and read to its end above).
            match fs::metadata(&self.path) {
                Ok(m) if self.file.is_none() || m.ino() != self.inode => {
                    self.file = Some(File::open(&self.path)?);
                    self.inode = m.ino();
                    self.partial.clear();
                }
                _ => return Ok(lines),
            }
        }
    }

    /// The lines whose end never came (the output stopped in the middle of a line).
    pub fn finish(self) -> Vec<LogLine> {
        self.asm.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_parts_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let mut w = LogWriter::open(&path, 1 << 20).unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stderr, b"err\n").unwrap();
        w.write(Stream::Stdout, b"o\nthree").unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let tags: Vec<&str> = text
            .lines()
            .map(|l| l.split(' ').skip(1).take(2).collect::<Vec<_>>().join(" "))
            .map(|s| Box::leak(s.into_boxed_str()) as &str)
            .collect();
        assert_eq!(
            tags,
            ["stdout F", "stdout P", "stderr F", "stdout F", "stdout P"]
        );
        let first = text.lines().next().unwrap();
        let stamp = first.split(' ').next().unwrap();
        assert!(DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");
        // Nanoseconds, as Podman writes them.
        assert_eq!(stamp.split('.').nth(1).unwrap().len(), 9 + 6, "{stamp}");
        let lines = read(&path).unwrap();
        let shown: Vec<(Stream, &[u8], bool)> = lines
            .iter()
            .map(|l| (l.stream, l.text.as_slice(), l.complete))
            .collect();
        assert_eq!(
            shown,
            vec![
                (Stream::Stdout, &b"one"[..], true),
                (Stream::Stderr, &b"err"[..], true),
                (Stream::Stdout, &b"two"[..], true),
                (Stream::Stdout, &b"three"[..], false),
            ]
        );
    }

    #[test]
    fn rotation_bounds_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let mut w = LogWriter::open(&path, 1000).unwrap();
        for i in 0..200 {
            w.write(Stream::Stdout, format!("line {i}\n").as_bytes())
                .unwrap();
        }
        assert!(fs::metadata(&path).unwrap().len() <= 1000);
        assert!(fs::metadata(rotated(&path)).unwrap().len() <= 1000);
        let lines = read(&path).unwrap();
        assert_eq!(lines.last().unwrap().text, b"line 199");
        assert!(lines.len() < 200);
    }

    #[test]
    fn a_follower_sees_appends_across_a_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctr.log");
        let mut w = LogWriter::open(&path, 200).unwrap();
        w.write(Stream::Stdout, b"before\n").unwrap();
        let mut f = Follower::at_end(&path).unwrap();
        assert!(f.poll().unwrap().is_empty());
        let mut want = Vec::new();
        for i in 0..20 {
            w.write(Stream::Stdout, format!("after {i}\n").as_bytes())
                .unwrap();
            want.push(format!("after {i}"));
            if i % 3 == 0 {
                let got: Vec<String> = f
                    .poll()
                    .unwrap()
                    .into_iter()
                    .map(|l| String::from_utf8(l.text).unwrap())
                    .collect();
                assert_eq!(got, want);
                want.clear();
            }
        }
    }
}
