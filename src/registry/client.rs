//! One registry, one set of credentials: the distribution API v2 endpoints coracle uses.
//!
//! Every request that can be repeated is retried on connection errors, 429 and 5xx (honouring
//! `Retry-After`); authentication follows the registry's `WWW-Authenticate` challenge (see
//! `auth`). Bodies are streamed, never buffered, except manifests (capped in size).

use std::io::Read;

use crate::oci::digest::Digest;
use crate::registry::{ClientOptions, Credentials, Endpoint};

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
        todo!("registry client")
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

/// A client for one registry endpoint.
pub struct Client {}

impl Client {
    pub fn new(
        _endpoint: Endpoint,
        _credentials: Option<Credentials>,
        _options: &ClientOptions,
    ) -> Result<Client, RegistryError> {
        todo!("registry client")
    }

    /// The registry's host as references name it.
    pub fn host(&self) -> &str {
        todo!("registry client")
    }

    /// `GET /v2/`, authenticating when challenged: `Unauthorized` means the credentials
    /// (or their absence) are not accepted. `login` uses this.
    pub fn ping(&self) -> Result<(), RegistryError> {
        todo!("registry client")
    }

    /// `GET /v2/REPO/manifests/REF` with [`MANIFEST_ACCEPT`]; `reference` is a tag or a
    /// digest. When it is a digest, the bytes are checked against it.
    pub fn get_manifest(
        &self,
        _repo: &str,
        _reference: &str,
    ) -> Result<FetchedManifest, RegistryError> {
        todo!("registry client")
    }

    /// `HEAD /v2/REPO/manifests/REF`; `None` when the registry has no such manifest.
    pub fn head_manifest(
        &self,
        _repo: &str,
        _reference: &str,
    ) -> Result<Option<ManifestHead>, RegistryError> {
        todo!("registry client")
    }

    /// `PUT /v2/REPO/manifests/REF`; returns the digest of `bytes`.
    pub fn put_manifest(
        &self,
        _repo: &str,
        _reference: &str,
        _media_type: &str,
        _bytes: &[u8],
    ) -> Result<Digest, RegistryError> {
        todo!("registry client")
    }

    /// `GET /v2/REPO/blobs/DIGEST`, from byte `offset` on (a `Range` request) when it is not 0.
    /// The caller verifies digest and size while it reads.
    pub fn get_blob(
        &self,
        _repo: &str,
        _digest: &Digest,
        _offset: u64,
    ) -> Result<BlobStream, RegistryError> {
        todo!("registry client")
    }

    /// `HEAD /v2/REPO/blobs/DIGEST`: the blob's size when the repository has it.
    pub fn blob_size(&self, _repo: &str, _digest: &Digest) -> Result<Option<u64>, RegistryError> {
        todo!("registry client")
    }

    /// `POST /v2/REPO/blobs/uploads/?mount=DIGEST&from=FROM`: true when the registry mounted
    /// it; false when it cannot (the upload it started instead is cancelled).
    pub fn mount_blob(
        &self,
        _repo: &str,
        _digest: &Digest,
        _from: &str,
    ) -> Result<bool, RegistryError> {
        todo!("registry client")
    }

    /// Uploads a blob of `size` bytes: `POST` then one streamed `PUT ?digest=`, or `PATCH`
    /// chunks where the registry needs them. `body` is called again for a retry.
    pub fn upload_blob(
        &self,
        _repo: &str,
        _digest: &Digest,
        _size: u64,
        _body: &mut dyn FnMut() -> std::io::Result<Box<dyn Read + Send>>,
    ) -> Result<(), RegistryError> {
        todo!("registry client")
    }

    /// `GET /v2/REPO/tags/list`, following `Link` pagination.
    pub fn tags(&self, _repo: &str) -> Result<Vec<String>, RegistryError> {
        todo!("registry client")
    }

    /// `GET /v2/_catalog`, following `Link` pagination.
    pub fn catalog(&self) -> Result<Vec<String>, RegistryError> {
        todo!("registry client")
    }

    /// `GET /v1/search?q=TERM&n=LIMIT`; `None` when the registry has no v1 search.
    pub fn search_v1(
        &self,
        _term: &str,
        _limit: usize,
    ) -> Result<Option<Vec<SearchResult>>, RegistryError> {
        todo!("registry client")
    }
}
