//! `--cache-to REPO` and `--cache-from REPO`, as Buildah has them: each step's image is pushed
//! to `REPO:<cache key>`, and a step the local cache misses is looked up there (and pulled)
//! before it runs. A step's key names its parent image's ID, and an image's ID is its
//! config's digest, so a pulled image continues the chain exactly as a local hit would.
//!
//! Every registry client lives only for one push or pull (a client owns a thread, and the
//! next RUN forks).

use anyhow::Context as _;

use super::cache::Key;
use crate::cli::build::BuildArgs;
use crate::cmd::Context;
use crate::config::Env;
use crate::oci::digest::Digest;
use crate::oci::reference::{self, Reference};
use crate::registry::conf::RegistriesConf;
use crate::registry::connect;
use crate::store::LockMode;
use crate::transfer::known_blobs::KnownBlobs;
use crate::transfer::pull::{self, PullOptions, Wanted};
use crate::transfer::push::{self, BlobOutcome, Counter, Destination, PushBlob, PushOptions};

/// `REPO:<key>` for each repository given.
fn references(repos: &[String], key: &Key) -> anyhow::Result<Vec<Reference>> {
    repos
        .iter()
        .map(|r| {
            let r = r.strip_prefix("docker://").unwrap_or(r);
            let name = reference::normalize_docker(r)
                .with_context(|| format!("invalid cache repository {r:?}"))?
                .name();
            reference::normalize_docker(&format!("{name}:{}", key.hex()))
                .with_context(|| format!("invalid cache repository {r:?}"))
        })
        .collect()
}

/// Pushes image `id` to every `--cache-to` repository, tagged by `key`.
pub fn push(ctx: &Context, args: &BuildArgs, key: &Key, id: &Digest) -> anyhow::Result<()> {
    if args.cache_to.is_empty() {
        return Ok(());
    }
    let env = Env::process();
    let conf = RegistriesConf::load(&env).context("reading registries.conf")?;
    for target in references(&args.cache_to, key)? {
        push_one(ctx, args, &env, &conf, &target, id)
            .with_context(|| format!("pushing the cache image {} to {target}", id.hex()))?;
    }
    Ok(())
}

fn push_one(
    ctx: &Context,
    args: &BuildArgs,
    env: &Env,
    conf: &RegistriesConf,
    target: &Reference,
    id: &Digest,
) -> anyhow::Result<()> {
    let source = conf.push_source(target)?;
    let client = connect::client_for(env, &args.registry, &source)?;
    let store = ctx.open_store(LockMode::Shared, "build")?;
    let image = store
        .images()
        .get(id)?
        .with_context(|| format!("image {} is no longer in the store", id.hex()))?;
    let mut known = KnownBlobs::load(&store);
    let dest = Destination {
        client: &client,
        registry: source.reference.registry().to_string(),
        repository: source.reference.path().to_string(),
        reference: source.reference.tag().unwrap_or("latest").to_string(),
        display: target.to_string(),
    };
    let options = PushOptions {
        compression: None,
        level: None,
        schema: None,
    };
    push::push_image(store, &image, &options, &dest, &mut known, &Silent)?;
    drop(client);
    let store = ctx.open_store(LockMode::Shared, "build")?;
    if let Err(e) = known.save(&store) {
        tracing::warn!("could not record where blobs were pushed: {e}");
    }
    Ok(())
}

/// The image `REPO:<key>` of the first `--cache-from` repository that has it, pulled into
/// the store and recorded as `parent`'s child without a name (an intermediate image, as a
/// step's image is). Any failure is a miss, as in Buildah.
pub fn pull(
    ctx: &Context,
    args: &BuildArgs,
    key: &Key,
    parent: Option<&Digest>,
) -> anyhow::Result<Option<Digest>> {
    if args.cache_from.is_empty() {
        return Ok(None);
    }
    let paths = ctx.paths()?;
    let env = Env::process();
    for source in references(&args.cache_from, key)? {
        let opts = PullOptions {
            flags: &args.registry,
            platform: Wanted::from_flags(
                None,
                args.platform.os.as_deref(),
                args.platform.arch.as_deref(),
                args.platform.variant.as_deref(),
            )
            .map_err(anyhow::Error::msg)?,
            all_tags: false,
            signature_policy: None,
            progress: pull::Progress::new(true),
        };
        let name = format!("docker://{source}");
        let pulled = match pull::pull(&paths, &env, &name, &opts) {
            Ok(mut p) if !p.is_empty() => p.remove(0),
            Ok(_) => continue,
            Err(e) => {
                tracing::debug!("no cache image {source}: {e}");
                continue;
            }
        };
        let id = pulled.record.id.clone();
        unname(ctx, &id, &source.to_string(), parent)?;
        return Ok(Some(id));
    }
    Ok(None)
}

/// Takes the pull's name off the cache image and records its parent.
fn unname(ctx: &Context, id: &Digest, name: &str, parent: Option<&Digest>) -> anyhow::Result<()> {
    let store = ctx.open_store(LockMode::Exclusive, "build")?;
    let Some(mut rec) = store.images().get(id)? else {
        anyhow::bail!("the cache image {} was removed after its pull", id.hex());
    };
    rec.remove_name(name);
    if rec.parent.is_none() {
        rec.parent = parent.cloned();
    }
    let staging = store.staging("build")?;
    store.images().put(staging.path(), &rec)?;
    Ok(())
}

/// Cache pushes show nothing: the build's own lines say what happened.
struct Silent;

struct NoCount;

impl Counter for NoCount {
    fn set(&self, _: u64) {}
}

impl push::Progress for Silent {
    fn start(&self, _: &PushBlob) -> Box<dyn Counter> {
        Box::new(NoCount)
    }

    fn finish(&self, _: &PushBlob, _: &BlobOutcome) {}
}
