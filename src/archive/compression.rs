//! Layer compression, recognised by magic number rather than by media type, because
//! registries and archives mislabel layers.

use std::io::{self, BufRead, Read};

/// How a layer blob is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Sniffs the compression of `r` and returns a reader of the uncompressed stream. Gzip
/// streams may have several members (`pigz`, concatenated layers) and are read to the end.
pub fn decompress<'a, R: BufRead + 'a>(mut r: R) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    // Peek up to four bytes; `fill_buf` may return fewer than are coming, so collect them.
    let mut head = [0u8; 4];
    let mut have = 0;
    while have < head.len() {
        let buf = match r.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            break;
        }
        let n = buf.len().min(head.len() - have);
        head[have..have + n].copy_from_slice(&buf[..n]);
        r.consume(n);
        have += n;
    }
    let head = &head[..have];
    let whole = io::Cursor::new(head.to_vec()).chain(r);
    if head.starts_with(GZIP_MAGIC) {
        Ok((
            Compression::Gzip,
            Box::new(flate2::read::MultiGzDecoder::new(whole)),
        ))
    } else if head.starts_with(ZSTD_MAGIC) {
        Ok((
            Compression::Zstd,
            Box::new(zstd::stream::read::Decoder::new(whole)?),
        ))
    } else {
        Ok((Compression::None, Box::new(whole)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], compressed: Vec<u8>, want: Compression) {
        let (c, mut r) = decompress(&compressed[..]).unwrap();
        assert_eq!(c, want);
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn sniffs_and_decompresses() {
        let data = b"hello layer".repeat(1000);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        let mut gz = gz.finish().unwrap();
        roundtrip(&data, gz.clone(), Compression::Gzip);
        // Two members.
        let mut gz2 = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz2.write_all(b"tail").unwrap();
        gz.extend(gz2.finish().unwrap());
        let mut both = data.clone();
        both.extend_from_slice(b"tail");
        roundtrip(&both, gz, Compression::Gzip);

        let zs = zstd::stream::encode_all(&data[..], 1).unwrap();
        roundtrip(&data, zs, Compression::Zstd);
        roundtrip(&data, data.clone(), Compression::None);
        roundtrip(b"", Vec::new(), Compression::None);
        roundtrip(b"\x1f", b"\x1f".to_vec(), Compression::None);
    }

    #[test]
    fn peeks_across_short_reads() {
        let zs = zstd::stream::encode_all(&b"abc"[..], 1).unwrap();
        // A BufReader with a 1-byte buffer hands out the magic one byte at a time.
        let r = io::BufReader::with_capacity(1, &zs[..]);
        let (c, mut d) = decompress(r).unwrap();
        assert_eq!(c, Compression::Zstd);
        let mut out = Vec::new();
        d.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
    }
}
