//! The wire details of the distribution API: reading responses, the registry's error
//! bodies, and the headers the client follows (`Link`, `Retry-After`, `Location`,
//! `Content-Range`, `Content-Type`).

use std::io::Read;
use std::time::{Duration, SystemTime};

use reqwest::blocking::Response;
use reqwest::header::{self, HeaderMap};
use url::Url;

use super::{MAX_MANIFEST, RegistryError};

/// `Retry-After` beyond this is not waited for in full.
pub(super) const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

pub(super) fn pull_scope(repo: &str) -> Vec<String> {
    vec![format!("repository:{repo}:pull")]
}

pub(super) fn push_scope(repo: &str) -> Vec<String> {
    vec![format!("repository:{repo}:pull,push")]
}

pub(super) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host_str() == b.host_str()
        && a.port_or_known_default() == b.port_or_known_default()
}

pub(super) fn www_authenticate(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

pub(super) fn header_str(headers: &HeaderMap, name: impl header::AsHeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

/// `Content-Length` as sent: for HEAD, reqwest's `content_length()` is the (empty) body's.
pub(super) fn content_length(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, header::CONTENT_LENGTH).and_then(|v| v.parse().ok())
}

/// The response when its status is a success, else the error its status and body say.
pub(super) fn check(resp: Response, what: &'static str) -> Result<Response, RegistryError> {
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let url = resp.url().to_string();
    Err(status_error(&url, status, &read_error_body(resp), what))
}

pub(super) fn read_error_body(resp: Response) -> Vec<u8> {
    let mut body = Vec::new();
    // An unreadable error body still leaves the status to report.
    let _ = resp.take(64 << 10).read_to_end(&mut body);
    body
}

pub(super) fn read_body(resp: Response, url: &Url, cap: u64) -> Result<Vec<u8>, RegistryError> {
    let mut body = Vec::new();
    resp.take(cap + 1)
        .read_to_end(&mut body)
        .map_err(|e| transport_io(url.as_str(), e))?;
    if body.len() as u64 > cap {
        return Err(RegistryError::Invalid {
            url: url.to_string(),
            what: "response".into(),
            message: format!("larger than {cap} bytes"),
        });
    }
    Ok(body)
}

/// The error for a failed status: the registry's own error codes first (the body
/// `{"errors":[{"code","message","detail"}]}`), then the status.
pub(crate) fn status_error(
    url: &str,
    status: u16,
    body: &[u8],
    what: &'static str,
) -> RegistryError {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
        #[serde(default)]
        detail: serde_json::Value,
    }
    let url = url.to_string();
    let entries = serde_json::from_slice::<Body>(body)
        .map(|b| b.errors)
        .unwrap_or_default();
    let message = if entries.is_empty() {
        // Not the registry's JSON (a proxy's page, plain text): its first line, shortened.
        let text = String::from_utf8_lossy(body);
        let line = text.lines().map(str::trim).find(|l| !l.is_empty());
        line.map(|l| l.chars().take(200).collect())
            .unwrap_or_default()
    } else {
        entries
            .iter()
            .map(|e| {
                let mut m = if e.message.is_empty() {
                    e.code.to_lowercase().replace('_', " ")
                } else {
                    e.message.clone()
                };
                if let serde_json::Value::String(d) = &e.detail
                    && !d.is_empty()
                {
                    m = format!("{m} ({d})");
                }
                m
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let code = entries.first().map(|e| e.code.as_str()).unwrap_or("");
    // The variants' own words; a message that only repeats them adds nothing.
    let message = match message.to_lowercase().as_str() {
        "authentication required"
        | "requested access to the resource is denied"
        | "manifest unknown"
        | "blob unknown"
        | "blob unknown to registry"
        | "repository name not known to registry" => String::new(),
        _ => message,
    };
    match code {
        "MANIFEST_UNKNOWN" => RegistryError::NotFound {
            url,
            what: "manifest",
            message,
        },
        "BLOB_UNKNOWN" => RegistryError::NotFound {
            url,
            what: "blob",
            message,
        },
        "NAME_UNKNOWN" => RegistryError::NotFound {
            url,
            what: "repository",
            message,
        },
        "DENIED" => RegistryError::Denied { url, message },
        "UNAUTHORIZED" => RegistryError::Unauthorized { url, message },
        "TOOMANYREQUESTS" => RegistryError::Status {
            url,
            status: 429,
            message,
        },
        _ => match status {
            401 => RegistryError::Unauthorized { url, message },
            403 => RegistryError::Denied { url, message },
            404 => RegistryError::NotFound { url, what, message },
            _ => RegistryError::Status {
                url,
                status,
                message,
            },
        },
    }
}

/// Whether a refused monolithic upload asks for chunks instead.
pub(super) fn needs_chunks(status: u16, body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body).to_lowercase();
    status == 413 || (matches!(status, 400 | 416) && text.contains("chunk"))
}

pub(super) fn retryable_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

/// Certificate and handshake failures do not heal by repeating.
pub(super) fn is_tls_error(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<rustls::Error>() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && is_tls_error(inner)
        {
            return true;
        }
        cur = e.source();
    }
    false
}

pub(super) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        text = format!("{text}: {e}");
        cur = e.source();
    }
    text
}

pub(super) fn transport(url: &str, e: reqwest::Error) -> RegistryError {
    RegistryError::Transport {
        url: url.to_string(),
        source: Box::new(e.without_url()),
    }
}

pub(super) fn transport_io(url: &str, e: std::io::Error) -> RegistryError {
    RegistryError::Transport {
        url: url.to_string(),
        source: Box::new(e),
    }
}

pub(super) fn body_error(url: &Url, e: std::io::Error) -> RegistryError {
    RegistryError::Invalid {
        url: url.to_string(),
        what: "blob upload".into(),
        message: format!("reading the blob: {e}"),
    }
}

pub(super) fn invalid_url(url: &str, e: url::ParseError) -> RegistryError {
    RegistryError::Invalid {
        url: url.to_string(),
        what: "URL".into(),
        message: e.to_string(),
    }
}

pub(super) fn too_large(url: &str) -> RegistryError {
    RegistryError::Invalid {
        url: url.to_string(),
        what: "manifest".into(),
        message: format!("larger than {MAX_MANIFEST} bytes"),
    }
}

pub(super) fn schema1(url: &str) -> RegistryError {
    RegistryError::Invalid {
        url: url.to_string(),
        what: "manifest".into(),
        message: "Docker schema 1 manifests are not supported".into(),
    }
}

/// An upload's next URL: its `Location` header, relative to `current`.
pub(super) fn next_location(current: &Url, headers: &HeaderMap) -> Result<Url, RegistryError> {
    let location = header_str(headers, header::LOCATION).ok_or_else(|| RegistryError::Invalid {
        url: current.to_string(),
        what: "blob upload".into(),
        message: "no Location in the response".into(),
    })?;
    current
        .join(&location)
        .map_err(|e| invalid_url(&location, e))
}

/// `Content-Type` without parameters.
pub(super) fn bare_media_type(content_type: &str) -> &str {
    content_type.split(';').next().unwrap_or("").trim()
}

/// Types servers send when they do not know what a manifest is.
pub(super) fn is_generic_type(t: &str) -> bool {
    matches!(
        t,
        "" | "application/json" | "text/plain" | "application/octet-stream"
    )
}

pub(super) fn is_schema1(t: &str) -> bool {
    t.starts_with("application/vnd.docker.distribution.manifest.v1+")
}

/// The manifest's media type: `Content-Type`, else the document's `mediaType`, else its shape.
pub(super) fn manifest_media_type(
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<String, String> {
    const SCHEMA1: &str = "Docker schema 1 manifests are not supported";
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Doc {
        #[serde(default)]
        schema_version: Option<u64>,
        #[serde(default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
        #[serde(default)]
        config: Option<serde_json::Value>,
    }
    let declared = content_type.map(bare_media_type).unwrap_or("");
    if is_schema1(declared) {
        return Err(SCHEMA1.into());
    }
    if !is_generic_type(declared) {
        return Ok(declared.to_string());
    }
    let doc: Doc = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    if doc.schema_version == Some(1) {
        return Err(SCHEMA1.into());
    }
    match doc.media_type {
        Some(t) if is_schema1(&t) => Err(SCHEMA1.into()),
        Some(t) if !t.is_empty() => Ok(t),
        _ if doc.manifests.is_some() => Ok(crate::oci::manifest::OCI_INDEX.into()),
        _ if doc.config.is_some() => Ok(crate::oci::manifest::OCI_MANIFEST.into()),
        _ => Err("no media type in Content-Type or in the document".into()),
    }
}

/// `Content-Range: bytes START-END/TOTAL` → (START, TOTAL when known).
pub(super) fn parse_content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    Some((start.trim().parse().ok()?, total.trim().parse().ok()))
}

/// The target of `rel="next"` in a `Link` header.
pub(super) fn next_link(value: &str) -> Option<String> {
    let mut rest = value;
    while let Some(open) = rest.find('<') {
        let close = open + rest[open..].find('>')?;
        let target = &rest[open + 1..close];
        let params_end = rest[close..].find('<').map_or(rest.len(), |i| close + i);
        let params = &rest[close + 1..params_end];
        let is_next = params.split(';').any(|p| {
            let p = p.trim().trim_end_matches(',').trim();
            p.split_once('=').is_some_and(|(k, v)| {
                k.trim().eq_ignore_ascii_case("rel")
                    && v.trim()
                        .trim_matches('"')
                        .split_whitespace()
                        .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(target.to_string());
        }
        rest = &rest[params_end..];
    }
    None
}

/// `Retry-After` as seconds or an HTTP date, capped at [`MAX_RETRY_AFTER`].
pub(super) fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
        let when = SystemTime::from(when);
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}
