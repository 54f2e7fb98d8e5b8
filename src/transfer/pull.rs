//! `pull`: an image from a registry into the store, over the distribution API.
//!
//! The name is resolved first (short names through registries.conf's aliases and
//! unqualified-search registries, each tried in turn), checked against policy.json, and then
//! fetched from its sources in order (mirrors first; a failing mirror falls through). From one
//! source: the manifest (an index picks the wanted platform), the config (verified), and the
//! layers the store lacks, downloaded in parallel and extracted as they arrive through the same
//! staging code `load` uses (`scan::stage_layer`), with no store lock held meanwhile; then one
//! commit (`commit.rs`), so a killed pull leaves only staging data. Each layer's compressed bytes are also kept in a partial file
//! under `tmp/partial-blobs/` until the layer is complete, which is what the next pull resumes
//! from after a crash (with a `Range` request for the rest).
//!
//! Every [`Client`] is dropped before [`pull`] returns: a client owns a tokio thread, and the
//! runtime forks containers afterwards (`run --pull`).

mod blob;
mod platform;
mod progress;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::cli::registry_flags::RegistryFlags;
use crate::config::Env;
use crate::oci::config::ImageConfig;
use crate::oci::digest::Digest;
use crate::oci::manifest::{self, Index, Manifest};
use crate::oci::reference::{self, Reference, ReferenceError};
use crate::paths::StorePaths;
use crate::registry::client::{Client, RegistryError};
use crate::registry::conf::{self, ConfError, PullSource, RegistriesConf};
use crate::registry::connect::{self, ConnectError};
use crate::registry::policy::{Policy, PolicyError};
use crate::store::staging::PARTIAL_DIR;
use crate::store::{ImageRecord, LockMode, Staging, Store, StoreError};
use crate::transfer::TransferError;
use crate::transfer::commit::{self, ImagePlan};
use crate::transfer::scan::{self, StagedLayer};

pub use platform::Wanted;
pub use progress::Progress;

/// Layers downloaded at once. Each download and extraction costs about 20 MiB of buffers
/// (HTTP body, pipes between the decompressing and extracting threads); two at once keep a
/// pull under 64 MiB whatever the layer sizes (measured: 57 MiB peak for four 60 MB layers,
/// 79 MiB with three at once, for no gain in time on two cores).
const PARALLEL: usize = 2;
/// Configs larger than this are not image metadata.
const MAX_CONFIG: u64 = 16 << 20;

/// How to pull.
pub struct PullOptions<'a> {
    pub flags: &'a RegistryFlags,
    pub platform: Wanted,
    /// Every tag of the repository (`--all-tags`).
    pub all_tags: bool,
    /// `--signature-policy`.
    pub signature_policy: Option<PathBuf>,
    pub progress: Progress,
}

/// An image a pull brought in (or found complete), with the name it was pulled by.
#[derive(Debug)]
pub struct Pulled {
    pub record: ImageRecord,
    pub name: String,
}

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Conf(#[from] ConfError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error("{} errors occurred while pulling:{}", errors.len(), list(errors))]
    Candidates { errors: Vec<PullError> },
    #[error("tag can't be used with --all-tags/-a")]
    TagWithAllTags,
    #[error("initializing source docker://{reference}")]
    Connect {
        reference: String,
        #[source]
        source: Box<ConnectError>,
    },
    #[error("initializing source docker://{reference}: reading manifest {tag} in {repo}")]
    Manifest {
        reference: String,
        tag: String,
        repo: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("listing the tags of docker://{repo}")]
    Tags {
        repo: String,
        #[source]
        source: Box<RegistryError>,
    },
    #[error(
        "choosing an image from manifest list docker://{reference}: no image found in manifest list for platform {wanted} (it has {})",
        if available.is_empty() { "no platforms".to_string() } else { available.join(", ") }
    )]
    Platform {
        reference: String,
        wanted: String,
        available: Vec<String>,
    },
    #[error("docker://{reference}: {message}")]
    Invalid { reference: String, message: String },
    #[error("copying config {digest} of docker://{reference}")]
    Config {
        reference: String,
        digest: Digest,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("copying blob {digest} of docker://{reference}")]
    Blob {
        reference: String,
        digest: Digest,
        #[source]
        source: Box<RegistryError>,
    },
    #[error("copying blob {digest} of docker://{reference}")]
    Layer {
        reference: String,
        digest: Digest,
        #[source]
        source: Box<TransferError>,
    },
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Transfer(#[from] Box<TransferError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Podman's list of the errors of every candidate a short name resolved to.
fn list(errors: &[PullError]) -> String {
    errors
        .iter()
        .map(|e| format!("\n * {}", chain(e)))
        .collect()
}

/// An error with its causes, `a: b: c` as anyhow's `{:#}` prints them.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

/// Pulls `input` (`[docker://]NAME[:TAG|@DIGEST]`) into the store.
pub fn pull(
    paths: &StorePaths,
    env: &Env,
    input: &str,
    opts: &PullOptions,
) -> Result<Vec<Pulled>, PullError> {
    let conf = RegistriesConf::load(env)?;
    let policy = Policy::load(env, opts.signature_policy.as_deref())?;
    let (candidates, record) = resolve(&conf, input)?;
    if opts.all_tags && has_tag_or_digest(input) {
        return Err(PullError::TagWithAllTags);
    }
    let mut errors = Vec::new();
    for candidate in &candidates {
        let pulled = if opts.all_tags {
            pull_all_tags(paths, env, &conf, &policy, candidate, opts)
        } else {
            pull_reference(paths, env, &conf, &policy, candidate, opts).map(|p| vec![p])
        };
        match pulled {
            Ok(p) => {
                // A name the user chose at a prompt is remembered as c/image does; a cache
                // that cannot be written does not undo the pull.
                if record && let Err(e) = conf::record_alias(env, input, candidate) {
                    tracing::warn!("recording the short-name alias {input}: {e}");
                }
                return Ok(p);
            }
            Err(e) => errors.push(e),
        }
    }
    if errors.len() == 1 {
        return Err(errors.remove(0));
    }
    Err(PullError::Candidates { errors })
}

/// The references a name stands for, in the order to try them (registries.conf's short-name
/// rules: an alias, else each unqualified-search registry), and whether the one that works
/// is to be recorded as an alias.
fn resolve(conf: &RegistriesConf, input: &str) -> Result<(Vec<Reference>, bool), PullError> {
    if let Some(rest) = input.strip_prefix("docker://") {
        // With the transport spelled out the name is Docker's: no short-name search.
        return Ok((vec![reference::normalize_docker(rest)?], false));
    }
    use std::io::IsTerminal;
    let terminal = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let resolved = conf.resolve_short_name(input, terminal)?;
    if resolved.record {
        let chosen = choose(input, &resolved.candidates).map_err(|e| PullError::Invalid {
            reference: input.to_string(),
            message: format!("selecting an image at the short-name prompt: {e}"),
        })?;
        return Ok((vec![chosen], true));
    }
    Ok((resolved.candidates, resolved.record))
}

/// Asks on the terminal which of `candidates` the short name means (enforcing mode).
fn choose(input: &str, candidates: &[Reference]) -> std::io::Result<Reference> {
    use std::io::{BufRead, Write};
    let mut out = std::io::stdout().lock();
    writeln!(out, "? Please select an image for {input}:")?;
    for (i, c) in candidates.iter().enumerate() {
        writeln!(out, "  {}) {c}", i + 1)?;
    }
    loop {
        write!(out, "Enter a number [1-{}]: ", candidates.len())?;
        out.flush()?;
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "no selection made",
            ));
        }
        if let Ok(n) = line.trim().parse::<usize>()
            && (1..=candidates.len()).contains(&n)
        {
            return Ok(candidates[n - 1].clone());
        }
    }
}

/// Whether the input names a tag or digest (after its last `/`).
fn has_tag_or_digest(input: &str) -> bool {
    let input = input.strip_prefix("docker://").unwrap_or(input);
    let last = input.rsplit('/').next().unwrap_or(input);
    last.contains(':') || last.contains('@')
}

fn pull_all_tags(
    paths: &StorePaths,
    env: &Env,
    conf: &RegistriesConf,
    policy: &Policy,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Vec<Pulled>, PullError> {
    let tags = {
        let source = conf
            .pull_sources(reference)?
            .into_iter()
            .find(|s| !s.mirror)
            .ok_or_else(|| PullError::Invalid {
                reference: reference.to_string(),
                message: "registries.conf gives no place to pull it from".into(),
            })?;
        let client = connect_to(env, opts.flags, &source, reference.to_string())?;
        client
            .tags(source.reference.path())
            .map_err(|source| PullError::Tags {
                repo: reference.name(),
                source: Box::new(source),
            })?
    };
    let mut pulled = Vec::new();
    for tag in tags {
        let tagged = reference::normalize_docker(&format!("{}:{tag}", reference.name()))?;
        pulled.push(pull_reference(paths, env, conf, policy, &tagged, opts)?);
    }
    Ok(pulled)
}

/// One fully qualified reference, from the first of its sources that works.
fn pull_reference(
    paths: &StorePaths,
    env: &Env,
    conf: &RegistriesConf,
    policy: &Policy,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Pulled, PullError> {
    opts.progress
        .line(&format!("Trying to pull {}...", display_name(reference)));
    policy.check_pull(reference)?;
    let sources = conf.pull_sources(reference)?;
    let mut last = None;
    for source in &sources {
        match pull_from(paths, env, source, reference, opts) {
            Ok(p) => return Ok(p),
            Err(e) if source.mirror => {
                tracing::info!("mirror {} failed: {}", source.endpoint.host, chain(&e));
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| PullError::Invalid {
        reference: reference.to_string(),
        message: "registries.conf gives no place to pull it from".into(),
    }))
}

/// Whether the registry's `reference` still is the image whose manifest digest is `local`
/// (`run --pull=newer`): its manifest, or an entry of its index, has that digest. Asks the
/// first place registries.conf gives that answers; any failure is an error for the caller
/// to weigh.
pub fn is_current(
    env: &Env,
    flags: &crate::cli::registry_flags::RegistryFlags,
    reference: &Reference,
    local: &Digest,
) -> Result<bool, PullError> {
    let conf = RegistriesConf::load(env)?;
    let tag = match reference.digest() {
        Some(d) => return Ok(d == local),
        None => reference.tag().unwrap_or("latest").to_string(),
    };
    let mut last = None;
    for source in conf.pull_sources(reference)? {
        let client = connect_to(env, flags, &source, reference.to_string())?;
        let repo = source.reference.path();
        match client.head_manifest(repo, &tag) {
            Ok(Some(head)) if head.digest == *local => return Ok(true),
            Ok(Some(head)) if manifest::is_index(&head.media_type) => {
                let fetched = client
                    .get_manifest(repo, &head.digest.to_string())
                    .map_err(|e| PullError::Invalid {
                        reference: reference.to_string(),
                        message: format!("reading its index: {e}"),
                    })?;
                let index: Index =
                    serde_json::from_slice(&fetched.bytes).map_err(|e| PullError::Invalid {
                        reference: reference.to_string(),
                        message: format!("its index is not valid JSON: {e}"),
                    })?;
                return Ok(index.manifests.iter().any(|m| m.digest == *local));
            }
            Ok(_) => return Ok(false),
            Err(e) => {
                last = Some(PullError::Invalid {
                    reference: reference.to_string(),
                    message: format!("checking its manifest: {e}"),
                })
            }
        }
    }
    Err(last.unwrap_or_else(|| PullError::Invalid {
        reference: reference.to_string(),
        message: "registries.conf gives no place to pull it from".into(),
    }))
}

/// A client for `source`; a failure is Podman's "initializing source" for `shown`.
fn connect_to(
    env: &Env,
    flags: &crate::cli::registry_flags::RegistryFlags,
    source: &PullSource,
    shown: String,
) -> Result<Client, PullError> {
    connect::client_for(env, flags, source).map_err(|e| PullError::Connect {
        reference: shown,
        source: Box::new(e),
    })
}

/// How Podman shows the reference being pulled (`host/repo:tag`, `host/repo@digest`).
fn display_name(reference: &Reference) -> String {
    match reference.digest() {
        Some(d) => reference.canonical(d.clone()).to_string(),
        None => reference.to_string(),
    }
}

/// The manifest of the wanted image: the one fetched, or the platform's from an index.
fn image_manifest(
    client: &Client,
    reference: &Reference,
    repo: &str,
    opts: &PullOptions,
) -> Result<(Vec<u8>, String), PullError> {
    let shown = display_name(reference);
    let tag = match reference.digest() {
        Some(d) => d.to_string(),
        None => reference.tag().unwrap_or("latest").to_string(),
    };
    let manifest_err = |tag: &str, source| PullError::Manifest {
        reference: shown.clone(),
        tag: tag.to_string(),
        repo: reference.name(),
        source: Box::new(source),
    };
    let fetched = client
        .get_manifest(repo, &tag)
        .map_err(|e| manifest_err(&tag, e))?;
    crate::failpoint!("pull.manifest-fetched");
    let media_type = effective_media_type(&fetched.media_type, &fetched.bytes);
    if !manifest::is_index(&media_type) {
        return Ok((fetched.bytes, media_type));
    }
    let index: Index = serde_json::from_slice(&fetched.bytes).map_err(|e| PullError::Invalid {
        reference: shown.clone(),
        message: format!("manifest list {} is not valid JSON: {e}", fetched.digest),
    })?;
    let chosen = opts
        .platform
        .choose(&index)
        .ok_or_else(|| PullError::Platform {
            reference: shown.clone(),
            wanted: opts.platform.describe(),
            available: platform::available(&index),
        })?;
    let digest = chosen.digest.to_string();
    let instance = client
        .get_manifest(repo, &digest)
        .map_err(|e| manifest_err(&digest, e))?;
    let media_type = effective_media_type(&instance.media_type, &instance.bytes);
    Ok((instance.bytes, media_type))
}

/// A manifest's media type: the document's own when it has one, else the registry's.
fn effective_media_type(header: &str, bytes: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Typed {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<Typed>(bytes)
        .ok()
        .and_then(|t| t.media_type)
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| header.to_string())
}

/// Everything from one source; the client lives only as long as this call.
fn pull_from(
    paths: &StorePaths,
    env: &Env,
    source: &PullSource,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<Pulled, PullError> {
    let shown = display_name(reference);
    let (staging, plan) = fetch(paths, env, source, reference, opts)?;
    // Where the blobs came from, so a later push to another repository there mounts them.
    let mut seen: Vec<_> = plan.layers.iter().map(|l| l.blob_digest.clone()).collect();
    seen.push(plan.config_digest.clone());
    let mut store = Store::open(paths.clone(), LockMode::Shared, "pull")?;
    let mut records = commit::commit(&mut store, &staging, vec![plan]).map_err(Box::new)?;
    drop(staging);
    crate::transfer::known_blobs::remember(
        &store,
        source.reference.registry(),
        source.reference.path(),
        &seen,
    );
    crate::failpoint!("pull.done");
    opts.progress.line("Storing signatures");
    let record = records.pop().ok_or_else(|| PullError::Invalid {
        reference: shown.clone(),
        message: "nothing was committed".into(),
    })?;
    Ok(Pulled {
        record,
        name: shown,
    })
}

/// Everything the registry has to give, verified and staged. The client is made here and
/// gone (with its tokio thread) when this returns. The store is opened only to find the
/// layers it has and to make the staging directory: no store lock is held while the layers
/// download (the staging directory's own lock keeps it from cleanup).
fn fetch(
    paths: &StorePaths,
    env: &Env,
    source: &PullSource,
    reference: &Reference,
    opts: &PullOptions,
) -> Result<(Staging, ImagePlan), PullError> {
    let shown = display_name(reference);
    let origin = format!("docker://{shown}");
    let client = connect_to(env, opts.flags, source, shown.clone())?;
    let repo = source.reference.path();
    let (manifest_bytes, media_type) = image_manifest(&client, reference, repo, opts)?;
    if !manifest::is_manifest(&media_type) {
        return Err(PullError::Invalid {
            reference: shown,
            message: format!("unsupported manifest type {media_type:?}"),
        });
    }
    let m: Manifest = serde_json::from_slice(&manifest_bytes).map_err(|e| PullError::Invalid {
        reference: shown.clone(),
        message: format!("the manifest is not valid JSON: {e}"),
    })?;
    opts.progress.line("Getting image source signatures");
    let cancel = AtomicBool::new(false);
    let retry_delay = opts
        .flags
        .retry_delay
        .as_deref()
        .and_then(|d| connect::parse_duration(d).ok());
    let config_bytes = blob::read_small(
        blob::BlobSource {
            client: &client,
            repo,
            digest: &m.config.digest,
            size: m.config.size,
            retries: opts.flags.retry,
            retry_delay,
            cancel: &cancel,
        },
        MAX_CONFIG,
    )
    .map_err(|e| PullError::Config {
        reference: shown.clone(),
        digest: m.config.digest.clone(),
        source: Box::new(e),
    })?;
    crate::failpoint!("pull.config-fetched");
    let config =
        ImageConfig::parse(&m.config.digest, &config_bytes).map_err(|e| PullError::Invalid {
            reference: shown.clone(),
            message: format!("config {} is not valid JSON: {}", m.config.digest, e.source),
        })?;
    if config.rootfs.diff_ids.len() != m.layers.len() {
        return Err(PullError::Invalid {
            reference: shown,
            message: format!(
                "config {} lists {} layers (rootfs.diff_ids) but the manifest has {}",
                m.config.digest,
                config.rootfs.diff_ids.len(),
                m.layers.len()
            ),
        });
    }
    let (staging, partial_dir, known) = {
        let store = Store::open(paths.clone(), LockMode::Shared, "pull")?;
        let known: Vec<Option<StagedLayer>> = m
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|(desc, diff_id)| known_layer(&store, &desc.digest, diff_id))
            .collect();
        let staging = store.staging("pull")?;
        (staging, store.tmp_dir().join(PARTIAL_DIR), known)
    };
    crate::failpoint!("pull.staging-created");
    let layers = {
        let job = LayerJob {
            known: &known,
            client: &client,
            repo,
            manifest: &m,
            diff_ids: &config.rootfs.diff_ids,
            staging: staging.path(),
            partial_dir: &partial_dir,
            origin: &origin,
            shown: &shown,
            opts,
            retry_delay,
            cancel: &cancel,
        };
        job.run()?
    };
    opts.progress
        .blob_finished("config", &m.config.digest, None, "done");
    opts.progress.line("Writing manifest to image destination");
    let plan = ImagePlan::new(
        config_bytes,
        manifest_bytes,
        media_type,
        layers,
        vec![shown],
        staging.path(),
        &origin,
    )
    .map_err(Box::new)?;
    Ok((staging, plan))
}

/// Fetching the layers of one manifest into staging.
struct LayerJob<'a> {
    /// What the store had of each layer when the pull began.
    known: &'a [Option<StagedLayer>],
    client: &'a Client,
    repo: &'a str,
    manifest: &'a Manifest,
    diff_ids: &'a [Digest],
    staging: &'a Path,
    partial_dir: &'a Path,
    origin: &'a str,
    shown: &'a str,
    opts: &'a PullOptions<'a>,
    retry_delay: Option<std::time::Duration>,
    cancel: &'a AtomicBool,
}

impl LayerJob<'_> {
    /// Every layer, a few at a time; the first failure stops the others.
    fn run(&self) -> Result<Vec<StagedLayer>, PullError> {
        blob::clean_partials(self.partial_dir);
        let n = self.manifest.layers.len();
        let results: Vec<Mutex<Option<Result<StagedLayer, PullError>>>> =
            (0..n).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(n) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n || self.cancel.load(Ordering::Relaxed) {
                            break;
                        }
                        let r = self.layer(i);
                        if r.is_err() {
                            self.cancel.store(true, Ordering::Relaxed);
                        }
                        *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
                    }
                });
            }
        });
        blob::remove_if_empty(self.partial_dir);
        let mut layers = Vec::with_capacity(n);
        let mut first_error = None;
        for r in results {
            match r.into_inner().unwrap_or_else(|p| p.into_inner()) {
                Some(Ok(l)) => layers.push(l),
                Some(Err(PullError::Cancelled)) | None => {}
                Some(Err(e)) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if layers.len() != n {
            return Err(PullError::Cancelled);
        }
        Ok(layers)
    }

    /// One layer: found in the store, or downloaded and extracted into staging.
    fn layer(&self, i: usize) -> Result<StagedLayer, PullError> {
        let desc = &self.manifest.layers[i];
        let diff_id = &self.diff_ids[i];
        let progress = &self.opts.progress;
        if let Some(known) = &self.known[i] {
            progress.blob_finished("blob", &desc.digest, None, "skipped: already exists");
            return Ok(known.clone());
        }
        let bar = progress.blob_bar("blob", &desc.digest, desc.size);
        let dir = self.staging.join("layers").join(format!("pull-{i}"));
        let what = format!("blob {}", desc.digest);
        let mut refetched = false;
        let mut layer = loop {
            let mut reader = blob::BlobReader::new(blob::BlobSource {
                client: self.client,
                repo: self.repo,
                digest: &desc.digest,
                size: desc.size,
                retries: self.opts.flags.retry,
                retry_delay: self.retry_delay,
                cancel: self.cancel,
            })
            .with_partial(self.partial_dir)
            .with_progress(bar.as_ref());
            let staged = scan::stage_layer(&mut reader, &what, &dir, self.staging, self.origin);
            let failure = reader.take_failure();
            let e = match staged {
                Ok(l) => {
                    reader.finish();
                    break l;
                }
                Err(e) => e,
            };
            let _ = std::fs::remove_dir_all(&dir);
            // Bytes resumed from a partial file that fail (the digest, or the extraction
            // before it) may be the partial file's fault (a disk error, an earlier registry
            // that served other bytes): it is dropped and the blob fetched whole, once.
            let data_failed = failure.is_none() || reader.bad_data();
            if reader.replayed()
                && data_failed
                && !refetched
                && !self.cancel.load(Ordering::Relaxed)
            {
                tracing::info!(
                    "blob {}: the resumed download is not valid; fetching it again",
                    desc.digest
                );
                reader.discard();
                if let Some(b) = &bar {
                    b.set_position(0);
                }
                refetched = true;
                continue;
            }
            reader.finish();
            return Err(match failure {
                Some(source) => PullError::Blob {
                    reference: self.shown.to_string(),
                    digest: desc.digest.clone(),
                    source: Box::new(source),
                },
                None if self.cancel.load(Ordering::Relaxed) => PullError::Cancelled,
                None => PullError::Layer {
                    reference: self.shown.to_string(),
                    digest: desc.digest.clone(),
                    source: Box::new(e),
                },
            });
        };
        crate::failpoint!("pull.layer.extracted");
        if layer.diff_id != *diff_id {
            return Err(PullError::Layer {
                reference: self.shown.to_string(),
                digest: desc.digest.clone(),
                source: Box::new(TransferError::DigestMismatch {
                    origin: self.origin.to_string(),
                    what: format!("layer {} (blob {}) uncompressed", i + 1, desc.digest),
                    expected: diff_id.clone(),
                    actual: layer.diff_id,
                }),
            });
        }
        if let Some((c, _)) = layer.compressed.as_mut() {
            c.media_type = desc.media_type.clone();
        }
        progress.blob_finished("blob", &desc.digest, bar, "done");
        Ok(layer)
    }
}

/// The layer when the store has it, by the config's diff ID or by the blob's digest.
fn known_layer(store: &Store, blob: &Digest, diff_id: &Digest) -> Option<StagedLayer> {
    if let Ok(rec) = store.layers().get(diff_id) {
        return Some(StagedLayer::stored(rec, blob));
    }
    scan::known_layer(store, blob).filter(|l| l.diff_id == *diff_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_found_after_the_last_slash() {
        assert!(has_tag_or_digest("localhost:5000/app:1"));
        assert!(has_tag_or_digest("docker://localhost:5000/app@sha256:00"));
        assert!(!has_tag_or_digest("localhost:5000/app"));
        assert!(!has_tag_or_digest("app"));
    }

    #[test]
    fn media_type_prefers_the_document() {
        let oci = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json"}"#;
        assert_eq!(
            effective_media_type("application/octet-stream", oci),
            manifest::OCI_INDEX
        );
        assert_eq!(
            effective_media_type(manifest::OCI_MANIFEST, br#"{"schemaVersion":2}"#),
            manifest::OCI_MANIFEST
        );
    }
}
