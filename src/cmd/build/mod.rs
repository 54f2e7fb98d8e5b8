//! `build`: an image from a Containerfile ([`crate::build`]), without a daemon.
//!
//! The pieces: [`args`] (build arguments), [`state`] (what a stage built so far), [`step`]
//! (configuration instructions), [`run_step`] (RUN in a container of the step's image),
//! [`image`] (a step's image into the store), [`cache`] (the layer cache's index),
//! [`executor`] (stages and steps), [`output`] (Podman's lines).

mod args;
mod cache;
mod executor;
mod image;
mod onbuild;
mod output;
mod remote_cache;
mod run_step;
mod squash;
mod state;
mod step;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::build::context::BuildContext;
use crate::build::parse;
use crate::cli::build::BuildArgs;
use crate::cmd::Context;
use crate::error::ExitStatus;
use crate::oci::manifest::{self, Schema};
use crate::oci::reference;
use crate::store::LockMode;

pub fn run(ctx: &Context, args: &BuildArgs) -> anyhow::Result<ExitStatus> {
    // Ctrl-C stops a RUN's container and ends the build cleanly, never halfway through a
    // commit (the signals are taken only where the build looks for them).
    crate::runtime::attach::block_interrupts().context("blocking SIGINT and SIGTERM")?;
    let schema = match args.format.as_str() {
        "oci" => Schema::Oci,
        "docker" => Schema::Docker,
        other => bail!("unrecognized image type {other:?}"),
    };
    if args.squash && args.squash_all {
        bail!("cannot specify --squash-all with --squash");
    }
    let tags = args
        .tags
        .iter()
        .map(|t| {
            reference::normalize_local(t)
                .map(|r| r.to_string())
                .with_context(|| format!("tag {t:?}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let timestamp = match args.timestamp {
        Some(t) => Some(t),
        None => match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if !v.is_empty() => Some(
                v.parse()
                    .with_context(|| format!("SOURCE_DATE_EPOCH={v} is not a number of seconds"))?,
            ),
            _ => None,
        },
    };
    let settings = executor::Settings {
        args,
        schema,
        timestamp,
        labels: key_values(&args.labels, "--label")?.into_iter().collect(),
        env: env_values(&args.env),
        annotations: key_values(&args.annotations, "--annotation")?
            .into_iter()
            .collect(),
        secrets: secrets(&args.secrets)?,
        platform: (
            args.platform.os.clone().unwrap_or_else(|| "linux".into()),
            args.platform
                .arch
                .clone()
                .unwrap_or_else(|| manifest::host_arch().into()),
        ),
    };
    let (context, file) = BuildContext::open_build(
        args.context.as_deref(),
        args.file.as_deref(),
        args.ignorefile.as_deref(),
    )?;
    let parsed = parse::parse(&file.text, &file.name)?;
    let out = output::Printer { quiet: args.quiet };
    // Started under the store lock, so that no prune can take the new pin file for a stale one.
    let pins = {
        let store = ctx.open_store(LockMode::Shared, "build")?;
        crate::store::pins::BuildPins::start(store.graphroot())?
    };
    let built = executor::build(ctx, &settings, &context, &parsed, &out);
    // `--secret env=`: the files made for the build go with it, whatever happened.
    for path in settings.secrets.values() {
        if path.starts_with(std::env::temp_dir()) && is_env_secret(path) {
            let _ = std::fs::remove_file(path);
        }
    }
    let mut built = built?;
    if let Some(sig) = crate::runtime::attach::interrupted() {
        return Err(run_step::interrupted(sig));
    }
    if args.squash || args.squash_all {
        let keep = if args.squash_all {
            0
        } else {
            built.base_layers
        };
        let squashed = squash::squash(
            ctx,
            &built.image,
            keep,
            settings.schema,
            &settings.annotations,
        )?;
        // The unsquashed image goes with the other intermediate ones, as Podman builds a
        // squash without layers.
        if squashed != built.image {
            built
                .intermediate
                .push(std::mem::replace(&mut built.image, squashed));
        }
    }
    if !tags.is_empty() {
        out.step(&format!("COMMIT {}", args.tags.join(", ")));
    } else {
        out.step("COMMIT");
    }
    image::tag(ctx, &built.image, &tags)?;
    crate::failpoint!("build.tagged");
    out.id_line(Some(&built.image));
    if !args.layers || args.squash || args.squash_all {
        remove_intermediate(ctx, &built)?;
    }
    for t in &tags {
        out.step(&format!("Successfully tagged {t}"));
    }
    if let Some(path) = &args.iidfile {
        std::fs::write(path, built.image.to_string())
            .with_context(|| format!("writing the image ID to {}", path.display()))?;
    }
    crate::cmd::out(&format!("{}\n", built.image.hex()))?;
    drop(pins);
    Ok(ExitStatus::Success)
}

/// `--layers=false`: the images of the steps before the last are removed (unless something
/// else gave them a name meanwhile).
fn remove_intermediate(ctx: &Context, built: &executor::Built) -> anyhow::Result<()> {
    if built.intermediate.is_empty() {
        return Ok(());
    }
    let store = ctx.open_store(LockMode::Exclusive, "build")?;
    let staging = store.staging("build")?;
    let containers = store.containers().list()?;
    for id in &built.intermediate {
        let Some(rec) = store.images().get(id)? else {
            continue;
        };
        if !rec.names.is_empty() || containers.iter().any(|c| &c.image_id == id) {
            continue;
        }
        store.images().remove(staging.path(), id)?;
        crate::failpoint!("build.intermediate-removed");
    }
    crate::store::gc::collect(&store)?;
    Ok(())
}

fn is_env_secret(path: &std::path::Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with(ENV_SECRET_PREFIX))
}

/// The name prefix of the files `--secret env=VAR` values are written to.
const ENV_SECRET_PREFIX: &str = "coracle-secret-";

fn key_values(items: &[String], flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None if !i.is_empty() => Ok((i.clone(), String::new())),
            None => bail!("{flag} {i:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// `--env K=V`, or `K` for coracle's own value.
fn env_values(items: &[String]) -> Vec<(String, String)> {
    items
        .iter()
        .filter_map(|i| match i.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => std::env::var(i).ok().map(|v| (i.clone(), v)),
        })
        .collect()
}

/// `--secret id=ID,src=PATH` (or `env=VAR`: the variable's value, written to a file that
/// lives for the build).
fn secrets(items: &[String]) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for item in items {
        let mut id = None;
        let mut src = None;
        let mut env = None;
        for part in item.split(',') {
            match part.split_once('=') {
                Some(("id", v)) => id = Some(v.to_string()),
                Some(("src" | "source", v)) => src = Some(PathBuf::from(v)),
                Some(("env", v)) => env = Some(v.to_string()),
                Some(("type", _)) => {}
                _ => bail!("--secret {item:?}: expected id=ID,src=PATH"),
            }
        }
        let id = id.with_context(|| format!("--secret {item:?}: no id="))?;
        let path = match (src, env) {
            (Some(p), _) => std::fs::canonicalize(&p)
                .with_context(|| format!("--secret {item:?}: {}", p.display()))?,
            (None, Some(var)) => {
                let value = std::env::var(&var)
                    .with_context(|| format!("--secret {item:?}: ${var} is not set"))?;
                let dir = std::env::temp_dir().join(format!(
                    "{ENV_SECRET_PREFIX}{}-{}",
                    std::process::id(),
                    out.len()
                ));
                use std::io::Write as _;
                use std::os::unix::fs::OpenOptionsExt as _;
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&dir)
                    .and_then(|mut f| f.write_all(value.as_bytes()))
                    .with_context(|| format!("writing the secret {id} to {}", dir.display()))?;
                dir
            }
            (None, None) => std::fs::canonicalize(&id)
                .with_context(|| format!("--secret {item:?}: no src= and no file {id}"))?,
        };
        out.insert(id, path);
    }
    Ok(out)
}
