//! One registry, one set of credentials: the distribution API v2 endpoints coracle uses.
//!
//! Every request that can be repeated is retried on connection errors, 429 and 5xx (honouring
//! `Retry-After`); authentication follows the registry's `WWW-Authenticate` challenge (see
//! `auth`). Bodies are streamed, never buffered, except manifests (capped in size).
//!
//! The first request settles the session with `GET /v2/`: HTTPS, or plain HTTP for an
//! insecure registry whose HTTPS fails, and the challenge to answer. `Authorization` goes only
//! to the registry's own scheme, host and port (reqwest drops it on a redirect elsewhere, as
//! blob storage does). Time-outs: connecting, waiting for an answer and each read of a body
//! give up after `ClientOptions::timeout`; an upload may take as long as its size needs.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use reqwest::blocking::{RequestBuilder, Response};
use reqwest::header;
use url::Url;

use crate::oci::digest::Digest;
use crate::registry::auth::{self, Challenge, TokenCache};
use crate::registry::{ClientOptions, Credentials, Endpoint};

mod wire;
pub(crate) use wire::status_error;
use wire::*;

/// Manifests larger than this are refused (c/image uses 4 MiB).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// The media types a pull accepts, best first.
pub const MANIFEST_ACCEPT: &[&str] = &[
    crate::oci::manifest::OCI_MANIFEST,
    crate::oci::manifest::OCI_INDEX,
    crate::oci::manifest::DOCKER_MANIFEST,
    crate::oci::manifest::DOCKER_MANIFEST_LIST,
];

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// 401 after authenticating (or without credentials to authenticate with).
    #[error("{url}: authentication required{}", msg(message))]
    Unauthorized { url: String, message: String },
    /// 403, or `DENIED` from the registry.
    #[error("{url}: requested access to the resource is denied{}", msg(message))]
    Denied { url: String, message: String },
    /// 404 / `MANIFEST_UNKNOWN` / `BLOB_UNKNOWN` / `NAME_UNKNOWN`.
    #[error("{url}: {what} unknown{}", msg(message))]
    NotFound {
        url: String,
        what: &'static str,
        message: String,
    },
    /// Any other status, with the registry's own error text.
    #[error("{url}: {status}{}", msg(message))]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{url}: {what} has digest {actual}, expected {expected}")]
    DigestMismatch {
        url: String,
        what: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{url}: {what}: {message}")]
    Invalid {
        url: String,
        what: String,
        message: String,
    },
    /// Connecting, TLS, time-outs, a connection closed early.
    #[error("{url}")]
    Transport {
        url: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("reading certificates from {path}")]
    Certificates {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn msg(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

impl RegistryError {
    /// Whether repeating the request could succeed (connection errors, 429, 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            RegistryError::Transport { source, .. } => !is_tls_error(source.as_ref()),
            RegistryError::Status { status, .. } => retryable_status(*status),
            _ => false,
        }
    }
}

/// A manifest (or index) as fetched, with the sha256 of exactly these bytes.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    /// From `Content-Type`, else from the document's own `mediaType`.
    pub media_type: String,
    pub digest: Digest,
}

/// What `HEAD` of a manifest says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestHead {
    pub digest: Digest,
    pub media_type: String,
    pub size: u64,
}

/// A blob's body as it streams in.
pub struct BlobStream {
    /// Where the body starts: the requested offset when the registry honoured `Range`, else 0.
    pub offset: u64,
    /// The whole blob's length, when the registry said.
    pub total: Option<u64>,
    pub body: Box<dyn Read + Send>,
}

/// A `/v1/search` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchResult {
    pub name: String,
    pub description: String,
    pub stars: u64,
    pub official: bool,
    pub automated: bool,
}

/// A client for one registry endpoint. It is `Send + Sync`: one client serves the parallel
/// layer downloads of a pull, sharing its connections and tokens.
pub struct Client {
    endpoint: Endpoint,
    /// Where `endpoint.host` is reached (`registry-1.docker.io` for `docker.io`).
    connect_host: String,
    credentials: Option<Credentials>,
    retries: u32,
    retry_delay: Option<Duration>,
    timeout: Duration,
    http: reqwest::blocking::Client,
    /// Settled by the first request (`GET /v2/`): the scheme that works and the challenge.
    session: Mutex<Option<Session>>,
    tokens: TokenCache,
    /// Scopes a registry asked for beyond ours (`insufficient_scope`), by what we asked for,
    /// so later requests get the wider token at once.
    wider_scopes: Mutex<HashMap<String, Vec<String>>>,
}

#[derive(Clone, Debug)]
struct Session {
    base: Url,
    challenge: Option<Challenge>,
}

/// `Link` pages followed at most, against a registry that links on for ever.
const MAX_PAGES: usize = 10_000;
/// Tags or repositories taken at most from one listing.
const MAX_ENTRIES: usize = 1_000_000;

/// The limits on a `Link`-paginated listing. Going past one is an error: a listing silently
/// cut short would look complete.
struct Paging {
    what: &'static str,
    seen: std::collections::HashSet<Url>,
    entries: usize,
}

impl Paging {
    fn new(what: &'static str) -> Paging {
        Paging {
            what,
            seen: std::collections::HashSet::new(),
            entries: 0,
        }
    }

    /// Before fetching the page at `url`.
    fn visit(&mut self, url: &Url) -> Result<(), RegistryError> {
        if self.seen.len() >= MAX_PAGES {
            return Err(self.error(url, format!("more than {MAX_PAGES} pages")));
        }
        if !self.seen.insert(url.clone()) {
            return Err(self.error(
                url,
                "the Link header leads back to a page already read".into(),
            ));
        }
        Ok(())
    }

    /// After the page at `url` gave `n` entries.
    fn count(&mut self, url: &Url, n: usize) -> Result<(), RegistryError> {
        self.entries = self.entries.saturating_add(n);
        if self.entries > MAX_ENTRIES {
            return Err(self.error(url, format!("more than {MAX_ENTRIES} entries")));
        }
        Ok(())
    }

    fn error(&self, url: &Url, message: String) -> RegistryError {
        RegistryError::Invalid {
            url: wire::shown_url(url),
            what: self.what.into(),
            message,
        }
    }
}
/// The PATCH size of a chunked upload unless the registry asks for more.
const CHUNK: u64 = 8 << 20;

impl Client {
    pub fn new(
        endpoint: Endpoint,
        credentials: Option<Credentials>,
        options: &ClientOptions,
    ) -> Result<Client, RegistryError> {
        let tls = crate::registry::tls::client_config(
            &endpoint.host,
            options.cert_dir.as_deref(),
            endpoint.insecure,
        )?;
        let http = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(tls)
            .user_agent(concat!("coracle/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(options.timeout)
            // The blocking client applies this to waiting for the response and to each read
            // of the body: a stalled server fails instead of hanging.
            .timeout(options.timeout)
            // A peer that stops acknowledging what an upload sends.
            .tcp_user_timeout(options.timeout)
            .build()
            .map_err(|e| RegistryError::Transport {
                url: endpoint.host.clone(),
                source: Box::new(e),
            })?;
        let connect_host = match endpoint.host.as_str() {
            "docker.io" => "registry-1.docker.io".to_string(),
            host => host.to_string(),
        };
        Ok(Client {
            endpoint,
            connect_host,
            credentials,
            retries: options.retries,
            retry_delay: options.retry_delay,
            timeout: options.timeout,
            http,
            session: Mutex::new(None),
            tokens: TokenCache::default(),
            wider_scopes: Mutex::new(HashMap::new()),
        })
    }

    /// The registry's host as references name it.
    pub fn host(&self) -> &str {
        &self.endpoint.host
    }

    /// `GET /v2/`, authenticating when challenged: `Unauthorized` means the credentials
    /// (or their absence) are not accepted. `login` uses this.
    pub fn ping(&self) -> Result<(), RegistryError> {
        let session = self.session()?;
        if session.challenge.is_none() {
            return Ok(());
        }
        let url = self.url(&session, "v2/")?;
        let resp = self.send(&[], true, &mut || Ok(self.http.get(url.clone())))?;
        check(resp, "registry").map(drop)
    }

    /// `METHOD /v2/REPO/manifests/REF` with [`MANIFEST_ACCEPT`], authenticated for pulling;
    /// the URL (for messages) and the response, not yet checked.
    fn manifest_request(
        &self,
        method: reqwest::Method,
        repo: &str,
        reference: &str,
    ) -> Result<(url::Url, reqwest::blocking::Response), RegistryError> {
        let url = self.url(
            &self.session()?,
            &format!("v2/{repo}/manifests/{reference}"),
        )?;
        let resp = self.send(&pull_scope(repo), true, &mut || {
            Ok(self
                .http
                .request(method.clone(), url.clone())
                .header(header::ACCEPT, MANIFEST_ACCEPT.join(", ")))
        })?;
        Ok((url, resp))
    }

    /// `GET /v2/REPO/manifests/REF` with [`MANIFEST_ACCEPT`]; `reference` is a tag or a
    /// digest. When it is a digest, the bytes are checked against it.
    pub fn get_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        let (url, resp) = self.manifest_request(reqwest::Method::GET, repo, reference)?;
        let resp = check(resp, "manifest")?;
        let shown = url.to_string();
        if resp.content_length().is_some_and(|n| n > MAX_MANIFEST) {
            return Err(too_large(&shown));
        }
        let content_type = header_str(resp.headers(), header::CONTENT_TYPE);
        let mut bytes = Vec::new();
        resp.take(MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| transport_io(&shown, e))?;
        if bytes.len() as u64 > MAX_MANIFEST {
            return Err(too_large(&shown));
        }
        let digest = Digest::of_bytes(&bytes);
        if let Ok(expected) = reference.parse::<Digest>()
            && expected != digest
        {
            return Err(RegistryError::DigestMismatch {
                url: shown,
                what: "manifest".into(),
                expected,
                actual: digest,
            });
        }
        let media_type =
            manifest_media_type(content_type.as_deref(), &bytes).map_err(|message| {
                RegistryError::Invalid {
                    url: shown,
                    what: "manifest".into(),
                    message,
                }
            })?;
        Ok(FetchedManifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// `HEAD /v2/REPO/manifests/REF`; `None` when the registry has no such manifest.
    pub fn head_manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        let (url, resp) = self.manifest_request(reqwest::Method::HEAD, repo, reference)?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let resp = check(resp, "manifest")?;
        let headers = resp.headers();
        let digest = header_str(headers, "docker-content-digest").and_then(|d| d.parse().ok());
        let media_type = header_str(headers, header::CONTENT_TYPE)
            .map(|t| bare_media_type(&t).to_string())
            .filter(|t| !is_generic_type(t));
        let size = content_length(headers).filter(|n| *n > 0);
        let (digest, media_type, size) = match (digest, media_type, size) {
            (Some(d), Some(t), Some(n)) => (d, t, n),
            // Registries that omit any of these: what GET returns is authoritative.
            _ => {
                let m = self.get_manifest(repo, reference)?;
                (m.digest, m.media_type, m.bytes.len() as u64)
            }
        };
        if let Ok(expected) = reference.parse::<Digest>()
            && expected != digest
        {
            return Err(RegistryError::DigestMismatch {
                url: url.to_string(),
                what: "manifest".into(),
                expected,
                actual: digest,
            });
        }
        if is_schema1(&media_type) {
            return Err(schema1(url.as_str()));
        }
        Ok(Some(ManifestHead {
            digest,
            media_type,
            size,
        }))
    }

    /// `PUT /v2/REPO/manifests/REF`; returns the digest of `bytes`.
    pub fn put_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        let url = self.url(
            &self.session()?,
            &format!("v2/{repo}/manifests/{reference}"),
        )?;
        let resp = self.send(&push_scope(repo), true, &mut || {
            Ok(self
                .http
                .put(url.clone())
                .header(header::CONTENT_TYPE, media_type)
                .body(bytes.to_vec()))
        })?;
        let resp = check(resp, "manifest")?;
        let digest = Digest::of_bytes(bytes);
        if let Some(answered) = header_str(resp.headers(), "docker-content-digest")
            && let Ok(answered) = answered.parse::<Digest>()
            && answered != digest
        {
            return Err(RegistryError::DigestMismatch {
                url: url.to_string(),
                what: "stored manifest".into(),
                expected: digest,
                actual: answered,
            });
        }
        Ok(digest)
    }

    /// `GET /v2/REPO/blobs/DIGEST`, from byte `offset` on (a `Range` request) when it is not 0.
    /// The caller verifies digest and size while it reads.
    pub fn get_blob(
        &self,
        repo: &str,
        digest: &Digest,
        offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        let url = self.url(&self.session()?, &format!("v2/{repo}/blobs/{digest}"))?;
        // Blob storage often redirects to another host; reqwest drops `Authorization` on
        // a redirect to another host, scheme or port, so the token stays with the registry.
        let resp = self.send(&pull_scope(repo), true, &mut || {
            let req = self.http.get(url.clone());
            Ok(if offset > 0 {
                req.header(header::RANGE, format!("bytes={offset}-"))
            } else {
                req
            })
        })?;
        let resp = check(resp, "blob")?;
        let (start, total) = if resp.status().as_u16() == 206 {
            let range = header_str(resp.headers(), header::CONTENT_RANGE);
            match range.as_deref().and_then(parse_content_range) {
                Some((start, total)) if start == offset => (start, total),
                _ => {
                    return Err(RegistryError::Invalid {
                        url: url.to_string(),
                        what: "blob".into(),
                        message: format!(
                            "asked for bytes from {offset}, got Content-Range {}",
                            range.as_deref().unwrap_or("(none)")
                        ),
                    });
                }
            }
        } else {
            (0, resp.content_length())
        };
        Ok(BlobStream {
            offset: start,
            total,
            body: Box::new(UrlFreeBody(resp)),
        })
    }

    /// `HEAD /v2/REPO/blobs/DIGEST`: the blob's size when the repository has it.
    pub fn blob_size(&self, repo: &str, digest: &Digest) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&self.session()?, &format!("v2/{repo}/blobs/{digest}"))?;
        let resp = self.send(&pull_scope(repo), true, &mut || {
            Ok(self.http.head(url.clone()))
        })?;
        if resp.status().as_u16() == 404 {
            return Ok(None);
        }
        let resp = check(resp, "blob")?;
        content_length(resp.headers())
            .map(Some)
            .ok_or_else(|| RegistryError::Invalid {
                url: url.to_string(),
                what: "blob".into(),
                message: "no Content-Length in the answer to HEAD".into(),
            })
    }

    /// `POST /v2/REPO/blobs/uploads/?mount=DIGEST&from=FROM`: true when the registry mounted
    /// it; false when it cannot (the upload it started instead is cancelled).
    pub fn mount_blob(
        &self,
        repo: &str,
        digest: &Digest,
        from: &str,
    ) -> Result<bool, RegistryError> {
        let session = self.session()?;
        let mut url = self.url(&session, &format!("v2/{repo}/blobs/uploads/"))?;
        url.query_pairs_mut()
            .append_pair("mount", &digest.to_string())
            .append_pair("from", from);
        let mut scopes = push_scope(repo);
        scopes.push(format!("repository:{from}:pull"));
        let resp = self.send(&scopes, true, &mut || Ok(self.http.post(url.clone())))?;
        let resp = check(resp, "repository")?;
        if resp.status().as_u16() == 201 {
            return Ok(true);
        }
        if let Some(location) = header_str(resp.headers(), header::LOCATION)
            && let Ok(upload) = url.join(&location)
        {
            // Best effort: an abandoned upload session only costs the registry a record
            // it expires on its own.
            match self.send(&scopes, false, &mut || Ok(self.http.delete(upload.clone()))) {
                Ok(r) if !r.status().is_success() => {
                    tracing::debug!("cancelling upload {upload}: {}", r.status())
                }
                Err(e) => tracing::debug!("cancelling upload: {e}"),
                Ok(_) => {}
            }
        }
        Ok(false)
    }

    /// Uploads a blob of `size` bytes: `POST` then one streamed `PUT ?digest=`, or `PATCH`
    /// chunks where the registry needs them. `body` is called again for a retry.
    pub fn upload_blob(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: &mut dyn FnMut() -> std::io::Result<Box<dyn Read + Send>>,
    ) -> Result<(), RegistryError> {
        let mut delay = self.first_delay();
        let mut attempt = 0;
        loop {
            match self.upload_once(repo, digest, size, body) {
                Err(e) if e.is_retryable() && attempt < self.retries => {
                    tracing::debug!("uploading {digest}: {e}; retrying in {delay:?}");
                    std::thread::sleep(delay);
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn upload_once(
        &self,
        repo: &str,
        digest: &Digest,
        size: u64,
        body: &mut dyn FnMut() -> std::io::Result<Box<dyn Read + Send>>,
    ) -> Result<(), RegistryError> {
        let scopes = push_scope(repo);
        let (location, _) = self.start_upload(repo, &scopes)?;
        let mut put = location;
        put.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let resp = self.send(&scopes, false, &mut || {
            let reader = body().map_err(|e| body_error(&put, e))?;
            Ok(self
                .http
                .put(put.clone())
                .timeout(self.upload_timeout(size))
                .header(header::CONTENT_TYPE, "application/octet-stream")
                .body(reqwest::blocking::Body::sized(reader, size)))
        })?;
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let shown = put.to_string();
        let text = read_error_body(resp);
        if !needs_chunks(status, &text) {
            return Err(status_error(&shown, status, &text, "blob upload"));
        }
        tracing::debug!("{shown}: {status}; uploading {digest} in chunks");
        let (location, min_chunk) = self.start_upload(repo, &scopes)?;
        self.upload_chunks(location, &scopes, digest, size, min_chunk.max(CHUNK), body)
    }

    /// `POST /v2/REPO/blobs/uploads/`: the upload's location and the registry's minimum
    /// chunk size (`OCI-Chunk-Min-Length`).
    fn start_upload(&self, repo: &str, scopes: &[String]) -> Result<(Url, u64), RegistryError> {
        let url = self.url(&self.session()?, &format!("v2/{repo}/blobs/uploads/"))?;
        let resp = self.send(scopes, false, &mut || Ok(self.http.post(url.clone())))?;
        let resp = check(resp, "repository")?;
        let min_chunk = header_str(resp.headers(), "oci-chunk-min-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok((next_location(&url, resp.headers())?, min_chunk))
    }

    fn upload_chunks(
        &self,
        mut location: Url,
        scopes: &[String],
        digest: &Digest,
        size: u64,
        chunk: u64,
        body: &mut dyn FnMut() -> std::io::Result<Box<dyn Read + Send>>,
    ) -> Result<(), RegistryError> {
        let mut reader = body().map_err(|e| body_error(&location, e))?;
        let mut sent = 0u64;
        while sent < size {
            let mut buf = Vec::new();
            (&mut reader)
                .take(chunk.min(size - sent))
                .read_to_end(&mut buf)
                .map_err(|e| body_error(&location, e))?;
            if buf.is_empty() {
                return Err(body_error(
                    &location,
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!("blob ended after {sent} of {size} bytes"),
                    ),
                ));
            }
            let end = sent + buf.len() as u64 - 1;
            let resp = self.send(scopes, false, &mut || {
                Ok(self
                    .http
                    .patch(location.clone())
                    .timeout(self.upload_timeout(buf.len() as u64))
                    .header(header::CONTENT_TYPE, "application/octet-stream")
                    .header(header::CONTENT_RANGE, format!("{sent}-{end}"))
                    .body(buf.clone()))
            })?;
            let resp = check(resp, "blob upload")?;
            location = next_location(&location, resp.headers())?;
            sent = end + 1;
        }
        let mut put = location;
        put.query_pairs_mut()
            .append_pair("digest", &digest.to_string());
        let resp = self.send(scopes, false, &mut || {
            Ok(self
                .http
                .put(put.clone())
                .header(header::CONTENT_LENGTH, "0"))
        })?;
        check(resp, "blob upload").map(drop)
    }

    /// `GET /v2/REPO/tags/list`, following `Link` pagination.
    pub fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let url = self.url(&self.session()?, &format!("v2/{repo}/tags/list"))?;
        self.pages(url, &pull_scope(repo), "repository", |bytes| {
            serde_json::from_slice::<Page>(bytes).map(|p| p.tags.unwrap_or_default())
        })
    }

    /// `GET /v2/_catalog`, following `Link` pagination.
    pub fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
        }
        let url = self.url(&self.session()?, "v2/_catalog")?;
        let scopes = ["registry:catalog:*".to_string()];
        self.pages(url, &scopes, "catalog", |bytes| {
            serde_json::from_slice::<Page>(bytes).map(|p| p.repositories.unwrap_or_default())
        })
    }

    fn pages(
        &self,
        first: Url,
        scopes: &[String],
        what: &'static str,
        parse: impl Fn(&[u8]) -> serde_json::Result<Vec<String>>,
    ) -> Result<Vec<String>, RegistryError> {
        let mut all = Vec::new();
        let mut paging = Paging::new(what);
        let mut next = Some(first);
        while let Some(url) = next.take() {
            paging.visit(&url)?;
            let resp = self.send(scopes, true, &mut || Ok(self.http.get(url.clone())))?;
            let resp = check(resp, what)?;
            let link = header_str(resp.headers(), header::LINK);
            let bytes = read_body(resp, &url, 16 << 20)?;
            let entries = parse(&bytes).map_err(|e| RegistryError::Invalid {
                url: url.to_string(),
                what: what.into(),
                message: e.to_string(),
            })?;
            paging.count(&url, entries.len())?;
            all.extend(entries);
            if let Some(target) = link.as_deref().and_then(next_link) {
                next = Some(url.join(&target).map_err(|e| RegistryError::Invalid {
                    url: url.to_string(),
                    what: "Link header".into(),
                    message: e.to_string(),
                })?);
            }
        }
        Ok(all)
    }

    /// `GET /v1/search?q=TERM&n=LIMIT`; `None` when the registry has no v1 search.
    pub fn search_v1(
        &self,
        term: &str,
        limit: usize,
    ) -> Result<Option<Vec<SearchResult>>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            results: Vec<Hit>,
        }
        #[derive(serde::Deserialize)]
        struct Hit {
            name: String,
            #[serde(default)]
            description: Option<String>,
            #[serde(default)]
            star_count: u64,
            #[serde(default)]
            is_official: bool,
            #[serde(default)]
            is_automated: bool,
        }
        let mut url = if self.endpoint.host == "docker.io" {
            // Docker Hub's v1 index lives on its own host (anonymous).
            Url::parse("https://index.docker.io/v1/search").map_err(|e| invalid_url("", e))?
        } else {
            self.url(&self.session()?, "v1/search")?
        };
        url.query_pairs_mut()
            .append_pair("q", term)
            .append_pair("n", &limit.to_string());
        let resp = self.send(&[], true, &mut || Ok(self.http.get(url.clone())))?;
        if matches!(resp.status().as_u16(), 404 | 405) {
            return Ok(None);
        }
        let resp = check(resp, "search")?;
        let bytes = read_body(resp, &url, 16 << 20)?;
        let page: Page = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Invalid {
            url: url.to_string(),
            what: "search results".into(),
            message: e.to_string(),
        })?;
        Ok(Some(
            page.results
                .into_iter()
                .map(|h| SearchResult {
                    name: h.name,
                    description: h.description.unwrap_or_default(),
                    stars: h.star_count,
                    official: h.is_official,
                    automated: h.is_automated,
                })
                .collect(),
        ))
    }

    // --- the request machinery ---

    fn url(&self, session: &Session, path: &str) -> Result<Url, RegistryError> {
        session
            .base
            .join(path)
            .map_err(|e| invalid_url(&format!("{}{path}", session.base), e))
    }

    fn first_delay(&self) -> Duration {
        self.retry_delay.unwrap_or(Duration::from_secs(1))
    }

    /// A whole upload may take as long as a slow link needs; stalls are caught by the TCP
    /// user timeout instead.
    fn upload_timeout(&self, size: u64) -> Duration {
        self.timeout + Duration::from_secs(size / (64 << 10))
    }

    /// The session, settling it with `GET /v2/` first: HTTPS, or for an insecure registry
    /// plain HTTP when HTTPS fails (as c/image).
    fn session(&self) -> Result<Session, RegistryError> {
        let mut guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let https = Url::parse(&format!("https://{}/", self.connect_host))
            .map_err(|e| invalid_url(&self.connect_host, e))?;
        let session = if self.endpoint.insecure {
            // No retries over HTTPS: a plain-HTTP registry fails the handshake every time.
            match self.probe(https, false) {
                Ok(s) => s,
                Err(https_err @ RegistryError::Transport { .. }) => {
                    let http = Url::parse(&format!("http://{}/", self.connect_host))
                        .map_err(|e| invalid_url(&self.connect_host, e))?;
                    match self.probe(http, true) {
                        Ok(s) => s,
                        Err(RegistryError::Transport { .. }) => return Err(https_err),
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        } else {
            self.probe(https, true)?
        };
        tracing::debug!("registry {}: {session:?}", self.endpoint.host);
        *guard = Some(session.clone());
        Ok(session)
    }

    fn probe(&self, base: Url, retry: bool) -> Result<Session, RegistryError> {
        let url = base
            .join("v2/")
            .map_err(|e| invalid_url(base.as_str(), e))?;
        let resp = self.execute(retry, &mut || Ok(self.http.get(url.clone())), None)?;
        match resp.status().as_u16() {
            200..=299 => Ok(Session {
                base,
                challenge: None,
            }),
            401 => Ok(Session {
                base,
                challenge: auth::pick_challenge(www_authenticate(resp.headers())),
            }),
            status => Err(status_error(
                url.as_str(),
                status,
                &read_error_body(resp),
                "registry",
            )),
        }
    }

    /// Sends a request built by `build` (called again for each attempt) with the
    /// authorization `scopes` need, answering one new challenge on 401, retrying when
    /// `retry` on what is retryable. Returns the response whatever its status.
    fn send(
        &self,
        scopes: &[String],
        retry: bool,
        build: &mut dyn FnMut() -> Result<RequestBuilder, RegistryError>,
    ) -> Result<Response, RegistryError> {
        let mut session = self.session()?;
        let asked = scopes.join(" ");
        let mut scopes = {
            let wider = self.wider_scopes.lock().unwrap_or_else(|e| e.into_inner());
            wider
                .get(&asked)
                .cloned()
                .unwrap_or_else(|| scopes.to_vec())
        };
        let mut answered_401 = false;
        loop {
            let authorization = self.authorization(&session, &scopes)?;
            let resp = self.execute(
                retry,
                build,
                authorization.as_deref().map(|a| (&session.base, a)),
            )?;
            if resp.status().as_u16() != 401 || answered_401 {
                return Ok(resp);
            }
            let Some(challenge) = auth::pick_challenge(www_authenticate(resp.headers())) else {
                return Ok(resp);
            };
            if challenge == Challenge::Basic && self.credentials.is_none() {
                return Ok(resp);
            }
            answered_401 = true;
            // An expired token, or `insufficient_scope`: a fresh token for what was asked
            // plus what the registry says it needs.
            self.tokens.forget(&scopes.join(" "));
            if let Challenge::Bearer {
                scope: Some(wanted),
                ..
            } = &challenge
            {
                let before = scopes.len();
                for s in wanted.split(' ').filter(|s| !s.is_empty()) {
                    if !scopes.iter().any(|have| have == s) {
                        scopes.push(s.to_string());
                    }
                }
                if scopes.len() > before {
                    let mut wider = self.wider_scopes.lock().unwrap_or_else(|e| e.into_inner());
                    wider.insert(asked.clone(), scopes.clone());
                }
            }
            session.challenge = Some(challenge);
            let mut guard = self.session.lock().unwrap_or_else(|e| e.into_inner());
            *guard = Some(session.clone());
        }
    }

    /// The `Authorization` value for `scopes` under the session's challenge.
    fn authorization(
        &self,
        session: &Session,
        scopes: &[String],
    ) -> Result<Option<String>, RegistryError> {
        match &session.challenge {
            None => Ok(None),
            Some(Challenge::Basic) => Ok(self.credentials.as_ref().map(auth::basic_header)),
            Some(Challenge::Bearer { realm, service, .. }) => {
                let key = scopes.join(" ");
                if let Some(token) = self.tokens.get(&key) {
                    return Ok(Some(format!("Bearer {token}")));
                }
                let (token, lifetime) = auth::fetch_token(
                    &self.http,
                    realm,
                    service.as_deref(),
                    scopes,
                    self.credentials.as_ref(),
                    self.endpoint.insecure,
                )?;
                self.tokens.put(&key, token.clone(), lifetime);
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// One request with retries: connection errors and 408/429/5xx are tried again after a
    /// delay (doubling, or `Retry-After`) when `retry`. `authorization` is sent only to the
    /// registry's own origin.
    fn execute(
        &self,
        retry: bool,
        build: &mut dyn FnMut() -> Result<RequestBuilder, RegistryError>,
        authorization: Option<(&Url, &str)>,
    ) -> Result<Response, RegistryError> {
        let attempts = if retry { 1 + self.retries } else { 1 };
        let mut delay = self.first_delay();
        let mut attempt = 1;
        loop {
            let mut request = build()?.build().map_err(|e| RegistryError::Transport {
                url: String::new(),
                source: Box::new(e),
            })?;
            let url = request.url().to_string();
            if let Some((base, value)) = authorization
                && same_origin(base, request.url())
            {
                let mut value =
                    header::HeaderValue::from_str(value).map_err(|_| RegistryError::Invalid {
                        url: url.clone(),
                        what: "authorization".into(),
                        message: "the token is not a valid header value".into(),
                    })?;
                value.set_sensitive(true);
                request.headers_mut().insert(header::AUTHORIZATION, value);
            }
            tracing::debug!("{} {url}", request.method());
            let (wait, failure) = match self.http.execute(request) {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    if !retryable_status(status) || attempt >= attempts {
                        return Ok(resp);
                    }
                    let after = header_str(resp.headers(), header::RETRY_AFTER)
                        .and_then(|v| retry_after(&v, SystemTime::now()));
                    (after.unwrap_or(delay), format!("{status}"))
                }
                Err(e) => {
                    let err = transport(&url, e);
                    if attempt >= attempts || !err.is_retryable() {
                        return Err(err);
                    }
                    let text = match &err {
                        RegistryError::Transport { source, .. } => error_chain(source.as_ref()),
                        other => other.to_string(),
                    };
                    (delay, text)
                }
            };
            tracing::info!("{url}: {failure}; retrying in {wait:?} ({attempt}/{attempts})");
            std::thread::sleep(wait);
            delay = delay.saturating_mul(2);
            attempt += 1;
        }
    }
}

#[cfg(test)]
mod tests;

/// A blob body whose read errors never carry the URL: after a redirect it may be a signed
/// storage URL whose query is a credential.
struct UrlFreeBody(reqwest::blocking::Response);

impl Read for UrlFreeBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.read(buf).map_err(|e| {
            let kind = e.kind();
            match e.into_inner() {
                Some(inner) => match inner.downcast::<reqwest::Error>() {
                    Ok(re) => std::io::Error::new(kind, re.without_url()),
                    Err(other) => std::io::Error::new(kind, other),
                },
                None => std::io::Error::from(kind),
            }
        })
    }
}
