//! `system df [-v] [--format]`: Podman's TYPE TOTAL ACTIVE SIZE RECLAIMABLE table for
//! images, containers and local volumes, and with `-v` a table per object.
//!
//! Sizes are disk usage as `du -s --block-size=1` measures the store (`store::usage`: allocated
//! blocks, hard links once), so the three rows add up to `du` of the graphroot. The rule:
//! every byte belongs to one row. A container's directory (its writable layer, `userdata/`) is
//! the container's; a volume's directory the volume's; everything else — blobs, layers, image
//! and list records, and the store's own metadata (its directories, the lock, the event log,
//! staging data of running commands) — is counted with the images.
//!
//! RECLAIMABLE is what the prune commands free, computed from the same measurement:
//! containers — `container prune` (every container not running, and removals a crash
//! interrupted); local volumes — `volume prune` (volumes no container uses); images —
//! `image prune -a` (image records no container uses, every manifest list, and then each
//! layer and blob no remaining image or container needs, including those an interrupted
//! pull or load left behind). There is no build cache: coracle has no `build` yet.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read as _, Write as _};

use anyhow::{Context as _, bail};
use chrono::Utc;
use serde_json::{Value, json};

use crate::cli::system::SystemDfArgs;
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle, ListFormat};
use crate::output::{created_since, human_size_precision};
use crate::runtime::{UserMapping, userns};
use crate::store::containers::State;
use crate::store::gc::Live;
use crate::store::usage::{self, Object, Usage};
use crate::store::volumes::{VolumeRecord, users};
use crate::store::{ImageRecord, LockMode, Store};

/// go-units `HumanSize` (four significant digits), as `podman system df` prints sizes.
pub(crate) fn size_text(bytes: u64) -> String {
    human_size_precision(bytes, 4)
}

/// Measures the store, as container root in the user namespace when the mapping has
/// subordinate ids (files they own may sit in directories only they can read).
pub(crate) fn measure(store: &Store) -> anyhow::Result<Usage> {
    let root = store.graphroot().to_path_buf();
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    if mapping.is_identity() {
        return usage::measure(&root)
            .with_context(|| format!("measuring the store {}", root.display()));
    }
    let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .context("creating a pipe for the measurement")?;
    let (mut from_child, mut to_parent) = (File::from(rx), File::from(tx));
    let relay = crate::runtime::SignalRelay::block()?;
    let mut child = userns::spawn_process(&mapping, move || {
        let text = match usage::measure(&root) {
            // JSON object keys are strings: the map travels as a list of pairs.
            Ok(u) => serde_json::to_string(&u.objects.iter().collect::<Vec<_>>())
                .unwrap_or_else(|e| format!("!encoding the measurement: {e}")),
            Err(e) => format!("!{e}"),
        };
        match to_parent.write_all(text.as_bytes()) {
            Ok(()) => 0,
            Err(_) => 1,
        }
    })
    .context("entering the user namespace to measure the store")?;
    child
        .wait_exec()
        .context("entering the user namespace to measure the store")?;
    let mut text = String::new();
    let read = from_child.read_to_string(&mut text);
    let exit = child
        .wait(&relay)
        .context("waiting for the measurement in the user namespace")?;
    drop(relay);
    read.context("reading the measurement")?;
    if let Some(message) = text.strip_prefix('!') {
        bail!(
            "measuring the store {}: {message}",
            store.graphroot().display()
        );
    }
    if exit.status() != 0 || text.is_empty() {
        bail!(
            "measuring the store {}: status {}",
            store.graphroot().display(),
            exit.status()
        );
    }
    let pairs: Vec<(Object, u64)> =
        serde_json::from_str(&text).context("decoding the measurement")?;
    let total = pairs.iter().map(|(_, n)| n).sum();
    Ok(Usage {
        objects: pairs.into_iter().collect(),
        total,
    })
}

/// One row of the summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub kind: &'static str,
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// What the store holds, measured.
pub(crate) struct Account {
    pub usage: Usage,
    pub images: Vec<ImageRecord>,
    pub views: Vec<ContainerView>,
    pub volumes: Vec<VolumeRecord>,
}

impl Account {
    pub fn take(store: &Store) -> anyhow::Result<Account> {
        Ok(Account {
            usage: measure(store)?,
            images: store.images().list()?,
            views: containers::all(store)?,
            volumes: store.volumes().list()?,
        })
    }

    fn used_images(&self) -> HashSet<&crate::oci::digest::Digest> {
        self.views.iter().map(|v| &v.rec.image_id).collect()
    }

    fn running(&self) -> HashSet<&str> {
        self.views
            .iter()
            .filter(|v| v.state == State::Running)
            .map(|v| v.id())
            .collect()
    }

    fn used_volumes(&self) -> HashSet<String> {
        let recs: Vec<_> = self.views.iter().map(|v| v.rec.clone()).collect();
        self.volumes
            .iter()
            .filter(|v| !users(&recs, &v.name).is_empty())
            .map(|v| v.name.clone())
            .collect()
    }

    pub fn summary(&self, store: &Store) -> [Row; 3] {
        let u = &self.usage;
        let running = self.running();
        let containers = Row {
            kind: "Containers",
            total: self.views.len(),
            active: running.len(),
            size: u.sum(|o| matches!(o, Object::Container(_))),
            reclaimable: u
                .sum(|o| matches!(o, Object::Container(id) if !running.contains(id.as_str()))),
        };
        let used = self.used_volumes();
        let volumes = Row {
            kind: "Local Volumes",
            total: self.volumes.len(),
            active: used.len(),
            size: u.sum(|o| matches!(o, Object::Volume(_))),
            reclaimable: u.sum(|o| matches!(o, Object::Volume(n) if !used.contains(n))),
        };
        let in_use = self.used_images();
        let kept: Vec<ImageRecord> = self
            .images
            .iter()
            .filter(|i| in_use.contains(&i.id))
            .cloned()
            .collect();
        let recs: Vec<_> = self.views.iter().map(|v| v.rec.clone()).collect();
        let live = Live::of(store, &kept, &recs);
        let kept_hex: HashSet<&str> = kept.iter().map(|i| i.id.hex()).collect();
        let live_layers: HashSet<&str> = live.layers.iter().map(|d| d.hex()).collect();
        let live_blobs: HashSet<&str> = live.blobs.iter().map(|d| d.hex()).collect();
        let images = Row {
            kind: "Images",
            total: self.images.len(),
            active: kept.len(),
            size: u.total - containers.size - volumes.size,
            reclaimable: u.sum(|o| match o {
                Object::Image(h) => !kept_hex.contains(h.as_str()),
                Object::List(_) => true,
                Object::Layer(h) => !live_layers.contains(h.as_str()),
                Object::Blob(h) => !live_blobs.contains(h.as_str()),
                _ => false,
            }),
        };
        [images, containers, volumes]
    }
}

const SUMMARY: ListFormat = ListFormat {
    default: "table {{.Type}}\t{{.Total}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    headers: &[],
    json: JsonStyle::LIST,
};

fn percent(part: u64, whole: u64) -> u64 {
    (u128::from(part) * 100)
        .checked_div(u128::from(whole))
        .map_or(0, |p| u64::try_from(p).unwrap_or(100))
}

fn row_json(r: &Row) -> Value {
    json!({
        "Type": r.kind,
        "Total": r.total,
        "Active": r.active,
        "Size": size_text(r.size),
        "Reclaimable": format!("{} ({}%)", size_text(r.reclaimable), percent(r.reclaimable, r.size)),
        "RawSize": r.size,
        "RawReclaimable": r.reclaimable,
    })
}

pub fn run(ctx: &Context, args: &SystemDfArgs) -> anyhow::Result<ExitStatus> {
    if args.format.is_some() && args.verbose {
        bail!("cannot combine --format and --verbose flags");
    }
    let store = ctx.open_store(LockMode::Shared, "system df")?;
    let account = Account::take(&store)?;
    if args.verbose {
        out(&verbose(&store, &account))?;
        return Ok(ExitStatus::Success);
    }
    let rows: Vec<Value> = account.summary(&store).iter().map(row_json).collect();
    let text = output::render_list(args.format.as_deref(), &SUMMARY, &rows, false, || {
        Value::Array(rows.clone())
    })?;
    out(&text)?;
    Ok(ExitStatus::Success)
}

/// The bytes of image `img` in `u`: its record, config and manifest, and each layer with its
/// compressed copies; and the part of that in layers other images share.
fn image_size(store: &Store, u: &Usage, img: &ImageRecord, all: &[ImageRecord]) -> (u64, u64) {
    let mut size = u.of(&Object::Image(img.id.hex().into()))
        + u.of(&Object::Blob(img.id.hex().into()))
        + u.of(&Object::Blob(img.digest.hex().into()));
    let mut shared = 0;
    for l in &img.layers {
        let mut n = u.of(&Object::Layer(l.hex().into()));
        if let Ok(rec) = store.layers().get(l) {
            n += rec
                .compressed
                .iter()
                .map(|c| u.of(&Object::Blob(c.digest.hex().into())))
                .sum::<u64>();
        }
        size += n;
        if all.iter().any(|o| o.id != img.id && o.layers.contains(l)) {
            shared += n;
        }
    }
    (size, shared)
}

fn verbose(store: &Store, a: &Account) -> String {
    let now = Utc::now();
    let u = &a.usage;
    let mut t = String::from("Images space usage:\n\n");
    let mut rows = String::from(
        "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\tSHARED SIZE\tUNIQUE SIZE\tCONTAINERS\n",
    );
    for img in &a.images {
        let (size, shared) = image_size(store, u, img, &a.images);
        let users = a.views.iter().filter(|v| v.rec.image_id == img.id).count();
        let names: Vec<(String, String)> = if img.names.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else {
            img.names
                .iter()
                .map(
                    |n| match n.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                        Some((r, t)) => (r.to_string(), t.to_string()),
                        None => (n.clone(), "<none>".into()),
                    },
                )
                .collect()
        };
        for (repo, tag) in names {
            rows.push_str(&format!(
                "{repo}\t{tag}\t{}\t{}\t{}\t{}\t{}\t{users}\n",
                &img.id.hex()[..12],
                created_since(img.added, now),
                size_text(size),
                size_text(shared),
                size_text(size - shared),
            ));
        }
    }
    t.push_str(&output::align(&rows));
    t.push_str("\nContainers space usage:\n\n");
    let mut rows =
        String::from("CONTAINER ID\tIMAGE\tCOMMAND\tLOCAL VOLUMES\tSIZE\tCREATED\tSTATUS\tNAMES\n");
    for v in &a.views {
        let vols = v.rec.mounts.iter().filter(|m| m.kind == "volume").count();
        let status = match v.state {
            State::Created => "created",
            State::Running => "running",
            State::Exited => "exited",
        };
        rows.push_str(&format!(
            "{}\t{}\t{}\t{vols}\t{}\t{}\t{status}\t{}\n",
            &v.id()[..12.min(v.id().len())],
            &v.rec.image_id.hex()[..12],
            v.rec.command.join(" "),
            size_text(u.of(&Object::Container(v.id().into()))),
            created_since(v.rec.created, now),
            v.rec.names.join(","),
        ));
    }
    t.push_str(&output::align(&rows));
    t.push_str("\nLocal Volumes space usage:\n\n");
    let recs: Vec<_> = a.views.iter().map(|v| v.rec.clone()).collect();
    let mut rows = String::from("VOLUME NAME\tLINKS\tSIZE\n");
    for vol in &a.volumes {
        rows.push_str(&format!(
            "{}\t{}\t{}\n",
            vol.name,
            users(&recs, &vol.name).len(),
            size_text(u.of(&Object::Volume(vol.name.clone()))),
        ));
    }
    t.push_str(&output::align(&rows));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_percentages_as_podman() {
        assert_eq!(size_text(0), "0B");
        assert_eq!(size_text(5_848_000), "5.848MB");
        assert_eq!(percent(1, 0), 0);
        assert_eq!(percent(50, 100), 50);
        assert_eq!(percent(100, 100), 100);
    }
}
