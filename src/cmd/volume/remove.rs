//! `volume rm` and `volume prune`, and the removal of a container's anonymous volumes
//! (`rm -v`, `run --rm`).
//!
//! A volume in use by a container is refused (exit 2, Podman's message) unless `--force`,
//! which removes those containers first, as Podman does. A volume is hidden first
//! (`Volumes::begin_remove`), then deleted as container root in the user namespace: its
//! files may belong to subordinate ids a container gave them to.

use std::io::{BufRead as _, Write as _};

use anyhow::{Context as _, bail};

use super::list::{matches, parse_filter};
use super::not_found;
use crate::cli::volume::{VolumePruneArgs, VolumeRmArgs};
use crate::cmd::{Context, containers, out};
use crate::error::{ExitStatus, StatusError};
use crate::runtime::UserMapping;
use crate::store::volumes::{VolumeError, users};
use crate::store::{ContainerRecord, LockMode, Store};

pub(super) fn rm(ctx: &Context, args: &VolumeRmArgs) -> anyhow::Result<ExitStatus> {
    if args.all != args.names.is_empty() {
        bail!("choose either one or more volumes or all");
    }
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    let store = ctx.open_store(LockMode::Exclusive, "volume rm")?;
    crate::failpoint!("volume.rm.store-locked");
    let names: Vec<String> = if args.all {
        store
            .volumes()
            .list()?
            .into_iter()
            .map(|v| v.name)
            .collect()
    } else {
        args.names.clone()
    };
    let mut failures: Vec<(u8, anyhow::Error)> = Vec::new();
    let mut doomed = Vec::new();
    for name in &names {
        match store.volumes().get(name) {
            Ok(_) => {}
            Err(VolumeError::NotFound(_)) => {
                failures.push((1, not_found(name)));
                continue;
            }
            Err(e) => {
                failures.push((125, e.into()));
                continue;
            }
        }
        let records = store.containers().list()?;
        let using: Vec<String> = users(&records, name).iter().map(|c| c.id.clone()).collect();
        if !using.is_empty() {
            if !args.force {
                failures.push((
                    2,
                    anyhow::anyhow!(
                        "volume {name} is being used by the following container(s): {}: volume \
                         is being used",
                        using.join(", ")
                    ),
                ));
                continue;
            }
            let views = containers::all(&store)?;
            let chosen: Vec<&containers::ContainerView> =
                views.iter().filter(|v| using.contains(&v.rec.id)).collect();
            crate::cmd::rm::remove(&store, &mapping, &chosen)
                .with_context(|| format!("removing the containers using volume {name}"))?;
        }
        doomed.push(name.clone());
    }
    delete(&store, &mapping, &doomed)?;
    let text: String = doomed.iter().map(|n| format!("{n}\n")).collect();
    out(&text)?;
    if let Some((status, _)) = failures.first() {
        let status = *status;
        let message: Vec<String> = failures
            .into_iter()
            .map(|(_, e)| format!("{e:#}"))
            .collect();
        return Err(StatusError::wrap(
            status,
            anyhow::anyhow!(message.join("\nError: ")),
        ));
    }
    Ok(ExitStatus::Success)
}

pub(super) fn prune(ctx: &Context, args: &VolumePruneArgs) -> anyhow::Result<ExitStatus> {
    let filters = args
        .filter
        .iter()
        .map(|f| parse_filter(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if !args.force {
        let mut err = std::io::stderr();
        let _ = writeln!(
            err,
            "WARNING! This will remove all volumes not used by at least one container. The \
             following volumes will be removed:"
        );
        let store = ctx.open_store(LockMode::Shared, "volume prune")?;
        let containers = store.containers().list()?;
        for v in store.volumes().list()? {
            if users(&containers, &v.name).is_empty() && matches(&v, &filters, &containers) {
                let _ = writeln!(err, "{}", v.name);
            }
        }
        let _ = write!(err, "Are you sure you want to continue? [y/N] ");
        let _ = err.flush();
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .context("reading the answer")?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
            return Ok(ExitStatus::Success);
        }
    }
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    let store = ctx.open_store(LockMode::Exclusive, "volume prune")?;
    let containers = store.containers().list()?;
    let doomed: Vec<String> = store
        .volumes()
        .list()?
        .into_iter()
        .filter(|v| users(&containers, &v.name).is_empty() && matches(v, &filters, &containers))
        .map(|v| v.name)
        .collect();
    delete(&store, &mapping, &doomed)?;
    let text: String = doomed.iter().map(|n| format!("{n}\n")).collect();
    out(&text)?;
    Ok(ExitStatus::Success)
}

/// Hides then deletes volumes (and finishes removals a crash interrupted). Call with the
/// exclusive store lock.
fn delete(store: &Store, mapping: &UserMapping, names: &[String]) -> anyhow::Result<()> {
    let volumes = store.volumes();
    // A removal a crash interrupted still holds `.removing-NAME`, which the name, taken again
    // since, needs now.
    let stale = volumes.pending_removals();
    if !stale.is_empty() {
        crate::cmd::rm::delete_dirs(mapping, &stale)?;
    }
    for n in names {
        volumes
            .begin_remove(n)
            .with_context(|| format!("removing volume {n}"))?;
    }
    crate::failpoint!("volume.rm.hidden");
    let pending = volumes.pending_removals();
    if !pending.is_empty() {
        crate::cmd::rm::delete_dirs(mapping, &pending)?;
    }
    crate::failpoint!("volume.rm.deleted");
    Ok(())
}

/// Removes the anonymous volumes of `removed` (containers already removed) that no other
/// container uses: `rm -v`, `run --rm`.
pub fn remove_anonymous(store: &Store, removed: &[&ContainerRecord]) -> anyhow::Result<()> {
    let names: Vec<&str> = removed
        .iter()
        .flat_map(|c| c.mounts.iter())
        .filter(|m| m.kind == "volume")
        .map(|m| m.name.as_str())
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let remaining = store.containers().list()?;
    let mut doomed = Vec::new();
    for n in names {
        if let Ok(v) = store.volumes().get(n)
            && v.anonymous
            && users(&remaining, n).is_empty()
            && !doomed.contains(&v.name)
        {
            doomed.push(v.name);
        }
    }
    if doomed.is_empty() {
        return Ok(());
    }
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    delete(store, &mapping, &doomed)
}
