//! `system prune [-a] [--volumes] [-f] [--filter]`: containers that are not running, then
//! dangling images (`-a`: every image no remaining container uses, and every manifest list),
//! then layers and blobs nothing needs (also those interrupted pulls and loads left), then
//! with `--volumes` the volumes no container uses. Podman's prompt and output: "Deleted
//! Containers", "Deleted Volumes", "Deleted Images" sections and "Total reclaimed space".
//!
//! The reclaimed space is measured, not estimated: the store is measured before and after
//! (`store::usage`), and every object gone counts with the size it had. It is what `system
//! df` called reclaimable (`df.rs` has the rule), when no stopped container held an image.

use std::collections::HashSet;

use anyhow::Context as _;

use crate::cli::system::SystemPruneArgs;
use crate::cmd::container_prune::{PruneFilter, confirm, image_labels, prune_containers};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::events::Event;
use crate::runtime::UserMapping;
use crate::store::usage::{Object, Usage};
use crate::store::volumes::users;
use crate::store::{ImageRecord, LockMode, Store, gc};

use super::df::{measure, size_text};

pub fn run(ctx: &Context, args: &SystemPruneArgs) -> anyhow::Result<ExitStatus> {
    let filter = PruneFilter::parse(&args.filters)?;
    if !args.force {
        let mut q = String::from("WARNING! This command removes:\n\t- all stopped containers\n");
        if args.volumes {
            q.push_str("\t- all volumes not used by at least one container\n");
        }
        q.push_str(if args.all {
            "\t- all images without at least one container associated with them\n"
        } else {
            "\t- all dangling images\n"
        });
        q.push('\n');
        if !confirm(&q)? {
            return Ok(ExitStatus::Success);
        }
    }
    let store = ctx.open_store(LockMode::Exclusive, "system prune")?;
    let before = measure(&store)?;
    let containers = prune_containers(&store, &filter)?;
    let images = prune_images(&store, args.all, &filter)?;
    crate::failpoint!("prune.images-removed");
    let volumes = if args.volumes {
        prune_volumes(&store, &filter)?
    } else {
        Vec::new()
    };
    crate::failpoint!("prune.volumes-removed");
    let after = measure(&store)?;
    let mut text = String::new();
    for (title, items) in [
        ("Deleted Containers", &containers),
        ("Deleted Volumes", &volumes),
        ("Deleted Images", &images),
    ] {
        if !items.is_empty() {
            text.push_str(title);
            text.push('\n');
            for i in items {
                text.push_str(i);
                text.push('\n');
            }
        }
    }
    text.push_str(&format!(
        "Total reclaimed space: {}\n",
        size_text(reclaimed(&before, &after))
    ));
    crate::failpoint!("prune.done");
    out(&text)?;
    Ok(ExitStatus::Success)
}

/// The bytes of every object in `before` that `after` no longer has.
pub(crate) fn reclaimed(before: &Usage, after: &Usage) -> u64 {
    before.sum(|o| *o != Object::Meta && !after.objects.contains_key(o))
}

/// Removes dangling images (with `all`, every image no container uses), repeating while a
/// removal leaves a parent dangling, then what no image needs; returns the image IDs. Call
/// with the exclusive store lock.
pub(crate) fn prune_images(
    store: &Store,
    all: bool,
    filter: &PruneFilter,
) -> anyhow::Result<Vec<String>> {
    let staging = store.staging("prune")?;
    let mut removed = Vec::new();
    loop {
        let images = store.images().list()?;
        let mut used: HashSet<_> = store
            .containers()
            .list()?
            .into_iter()
            .map(|c| c.image_id)
            .collect();
        // The images running builds still need.
        used.extend(crate::store::pins::pinned(store));
        let doomed: Vec<&ImageRecord> = images
            .iter()
            .filter(|r| (all || r.is_dangling(&images)) && !used.contains(&r.id))
            .filter(|r| filter.is_empty() || filter.matches(r.added, &image_labels(store, &r.id)))
            .collect();
        if doomed.is_empty() {
            break;
        }
        for rec in doomed {
            store
                .images()
                .remove(staging.path(), &rec.id)
                .with_context(|| format!("removing image {}", rec.id))?;
            let name = rec.names.first().map(String::as_str).unwrap_or_default();
            store
                .events()
                .record(&Event::image("remove", rec.id.hex(), name));
            removed.push(rec.id.hex().to_string());
        }
    }
    // Lists are images to Podman: `-a` removes them, and a list without a name is dangling.
    if filter.is_empty() {
        for list in store.lists().list()? {
            if all || list.names.is_empty() {
                store.lists().remove(staging.path(), &list.id)?;
                removed.push(list.id.hex().to_string());
            }
        }
    }
    drop(staging);
    gc::collect(store).context("removing layers and blobs no image needs")?;
    Ok(removed)
}

/// Removes the volumes no container uses (that pass `filter`'s labels); returns their names.
fn prune_volumes(store: &Store, filter: &PruneFilter) -> anyhow::Result<Vec<String>> {
    let containers = store.containers().list()?;
    let volumes = store.volumes();
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    // A removal a crash interrupted holds `.removing-NAME`: finished before that name goes.
    let stale = volumes.pending_removals();
    if !stale.is_empty() {
        crate::cmd::rm::delete_dirs(&mapping, &stale)?;
    }
    let mut removed = Vec::new();
    for v in volumes.list()? {
        let labels: serde_json::Map<String, serde_json::Value> = v
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        if !users(&containers, &v.name).is_empty() || !filter.matches(v.created_at, &labels) {
            continue;
        }
        volumes
            .begin_remove(&v.name)
            .with_context(|| format!("removing volume {}", v.name))?;
        removed.push(v.name);
    }
    let pending = volumes.pending_removals();
    if !pending.is_empty() {
        crate::cmd::rm::delete_dirs(&mapping, &pending)?;
    }
    Ok(removed)
}
