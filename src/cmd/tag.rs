//! `tag`, `untag` and `image exists`.

use anyhow::Context as _;

use crate::cli::{ExistsArgs, TagArgs, UntagArgs};
use crate::cmd::Context;
use crate::cmd::images::list_records;
use crate::error::{ExitStatus, StatusError};
use crate::events::Event;
use crate::oci::reference;
use crate::store::{LockMode, lookup};
use crate::transfer::commit::take_names;

pub fn tag(ctx: &Context, args: &TagArgs) -> anyhow::Result<ExitStatus> {
    let names = args
        .names
        .iter()
        .map(|n| {
            reference::normalize_local(n)
                .map(|r| r.to_string())
                .with_context(|| format!("tagging as {n}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = ctx.open_store(LockMode::Exclusive, "tag")?;
    crate::failpoint!("tag.store-locked");
    let mut records = store.images().list()?;
    records.extend(list_records(&store)?);
    let (rec, _) = lookup::find(&records, &args.image)?;
    let mut rec = rec.clone();
    let staging = store.staging("tag")?;
    if lookup::is_list(&rec) {
        let mut list = store
            .lists()
            .get(&rec.id)?
            .with_context(|| format!("manifest list {} vanished", rec.id.hex()))?;
        for n in &names {
            if !list.names.contains(n) {
                list.names.push(n.clone());
            }
        }
        store.lists().put(staging.path(), &list)?;
        rec.names = list.names;
    } else {
        for n in &names {
            rec.add_name(n);
        }
        store.images().put(staging.path(), &rec)?;
    }
    crate::failpoint!("tag.record-renamed");
    // A name is one image's or one list's: Podman moves it, either way.
    take_names(&store, staging.path(), &rec)?;
    crate::failpoint!("tag.names-moved");
    for n in &names {
        store.events().record(&Event::image("tag", rec.id.hex(), n));
    }
    Ok(ExitStatus::Success)
}

/// Removes `owner`'s names from every other list; a list left without any stays, as
/// `<none>` (Podman).
pub fn untag(ctx: &Context, args: &UntagArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Exclusive, "untag")?;
    let records = store.images().list()?;
    let (rec, _) = lookup::find(&records, &args.image)?;
    let mut rec = rec.clone();
    let had = rec.names.clone();
    if args.names.is_empty() {
        rec.names.clear();
    } else {
        for n in &args.names {
            let full = reference::normalize_local(n)
                .with_context(|| format!("untagging {n}"))?
                .to_string();
            let docker = reference::normalize_docker(n)
                .map(|r| r.to_string())
                .unwrap_or_default();
            if !rec.remove_name(&full) && !rec.remove_name(&docker) && !rec.remove_name(n) {
                anyhow::bail!("{n}: tag not known");
            }
        }
    }
    let staging = store.staging("untag")?;
    store.images().put(staging.path(), &rec)?;
    for n in had.iter().filter(|n| !rec.names.contains(n)) {
        store
            .events()
            .record(&Event::image("untag", rec.id.hex(), n));
    }
    Ok(ExitStatus::Success)
}

/// Exit 0 when the image exists, 1 when it does not (Podman's contract).
pub fn exists(ctx: &Context, args: &ExistsArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Shared, "image exists")?;
    let records = store.images().list()?;
    match lookup::find(&records, &args.image) {
        Ok(_) => Ok(ExitStatus::Success),
        Err(lookup::LookupError::NotKnown(_)) => Ok(ExitStatus::Code(1)),
        Err(e) => Err(StatusError::wrap(ExitStatus::OWN_ERROR, e.into())),
    }
}
