//! `system check [--repair [--force]] [--quick]`: one line per damaged object, then, with
//! `--repair`, what was removed and what was kept and why. Exits 125 while damage remains (as
//! Podman), 0 when the store is whole or was made whole.
//!
//! A repair removes exactly the damaged objects and what depends on them: an image whose
//! blob or layer is damaged; with `--force`, the containers made from such an image (without
//! it, the image and its layers stay for them); damaged container records. Stale references
//! to compressed copies are dropped from layer records. Then whatever nothing references any
//! more is collected as after `rmi`.

use std::collections::BTreeSet;

use anyhow::Context as _;

use crate::cli::system::SystemCheckArgs;
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::oci::digest::Digest;
use crate::runtime::UserMapping;
use crate::store::LockMode;
use crate::store::check::{self, Findings, Options};

pub fn run(ctx: &Context, args: &SystemCheckArgs) -> anyhow::Result<ExitStatus> {
    let mode = if args.repair {
        LockMode::Exclusive
    } else {
        LockMode::Shared
    };
    let store = ctx.open_store(mode, "system check")?;
    let opts = Options { quick: args.quick };
    let findings = check::check(&store, opts).context("checking the store")?;
    let c = findings.checked;
    out(&format!(
        "Checked {} blobs, {} layers, {} images, {} manifest lists, {} containers{}\n",
        c.blobs,
        c.layers,
        c.images,
        c.lists,
        c.containers,
        if args.quick { " (quick)" } else { "" }
    ))?;
    for p in &findings.problems {
        out(&format!("{} {}: {}\n", p.kind.name(), p.id, p.reason))?;
    }
    if findings.is_clean() {
        out("No problems found\n")?;
        return Ok(ExitStatus::Success);
    }
    if !args.repair {
        return Err(damage_remains(&findings));
    }
    let plan = plan_repair(&findings, args.force);
    for (image, users) in &plan.kept_images {
        out(&format!(
            "Kept damaged image {image}: used by container(s) {} (--force removes them too)\n",
            users.join(", ")
        ))?;
    }
    crate::failpoint!("check.repair.begin");
    repair(ctx, &store, &findings, &plan)?;
    crate::failpoint!("check.repair.done");
    drop(store);
    // What the repair left must now check clean, but for what it chose to keep.
    let store = ctx.open_store(LockMode::Shared, "system check")?;
    let after = check::check(&store, opts).context("checking the store after the repair")?;
    if after.is_clean() {
        out("The store is whole\n")?;
        Ok(ExitStatus::Success)
    } else {
        Err(damage_remains(&after))
    }
}

fn damage_remains(f: &Findings) -> anyhow::Error {
    StatusError::wrap(
        ExitStatus::OWN_ERROR,
        anyhow::anyhow!(
            "{} problem(s) found in the store; `coracle system check --repair` removes the \
             damaged objects",
            f.problems.len()
        ),
    )
}

/// What a repair removes.
#[derive(Debug, Default, PartialEq)]
struct Plan {
    images: BTreeSet<String>,
    containers: BTreeSet<String>,
    /// Images kept for the containers that use them (without `--force`), with those users.
    kept_images: Vec<(String, Vec<String>)>,
}

fn plan_repair(f: &Findings, force: bool) -> Plan {
    let mut plan = Plan {
        containers: f.damaged_containers.clone(),
        ..Plan::default()
    };
    for image in &f.damaged_images {
        let users = f.users.get(image).cloned().unwrap_or_default();
        if users.is_empty() || force {
            plan.containers.extend(users);
            plan.images.insert(image.clone());
        } else {
            plan.kept_images.push((image.clone(), users));
        }
    }
    plan
}

fn repair(
    ctx: &Context,
    store: &crate::store::Store,
    f: &Findings,
    plan: &Plan,
) -> anyhow::Result<()> {
    let staging = store.staging("system-check")?;
    for id in &plan.containers {
        store
            .containers()
            .begin_remove(id)
            .with_context(|| format!("removing container {id}"))?;
    }
    if !plan.containers.is_empty() {
        let mapping =
            UserMapping::current().context("computing the user namespace's id mapping")?;
        crate::cmd::rm::remove(store, &mapping, &[])?;
        for id in &plan.containers {
            out(&format!("Removed container {id}\n"))?;
        }
    }
    for id in &plan.images {
        let Some(hex) = id.strip_prefix("sha256:") else {
            continue;
        };
        let digest = Digest::from_hex(hex).with_context(|| format!("image ID {id}"))?;
        store
            .images()
            .remove(staging.path(), &digest)
            .with_context(|| format!("removing image {id}"))?;
        out(&format!("Removed image {id}\n"))?;
        crate::failpoint!("check.repair.image-removed");
    }
    // Damaged layers and blobs nothing kept needs go to the trash; what still needs them (an
    // image kept for its containers) keeps them.
    let kept = store.images().list().context("listing images")?;
    let kept_containers = store.containers().list().context("listing containers")?;
    let needed_layers: BTreeSet<&str> = kept
        .iter()
        .flat_map(|i| i.layers.iter())
        .chain(kept_containers.iter().flat_map(|c| c.layers.iter()))
        .map(Digest::hex)
        .collect();
    let needed_blobs: BTreeSet<&str> = kept
        .iter()
        .flat_map(|i| [i.id.hex(), i.digest.hex()])
        .collect();
    for (diff_id, blob) in &f.stale_compressed {
        if f.damaged_layers.contains(diff_id.hex()) {
            continue;
        }
        store
            .layers()
            .drop_compressed(staging.path(), diff_id, std::slice::from_ref(blob))
            .with_context(|| format!("updating the record of layer {diff_id}"))?;
        out(&format!(
            "Dropped compressed copy {blob} from layer {diff_id}\n"
        ))?;
    }
    for hex in &f.damaged_layers {
        if needed_layers.contains(hex.as_str()) {
            continue;
        }
        let from = store.layers().dir().join(hex);
        let to = staging.path().join(format!("damaged-layer-{hex}"));
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} out of the store", from.display()))?;
        out(&format!("Removed layer sha256:{hex}\n"))?;
        crate::failpoint!("check.repair.layer-moved");
    }
    for hex in &f.damaged_blobs {
        if needed_blobs.contains(hex.as_str()) {
            continue;
        }
        let from = store.blobs().dir().join(hex);
        let to = staging.path().join(format!("damaged-blob-{hex}"));
        std::fs::rename(&from, &to)
            .with_context(|| format!("moving {} out of the store", from.display()))?;
        out(&format!("Removed blob sha256:{hex}\n"))?;
    }
    drop(staging);
    crate::failpoint!("check.repair.collecting");
    let collected = crate::store::gc::collect(store).context("collecting unused layers")?;
    for l in &collected.layers {
        out(&format!("Removed unused layer {l}\n"))?;
    }
    let _ = ctx;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_in_use_are_kept_without_force() {
        let mut f = Findings::default();
        f.damaged_images.insert("sha256:a".into());
        f.damaged_images.insert("sha256:b".into());
        f.damaged_containers.insert("c0".into());
        f.users.insert("sha256:a".into(), vec!["c1".into()]);
        let plan = plan_repair(&f, false);
        assert_eq!(plan.images, BTreeSet::from(["sha256:b".to_string()]));
        assert_eq!(plan.containers, BTreeSet::from(["c0".to_string()]));
        assert_eq!(
            plan.kept_images,
            vec![("sha256:a".to_string(), vec!["c1".to_string()])]
        );
        let forced = plan_repair(&f, true);
        assert_eq!(forced.images.len(), 2);
        assert_eq!(
            forced.containers,
            BTreeSet::from(["c0".to_string(), "c1".to_string()])
        );
        assert!(forced.kept_images.is_empty());
    }
}
