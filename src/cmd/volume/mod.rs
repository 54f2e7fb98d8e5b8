//! `volume create|ls|inspect|rm|prune|exists` (Podman's output and exit codes), and the
//! volumes of `run`/`create` (`attach`).

pub mod attach;
mod list;
mod remove;

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use chrono::Utc;
use serde_json::{Value, json};

use crate::cli::volume::{VolumeCommand, VolumeCreateArgs, VolumeExistsArgs};
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::runtime::volumes::parse::valid_volume_name;
use crate::store::volumes::VolumeRecord;
use crate::store::{LockMode, Store};

pub use remove::remove_anonymous;

pub fn run(ctx: &Context, command: VolumeCommand) -> anyhow::Result<ExitStatus> {
    match command {
        VolumeCommand::Create(a) => create(ctx, &a),
        VolumeCommand::Ls(a) => list::ls(ctx, &a),
        VolumeCommand::Inspect(a) => list::inspect(ctx, &a),
        VolumeCommand::Rm(a) => remove::rm(ctx, &a),
        VolumeCommand::Prune(a) => remove::prune(ctx, &a),
        VolumeCommand::Exists(a) => exists(ctx, &a),
    }
}

/// `KEY=VALUE` flags (`--label`, `--opt`) as a map; a bare `KEY` has an empty value.
fn key_values(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for item in items {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        if k.is_empty() {
            bail!("{flag} {item:?}: the key is empty");
        }
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

fn create(ctx: &Context, args: &VolumeCreateArgs) -> anyhow::Result<ExitStatus> {
    if args.driver != "local" {
        bail!(
            "volume driver {:?}: only the local driver is supported: no such volume plugin",
            args.driver
        );
    }
    let labels = key_values("--label", &args.label)?;
    let options = key_values("--opt", &args.opt)?;
    if let Some(k) = options
        .keys()
        .find(|k| !matches!(k.as_str(), "o" | "type" | "device"))
    {
        bail!("invalid mount option {k:?} for the local volume driver (o, type, device)");
    }
    if !options.is_empty() {
        bail!(
            "volume options {}: mounting a device or file system for a volume needs \
             privileges coracle does not have (a plain directory volume has no options)",
            args.opt.join(" ")
        );
    }
    let name = match &args.name {
        Some(n) if !valid_volume_name(n) => {
            bail!("invalid volume name {n:?}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        }
        Some(n) => n.clone(),
        None => crate::store::containers::new_id().context("making a volume name")?,
    };
    let store = ctx.open_store(LockMode::Exclusive, "volume create")?;
    crate::failpoint!("volume.create.store-locked");
    let volumes = store.volumes();
    if volumes.exists(&name) {
        if args.ignore {
            out(&format!("{name}\n"))?;
            return Ok(ExitStatus::Success);
        }
        bail!("volume with name {name} already exists: volume already exists");
    }
    let staging = store.staging("volume")?;
    let record = VolumeRecord {
        name: name.clone(),
        driver: "local".into(),
        labels,
        options,
        created_at: Utc::now(),
        anonymous: false,
        needs_copy_up: true,
    };
    volumes
        .create(staging.path(), &record)
        .with_context(|| format!("creating volume {name}"))?;
    out(&format!("{name}\n"))?;
    crate::failpoint!("volume.create.done");
    Ok(ExitStatus::Success)
}

/// Exit 0 when the volume exists, 1 when not (Podman), 125 on errors.
fn exists(ctx: &Context, args: &VolumeExistsArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Shared, "volume exists")?;
    Ok(if store.volumes().exists(&args.name) {
        ExitStatus::Success
    } else {
        ExitStatus::Code(1)
    })
}

/// One volume as `podman volume inspect` shows it.
fn inspect_json(store: &Store, v: &VolumeRecord, mount_count: usize) -> Value {
    let mut doc = json!({
        "Name": v.name,
        "Driver": v.driver,
        "Mountpoint": store.volumes().data(&v.name).display().to_string(),
        "CreatedAt": v.created_at.with_timezone(&chrono::Local).to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "Labels": v.labels,
        "Scope": "local",
        "Options": v.options,
        "MountCount": mount_count,
    });
    if v.anonymous {
        doc["Anonymous"] = json!(true);
    }
    if v.needs_copy_up {
        doc["NeedsCopyUp"] = json!(true);
    }
    doc["LockNumber"] = json!(0);
    doc
}

/// Podman's "no such volume" (exit 1 where Podman uses it).
fn not_found(name: &str) -> anyhow::Error {
    StatusError::wrap(
        1,
        anyhow::anyhow!("no volume with name {name:?} found: no such volume"),
    )
}
