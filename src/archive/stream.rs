//! Tar framing: 512-byte headers, PAX `x`/`g` records, GNU `L`/`K` long names, content and
//! padding, the end-of-archive blocks and whatever follows them.
//!
//! The reader hands every byte it consumes, except entry contents, to a raw sink so that the
//! stream can be rebuilt byte for byte ([`super::split`]). Field parsing uses `tar::Header`;
//! PAX records are parsed here by their length prefix, because values (binary xattrs such as
//! `security.capability`) may contain newlines.

use std::io::{self, BufRead};

use super::{ArchiveError, entry_display};

pub(crate) const BLOCK: usize = 512;
/// Largest PAX or GNU long-name record accepted.
const MAX_META: u64 = 16 << 20;

/// What an entry is, as the tar says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Regular,
    Hardlink,
    Symlink,
    Char,
    Block,
    Dir,
    Fifo,
}

/// A timestamp from a header or a PAX record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Time {
    pub secs: i64,
    pub nanos: u32,
}

/// One logical entry: its header block merged with the PAX and GNU records before it.
#[derive(Debug, Clone)]
pub(crate) struct Header {
    /// Position among logical entries, from 0.
    pub index: u64,
    pub name: Vec<u8>,
    pub link: Vec<u8>,
    pub kind: Kind,
    /// Content bytes that follow the header (0 for header-only kinds).
    pub size: u64,
    pub uid: u64,
    pub gid: u64,
    pub mode: u32,
    pub mtime: Time,
    pub atime: Option<Time>,
    pub dev_major: u32,
    pub dev_minor: u32,
    /// `SCHILY.xattr.*` records, in stream order.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Pending metadata records for the next entry.
#[derive(Default)]
struct Pending {
    pax: Option<Vec<u8>>,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        self.pax.is_none() && self.long_name.is_none() && self.long_link.is_none()
    }
}

pub(crate) struct TarStream<R> {
    r: R,
    next_index: u64,
    /// Name of the last entry, for errors about what follows it.
    last: Option<String>,
}

impl<R: BufRead> TarStream<R> {
    pub fn new(r: R) -> Self {
        TarStream {
            r,
            next_index: 0,
            last: None,
        }
    }

    fn where_(&self) -> String {
        match &self.last {
            Some(name) => format!("header after {name}"),
            None => "first header".to_string(),
        }
    }

    /// Reads exactly `buf.len()` bytes; `Ok(n < len)` only at end of stream.
    fn read_full(
        &mut self,
        buf: &mut [u8],
        entry: &dyn Fn() -> String,
    ) -> Result<usize, ArchiveError> {
        let mut done = 0;
        while done < buf.len() {
            let avail = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ArchiveError::Read {
                        entry: entry(),
                        source,
                    });
                }
            };
            if avail.is_empty() {
                break;
            }
            let n = avail.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&avail[..n]);
            self.r.consume(n);
            done += n;
        }
        Ok(done)
    }

    /// Reads a metadata record's content and padding into `raw`, returning the content.
    fn read_record(
        &mut self,
        size: u64,
        raw: &mut Vec<u8>,
        what: &str,
    ) -> Result<Vec<u8>, ArchiveError> {
        if size > MAX_META {
            return Err(ArchiveError::Malformed {
                entry: self.where_(),
                reason: format!("{what} record of {size} bytes is too large"),
            });
        }
        let padded = padded(size) as usize;
        let start = raw.len();
        raw.resize(start + padded, 0);
        let where_ = self.where_();
        let got = self.read_full(&mut raw[start..], &|| where_.clone())?;
        if got < padded {
            return Err(ArchiveError::Truncated {
                entry: self.where_(),
            });
        }
        Ok(raw[start..start + size as usize].to_vec())
    }

    /// Reads the headers of the next entry, appending every byte consumed to `raw`. Returns
    /// `None` at the end of the archive (a zero block, or end of stream at a header boundary);
    /// the caller then calls [`Self::rest`].
    pub fn next(&mut self, raw: &mut Vec<u8>) -> Result<Option<Header>, ArchiveError> {
        let mut pending = Pending::default();
        loop {
            let mut block = [0u8; BLOCK];
            let where_ = self.where_();
            let got = self.read_full(&mut block, &|| where_.clone())?;
            if got == 0 && pending.is_empty() {
                return Ok(None);
            }
            if got < BLOCK {
                raw.extend_from_slice(&block[..got]);
                return Err(ArchiveError::Truncated {
                    entry: self.where_(),
                });
            }
            raw.extend_from_slice(&block);
            if block.iter().all(|b| *b == 0) {
                if !pending.is_empty() {
                    return Err(ArchiveError::Truncated {
                        entry: self.where_(),
                    });
                }
                // End of archive is two zero blocks. Like Go's archive/tar (Podman), a header
                // after a single zero block is an error rather than silently hidden content;
                // a short or missing second block is tolerated and kept as trailer bytes.
                let where_ = self.where_();
                let got = self.read_full(&mut block, &|| where_.clone())?;
                raw.extend_from_slice(&block[..got]);
                if got == BLOCK && block.iter().any(|b| *b != 0) {
                    return Err(ArchiveError::Malformed {
                        entry: self.where_(),
                        reason: "header after an end-of-archive block".into(),
                    });
                }
                return Ok(None);
            }
            let h = tar::Header::from_byte_slice(&block);
            check_checksum(&block).map_err(|reason| ArchiveError::Malformed {
                entry: self.where_(),
                reason,
            })?;
            let malformed = |this: &Self, reason: String| ArchiveError::Malformed {
                entry: this.where_(),
                reason,
            };
            let flag = h.as_old().linkflag[0];
            let size = h
                .entry_size()
                .map_err(|e| malformed(self, format!("size field: {e}")))?;
            match flag {
                b'x' => {
                    let rec = self.read_record(size, raw, "pax")?;
                    // Several `x` records before one entry: the later wins per key.
                    pending
                        .pax
                        .get_or_insert_with(Vec::new)
                        .extend_from_slice(&rec);
                    continue;
                }
                b'g' => {
                    // Global records apply to the whole archive; like Podman's reader we keep
                    // them only as raw bytes.
                    self.read_record(size, raw, "global pax")?;
                    continue;
                }
                b'L' => {
                    let rec = self.read_record(size, raw, "GNU long name")?;
                    pending.long_name = Some(trim_nul(rec));
                    continue;
                }
                b'K' => {
                    let rec = self.read_record(size, raw, "GNU long link")?;
                    pending.long_link = Some(trim_nul(rec));
                    continue;
                }
                _ => {}
            }
            return self.entry(h, flag, size, pending).map(Some);
        }
    }

    fn entry(
        &mut self,
        h: &tar::Header,
        flag: u8,
        size: u64,
        pending: Pending,
    ) -> Result<Header, ArchiveError> {
        let mut name = pending
            .long_name
            .unwrap_or_else(|| h.path_bytes().into_owned());
        let mut link = pending.long_link.unwrap_or_else(|| {
            h.link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default()
        });
        let mut size = size;
        let mut uid = h.uid().ok();
        let mut gid = h.gid().ok();
        let mut mtime = h.mtime().ok().map(|s| Time {
            secs: s.min(i64::MAX as u64) as i64,
            nanos: 0,
        });
        let mut atime = None;
        let mut xattrs = Vec::new();
        let mut sparse = false;
        if let Some(pax) = &pending.pax {
            let records = parse_pax(pax).map_err(|reason| ArchiveError::Malformed {
                entry: entry_display(&name),
                reason,
            })?;
            for (key, value) in records {
                let text = std::str::from_utf8(value).ok();
                let bad = |what: &str| ArchiveError::Malformed {
                    entry: entry_display(&name),
                    reason: format!("invalid pax {what} {:?}", String::from_utf8_lossy(value)),
                };
                match key {
                    b"path" => name = value.to_vec(),
                    b"linkpath" => link = value.to_vec(),
                    b"size" => {
                        size = text
                            .and_then(|t| t.parse().ok())
                            .ok_or_else(|| bad("size"))?
                    }
                    b"uid" => {
                        uid = Some(
                            text.and_then(|t| t.parse().ok())
                                .ok_or_else(|| bad("uid"))?,
                        )
                    }
                    b"gid" => {
                        gid = Some(
                            text.and_then(|t| t.parse().ok())
                                .ok_or_else(|| bad("gid"))?,
                        )
                    }
                    b"mtime" => {
                        mtime = Some(text.and_then(parse_time).ok_or_else(|| bad("mtime"))?)
                    }
                    b"atime" => {
                        atime = Some(text.and_then(parse_time).ok_or_else(|| bad("atime"))?)
                    }
                    _ if key.starts_with(b"GNU.sparse.") => sparse = true,
                    _ => {
                        if let Some(xname) = key.strip_prefix(b"SCHILY.xattr.") {
                            xattrs.retain(|(n, _): &(Vec<u8>, Vec<u8>)| n != xname);
                            xattrs.push((xname.to_vec(), value.to_vec()));
                        }
                    }
                }
            }
        }
        let entry = entry_display(&name);
        self.last = Some(entry.clone());
        if sparse || flag == b'S' {
            return Err(ArchiveError::Unsupported {
                entry,
                what: "GNU sparse file".into(),
            });
        }
        let kind = match flag {
            b'0' | b'7' => Kind::Regular,
            b'\0' if name.ends_with(b"/") => Kind::Dir,
            b'\0' => Kind::Regular,
            b'1' => Kind::Hardlink,
            b'2' => Kind::Symlink,
            b'3' => Kind::Char,
            b'4' => Kind::Block,
            b'5' => Kind::Dir,
            b'6' => Kind::Fifo,
            other => {
                return Err(ArchiveError::Unsupported {
                    entry,
                    what: format!("entry type {:?}", other as char),
                });
            }
        };
        if kind != Kind::Regular {
            // Header-only kinds carry no content whatever the size field says.
            size = 0;
        }
        let malformed = |what: &str| ArchiveError::Malformed {
            entry: entry.clone(),
            reason: format!("invalid {what} field"),
        };
        let mode = h.mode().map_err(|_| malformed("mode"))? & 0o7777;
        let uid = uid.ok_or_else(|| malformed("uid"))?;
        let gid = gid.ok_or_else(|| malformed("gid"))?;
        let mtime = mtime.ok_or_else(|| malformed("mtime"))?;
        let (dev_major, dev_minor) = if matches!(kind, Kind::Char | Kind::Block) {
            let major = h
                .device_major()
                .map_err(|_| malformed("device major"))?
                .unwrap_or(0);
            let minor = h
                .device_minor()
                .map_err(|_| malformed("device minor"))?
                .unwrap_or(0);
            (major, minor)
        } else {
            (0, 0)
        };
        let index = self.next_index;
        self.next_index += 1;
        Ok(Header {
            index,
            name,
            link,
            kind,
            size,
            uid,
            gid,
            mode,
            mtime,
            atime,
            dev_major,
            dev_minor,
            xattrs,
        })
    }

    /// Streams `size` content bytes of `entry` to `sink`, in chunks as large as the buffer.
    pub fn content(
        &mut self,
        entry: &Header,
        mut sink: impl FnMut(&[u8]) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        let mut left = entry.size;
        while left > 0 {
            let avail = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ArchiveError::Read {
                        entry: entry_display(&entry.name),
                        source,
                    });
                }
            };
            if avail.is_empty() {
                return Err(ArchiveError::Truncated {
                    entry: entry_display(&entry.name),
                });
            }
            let n = avail.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            sink(&avail[..n])?;
            self.r.consume(n);
            left -= n as u64;
        }
        Ok(())
    }

    /// Reads the padding after `entry`'s content into `raw`.
    pub fn padding(&mut self, entry: &Header, raw: &mut Vec<u8>) -> Result<(), ArchiveError> {
        let pad = (padded(entry.size) - entry.size) as usize;
        if pad == 0 {
            return Ok(());
        }
        let start = raw.len();
        raw.resize(start + pad, 0);
        let got = self.read_full(&mut raw[start..], &|| entry_display(&entry.name))?;
        if got < pad {
            raw.truncate(start + got);
            return Err(ArchiveError::Truncated {
                entry: entry_display(&entry.name),
            });
        }
        Ok(())
    }

    /// Passes everything after the end-of-archive marker, up to end of stream, to `sink`.
    pub fn rest(
        &mut self,
        mut sink: impl FnMut(&[u8]) -> Result<(), ArchiveError>,
    ) -> Result<(), ArchiveError> {
        loop {
            let avail = match self.r.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ArchiveError::Read {
                        entry: "end of archive".into(),
                        source,
                    });
                }
            };
            if avail.is_empty() {
                return Ok(());
            }
            let n = avail.len();
            sink(avail)?;
            self.r.consume(n);
        }
    }
}

/// `size` rounded up to whole blocks.
pub(crate) fn padded(size: u64) -> u64 {
    size.div_ceil(BLOCK as u64).saturating_mul(BLOCK as u64)
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn check_checksum(block: &[u8; BLOCK]) -> Result<(), String> {
    let field = &block[148..156];
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|b| *b == b' ')
        .take_while(|b| (b'0'..=b'7').contains(b))
        .collect();
    let stored = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| u32::from_str_radix(t, 8).ok())
        .ok_or_else(|| "invalid checksum field".to_string())?;
    let mut unsigned: u32 = 0;
    let mut signed: i32 = 0;
    for (i, b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u32::from(b);
        signed += i32::from(b as i8);
    }
    if stored == unsigned || i64::from(stored) == i64::from(signed) {
        Ok(())
    } else {
        Err(format!(
            "checksum mismatch (stored {stored:o}, computed {unsigned:o})"
        ))
    }
}

/// Splits PAX records `"<len> <key>=<value>\n"` by their length prefix.
/// One PAX record: key and value.
type PaxRecord<'a> = (&'a [u8], &'a [u8]);

fn parse_pax(data: &[u8]) -> Result<Vec<PaxRecord<'_>>, String> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        // Some writers pad the record area with NULs.
        if rest.iter().all(|b| *b == 0) {
            break;
        }
        let sp = rest
            .iter()
            .position(|b| *b == b' ')
            .ok_or("pax record without length")?;
        let len: usize = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or("invalid pax record length")?;
        if len <= sp + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err("invalid pax record length".into());
        }
        let record = &rest[sp + 1..len - 1];
        let eq = record
            .iter()
            .position(|b| *b == b'=')
            .ok_or("pax record without '='")?;
        out.push((&record[..eq], &record[eq + 1..]));
        rest = &rest[len..];
    }
    Ok(out)
}

/// A PAX time: decimal seconds, optional sign and fraction.
fn parse_time(t: &str) -> Option<Time> {
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, t),
    };
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    if secs.is_empty()
        || !secs.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = secs.parse().ok()?;
    let mut nanos: u32 = 0;
    for (i, d) in frac.bytes().take(9).enumerate() {
        nanos += u32::from(d - b'0') * 10u32.pow(8 - i as u32);
    }
    if neg {
        // -1.25 means 1.25 s before the epoch: (-2 s, 0.75 s).
        if nanos == 0 {
            Some(Time {
                secs: -secs,
                nanos: 0,
            })
        } else {
            Some(Time {
                secs: -secs - 1,
                nanos: 1_000_000_000 - nanos,
            })
        }
    } else {
        Some(Time { secs, nanos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_allow_newlines_in_values() {
        let mut data = Vec::new();
        for (k, v) in [
            (&b"path"[..], &b"a/b"[..]),
            (b"SCHILY.xattr.security.capability", b"\x01\n\x00\x02"),
        ] {
            let body_len = k.len() + v.len() + 3; // ' ', '=', '\n'
            let mut len = body_len + 1;
            while len != body_len + len.to_string().len() {
                len = body_len + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} ").as_bytes());
            data.extend_from_slice(k);
            data.push(b'=');
            data.extend_from_slice(v);
            data.push(b'\n');
        }
        let recs = parse_pax(&data).unwrap();
        assert_eq!(recs[0], (&b"path"[..], &b"a/b"[..]));
        assert_eq!(recs[1].1, b"\x01\n\x00\x02");
        assert!(parse_pax(b"99 path=x\n").is_err());
        assert!(parse_pax(b"5 ab\n").is_err());
    }

    #[test]
    fn pax_times() {
        assert_eq!(
            parse_time("1700000000"),
            Some(Time {
                secs: 1_700_000_000,
                nanos: 0
            })
        );
        assert_eq!(
            parse_time("1.5"),
            Some(Time {
                secs: 1,
                nanos: 500_000_000
            })
        );
        assert_eq!(
            parse_time("-1.25"),
            Some(Time {
                secs: -2,
                nanos: 750_000_000
            })
        );
        assert_eq!(
            parse_time("1.1234567891"),
            Some(Time {
                secs: 1,
                nanos: 123_456_789
            })
        );
        assert_eq!(parse_time("x"), None);
        assert_eq!(parse_time(""), None);
        assert_eq!(parse_time("1.x"), None);
    }
}
