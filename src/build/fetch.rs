//! Downloads for the build: a context URL, ADD's URL sources. Each goes into its own
//! [`Scratch`] directory.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;

use crate::build::scratch::Scratch;
use crate::oci::digest::{Digest, HashingWriter};

pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0}")]
    Http(String),
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// A downloaded file.
#[derive(Debug)]
pub struct Downloaded {
    /// The file name the URL gives (its last path segment).
    pub name: String,
    pub path: PathBuf,
    pub size: u64,
    /// From `Last-Modified`, else 0.
    pub mtime: i64,
    pub digest: Digest,
}

/// Downloads `url` into a new scratch directory.
pub fn download(url: &str) -> Result<(Downloaded, Scratch), FetchError> {
    let fail = |reason: String| FetchError::Http(reason);
    let parsed = url::Url::parse(url).map_err(|e| fail(e.to_string()))?;
    let name = parsed
        .path_segments()
        .and_then(|mut s| s.rfind(|s| !s.is_empty()).map(str::to_string))
        .unwrap_or_else(|| "download".to_string());
    let scratch = Scratch::new("fetch").map_err(|source| FetchError::Io {
        path: std::env::temp_dir().display().to_string(),
        source,
    })?;
    let path = scratch.path().join("content");
    // The client's runtime thread ends when the client is dropped at the end of this block:
    // the build forks RUN containers later, which a threaded process may not.
    let (mtime, digest, size) = {
        let tls = crate::registry::tls::client_config(parsed.host_str().unwrap_or(""), None, false)
            .map_err(|e| fail(e.to_string()))?;
        let http = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(concat!("coracle/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| fail(e.to_string()))?;
        let mut resp = http.get(url).send().map_err(|e| fail(format!("{e:#}")))?;
        if !resp.status().is_success() {
            return Err(fail(format!("server answered {}", resp.status())));
        }
        let mtime = resp
            .headers()
            .get(reqwest::header::LAST_MODIFIED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| chrono::DateTime::parse_from_rfc2822(v).ok())
            .map(|t| t.timestamp())
            .unwrap_or(0);
        let io = |source| FetchError::Io {
            path: path.display().to_string(),
            source,
        };
        let file = File::create(&path).map_err(io)?;
        let mut w = HashingWriter::new(std::io::BufWriter::new(file));
        std::io::copy(&mut resp, &mut w).map_err(|e| fail(e.to_string()))?;
        let (digest, size, mut inner) = w.finish();
        inner.flush().map_err(io)?;
        (mtime, digest, size)
    };
    Ok((
        Downloaded {
            name,
            path,
            size,
            mtime,
            digest,
        },
        scratch,
    ))
}
