//! `rmi` / `image rm` and `image prune`, with Podman's exit codes: 1 when an image is not
//! known, 2 when one is in use (by a child image or a container; `-f` removes the containers
//! too), 125 otherwise. `prune` leaves images containers use.

use std::io::{BufRead, Write};

use anyhow::{Context as _, bail};

use crate::cli::{PruneArgs, RmiArgs};
use crate::cmd::containers::ContainerView;
use crate::cmd::images::list_records;
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::events::Event;
use crate::runtime::UserMapping;
use crate::store::lookup::{self, Matched};
use crate::store::{ImageRecord, LockMode, Store, gc};

pub fn rmi(ctx: &Context, args: &RmiArgs) -> anyhow::Result<ExitStatus> {
    if args.all && !args.images.is_empty() {
        bail!("when using the --all switch, you may not pass any images names or IDs");
    }
    if !args.all && args.images.is_empty() {
        bail!("image name or ID must be specified");
    }
    let store = ctx.open_store(LockMode::Exclusive, "rmi")?;
    crate::failpoint!("rmi.store-locked");
    let staging = store.staging("rmi")?;
    let mut text = String::new();
    // Every argument is tried; the first failure decides the exit status (1: not known,
    // 2: in use, 125: anything else), as Podman reports them all.
    let mut failures: Vec<(u8, String)> = Vec::new();
    let mut removed_any = false;
    let targets: Vec<String> = if args.all {
        store
            .images()
            .list()?
            .iter()
            .map(|r| r.id.hex().to_string())
            .chain(store.lists().list()?.iter().map(|l| l.id.hex().to_string()))
            .collect()
    } else {
        args.images.clone()
    };
    for input in &targets {
        let mut records = store.images().list()?;
        records.extend(list_records(&store)?);
        let (rec, matched) = match lookup::find(&records, input) {
            Ok(hit) => hit,
            Err(lookup::LookupError::NotKnown(n)) => {
                // -f, like -i, ignores images that are not there (Podman).
                if !args.ignore && !args.force {
                    failures.push((1, format!("{n}: image not known")));
                }
                continue;
            }
            Err(e) => {
                failures.push((ExitStatus::OWN_ERROR, e.to_string()));
                continue;
            }
        };
        if lookup::is_list(rec) {
            match remove_list(&store, staging.path(), rec, &matched, args) {
                Ok(lines) => text.push_str(&lines),
                Err(message) => failures.push((ExitStatus::OWN_ERROR, message)),
            }
            continue;
        }
        let mut rec = rec.clone();
        let has_children = !args.all && rec.has_children(&records);
        match matched {
            // Untagging the last name of an image others are built on keeps it, untagged,
            // as an intermediate image (Podman).
            Matched::Name(name) if rec.names.len() > 1 || has_children => {
                rec.remove_name(&name);
                store.images().put(staging.path(), &rec)?;
                crate::failpoint!("rmi.untagged");
                text.push_str(&format!("Untagged: {name}\n"));
                store
                    .events()
                    .record(&Event::image("untag", rec.id.hex(), &name));
            }
            Matched::Id if rec.names.len() > 1 && !args.force && !args.all => failures.push((
                ExitStatus::OWN_ERROR,
                format!(
                    "unable to delete image {:?} by ID with more than one tag ({}): please force removal",
                    rec.id.hex(),
                    rec.names.join(", ")
                ),
            )),
            Matched::Id if has_children && !args.force => failures.push((
                2,
                format!("image {} has dependent child images: remove them first", rec.id.short()),
            )),
            _ if crate::store::pins::pinned(&store).contains(&rec.id) => failures.push((
                2,
                format!(
                    "image {} is in use by a running build: wait for it to finish",
                    rec.id.short()
                ),
            )),
            _ => {
                let views = crate::cmd::containers::all(&store)?;
                let users: Vec<&ContainerView> =
                    views.iter().filter(|v| v.rec.image_id == rec.id).collect();
                if let Some(first) = users.first() {
                    if !args.force {
                        failures.push((
                            2,
                            format!(
                                "image used by {}: image is in use by a container: consider \
                                 listing external containers and force-removing image",
                                first.id()
                            ),
                        ));
                        continue;
                    }
                    let mapping = UserMapping::current()
                        .context("computing the user namespace's id mapping")?;
                    crate::cmd::rm::remove(&store, &mapping, &users)?;
                    crate::failpoint!("rmi.containers-removed");
                }
                text.push_str(&remove_image(&store, staging.path(), &rec)?);
                removed_any = true;
                // Untagged parents left with no child go too, as in Podman.
                let mut child = rec.layers.clone();
                loop {
                    let all = store.images().list()?;
                    let parent = all
                        .iter()
                        .filter(|p| p.layers.len() < child.len() && child.starts_with(&p.layers) && p.is_dangling(&all))
                        .max_by_key(|p| p.layers.len());
                    let Some(parent) = parent else { break };
                    if in_use(&store, parent)? {
                        break;
                    }
                    text.push_str(&remove_image(&store, staging.path(), parent)?);
                    child = parent.layers.clone();
                }
            }
        }
    }
    if removed_any {
        gc::collect(&store)?;
    }
    crate::failpoint!("rmi.collected");
    crate::failpoint!("rmi.done");
    out(&text)?;
    if let Some((status, _)) = failures.first() {
        let message: Vec<String> = failures.iter().map(|(_, m)| m.clone()).collect();
        return Err(StatusError::wrap(
            *status,
            anyhow::anyhow!(message.join("\nError: ")),
        ));
    }
    Ok(ExitStatus::Success)
}

/// `rmi` of a manifest list: the name it was given goes, and the list with its last name.
/// Podman 4.3 instead removes the list's instance for this machine when it is a local image
/// (its lookup resolves a list to that image), which is never what `rmi LIST` means.
/// Returns the output lines, or the message of a refusal.
fn remove_list(
    store: &Store,
    staging: &std::path::Path,
    rec: &ImageRecord,
    matched: &Matched,
    args: &RmiArgs,
) -> Result<String, String> {
    let fail = |e: anyhow::Error| format!("{e:#}");
    let mut list = store
        .lists()
        .get(&rec.id)
        .map_err(|e| fail(e.into()))?
        .ok_or_else(|| format!("{}: image not known", rec.id.hex()))?;
    match matched {
        Matched::Name(name) if list.names.len() > 1 => {
            list.names.retain(|n| n != name);
            store
                .lists()
                .put(staging, &list)
                .map_err(|e| fail(e.into()))?;
            Ok(format!("Untagged: {name}\n"))
        }
        Matched::Id if list.names.len() > 1 && !args.force && !args.all => Err(format!(
            "unable to delete image {:?} by ID with more than one tag ({}): please force removal",
            list.id.hex(),
            list.names.join(", ")
        )),
        _ => {
            store
                .lists()
                .remove(staging, &list.id)
                .map_err(|e| fail(e.into()))?;
            let mut text = String::new();
            for n in &list.names {
                text.push_str(&format!("Untagged: {n}\n"));
            }
            text.push_str(&format!("Deleted: {}\n", list.id.hex()));
            Ok(text)
        }
    }
}

/// Whether a container was made from `rec`, or a running build needs it.
fn in_use(store: &Store, rec: &ImageRecord) -> anyhow::Result<bool> {
    Ok(store
        .containers()
        .list()?
        .iter()
        .any(|c| c.image_id == rec.id)
        || crate::store::pins::pinned(store).contains(&rec.id))
}

/// Removes one image record; returns the `Untagged:`/`Deleted:` lines.
fn remove_image(
    store: &Store,
    staging: &std::path::Path,
    rec: &ImageRecord,
) -> anyhow::Result<String> {
    store.images().remove(staging, &rec.id)?;
    crate::failpoint!("rmi.record-moved");
    let mut text = String::new();
    let events = store.events();
    for n in &rec.names {
        text.push_str(&format!("Untagged: {n}\n"));
        events.record(&Event::image("untag", rec.id.hex(), n));
    }
    let name = rec.names.first().map(String::as_str).unwrap_or_default();
    events.record(&Event::image("remove", rec.id.hex(), name));
    text.push_str(&format!("Deleted: {}\n", rec.id.hex()));
    Ok(text)
}

pub fn prune(ctx: &Context, args: &PruneArgs) -> anyhow::Result<ExitStatus> {
    let (filters, dangling) = split_dangling(&args.filters)?;
    let filter = crate::cmd::container_prune::PruneFilter::parse(&filters)?;
    // `dangling=false` prunes every unused image, as `-a` does (Podman's API reading).
    let all = dangling.map_or(args.all, |d| !d);
    if !args.force {
        let what = if all {
            "all images not in use by containers"
        } else {
            "all dangling images"
        };
        let mut stderr = std::io::stderr();
        let _ = write!(
            stderr,
            "WARNING! This command removes {what}.\nAre you sure you want to continue? [y/N] "
        );
        let _ = stderr.flush();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(ExitStatus::Success);
        }
    }
    let store = ctx.open_store(LockMode::Exclusive, "image prune")?;
    let removed = crate::cmd::system::prune::prune_images(&store, all, &filter)?;
    let text: String = removed.iter().map(|id| format!("{id}\n")).collect();
    out(&text)?;
    Ok(ExitStatus::Success)
}

/// Takes `dangling=BOOL` out of `image prune`'s filters (the others are `PruneFilter`'s:
/// `until=`, `label=`, `label!=`); the last `dangling=` given wins.
fn split_dangling(filters: &[String]) -> anyhow::Result<(Vec<String>, Option<bool>)> {
    let mut rest = Vec::new();
    let mut dangling = None;
    for f in filters {
        match f.split_once('=') {
            Some(("dangling", v)) => {
                dangling = Some(match v.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => bail!("invalid filter {f:?}: dangling takes true or false"),
                });
            }
            _ => rest.push(f.clone()),
        }
    }
    Ok((rest, dangling))
}

#[cfg(test)]
mod tests {
    use super::split_dangling;

    #[test]
    fn dangling_is_taken_out_of_the_filters() {
        let f = |v: &[&str]| split_dangling(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (rest, d) = f(&["label=a=b", "dangling=false", "until=1h"]).unwrap();
        assert_eq!(rest, vec!["label=a=b".to_string(), "until=1h".to_string()]);
        assert_eq!(d, Some(false));
        assert_eq!(f(&["dangling=1"]).unwrap().1, Some(true));
        assert_eq!(f(&[]).unwrap().1, None);
        assert!(f(&["dangling=maybe"]).is_err());
    }
}
