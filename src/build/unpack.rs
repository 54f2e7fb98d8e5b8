//! Tar archives the build unpacks (a context, ADD's local archives): plain, gzip or zstd
//! (the project's decompressors), bzip2 or xz (the `bzip2`/`xz` commands). Extracted as a
//! layer, so the archive's owners and modes are kept in coracle's metadata.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::archive::{DIFF_DIR, extract_layer};
use crate::build::scratch::Scratch;

/// An archive unpacked as a layer directory.
pub(crate) struct Unpacked {
    pub layer: PathBuf,
    pub scratch: Scratch,
}

const BZIP2_MAGIC: &[u8] = b"BZh";
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

impl Unpacked {
    /// The unpacked tree.
    pub fn diff(&self) -> PathBuf {
        self.layer.join(DIFF_DIR)
    }
}

/// Unpacks `path` when it is a tar archive (compressed or not); `None` when it is not one.
pub(crate) fn unpack_file(path: &Path) -> Result<Option<Unpacked>, String> {
    let fail = |reason: String| reason;
    let mut stream = match open_decompressed(path).map_err(|e| fail(e.to_string()))? {
        Some(s) => s,
        None => return Ok(None),
    };
    let mut head = vec![0u8; 512];
    let mut have = 0;
    while have < head.len() {
        match stream.reader.read(&mut head[have..]) {
            Ok(0) => break,
            Ok(n) => have += n,
            // Not decompressible: not an archive.
            Err(_) => return Ok(None),
        }
    }
    if have < 512 || !is_tar_header(&head) {
        return Ok(None);
    }
    let scratch = Scratch::new("add").map_err(|e| fail(e.to_string()))?;
    let layer = scratch.path().join("layer");
    std::fs::create_dir(&layer).map_err(|e| fail(e.to_string()))?;
    let reader = std::io::Cursor::new(head).chain(stream.reader);
    extract_layer(reader, &layer).map_err(|e| fail(chain(&e)))?;
    if let Some(mut child) = stream.child {
        let status = child.wait().map_err(|e| fail(e.to_string()))?;
        if !status.success() {
            return Err(fail(format!("decompressor failed: {status}")));
        }
    }
    Ok(Some(Unpacked { layer, scratch }))
}

struct Decompressed {
    reader: Box<dyn Read>,
    /// The `bzip2`/`xz` process decompressing, when one does.
    child: Option<std::process::Child>,
}

fn open_decompressed(path: &Path) -> std::io::Result<Option<Decompressed>> {
    let mut magic = [0u8; 6];
    let mut f = File::open(path)?;
    let n = f.read(&mut magic)?;
    let magic = &magic[..n];
    let tool = if magic.starts_with(BZIP2_MAGIC) {
        Some("bzip2")
    } else if magic.starts_with(XZ_MAGIC) {
        Some("xz")
    } else {
        None
    };
    if let Some(tool) = tool {
        let mut child = match Command::new(tool)
            .arg("-dc")
            .stdin(File::open(path)?)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                tracing::debug!("no {tool} to unpack {}: copied as a file", path.display());
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let out = child
            .stdout
            .take()
            .ok_or_else(|| std::io::Error::other("no pipe"))?;
        return Ok(Some(Decompressed {
            reader: Box::new(out),
            child: Some(child),
        }));
    }
    let (_, reader) = crate::archive::decompress(BufReader::new(File::open(path)?))?;
    Ok(Some(Decompressed {
        reader,
        child: None,
    }))
}

/// Whether `block` is a tar header that names something (an empty archive's zero block is
/// not an archive to unpack).
fn is_tar_header(block: &[u8]) -> bool {
    block.first().is_some_and(|b| *b != 0) && crate::transfer::scan::is_tar_header(block)
}

/// An error and its sources, `: `-separated.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}
