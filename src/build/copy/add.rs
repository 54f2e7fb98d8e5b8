//! What only ADD does: a local tar archive (plain, gzip, zstd, bzip2, xz) is unpacked at the
//! destination, keeping the archive's owners; an http(s) URL is downloaded (mode 0600, mtime
//! from `Last-Modified`, `--checksum` verified), and not unpacked, as Docker does.

use std::path::Path;

use crate::build::fetch::{self, Downloaded};
use crate::build::scratch::Scratch;
use crate::build::unpack::{self, Unpacked};

use super::CopyError;

pub(super) use crate::build::fetch::is_url;

/// Downloads `url` for ADD, checking `checksum` (`sha256:<hex>`).
pub(super) fn download(
    url: &str,
    checksum: Option<&str>,
) -> Result<(Downloaded, Scratch), CopyError> {
    let want = checksum
        .map(|c| {
            c.strip_prefix("sha256:")
                .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| CopyError::ChecksumSyntax(c.to_string()))
        })
        .transpose()?;
    let (file, scratch) = fetch::download(url).map_err(|e| CopyError::Download {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(want) = want
        && file.digest.hex() != want
    {
        return Err(CopyError::ChecksumMismatch {
            url: url.to_string(),
            want: format!("sha256:{want}"),
            got: file.digest.to_string(),
        });
    }
    Ok((file, scratch))
}

/// Unpacks `path` when it is a tar archive (see [`crate::build::unpack`]).
pub(super) fn unpack(path: &Path) -> Result<Option<Unpacked>, CopyError> {
    unpack::unpack_file(path).map_err(|e| CopyError::Archive {
        path: path.display().to_string(),
        reason: e,
    })
}
