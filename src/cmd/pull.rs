//! `pull`, and the pull `run --pull` does before anything forks.

use anyhow::Context as _;

use crate::cli::pull::{PlatformArgs, PullArgs, PullPolicy};
use crate::cli::registry_flags::RegistryFlags;
use crate::cmd::{Context, out};
use crate::config::Env;
use crate::error::ExitStatus;
use crate::events::Event;
use crate::store::{LockMode, lookup};
use crate::transfer::load::{self, LoadSource};
use crate::transfer::pull::{self, Progress, PullOptions, Pulled, Wanted};

pub fn run(ctx: &Context, args: &PullArgs) -> anyhow::Result<ExitStatus> {
    let platform = wanted(&args.platform)?;
    for image in &args.images {
        if is_archive_transport(image) {
            let mut store = ctx.open_store(LockMode::Shared, "pull")?;
            let loaded = load::load(&mut store, &LoadSource::parse(Some(image)))
                .with_context(|| format!("pulling {image}"))?;
            let ids: String = loaded
                .iter()
                .map(|l| format!("{}\n", l.record.id.hex()))
                .collect();
            out(&ids)?;
            continue;
        }
        let opts = PullOptions {
            flags: &args.registry,
            platform: platform.clone(),
            all_tags: args.all_tags,
            signature_policy: args.signature_policy.clone(),
            progress: Progress::new(args.quiet),
        };
        let events = crate::events::EventLog::new(&ctx.paths()?.graphroot);
        let pulled = match pull_image(ctx, image, &opts) {
            Ok(p) => p,
            Err(e) => {
                let mut ev = Event::image("pull-error", "", image);
                ev.error = format!("{e:#}");
                events.record(&ev);
                return Err(e);
            }
        };
        for p in &pulled {
            let name = p.record.names.first().map(String::as_str).unwrap_or(image);
            events.record(&Event::image("pull", p.record.id.hex(), name));
        }
        let ids: String = pulled
            .iter()
            .map(|p| format!("{}\n", p.record.id.hex()))
            .collect();
        out(&ids)?;
    }
    Ok(ExitStatus::Success)
}

/// `oci:`, `oci-archive:` and `docker-archive:` sources are read as `load` reads them.
fn is_archive_transport(image: &str) -> bool {
    ["oci:", "oci-archive:", "docker-archive:"]
        .iter()
        .any(|p| image.starts_with(p))
}

fn wanted(p: &PlatformArgs) -> anyhow::Result<Wanted> {
    Wanted::from_flags(
        p.platform.as_deref(),
        p.os.as_deref(),
        p.arch.as_deref(),
        p.variant.as_deref(),
    )
    .map_err(anyhow::Error::msg)
}

/// One pull (it opens the store when it needs it); every registry client it made is gone
/// when it returns.
fn pull_image(ctx: &Context, image: &str, opts: &PullOptions) -> anyhow::Result<Vec<Pulled>> {
    let paths = ctx.paths()?;
    Ok(pull::pull(&paths, &Env::process(), image, opts)?)
}

/// What `run --pull=POLICY IMAGE` does before the container is created: the ID of the image
/// when this pulled it (so that `run` uses exactly that image), `None` when `run` should look
/// `image` up in the store as it is. Returns only after every registry client (and its tokio
/// thread) is gone, which `run` needs before it forks.
pub fn for_run(
    ctx: &Context,
    image: &str,
    policy: PullPolicy,
    flags: &RegistryFlags,
    platform: &PlatformArgs,
    quiet: bool,
) -> anyhow::Result<Option<String>> {
    if policy == PullPolicy::Never {
        return Ok(None);
    }
    // The local image, and the registry name it was pulled by (for `newer`).
    let local = {
        let store = ctx.open_store(LockMode::Shared, "run")?;
        let records = store.images().list()?;
        lookup::find(&records, image)
            .ok()
            .map(|(rec, _)| (rec.digest.clone(), pulled_name(image, &rec.names)))
    };
    let present = local.is_some();
    if present && policy == PullPolicy::Missing {
        return Ok(None);
    }
    if policy == PullPolicy::Newer
        && let Some((digest, Some(name))) = &local
    {
        // Podman asks the registry first and uses the local image when it is current.
        match crate::transfer::pull::is_current(&crate::config::Env::process(), flags, name, digest)
        {
            Ok(true) => return Ok(None),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!("{e}; using the local image {image}");
                return Ok(None);
            }
        }
    }
    let opts = PullOptions {
        flags,
        platform: wanted(platform)?,
        all_tags: false,
        signature_policy: None,
        progress: Progress::new(quiet),
    };
    match pull_image(ctx, image, &opts) {
        Ok(pulled) => Ok(pulled.first().map(|p| p.record.id.to_string())),
        // `newer` settles for the local image when the registry cannot be asked.
        Err(e) if present && policy == PullPolicy::Newer => {
            tracing::warn!("{e:#}; using the local image {image}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// The name of a local image as a registry knows it: the input's normalisation when the
/// image has that name, else the image's only name outside `localhost/`.
fn pulled_name(input: &str, names: &[String]) -> Option<crate::oci::reference::Reference> {
    use crate::oci::reference::normalize_docker;
    let parsed: Vec<_> = names
        .iter()
        .filter_map(|n| normalize_docker(n).ok())
        .collect();
    if let Ok(r) = normalize_docker(input.strip_prefix("docker://").unwrap_or(input))
        && parsed.contains(&r)
    {
        return Some(r);
    }
    let mut remote = parsed.into_iter().filter(|r| r.registry() != "localhost");
    match (remote.next(), remote.next()) {
        (Some(only), None) => Some(only),
        _ => None,
    }
}
