//! `container prune [-f] [--filter until=,label=]`: removes every container that is not
//! running (and finishes removals a crash interrupted), printing their IDs as Podman does.
//! The `--filter` syntax here is also `system prune`'s.

use std::io::{BufRead as _, Write as _};

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};

use crate::cli::container::ContainerPruneArgs;
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::runtime::UserMapping;
use crate::store::containers::State;
use crate::store::{LockMode, Store};

/// `--filter` of the prune commands: `until=` (created before), `label=`/`label!=` (on the
/// image's labels, which a container inherits as in Podman).
#[derive(Debug, Default)]
pub(crate) struct PruneFilter {
    until: Option<DateTime<Utc>>,
    labels: Vec<(String, Option<String>, bool)>,
}

impl PruneFilter {
    pub fn parse(specs: &[String]) -> anyhow::Result<PruneFilter> {
        let mut f = PruneFilter::default();
        for spec in specs {
            let (key, value, negate) = match spec.split_once("!=") {
                Some((k, v)) => (k, v, true),
                None => match spec.split_once('=') {
                    Some((k, v)) => (k, v, false),
                    None => bail!("invalid filter {spec:?}: filters are key=value"),
                },
            };
            match (key, negate) {
                ("until", false) => {
                    let t = crate::cmd::events::parse_time(value, Utc::now())
                        .map_err(|e| anyhow::anyhow!("invalid filter {spec:?}: {e}"))?;
                    f.until = Some(t);
                }
                ("label", _) => {
                    let (k, v) = match value.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (value.to_string(), None),
                    };
                    f.labels.push((k, v, negate));
                }
                _ => bail!("invalid filter {spec:?}: supported are until=, label= and label!="),
            }
        }
        Ok(f)
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_none() && self.labels.is_empty()
    }

    /// Whether an object created at `created` with `labels` passes.
    pub fn matches(
        &self,
        created: DateTime<Utc>,
        labels: &serde_json::Map<String, serde_json::Value>,
    ) -> bool {
        if self.until.is_some_and(|u| created >= u) {
            return false;
        }
        self.labels.iter().all(|(k, v, negate)| {
            let has = match (labels.get(k), v) {
                (Some(have), Some(want)) => have.as_str() == Some(want.as_str()),
                (Some(_), None) => true,
                (None, _) => false,
            };
            has != *negate
        })
    }
}

/// The labels of image `id`'s config (none when it cannot be read).
pub(crate) fn image_labels(
    store: &Store,
    id: &crate::oci::digest::Digest,
) -> serde_json::Map<String, serde_json::Value> {
    store
        .blobs()
        .read(id)
        .ok()
        .and_then(|b| crate::oci::config::ImageConfig::parse(id, &b).ok())
        .map(|c| c.labels())
        .unwrap_or_default()
}

/// Asks the question on stderr; true on yes.
pub(crate) fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    let _ = write!(err, "{question}Are you sure you want to continue? [y/N] ");
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Removes the containers that are not running and pass `filter`; returns their IDs. Call
/// with the exclusive store lock.
pub(crate) fn prune_containers(store: &Store, filter: &PruneFilter) -> anyhow::Result<Vec<String>> {
    let views = containers::all(store)?;
    let chosen: Vec<&ContainerView> = views
        .iter()
        .filter(|v| v.state != State::Running)
        .filter(|v| {
            filter.is_empty()
                || filter.matches(v.rec.created, &image_labels(store, &v.rec.image_id))
        })
        .collect();
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    // Also with nothing chosen: removals a crash interrupted are finished.
    let removed = crate::cmd::rm::remove(store, &mapping, &chosen)?;
    // Their anonymous volumes stay for `volume prune`, as in Podman.
    crate::failpoint!("prune.containers-removed");
    Ok(removed)
}

pub fn run(ctx: &Context, args: &ContainerPruneArgs) -> anyhow::Result<ExitStatus> {
    let filter = PruneFilter::parse(&args.filters)?;
    if !args.force && !confirm("WARNING! This will remove all non running containers.\n")? {
        return Ok(ExitStatus::Success);
    }
    let store = ctx.open_store(LockMode::Exclusive, "container prune")?;
    let removed = prune_containers(&store, &filter)?;
    let text: String = removed.iter().map(|id| format!("{id}\n")).collect();
    crate::failpoint!("prune.done");
    out(&text)?;
    Ok(ExitStatus::Success)
}
