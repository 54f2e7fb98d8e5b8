//! `registries.conf` (version 2 TOML) as c/image reads it: where a fully qualified reference is
//! pulled from (mirrors first, then the `prefix`→`location` remapping), which hosts are
//! insecure or blocked, the unqualified-search registries, short-name aliases and the
//! short-name mode.
//!
//! Files, as Podman: `$CONTAINERS_REGISTRIES_CONF` alone when set; otherwise the user's
//! `$XDG_CONFIG_HOME/containers/registries.conf` (or `~/.config/...`) when it exists, with the
//! user's `registries.conf.d/*.conf` drop-ins; else `/etc/containers/registries.conf`, then the
//! drop-ins of `/etc/containers/registries.conf.d/` and of the user's directory, each directory
//! in name order. A later file replaces the keys it sets (`unqualified-search-registries`,
//! `short-name-mode`), a `[[registry]]` with the same `prefix`, and single aliases. Short-name
//! aliases also come from the user's cache `$XDG_CONFIG_HOME/containers/short-name-aliases.conf`,
//! which wins over the configured ones. No file means `docker.io` is the only search registry
//! and the mode is permissive.
//!
//! The version 1 format (`[registries.search]`, `[registries.insecure]`, `[registries.block]`)
//! is read as c/image reads it: its lists become search registries and insecure or blocked
//! `[[registry]]` entries; mixing it with version 2 keys is an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::config::{ConfigError, Env};
use crate::oci::reference::{self, DOCKER_IO, Reference};
use crate::registry::Endpoint;

/// The system file, and its drop-in directory.
pub const SYSTEM_PATH: &str = "/etc/containers/registries.conf";
const SYSTEM_DIR: &str = "/etc/containers/registries.conf.d";

/// `short-name-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ShortNameMode {
    Disabled,
    #[default]
    Permissive,
    Enforcing,
}

/// One place to fetch a reference from: the registry to contact and the reference as that
/// registry names it (remapped by `location`, or a mirror's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullSource {
    pub endpoint: Endpoint,
    pub reference: Reference,
    /// A mirror (failures fall through to the next source) rather than the primary location.
    pub mirror: bool,
}

/// The names a pull of a short name tries, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortNameResolution {
    pub candidates: Vec<Reference>,
    /// The single candidate is an alias (from a registries.conf or the user's cache); `None`
    /// when the candidates come from the unqualified-search registries (or the input was
    /// already fully qualified). Names the file that defined it.
    pub alias_from: Option<PathBuf>,
    /// The user is to pick one of `candidates` at a prompt (enforcing mode on a terminal,
    /// several search registries); the pick is then to be [`record_alias`]ed on success, as
    /// c/image does.
    pub record: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    #[error("registry {registry} is blocked in {path}")]
    Blocked { registry: String, path: String },
    #[error(transparent)]
    Reference(#[from] reference::ReferenceError),
    /// A short name that cannot be resolved (no search registries, or enforcing mode without a
    /// terminal to ask on).
    #[error("{0}")]
    ShortName(String),
    #[error("writing {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A `[[registry]]` entry (or a mirror of one) after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Registry {
    prefix: String,
    location: String,
    insecure: bool,
    blocked: bool,
    mirror_by_digest_only: bool,
    mirrors: Vec<Mirror>,
    /// The file that defined it, for `Blocked` errors.
    file: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Mirror {
    location: String,
    insecure: bool,
    pull_from: PullFromMirror,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullFromMirror {
    All,
    DigestOnly,
    TagOnly,
}

/// The merged registries configuration.
#[derive(Debug, Clone, Default)]
pub struct RegistriesConf {
    /// `None`: no file set it (`docker.io` then).
    search: Option<Vec<String>>,
    /// The file that set `unqualified-search-registries`, for error messages.
    search_from: Option<String>,
    mode: Option<ShortNameMode>,
    registries: Vec<Registry>,
    /// Short name → (fully qualified name without tag, the file); an empty name removes.
    aliases: BTreeMap<String, (String, PathBuf)>,
}

// ---- the files' shape ----

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct FileV2 {
    unqualified_search_registries: Option<Vec<String>>,
    short_name_mode: Option<String>,
    #[serde(default)]
    registry: Vec<Spanned<RegistryToml>>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    /// Version 1.
    registries: Option<Spanned<V1>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct RegistryToml {
    prefix: Option<String>,
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    #[serde(default)]
    blocked: bool,
    #[serde(default)]
    mirror_by_digest_only: bool,
    #[serde(default)]
    mirror: Vec<Spanned<MirrorToml>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
struct MirrorToml {
    location: Option<String>,
    #[serde(default)]
    insecure: bool,
    pull_from_mirror: Option<String>,
}

#[derive(Deserialize, Default)]
struct V1 {
    #[serde(default)]
    search: V1List,
    #[serde(default)]
    insecure: V1List,
    #[serde(default)]
    block: V1List,
}

#[derive(Deserialize, Default)]
struct V1List {
    #[serde(default)]
    registries: Vec<String>,
}

/// `$XDG_CONFIG_HOME`, else `$HOME/.config`.
pub(crate) fn config_home(env: &Env) -> Option<PathBuf> {
    let var = |name: &str| (env.var)(name).filter(|v| !v.is_empty());
    var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| Path::new(&h).join(".config")))
}

/// The user's short-name alias cache.
pub fn alias_cache_path(env: &Env) -> Option<PathBuf> {
    config_home(env).map(|c| c.join("containers/short-name-aliases.conf"))
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let offset = offset.min(text.len());
    text.as_bytes()[..offset]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn read_optional(path: &Path) -> Result<Option<String>, ConfError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }
        .into()),
    }
}

/// The `*.conf` files of a drop-in directory, in name order.
fn drop_ins(dir: &Path) -> Result<Vec<PathBuf>, ConfError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: dir.to_path_buf(),
                source,
            }
            .into());
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| ConfigError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "conf") && !path.is_dir() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

impl RegistriesConf {
    /// Reads the files above; missing files are defaults, malformed ones an error naming them.
    pub fn load(env: &Env) -> Result<RegistriesConf, ConfError> {
        let user_home = config_home(env).map(|c| c.join("containers"));
        let mut files = Vec::new();
        if let Some(path) = (env.var)("CONTAINERS_REGISTRIES_CONF").filter(|v| !v.is_empty()) {
            files.push(PathBuf::from(path));
        } else {
            let user_file = user_home.as_ref().map(|h| h.join("registries.conf"));
            let user_dir = user_home.as_ref().map(|h| h.join("registries.conf.d"));
            match user_file {
                Some(file) if file.exists() => {
                    files.push(file);
                }
                _ => {
                    files.push(PathBuf::from(SYSTEM_PATH));
                    files.extend(drop_ins(Path::new(SYSTEM_DIR))?);
                }
            }
            if let Some(dir) = user_dir {
                files.extend(drop_ins(&dir)?);
            }
        }
        let mut conf = RegistriesConf::default();
        for file in &files {
            if let Some(text) = read_optional(file)? {
                conf.merge(&text, file)?;
            }
        }
        if let Some(cache) = alias_cache_path(env)
            && let Some(text) = read_optional(&cache)?
        {
            conf.merge_aliases_only(&text, &cache)?;
        }
        Ok(conf)
    }

    /// Merges the text of one file (named `path` in errors) over what was read before.
    pub fn merge(&mut self, text: &str, path: &Path) -> Result<(), ConfError> {
        let name = path.display().to_string();
        let invalid = |offset: Option<usize>, message: String| ConfError::Invalid {
            path: match offset {
                Some(o) => format!("{name}:{}", line_of(text, o)),
                None => name.clone(),
            },
            message,
        };
        let file: FileV2 = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map(|span| line_of(text, span.start)),
            source: Box::new(e),
        })?;
        let mut registries = Vec::new();
        let mut search = file.unqualified_search_registries;
        if let Some(v1) = file.registries {
            let start = v1.span().start;
            if search.is_some() || !file.registry.is_empty() {
                return Err(invalid(
                    Some(start),
                    "mixing sysregistry v1/v2 is not supported".into(),
                ));
            }
            let v1 = v1.into_inner();
            if !v1.search.registries.is_empty() {
                search = Some(v1.search.registries);
            }
            let mut hosts: Vec<&String> = v1.insecure.registries.iter().collect();
            hosts.extend(&v1.block.registries);
            for host in hosts {
                if registries.iter().any(|r: &Registry| &r.prefix == host) {
                    continue;
                }
                registries.push(Registry {
                    prefix: host.clone(),
                    location: host.clone(),
                    insecure: v1.insecure.registries.contains(host),
                    blocked: v1.block.registries.contains(host),
                    mirror_by_digest_only: false,
                    mirrors: Vec::new(),
                    file: name.clone(),
                });
            }
        }
        for entry in file.registry {
            let start = entry.span().start;
            let r = entry.into_inner();
            let registry = validate_registry(r, &name)
                .map_err(|(offset, message)| invalid(Some(offset.unwrap_or(start)), message))?;
            registries.retain(|existing: &Registry| existing.prefix != registry.prefix);
            registries.push(registry);
        }
        if let Some(search) = search {
            for host in &search {
                if host.is_empty() || host.contains('/') {
                    return Err(invalid(
                        None,
                        format!(
                            "unqualified-search-registries: {host:?} is not a registry host (registries.conf version 2)"
                        ),
                    ));
                }
            }
            self.search = Some(search);
            self.search_from = Some(name.clone());
        }
        if let Some(mode) = file.short_name_mode.filter(|m| !m.is_empty()) {
            self.mode = Some(match mode.as_str() {
                "disabled" => ShortNameMode::Disabled,
                "permissive" => ShortNameMode::Permissive,
                "enforcing" => ShortNameMode::Enforcing,
                other => {
                    return Err(invalid(
                        None,
                        format!(
                            "invalid short-name-mode {other:?}: must be disabled, permissive or enforcing"
                        ),
                    ));
                }
            });
        }
        for registry in registries {
            self.registries.retain(|r| r.prefix != registry.prefix);
            self.registries.push(registry);
        }
        self.merge_alias_table(file.aliases, path)
            .map_err(|m| invalid(None, m))?;
        Ok(())
    }

    /// The user's alias cache: only an `[aliases]` table counts.
    fn merge_aliases_only(&mut self, text: &str, path: &Path) -> Result<(), ConfError> {
        #[derive(Deserialize)]
        struct Cache {
            #[serde(default)]
            aliases: BTreeMap<String, String>,
        }
        let cache: Cache = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map(|span| line_of(text, span.start)),
            source: Box::new(e),
        })?;
        self.merge_alias_table(cache.aliases, path)
            .map_err(|message| ConfError::Invalid {
                path: path.display().to_string(),
                message,
            })
    }

    fn merge_alias_table(
        &mut self,
        aliases: BTreeMap<String, String>,
        path: &Path,
    ) -> Result<(), String> {
        for (short, value) in aliases {
            validate_alias_key(&short)?;
            if !value.is_empty() {
                validate_alias_value(&short, &value)?;
            }
            self.aliases.insert(short, (value, path.to_path_buf()));
        }
        Ok(())
    }

    /// `unqualified-search-registries` (`["docker.io"]` without any file).
    pub fn search_registries(&self) -> &[String] {
        static DEFAULT: std::sync::LazyLock<Vec<String>> =
            std::sync::LazyLock::new(|| vec![DOCKER_IO.to_string()]);
        self.search.as_deref().unwrap_or(DEFAULT.as_slice())
    }

    pub fn short_name_mode(&self) -> ShortNameMode {
        self.mode.unwrap_or_default()
    }

    /// The alias of a short name (`busybox` → `docker.io/library/busybox`), if any; the input's
    /// tag or digest is carried over to the result.
    pub fn alias(&self, short: &str) -> Option<Reference> {
        self.alias_with_file(short).map(|(r, _)| r)
    }

    fn alias_with_file(&self, short: &str) -> Option<(Reference, &Path)> {
        let (name, suffix) = split_name(short);
        let (value, file) = self.aliases.get(name)?;
        if value.is_empty() {
            return None;
        }
        let reference = reference::normalize_docker(&format!("{value}{suffix}")).ok()?;
        Some((reference, file))
    }

    /// The names to pull for `input`, in order, as c/image's `shortnames.Resolve`: a fully
    /// qualified input is itself; an alias is the only candidate; otherwise each search
    /// registry. `terminal`: whether stdin and stdout are a terminal (enforcing mode would ask
    /// there which registry to use; coracle does not prompt yet and tries them all, as
    /// permissive mode).
    pub fn resolve_short_name(
        &self,
        input: &str,
        terminal: bool,
    ) -> Result<ShortNameResolution, ConfError> {
        if !reference::is_short_name(input)? {
            return Ok(ShortNameResolution {
                candidates: vec![reference::normalize_docker(input)?],
                alias_from: None,
                record: false,
            });
        }
        let mode = self.short_name_mode();
        if mode != ShortNameMode::Disabled
            && let Some((reference, file)) = self.alias_with_file(input)
        {
            return Ok(ShortNameResolution {
                candidates: vec![reference],
                alias_from: Some(file.to_path_buf()),
                record: false,
            });
        }
        let search = self.search_registries();
        if search.is_empty() {
            let from = self.search_from.as_deref().unwrap_or(SYSTEM_PATH);
            return Err(ConfError::ShortName(format!(
                "short-name {input:?} did not resolve to an alias and no unqualified-search registries are defined in {from:?}"
            )));
        }
        if mode == ShortNameMode::Enforcing && search.len() > 1 && !terminal {
            return Err(ConfError::ShortName(
                "short-name resolution enforced but cannot prompt without a TTY".into(),
            ));
        }
        let (name, suffix) = split_name(input);
        let mut candidates = Vec::new();
        for registry in search {
            let candidate = reference::normalize_docker(&format!("{registry}/{name}{suffix}"))?;
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
        let record = mode == ShortNameMode::Enforcing && candidates.len() > 1;
        Ok(ShortNameResolution {
            candidates,
            alias_from: None,
            record,
        })
    }

    /// The `[[registry]]` whose prefix is the longest match of `reference` (its full string,
    /// or a bare `host`), as c/image's `FindRegistry`.
    fn find(&self, reference: &str) -> Option<&Registry> {
        let mut best: Option<(&Registry, usize)> = None;
        for registry in &self.registries {
            // On a tie, an exact prefix wins over a wildcard.
            if let Some(len) = matching_prefix(reference, &registry.prefix)
                && best.is_none_or(|(b, l)| {
                    len > l
                        || (len == l
                            && b.prefix.starts_with('*')
                            && !registry.prefix.starts_with('*'))
                })
            {
                best = Some((registry, len));
            }
        }
        best.map(|(r, _)| r)
    }

    /// Where to pull `reference` from, in order; `Blocked` when its registry is blocked.
    pub fn pull_sources(&self, reference: &Reference) -> Result<Vec<PullSource>, ConfError> {
        let Some(registry) = self.find(&reference.to_string()) else {
            return Ok(vec![plain_source(reference)]);
        };
        if registry.blocked {
            return Err(ConfError::Blocked {
                registry: reference.registry().to_string(),
                path: registry.file.clone(),
            });
        }
        let digested = reference.digest().is_some();
        let mut sources = Vec::new();
        for mirror in &registry.mirrors {
            let wanted = if registry.mirror_by_digest_only {
                digested
            } else {
                match mirror.pull_from {
                    PullFromMirror::All => true,
                    PullFromMirror::DigestOnly => digested,
                    PullFromMirror::TagOnly => !digested,
                }
            };
            if wanted {
                sources.push(PullSource {
                    endpoint: Endpoint {
                        host: host_of(&mirror.location).to_string(),
                        insecure: mirror.insecure,
                    },
                    reference: rewrite(reference, &registry.prefix, &mirror.location)?,
                    mirror: true,
                });
            }
        }
        sources.push(primary_source(registry, reference)?);
        Ok(sources)
    }

    /// Where to push `reference` (mirrors are never pushed to).
    pub fn push_source(&self, reference: &Reference) -> Result<PullSource, ConfError> {
        let Some(registry) = self.find(&reference.to_string()) else {
            return Ok(plain_source(reference));
        };
        if registry.blocked {
            return Err(ConfError::Blocked {
                registry: reference.registry().to_string(),
                path: registry.file.clone(),
            });
        }
        primary_source(registry, reference)
    }

    /// Whether `host` is insecure (`[[registry]] insecure = true`).
    pub fn is_insecure(&self, host: &str) -> bool {
        self.find(host).is_some_and(|r| r.insecure)
    }

    /// Whether `host` is blocked (`[[registry]] blocked = true`).
    pub fn is_blocked(&self, host: &str) -> bool {
        self.find(host).is_some_and(|r| r.blocked)
    }
}

fn plain_source(reference: &Reference) -> PullSource {
    PullSource {
        endpoint: Endpoint {
            host: reference.registry().to_string(),
            insecure: false,
        },
        reference: reference.clone(),
        mirror: false,
    }
}

fn primary_source(registry: &Registry, reference: &Reference) -> Result<PullSource, ConfError> {
    let rewritten = if registry.location.is_empty() {
        reference.clone()
    } else {
        rewrite(reference, &registry.prefix, &registry.location)?
    };
    Ok(PullSource {
        endpoint: Endpoint {
            host: rewritten.registry().to_string(),
            insecure: registry.insecure,
        },
        reference: rewritten,
        mirror: false,
    })
}

/// c/image's `rewriteReference`: the matched prefix replaced by `location`.
fn rewrite(reference: &Reference, prefix: &str, location: &str) -> Result<Reference, ConfError> {
    let full = reference.to_string();
    let len = matching_prefix(&full, prefix).unwrap_or(0);
    let rewritten = format!("{location}{}", &full[len..]);
    Ok(reference::normalize_docker(&rewritten)?)
}

fn host_of(location: &str) -> &str {
    location.split('/').next().unwrap_or(location)
}

/// c/image's `refMatchingPrefix`: the length of `reference` that `prefix` matches, if it does.
/// The prefix must end where the reference ends or at a `:`, `/` or `@`; a `*.example.com`
/// prefix matches any host ending in `.example.com`, up to the end of that host name.
fn matching_prefix(reference: &str, prefix: &str) -> Option<usize> {
    if let Some(domain) = prefix.strip_prefix('*') {
        let index = reference.find(domain)?;
        if reference[..index].contains('/') {
            return None;
        }
        let end = index + domain.len();
        return match reference[end..].chars().next() {
            None | Some(':' | '/' | '@') => Some(end),
            _ => None,
        };
    }
    let rest = reference.strip_prefix(prefix)?;
    match rest.chars().next() {
        None | Some(':' | '/' | '@') => Some(prefix.len()),
        _ => None,
    }
}

/// Checks one `[[registry]]`; errors carry an offset into the file when they concern a mirror.
fn validate_registry(r: RegistryToml, file: &str) -> Result<Registry, (Option<usize>, String)> {
    let location = r
        .location
        .as_deref()
        .map(parse_location)
        .transpose()
        .map_err(|m| (None, m))?
        .unwrap_or_default();
    let prefix = match r.prefix.filter(|p| !p.is_empty()) {
        Some(p) => p.trim_end_matches('/').to_string(),
        None if location.is_empty() => {
            return Err((
                None,
                "invalid registry: neither prefix nor location set".into(),
            ));
        }
        None => location.clone(),
    };
    if let Some(domain) = prefix.strip_prefix("*.") {
        if domain.is_empty() || domain.contains(['/', '*', ':']) {
            return Err((
                None,
                format!("invalid prefix {prefix:?}: a wildcard prefix is \"*.\" and a domain"),
            ));
        }
        if !location.is_empty() {
            return Err((
                None,
                format!(
                    "invalid location {location:?}: must be empty for wildcarded prefix {prefix:?}"
                ),
            ));
        }
    } else if prefix.contains('*') {
        return Err((
            None,
            format!(
                "invalid prefix {prefix:?}: a wildcard may only begin a prefix (\"*.example.com\")"
            ),
        ));
    }
    let mut mirrors = Vec::new();
    for m in r.mirror {
        let start = m.span().start;
        let m = m.into_inner();
        let location = parse_location(m.location.as_deref().unwrap_or(""))
            .map_err(|msg| (Some(start), msg))?;
        if location.is_empty() {
            return Err((Some(start), "invalid mirror: location is empty".into()));
        }
        let pull_from = match m.pull_from_mirror.as_deref().unwrap_or("") {
            "" | "all" => PullFromMirror::All,
            "digest-only" => PullFromMirror::DigestOnly,
            "tag-only" => PullFromMirror::TagOnly,
            other => {
                return Err((
                    Some(start),
                    format!(
                        "unsupported pull-from-mirror value {other:?}: must be all, digest-only or tag-only"
                    ),
                ));
            }
        };
        if r.mirror_by_digest_only && pull_from != PullFromMirror::All {
            return Err((
                Some(start),
                format!(
                    "cannot set mirror usage mirror-by-digest-only for the registry ({prefix:?}) and pull-from-mirror for per-mirror ({location:?}) at the same time"
                ),
            ));
        }
        mirrors.push(Mirror {
            location,
            insecure: m.insecure,
            pull_from,
        });
    }
    Ok(Registry {
        prefix,
        location,
        insecure: r.insecure,
        blocked: r.blocked,
        mirror_by_digest_only: r.mirror_by_digest_only,
        mirrors,
        file: file.to_string(),
    })
}

fn parse_location(input: &str) -> Result<String, String> {
    let trimmed = input.trim_end_matches('/');
    if trimmed.starts_with("http://") || trimmed.starts_with("https://") {
        return Err(format!(
            "invalid location {input:?}: URI schemes are not supported"
        ));
    }
    Ok(trimmed.to_string())
}

/// `name[:tag][@digest]` → (`name`, `:tag@digest`).
fn split_name(input: &str) -> (&str, &str) {
    let end = input.find('@').unwrap_or(input.len());
    let last_slash = input[..end].rfind('/').map_or(0, |i| i + 1);
    let tag = input[last_slash..end].find(':').map(|i| i + last_slash);
    let split = tag.unwrap_or(end);
    (&input[..split], &input[split..])
}

fn validate_alias_key(short: &str) -> Result<(), String> {
    match reference::is_short_name(short) {
        Ok(true) => {}
        Ok(false) => {
            return Err(format!(
                "invalid short name {short:?}: must be a short name (no registry)"
            ));
        }
        Err(e) => return Err(format!("invalid short name {short:?}: {}", e.reason)),
    }
    if split_name(short).1.starts_with(':') {
        return Err(format!("invalid short name {short:?}: tag not supported"));
    }
    if short.contains('@') {
        return Err(format!(
            "invalid short name {short:?}: digest not supported"
        ));
    }
    Ok(())
}

fn validate_alias_value(short: &str, value: &str) -> Result<(), String> {
    match reference::is_short_name(value) {
        Ok(false) => {}
        Ok(true) => {
            return Err(format!(
                "invalid alias {short:?} = {value:?}: must contain registry and repository"
            ));
        }
        Err(e) => return Err(format!("invalid alias {short:?} = {value:?}: {}", e.reason)),
    }
    if value.contains('@') {
        return Err(format!(
            "invalid alias {short:?} = {value:?}: digest not supported"
        ));
    }
    if split_name(value).1.starts_with(':') {
        return Err(format!(
            "invalid alias {short:?} = {value:?}: tag not supported"
        ));
    }
    Ok(())
}

/// Records `short` → `resolved` (its name, without tag or digest) in the user's alias cache,
/// as c/image does after a pull whose short name the user resolved at a prompt; the file is
/// replaced atomically and other aliases in it are kept.
pub fn record_alias(env: &Env, short: &str, resolved: &Reference) -> Result<(), ConfError> {
    let path = alias_cache_path(env).ok_or(ConfigError::NoHome {
        file: "short-name-aliases.conf",
    })?;
    let (name, _) = split_name(short);
    validate_alias_key(name).map_err(|message| ConfError::Invalid {
        path: path.display().to_string(),
        message,
    })?;
    let mut table: toml::Table = match read_optional(&path)? {
        Some(text) => toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.clone(),
            line: e.span().map(|span| line_of(&text, span.start)),
            source: Box::new(e),
        })?,
        None => toml::Table::new(),
    };
    let aliases = table
        .entry("aliases")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let Some(aliases) = aliases.as_table_mut() else {
        return Err(ConfError::Invalid {
            path: path.display().to_string(),
            message: "aliases is not a table".into(),
        });
    };
    aliases.insert(name.to_string(), toml::Value::String(resolved.name()));
    let text = toml::to_string(&table).map_err(|e| ConfError::Invalid {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    crate::registry::credentials::write_atomic(&path, text.as_bytes(), 0o644).map_err(|source| {
        ConfError::Write {
            path: path.clone(),
            source,
        }
    })
}

#[cfg(test)]
mod tests;
