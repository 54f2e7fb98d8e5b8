//! Image references (`registry/path:tag@sha256:…`): parsing with the distribution grammar and
//! the two normalisations Podman applies, plus how a user's name finds a stored image.
//!
//! Grammar (distribution's `reference` package, as vendored by containers/image):
//!
//! ```text
//! reference      := name [ ":" tag ] [ "@" digest ]
//! name           := [ registry "/" ] path-component ( "/" path-component )*
//! registry       := host [ ":" port ]        host: domain-name | "[" ipv6 "]"
//! domain-name    := label ( "." label )*     label: [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
//! path-component := [a-z0-9]+ ( separator [a-z0-9]+ )*     separator: "." | "_" | "__" | "-"+
//! tag            := [\w][\w.-]{0,127}
//! digest         := "sha256:" 64 lower-case hex digits (coracle stores nothing else)
//! ```
//!
//! The first component is the registry only when more components follow and it contains `.`
//! or `:` or is `localhost` (and is a valid host); `ns/app` is therefore a path, not a
//! registry. The whole `registry/path` may not exceed 255 characters.
//!
//! * [`normalize_docker`] is `ParseNormalizedNamed` + `TagNameOnly`: no registry means
//!   `docker.io`, `index.docker.io` is `docker.io`, a one-component docker.io path gains
//!   `library/`, and `latest` is added unless a tag or digest is given.
//! * [`normalize_local`] is libimage's `NormalizeName` (`tag`, `commit`, `import`,
//!   `build -t`): no registry means `localhost/`, otherwise the docker.io rules above, the tag
//!   is dropped when a digest is given (Docker compat), and `latest` is added otherwise.
//! * [`LookupName`] finds a stored image from a user's name the way libimage's `LookupImage`
//!   does; [`matches_reference_filter`] is `images --filter reference=…`.

use std::fmt;

use crate::oci::digest::{Digest, DigestError};

mod glob;

/// Podman's default registry, and the one `library/` is added for.
pub const DOCKER_IO: &str = "docker.io";
/// The registry of names Podman gives to images that were never pulled.
pub const LOCALHOST: &str = "localhost";
const LEGACY_DOCKER_IO: &str = "index.docker.io";
const DEFAULT_TAG: &str = "latest";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

/// A fully qualified image reference: always a registry and a path, and a tag, a digest or
/// both.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// An input that is not an image reference, and why.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid image reference {input:?}: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: Invalid,
}

/// What is wrong with a reference.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("repository name must have at least one component")]
    Empty,
    #[error("repository name must be lowercase")]
    Uppercase,
    #[error("invalid repository name component {0:?}")]
    Component(String),
    #[error("invalid registry {0:?}")]
    Registry(String),
    #[error("invalid tag {0:?}")]
    Tag(String),
    #[error("tag must not be more than {TAG_MAX} characters")]
    TagTooLong,
    #[error("repository name must not be more than {NAME_MAX} characters")]
    NameTooLong,
    #[error("cannot specify 64-byte hexadecimal strings as a repository name")]
    HexName,
    #[error(transparent)]
    Digest(DigestError),
}

impl Reference {
    /// The registry (domain, with its port): `docker.io`, `localhost:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path inside the registry: `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/path`, without tag or digest (Go's `Named.Name()`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.path)
    }

    /// Whether both name the same repository, whatever their tags and digests.
    pub fn same_repository(&self, other: &Reference) -> bool {
        self.registry == other.registry && self.path == other.path
    }

    /// The same repository and tag pinned to `digest` (`name:tag@digest`).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same repository with `digest` and no tag (`name@digest`), as `RepoDigests` lists.
    pub fn canonical(&self, digest: Digest) -> Reference {
        Reference {
            tag: None,
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// Docker's short form: `docker.io/library/busybox:latest` is `busybox:latest`,
    /// `docker.io/user/app:1` is `user/app:1`; other registries are kept, and so is
    /// `docker.io/` before a first component that would read as a registry
    /// (`docker.io/example.com/app`), where Docker's short form names another image.
    pub fn familiar(&self) -> String {
        let full = self.to_string();
        if self.registry != DOCKER_IO {
            return full;
        }
        let rest = &full[DOCKER_IO.len() + 1..];
        let short = match rest.strip_prefix("library/") {
            Some(short) if !self.path["library/".len()..].contains('/') => short,
            _ => rest,
        };
        if normalize_docker(short).as_ref() == Ok(self) {
            short.to_string()
        } else {
            full
        }
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.path)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

/// Written as the full string; read back with [`normalize_docker`], which leaves a fully
/// qualified name unchanged (apart from `docker.io/x` gaining `library/`).
impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        normalize_docker(&s).map_err(serde::de::Error::custom)
    }
}

/// Normalises as Docker and a pull do (`ParseNormalizedNamed`, then `latest` if neither tag
/// nor digest): `busybox` → `docker.io/library/busybox:latest`, `user/app` →
/// `docker.io/user/app:latest`, `index.docker.io/x` → `docker.io/library/x:latest`,
/// `quay.io/x:1@sha256:…` keeps both tag and digest.
pub fn normalize_docker(input: &str) -> Result<Reference, ReferenceError> {
    if is_full_hex_id(input) {
        return Err(invalid(input, Invalid::HexName));
    }
    let raw = Raw::parse(input)?;
    raw.into_reference(input, DOCKER_IO)
}

/// Normalises a name given to a local image as Podman's libimage `NormalizeName` does (for
/// `tag`, `commit`, `import`, `build -t`): `mine:1` → `localhost/mine:1`, `team/app` →
/// `localhost/team/app:latest`, `quay.io/x` → `quay.io/x:latest`, `docker.io/foo` →
/// `docker.io/library/foo:latest`; no `library/` is added to a `localhost/` name. A tag given
/// together with a digest is dropped (`x:1@sha256:…` → `localhost/x@sha256:…`).
pub fn normalize_local(input: &str) -> Result<Reference, ReferenceError> {
    let mut raw = Raw::parse(input)?;
    if raw.digest.is_some() {
        raw.tag = None;
    }
    raw.into_reference(input, LOCALHOST)
}

/// Whether `input` is a short name (c/image `shortnames.IsShortName`): a valid reference whose
/// first component is not a registry. `busybox`, `ns/app:1` and `busybox@sha256:…` are short;
/// `localhost/x`, `quay.io/x` and `host:5000/x` are not.
pub fn is_short_name(input: &str) -> Result<bool, ReferenceError> {
    Ok(Raw::parse(input)?.registry.is_none())
}

/// A user's name for a local image (`rmi`, `inspect`, `tag SOURCE`, `run IMAGE`), parsed once
/// and matched against stored names with the rules of libimage's `LookupImage`.
///
/// The caller handles IDs first and then tries, in order, stopping at the first hit:
///
/// 1. an input starting with `sha256:` or of 64 hex digits: the image with that ID;
/// 2. each of [`LookupName::candidates`], in order: the image with exactly that name; a
///    candidate with a digest (`x@sha256:…`) matches an image that has a name in the same
///    repository ([`Reference::same_repository`]) and that manifest digest;
/// 3. the input as a unique image-ID prefix;
/// 4. only for a short name: every stored name for which [`LookupName::matches_repo_suffix`]
///    holds (for a digested input the image must also have that manifest digest).
///
/// The candidates (c/image `shortnames.ResolveLocally`, then libimage's Docker fallback):
///
/// * a qualified input: just its normalisation, `latest` added if neither tag nor digest;
/// * a short input `NAME[:TAG]`: `localhost/NAME`, then `REG/NAME` for each unqualified-search
///   registry, then `docker.io/NAME` (with `library/` where Docker adds it), duplicates
///   removed, each given `:latest` if neither tag nor digest.
///
/// A tag given together with a digest is ignored, as Docker does. Short-name aliases from
/// registries.conf are not applied yet.
#[derive(Debug, Clone)]
pub struct LookupName {
    /// The input's path as typed, registry included when it has one (`ns/app`).
    typed_name: String,
    short: bool,
    /// The tag the fallback requires: the input's, else `latest` unless a digest is given.
    tag: Option<String>,
    digest: Option<Digest>,
    candidates: Vec<Reference>,
}

impl LookupName {
    pub fn parse(input: &str, search_registries: &[String]) -> Result<Self, ReferenceError> {
        let mut raw = Raw::parse(input)?;
        if raw.digest.is_some() {
            raw.tag = None;
        }
        let short = raw.registry.is_none();
        let mut candidates = Vec::new();
        if short {
            let suffix = raw.suffix();
            let registries = std::iter::once(LOCALHOST)
                .chain(search_registries.iter().map(String::as_str))
                .chain(std::iter::once(DOCKER_IO));
            for registry in registries {
                let candidate = normalize_docker(&format!("{registry}/{suffix}"))
                    .map_err(|e| invalid(input, e.reason))?;
                if !candidates.contains(&candidate) {
                    candidates.push(candidate);
                }
            }
        } else {
            candidates.push(raw.clone().into_reference(input, DOCKER_IO)?);
        }
        let tag = match (&raw.tag, &raw.digest) {
            (Some(tag), _) => Some(tag.to_string()),
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (None, Some(_)) => None,
        };
        let typed_name = match raw.registry {
            Some(registry) => format!("{registry}/{}", raw.path),
            None => raw.path.to_string(),
        };
        Ok(LookupName {
            typed_name,
            short,
            tag,
            digest: raw.digest,
            candidates,
        })
    }

    /// Whether the input had no registry.
    pub fn is_short(&self) -> bool {
        self.short
    }

    /// The exact names to try, in order.
    pub fn candidates(&self) -> &[Reference] {
        &self.candidates
    }

    /// The digest the image must have, when the input named one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The last-resort match of a short name against any stored name (libimage's
    /// `referenceFuzzilyMatchingRepoAndTag`): false for a qualified input; otherwise the stored
    /// `registry/path` must equal the typed path or end with `/` + the typed path, and the
    /// stored tag must equal the input's tag (`latest` when neither tag nor digest was given;
    /// any tag, or none, for a digested input). So `busybox` matches
    /// `quay.io/library/busybox:latest` and `example.com/x/busybox:latest` but not
    /// `docker.io/library/mybusybox:latest` or `…/busybox:1`, and `x/busybox:1` matches
    /// `quay.io/x/busybox:1`.
    pub fn matches_repo_suffix(&self, stored: &Reference) -> bool {
        if !self.short {
            return false;
        }
        if let Some(tag) = &self.tag
            && stored.tag() != Some(tag.as_str())
        {
            return false;
        }
        let name = stored.name();
        match name.strip_suffix(self.typed_name.as_str()) {
            Some("") => true,
            Some(prefix) => prefix.ends_with('/'),
            None => false,
        }
    }
}

/// The exact names [`LookupName`] tries for `input`, in order.
pub fn candidates(
    input: &str,
    search_registries: &[String],
) -> Result<Vec<Reference>, ReferenceError> {
    Ok(LookupName::parse(input, search_registries)?.candidates)
}

/// Whether a stored name matches `images --filter reference=PATTERN` (libimage
/// `filterReferences`): `PATTERN` is a glob with Go `path.Match` syntax (`*` and `?` never
/// match `/`, `[…]` classes, `\` escapes) and must match one of these forms of the name
/// entirely, e.g. for `docker.io/library/busybox:1`:
///
/// * the full string, `docker.io/library/busybox:1`, and without tag/digest,
///   `docker.io/library/busybox`;
/// * the path, `library/busybox`, and the path with the tag/digest, `library/busybox:1`;
/// * the last component with the tag/digest, `busybox:1`, and without, `busybox`.
///
/// libimage also keeps the image that `LookupImage(PATTERN)` finds; the caller adds that.
/// A malformed pattern matches nothing.
pub fn matches_reference_filter(pattern: &str, stored: &Reference) -> bool {
    let full = stored.to_string();
    let name = stored.name();
    let suffix = &full[name.len()..];
    let last = |s: &str| s[s.rfind('/').map_or(0, |i| i + 1)..].to_string();
    let mut forms = vec![full.clone(), stored.path().to_string(), last(&full)];
    if !suffix.is_empty() {
        forms.push(name.clone());
        forms.push(format!("{}{suffix}", stored.path()));
        forms.push(last(&name));
    }
    let pattern: Vec<char> = pattern.chars().collect();
    forms.iter().any(|form| {
        let form: Vec<char> = form.chars().collect();
        glob::matches(&pattern, &form) == Some(true)
    })
}

/// A syntactically valid reference before normalisation.
#[derive(Debug, Clone)]
struct Raw<'a> {
    registry: Option<&'a str>,
    path: &'a str,
    tag: Option<&'a str>,
    digest: Option<Digest>,
}

impl<'a> Raw<'a> {
    fn parse(input: &'a str) -> Result<Self, ReferenceError> {
        let err = |reason| invalid(input, reason);
        if input.is_empty() {
            return Err(err(Invalid::Empty));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => {
                let digest = digest.parse().map_err(|e| err(Invalid::Digest(e)))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        // A `:` after the last `/` starts the tag; one before it is a registry's port.
        let (name, tag) = match rest.rfind(':') {
            Some(i) if !rest[i..].contains('/') => (&rest[..i], Some(&rest[i + 1..])),
            _ => (rest, None),
        };
        if name.is_empty() {
            return Err(err(Invalid::Empty));
        }
        if let Some(tag) = tag {
            if tag.len() > TAG_MAX {
                return Err(err(Invalid::TagTooLong));
            }
            if !valid_tag(tag) {
                return Err(err(Invalid::Tag(tag.to_string())));
            }
        }
        let (registry, path) = match name.split_once('/') {
            // Like the grammar, a dotted first component that is no host name but a valid
            // path component (`a_b.c`) belongs to the path.
            Some((first, path)) if looks_like_registry(first) && !valid_path_only(first) => {
                if !valid_registry(first) {
                    return Err(err(Invalid::Registry(first.to_string())));
                }
                (Some(first), path)
            }
            _ => (None, name),
        };
        for component in path.split('/') {
            if !valid_path_component(component) {
                let reason = if valid_path_component(&component.to_ascii_lowercase()) {
                    Invalid::Uppercase
                } else {
                    Invalid::Component(component.to_string())
                };
                return Err(err(reason));
            }
        }
        Ok(Raw {
            registry,
            path,
            tag,
            digest,
        })
    }

    /// The input without its registry: `path[:tag][@digest]`.
    fn suffix(&self) -> String {
        let mut s = self.path.to_string();
        if let Some(tag) = self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
        s
    }

    /// Fills in `default_registry`, applies the docker.io rules and the `latest` default.
    fn into_reference(
        self,
        input: &str,
        default_registry: &str,
    ) -> Result<Reference, ReferenceError> {
        let mut registry = self.registry.unwrap_or(default_registry);
        if registry == LEGACY_DOCKER_IO {
            registry = DOCKER_IO;
        }
        let path = if registry == DOCKER_IO && !self.path.contains('/') {
            format!("library/{}", self.path)
        } else {
            self.path.to_string()
        };
        if registry.len() + 1 + path.len() > NAME_MAX {
            return Err(invalid(input, Invalid::NameTooLong));
        }
        let tag = match (self.tag, &self.digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag.map(str::to_string),
        };
        Ok(Reference {
            registry: registry.to_string(),
            path,
            tag,
            digest: self.digest,
        })
    }
}

fn invalid(input: &str, reason: Invalid) -> ReferenceError {
    ReferenceError {
        input: input.to_string(),
        reason,
    }
}

fn is_full_hex_id(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Docker's rule for "is the first component a registry".
fn looks_like_registry(first: &str) -> bool {
    first.contains(['.', ':']) || first == LOCALHOST
}

fn valid_path_only(first: &str) -> bool {
    valid_path_component(first) && !valid_registry(first)
}

/// `host[:port]` where host is a domain name or a bracketed IPv6 address.
fn valid_registry(s: &str) -> bool {
    let (host, port) = if let Some(inner) = s.strip_prefix('[') {
        let Some((addr, after)) = inner.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", port),
                None => return false,
            },
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, port),
            None => (s, "0"),
        }
    };
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
    };
    let host_ok = s.starts_with('[') || host.split('.').all(label_ok);
    host_ok && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
}

/// `[a-z0-9]+ (separator [a-z0-9]+)*` with separators `.`, `_`, `__`, `-+`.
fn valid_path_component(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let b = s.as_bytes();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &s[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|c| c == b'-')) {
            return false;
        }
    }
    true
}

/// `[\w][\w.-]{0,127}`.
fn valid_tag(s: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= TAG_MAX
        && word(b[0])
        && b.iter().all(|&c| word(c) || c == b'.' || c == b'-')
}

#[cfg(test)]
mod tests;
