//! `manifest create/add/annotate/inspect/push/remove/rm/exists`: multi-platform lists kept in
//! the store (`store::lists`) and pushed as an OCI index or a Docker manifest list.
//!
//! An image to add is a local image when the store has one by that name (or it is spelled
//! `containers-storage:NAME`), else an image or index in a registry (`[docker://]REFERENCE`).
//! Podman 4.3 always goes to the registry unless `containers-storage:` is given; looking
//! locally first is what a user building per-architecture images means.

mod find;
pub(crate) mod index;
mod instance;
mod push;
mod remote;

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};

use crate::cli::manifest::{
    InstanceFlags, ManifestAddArgs, ManifestAnnotateArgs, ManifestCommand, ManifestCreateArgs,
    ManifestExistsArgs, ManifestRemoveArgs, ManifestRmArgs,
};
use crate::cli::registry_flags::RegistryFlags;
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::oci::digest::Digest;
use crate::oci::reference;
use crate::store::lists::{Instance, ListRecord};
use crate::store::{LockMode, Store};

pub fn run(ctx: &Context, command: ManifestCommand) -> anyhow::Result<ExitStatus> {
    match command {
        ManifestCommand::Create(a) => create(ctx, &a),
        ManifestCommand::Add(a) => add(ctx, &a),
        ManifestCommand::Annotate(a) => annotate(ctx, &a),
        ManifestCommand::Inspect(a) => index::inspect(ctx, &a),
        ManifestCommand::Push(a) => push::run(ctx, &a),
        ManifestCommand::Remove(a) => remove(ctx, &a),
        ManifestCommand::Rm(a) => rm(ctx, &a),
        ManifestCommand::Exists(a) => exists(ctx, &a),
    }
}

/// `KEY=VALUE` annotations (a bare `KEY` has an empty value, as Podman).
fn parse_annotations(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        let (k, v) = item.split_once('=').unwrap_or((item, ""));
        if k.is_empty() {
            bail!("no key given in annotation {item:?}: use KEY=VALUE");
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The instances each of `images` stands for, fetched before the store is locked for
/// writing (a registry may be slow).
fn resolve_images(
    ctx: &Context,
    images: &[String],
    all: bool,
    flags: &RegistryFlags,
    overrides: &InstanceFlags,
) -> anyhow::Result<Vec<Instance>> {
    let annotations = parse_annotations(&overrides.annotation)?;
    let mut out = Vec::new();
    for image in images {
        let found = {
            let store = ctx.open_store(LockMode::Shared, "manifest add")?;
            instance::local(&store, image)?
        };
        let mut instances = match found {
            Some(i) => vec![i],
            None => remote::instances(image, all, flags)
                .with_context(|| format!("adding {image} to the manifest list"))?,
        };
        for i in &mut instances {
            instance::apply_overrides(i, overrides, &annotations);
        }
        out.extend(instances);
    }
    Ok(out)
}

fn create(ctx: &Context, args: &ManifestCreateArgs) -> anyhow::Result<ExitStatus> {
    let name = reference::normalize_local(&args.list)
        .with_context(|| format!("creating manifest list {}", args.list))?
        .to_string();
    let annotations = parse_annotations(&args.annotation)?;
    let instances = resolve_images(
        ctx,
        &args.images,
        args.all,
        &args.registry,
        &InstanceFlags::default(),
    )?;
    let store = ctx.open_store(LockMode::Exclusive, "manifest create")?;
    let lists = store.lists().list()?;
    let mut list = match lists.iter().find(|l| l.names.contains(&name)) {
        Some(existing) if args.amend => existing.clone(),
        Some(existing) => bail!(
            "creating image to hold manifest list: image name {name:?} is already associated with image {:?}: that name is already in use",
            existing.id.hex()
        ),
        None => {
            find::name_free_of_images(&store, &name)?;
            ListRecord::new(vec![name])?
        }
    };
    list.annotations.extend(annotations);
    for i in instances {
        list.add_instance(i);
    }
    save(&store, &list)?;
    out(&format!("{}\n", list.id.hex()))?;
    Ok(ExitStatus::Success)
}

fn add(ctx: &Context, args: &ManifestAddArgs) -> anyhow::Result<ExitStatus> {
    // The list must exist before anything is fetched, as in Podman.
    {
        let store = ctx.open_store(LockMode::Shared, "manifest add")?;
        find::list(&store, &args.list)?;
    }
    let instances = resolve_images(ctx, &args.images, args.all, &args.registry, &args.instance)?;
    let store = ctx.open_store(LockMode::Exclusive, "manifest add")?;
    let mut list = find::list(&store, &args.list)?;
    for i in instances {
        list.add_instance(i);
    }
    save(&store, &list)?;
    out(&format!("{}\n", list.id.hex()))?;
    Ok(ExitStatus::Success)
}

fn annotate(ctx: &Context, args: &ManifestAnnotateArgs) -> anyhow::Result<ExitStatus> {
    let annotations = parse_annotations(&args.instance.annotation)?;
    let store = ctx.open_store(LockMode::Exclusive, "manifest annotate")?;
    let mut list = find::list(&store, &args.list)?;
    let digest = find::instance_digest(&store, &list, &args.image)?;
    let Some(instance) = list.instance_mut(&digest) else {
        bail!(
            "no image instance matching digest {digest} was found in manifest list {}",
            args.list
        );
    };
    instance::apply_overrides(instance, &args.instance, &annotations);
    if !args.os_features.is_empty() {
        instance.platform.os_features = args.os_features.clone();
    }
    save(&store, &list)?;
    out(&format!("{}\n", list.id.hex()))?;
    Ok(ExitStatus::Success)
}

fn remove(ctx: &Context, args: &ManifestRemoveArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Exclusive, "manifest remove")?;
    let mut list = find::list(&store, &args.list)?;
    let digest = Digest::from_hex(args.digest.strip_prefix("sha256:").unwrap_or(&args.digest))
        .with_context(|| format!("invalid image digest {:?}", args.digest))?;
    let before = list.instances.len();
    list.instances.retain(|i| i.digest != digest);
    if list.instances.len() == before {
        bail!(
            "removing from manifest list {}: no instance matching digest {digest:?} found in manifest list",
            args.list
        );
    }
    save(&store, &list)?;
    out(&format!("{}\n", list.id.hex()))?;
    Ok(ExitStatus::Success)
}

/// Podman's `rm`: every list given is tried; an unknown one exits 1, anything else 125.
fn rm(ctx: &Context, args: &ManifestRmArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Exclusive, "manifest rm")?;
    let staging = store.staging("manifest-rm")?;
    let mut untagged = String::new();
    let mut deleted = String::new();
    let mut failure: Option<anyhow::Error> = None;
    for input in &args.lists {
        match find::list(&store, input) {
            Ok(list) => {
                store.lists().remove(staging.path(), &list.id)?;
                for n in &list.names {
                    untagged.push_str(&format!("Untagged: {n}\n"));
                }
                deleted.push_str(&format!("Deleted: {}\n", list.id.hex()));
            }
            Err(e) =>
            {
                #[allow(clippy::print_stderr)]
                if let Some(prev) = failure.replace(e) {
                    eprintln!("Error: {prev:#}");
                }
            }
        }
    }
    out(&format!("{untagged}{deleted}"))?;
    match failure {
        Some(e) if find::is_not_known(&e) => Err(StatusError::wrap(1, e)),
        Some(e) => Err(e),
        None => Ok(ExitStatus::Success),
    }
}

fn exists(ctx: &Context, args: &ManifestExistsArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Shared, "manifest exists")?;
    match find::list(&store, &args.manifest) {
        Ok(_) => Ok(ExitStatus::Success),
        Err(e) if find::is_not_known(&e) => Ok(ExitStatus::Code(1)),
        Err(e) => Err(StatusError::wrap(ExitStatus::OWN_ERROR, e)),
    }
}

fn save(store: &Store, list: &ListRecord) -> anyhow::Result<()> {
    let staging = store.staging("manifest")?;
    store
        .lists()
        .put(staging.path(), list)
        .with_context(|| format!("saving manifest list {}", list.id.hex()))
}
