//! `images` / `image ls`, and the image views the other listing commands share.

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::cli::ImagesArgs;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::oci::config::ImageConfig;
use crate::oci::digest::Digest;
use crate::oci::manifest::DOCKER_MANIFEST_LIST;
use crate::oci::reference;
use crate::output::{self, JsonStyle, ListFormat};
use crate::store::lists::{InstanceSource, ListRecord};
use crate::store::lookup;
use crate::store::{ImageRecord, LockMode, Store};
use crate::transfer::save::image_config;

/// An image record with its parsed config: what the listing commands show.
pub struct ImageView {
    pub rec: ImageRecord,
    pub config: ImageConfig,
    /// Podman's "dangling": no name and no image built on it.
    pub dangling: bool,
    /// Podman's "intermediate": no name, but an image is built on it.
    pub intermediate: bool,
}

impl ImageView {
    pub fn load(store: &Store, rec: ImageRecord) -> anyhow::Result<ImageView> {
        let all = store.images().list()?;
        Self::with_family(store, rec, &all)
    }

    fn with_family(
        store: &Store,
        rec: ImageRecord,
        all: &[ImageRecord],
    ) -> anyhow::Result<ImageView> {
        let config = image_config(store, &rec)
            .with_context(|| format!("reading image {}", rec.id.short()))?;
        Ok(ImageView {
            dangling: rec.is_dangling(all),
            intermediate: rec.is_intermediate(all),
            rec,
            config,
        })
    }

    /// A manifest list, shown as Podman 4.3 shows the image it keeps a list in.
    fn list(list: &ListRecord) -> ImageView {
        let rec = list_record(list);
        ImageView {
            config: ImageConfig {
                created: Some(list.created),
                ..ImageConfig::default()
            },
            dangling: rec.names.is_empty(),
            intermediate: false,
            rec,
        }
    }

    /// Every image (no lists: see `with_lists`).
    pub fn all(store: &Store) -> anyhow::Result<Vec<ImageView>> {
        let all = store.images().list()?;
        let mut views = Vec::new();
        for rec in &all {
            // One damaged image must not hide the others; `rmi` can still remove it.
            match ImageView::with_family(store, rec.clone(), &all) {
                Ok(v) => views.push(v),
                Err(e) => {
                    #[allow(clippy::print_stderr)]
                    {
                        eprintln!("WARNING: skipping image {}: {e:#}", rec.id.short());
                    }
                }
            }
        }
        Ok(views)
    }

    /// Every image, then every manifest list, as `images` shows them.
    pub fn with_lists(store: &Store) -> anyhow::Result<Vec<ImageView>> {
        let mut views = Self::all(store)?;
        views.extend(store.lists().list()?.iter().map(Self::list));
        Ok(views)
    }

    /// The config's creation time, else when the image entered the store.
    pub fn created(&self) -> DateTime<Utc> {
        self.config.created.unwrap_or(self.rec.added)
    }

    /// Names with a tag (Podman's `RepoTags`).
    pub fn repo_tags(&self) -> Vec<String> {
        self.rec
            .names
            .iter()
            .filter(|n| !n.contains('@'))
            .cloned()
            .collect()
    }

    /// `repository@manifest-digest` for each repository the image is named in.
    pub fn repo_digests(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for n in &self.rec.names {
            if let Some(r) = lookup::parse_stored(n) {
                let d = format!("{}@{}", r.name(), self.rec.digest);
                if !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out
    }
}

/// A list as the image record Podman keeps it in: its digest is that of the index as stored
/// (Podman's own stays the one the list was created with), its size the stored index plus
/// the record of where each instance came from, as c/storage counts an image's big data.
pub fn list_record(list: &ListRecord) -> ImageRecord {
    let (index, media_type) = if list.instances.is_empty() && list.annotations.is_empty() {
        // buildah stores a new list as a Docker list with Go's nil slice.
        (
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST_LIST}","manifests":null}}"#
            )
            .into_bytes(),
            DOCKER_MANIFEST_LIST.to_string(),
        )
    } else {
        let schema = crate::cmd::manifest::index::default_schema(list);
        crate::cmd::manifest::index::serialize(list, &list.instances, schema)
    };
    let mut sources = serde_json::Map::new();
    if !list.instances.is_empty() {
        sources.insert(String::new(), json!(list.id.hex()));
    }
    for i in &list.instances {
        let source = match &i.source {
            InstanceSource::Local { image } => format!("containers-storage:{}", image.hex()),
            InstanceSource::Remote { reference } => format!("docker://{reference}"),
        };
        sources.insert(i.digest.to_string(), json!(source));
    }
    let sources_len = serde_json::to_vec(&sources).map_or(0, |v| v.len());
    lookup::list_as_image(
        list,
        Digest::of_bytes(&index),
        &media_type,
        (index.len() + sources_len) as u64,
    )
}

/// Every list of `store` as an image record (`list_record`).
pub fn list_records(store: &Store) -> anyhow::Result<Vec<ImageRecord>> {
    Ok(store.lists().list()?.iter().map(list_record).collect())
}

/// Podman lists images with their creation time in whole seconds.
fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// Go's `time.Time.String()`, which Podman's `CreatedAt` prints.
pub fn go_time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string()
}

const IMAGES_FORMAT: ListFormat = ListFormat {
    default: "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
    headers: &[
        ("ID", "IMAGE ID"),
        ("Id", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("Created", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedTime", "CREATED AT"),
        ("ReadOnly", "R/O"),
        ("VirtualSize", "VIRTUAL SIZE"),
        ("SharedSize", "SHARED SIZE"),
    ],
    json: JsonStyle::LIST,
};

const IMAGES_FORMAT_DIGESTS: ListFormat = ListFormat {
    default: "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}",
    headers: IMAGES_FORMAT.headers,
    json: JsonStyle::LIST,
};

/// One `--filter`.
enum Filter {
    Dangling(bool),
    Reference(String),
    Label(String, Option<String>),
    Before(DateTime<Utc>),
    Since(DateTime<Utc>),
    Id(String),
}

fn parse_filters(specs: &[String], views: &[ImageView]) -> anyhow::Result<Vec<Filter>> {
    let recs: Vec<ImageRecord> = views.iter().map(|v| v.rec.clone()).collect();
    let created_of = |img: &str| -> anyhow::Result<DateTime<Utc>> {
        let (rec, _) = lookup::find(&recs, img)?;
        Ok(views
            .iter()
            .find(|v| v.rec.id == rec.id)
            .map(|v| v.created())
            .unwrap_or(rec.added))
    };
    let mut out = Vec::new();
    for spec in specs {
        let (key, value) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
        out.push(match key {
            "dangling" => Filter::Dangling(match value {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => bail!("invalid filter {spec:?}: dangling takes true or false"),
            }),
            "reference" => Filter::Reference(value.to_string()),
            "label" => match value.split_once('=') {
                Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
                None => Filter::Label(value.to_string(), None),
            },
            "before" => Filter::Before(created_of(value)?),
            "since" | "after" => Filter::Since(created_of(value)?),
            "id" => Filter::Id(value.strip_prefix("sha256:").unwrap_or(value).to_string()),
            _ => bail!("invalid image filter {spec:?}: supported are dangling, reference, label, before, since, id"),
        });
    }
    Ok(out)
}

fn passes(view: &ImageView, filter: &Filter) -> bool {
    match filter {
        Filter::Dangling(want) => view.dangling == *want,
        Filter::Reference(pattern) => view
            .rec
            .names
            .iter()
            .filter_map(|n| lookup::parse_stored(n))
            .any(|r| reference::matches_reference_filter(pattern, &r)),
        Filter::Label(k, v) => match view.config.labels().get(k) {
            Some(actual) => v
                .as_ref()
                .is_none_or(|v| actual.as_str() == Some(v.as_str())),
            None => false,
        },
        Filter::Before(t) => view.created() < *t,
        Filter::Since(t) => view.created() > *t,
        Filter::Id(prefix) => view.rec.id.hex().starts_with(prefix.as_str()),
    }
}

pub fn run(ctx: &Context, args: &ImagesArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Shared, "images")?;
    let mut views = ImageView::with_lists(&store)?;
    let filters = parse_filters(&args.filters, &views)?;
    if let Some(name) = &args.name {
        let recs: Vec<ImageRecord> = views.iter().map(|v| v.rec.clone()).collect();
        let found = lookup::find(&recs, name).ok().map(|(r, _)| r.id.clone());
        views.retain(|v| {
            Some(&v.rec.id) == found.as_ref()
                || v.rec
                    .names
                    .iter()
                    .filter_map(|n| lookup::parse_stored(n))
                    .any(|r| reference::matches_reference_filter(name, &r))
        });
    }
    if !args.all {
        views.retain(|v| !v.intermediate);
    }
    views.retain(|v| filters.iter().all(|f| passes(v, f)));
    let now = Utc::now();

    // One row per name, `<none>` for an image without any; newest first.
    let mut rows: Vec<(Value, &ImageView, String, String)> = Vec::new();
    for view in &views {
        let tags = view.repo_tags();
        // An image named only by digest (pulled by digest) shows its repository, as Podman.
        let digested: Vec<String> = view
            .rec
            .names
            .iter()
            .filter(|n| n.contains('@'))
            .filter_map(|n| lookup::parse_stored(n).map(|r| r.name()))
            .fold(Vec::new(), |mut acc, r| {
                if !acc.contains(&r) {
                    acc.push(r);
                }
                acc
            });
        let pairs: Vec<(String, String)> = if tags.is_empty() && digested.is_empty() {
            vec![("<none>".into(), "<none>".into())]
        } else if tags.is_empty() {
            digested
                .into_iter()
                .map(|r| (r, "<none>".to_string()))
                .collect()
        } else {
            tags.iter()
                .map(|n| match lookup::parse_stored(n) {
                    Some(r) => (r.name(), r.tag().unwrap_or("<none>").to_string()),
                    None => (n.clone(), "<none>".into()),
                })
                .collect()
        };
        for (repo, tag) in pairs {
            rows.push((
                template_row(view, &repo, &tag, args.no_trunc, now),
                view,
                repo,
                tag,
            ));
        }
    }
    sort_rows(&mut rows, &args.sort)?;

    if args.quiet {
        let mut seen = Vec::new();
        let mut text = String::new();
        for (_, view, _, _) in &rows {
            if seen.contains(&view.rec.id) {
                continue;
            }
            seen.push(view.rec.id.clone());
            let id = if args.no_trunc {
                view.rec.id.to_string()
            } else {
                view.rec.id.short().to_string()
            };
            text.push_str(&id);
            text.push('\n');
        }
        out(&text)?;
        return Ok(ExitStatus::Success);
    }
    let spec = if args.digests {
        &IMAGES_FORMAT_DIGESTS
    } else {
        &IMAGES_FORMAT
    };
    let data: Vec<Value> = rows.iter().map(|(v, ..)| v.clone()).collect();
    let text = output::render_list(args.format.as_deref(), spec, &data, args.noheading, || {
        let mut seen = Vec::new();
        let mut list = Vec::new();
        for (_, view, _, _) in &rows {
            if !seen.contains(&view.rec.id) {
                seen.push(view.rec.id.clone());
                list.push(json_summary(view));
            }
        }
        Value::Array(list)
    })?;
    out(&text)?;
    Ok(ExitStatus::Success)
}

fn sort_rows(rows: &mut [(Value, &ImageView, String, String)], key: &str) -> anyhow::Result<()> {
    match key {
        "created" => rows.sort_by(|a, b| {
            b.1.created()
                .cmp(&a.1.created())
                .then(a.2.cmp(&b.2))
                .then(a.3.cmp(&b.3))
        }),
        "id" => rows.sort_by(|a, b| a.1.rec.id.cmp(&b.1.rec.id)),
        "repository" => rows.sort_by(|a, b| a.2.cmp(&b.2).then(a.3.cmp(&b.3))),
        "tag" => rows.sort_by(|a, b| a.3.cmp(&b.3)),
        "size" => rows.sort_by_key(|r| r.1.rec.size),
        other => bail!(
            "invalid option for --sort {other:?}, options are: created, id, repository, size, tag"
        ),
    }
    Ok(())
}

/// The fields a `--format` template sees, named as Podman names them.
fn template_row(
    view: &ImageView,
    repo: &str,
    tag: &str,
    no_trunc: bool,
    now: DateTime<Utc>,
) -> Value {
    let created = view.created();
    let id = if no_trunc {
        view.rec.id.to_string()
    } else {
        view.rec.id.short().to_string()
    };
    json!({
        "ID": id,
        "Id": view.rec.id.hex(),
        "Repository": repo,
        "Tag": tag,
        "Digest": view.rec.digest.to_string(),
        "Created": output::created_since(created, now),
        "CreatedSince": output::created_since(created, now),
        "CreatedAt": go_time(whole_seconds(created)),
        "CreatedTime": go_time(whole_seconds(created)),
        "Size": output::human_size(view.rec.size),
        "VirtualSize": view.rec.size,
        "SharedSize": 0,
        "Containers": 0,
        "ReadOnly": false,
        "Dangling": view.dangling,
        "Labels": Value::Object(view.config.labels()),
        "Names": view.rec.names,
        "RepoTags": view.repo_tags(),
        "RepoDigests": view.repo_digests(),
        "History": view.rec.names_history.join(", "),
        "ParentId": "",
    })
}

/// `images --format json`: Podman's `ImageSummary`, one per image.
fn json_summary(view: &ImageView) -> Value {
    let created = view.created();
    let labels = view.config.labels();
    if lookup::is_list(&view.rec) {
        // Podman 4.3 prints a list's names without RepoTags, and no History.
        return json!({
            "Id": view.rec.id.hex(),
            "ParentId": "",
            "RepoTags": null,
            "RepoDigests": view.repo_digests(),
            "Size": view.rec.size,
            "SharedSize": 0,
            "VirtualSize": view.rec.size,
            "Labels": null,
            "Containers": 0,
            "Names": if view.rec.names.is_empty() { Value::Null } else { json!(view.rec.names) },
            "Digest": view.rec.digest.to_string(),
            "Created": created.timestamp(),
            "CreatedAt": whole_seconds(created).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        });
    }
    json!({
        "Id": view.rec.id.hex(),
        "ParentId": "",
        "RepoTags": if view.repo_tags().is_empty() { Value::Null } else { json!(view.repo_tags()) },
        "RepoDigests": view.repo_digests(),
        "Size": view.rec.size,
        "SharedSize": 0,
        "VirtualSize": view.rec.size,
        "Labels": if labels.is_empty() { Value::Null } else { Value::Object(labels) },
        "Containers": 0,
        "Names": if view.rec.names.is_empty() { Value::Null } else { json!(view.rec.names) },
        "Digest": view.rec.digest.to_string(),
        "History": view.rec.names_history,
        "Created": created.timestamp(),
        "CreatedAt": whole_seconds(created).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_list_is_the_image_podman_shows() {
        let list = ListRecord::new(vec!["localhost/l:latest".into()]).unwrap();
        let rec = list_record(&list);
        // Podman 4.3: 108 bytes of index plus `{}`, and this digest for every empty list.
        assert_eq!(rec.size, 110);
        assert_eq!(
            rec.digest.to_string(),
            "sha256:20b959ad5960230b65a77b746bdbf5d991ade4d7a129c2554e167acdcc990531"
        );
        assert!(lookup::is_list(&rec));
        assert_eq!(rec.id, list.id);
        assert!(rec.is_dangling(&[]) == rec.names.is_empty());
    }
}
