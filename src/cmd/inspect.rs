//! `inspect` / `image inspect` / `container inspect`: Podman's JSON for images and
//! containers, or a Go template applied to it.

use anyhow::bail;
use serde_json::{Value, json};

use crate::cli::{ContainerInspectArgs, InspectArgs};
use crate::cmd::container_inspect;
use crate::cmd::images::ImageView;
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::oci::manifest::Manifest;
use crate::output;
use crate::store::lists::InstanceSource;
use crate::store::{LockMode, Store, lookup};

pub fn run(ctx: &Context, args: &InspectArgs) -> anyhow::Result<ExitStatus> {
    let (images, containers) = match args.kind.as_str() {
        "all" => (true, true),
        "image" => (true, false),
        "container" => (false, true),
        other => {
            bail!("invalid type {other:?}: only images and containers can be inspected so far")
        }
    };
    let store = ctx.open_store(LockMode::Shared, "inspect")?;
    let records = store.images().list()?;
    let views = if containers {
        crate::cmd::containers::all(&store)?
    } else {
        Vec::new()
    };
    let mut docs = Vec::new();
    let mut template_data = Vec::new();
    let mut missing = Vec::new();
    let mut list_misses: Vec<(String, String)> = Vec::new();
    for name in &args.names {
        // Containers first, as Podman's `inspect` does for any object.
        if containers && let Ok(v) = crate::cmd::containers::find(&views, name) {
            let doc = container_inspect::inspect_json(&store, v);
            template_data.push(container_inspect::template_view(&doc, v));
            docs.push(doc);
            continue;
        }
        if images && let Ok((rec, _)) = lookup::find(&records, name) {
            let doc = inspect_json(&store, ImageView::load(&store, rec.clone())?)?;
            template_data.push(template_view(&doc));
            docs.push(doc);
            continue;
        }
        if images && let Some(found) = list_image(&store, &records, name)? {
            match found {
                Ok(rec) => {
                    let doc = inspect_json(&store, ImageView::load(&store, rec.clone())?)?;
                    template_data.push(template_view(&doc));
                    docs.push(doc);
                }
                Err(message) => list_misses.push((name.clone(), message)),
            }
            continue;
        }
        missing.push(name.clone());
    }
    print_docs(args.format.as_deref(), &docs, &template_data)?;
    if let Some((first, message)) = list_misses.first() {
        // Podman's `inspect` of any object only says the list is no object it can show.
        let message = if containers {
            format!("no such object: {first:?}")
        } else {
            message.clone()
        };
        return Err(StatusError::wrap(
            ExitStatus::OWN_ERROR,
            anyhow::anyhow!(message),
        ));
    }
    if let Some(first) = missing.first() {
        let message = match (images, containers) {
            (true, true) => format!("no such object: {first:?}"),
            (true, false) => match lookup::find(&records, first) {
                Err(e) => format!("no such image: {e}"),
                Ok(_) => format!("no such image: {first}"),
            },
            _ => format!("no such container {first}"),
        };
        return Err(StatusError::wrap(
            ExitStatus::OWN_ERROR,
            anyhow::anyhow!(message),
        ));
    }
    Ok(ExitStatus::Success)
}

/// The image a manifest list named `name` stands for, as Podman 4.3 resolves it: the list's
/// instance for this machine's platform, when that image is in the store. `None` when no list
/// has that name; `Err` with Podman's message when the list has no such local instance.
fn list_image<'a>(
    store: &Store,
    records: &'a [crate::store::ImageRecord],
    name: &str,
) -> anyhow::Result<Option<Result<&'a crate::store::ImageRecord, String>>> {
    let lists = crate::cmd::images::list_records(store)?;
    let Ok((rec, _)) = lookup::find(&lists, name) else {
        return Ok(None);
    };
    let Some(list) = store.lists().get(&rec.id)? else {
        return Ok(None);
    };
    let arch = crate::oci::manifest::host_arch();
    let image = list
        .instances
        .iter()
        .filter(|i| i.platform.architecture == arch && i.platform.os == "linux")
        .find_map(|i| {
            records.iter().find(|r| {
                r.digest == i.digest
                    || matches!(&i.source, InstanceSource::Local { image } if *image == r.id)
            })
        });
    Ok(Some(image.ok_or_else(|| {
        format!(
            "no image found in manifest list for architecture {arch}, variant \"\", OS linux: image not known"
        )
    })))
}

/// `container inspect`.
pub fn container(ctx: &Context, args: &ContainerInspectArgs) -> anyhow::Result<ExitStatus> {
    if args.latest != args.names.is_empty() {
        bail!("provide one or more container names or IDs, or --latest");
    }
    let store = ctx.open_store(LockMode::Shared, "container inspect")?;
    let views = crate::cmd::containers::all(&store)?;
    let targets: Vec<String> = if args.latest {
        views.iter().take(1).map(|v| v.id().to_string()).collect()
    } else {
        args.names.clone()
    };
    let (mut docs, mut template_data, mut missing) = (Vec::new(), Vec::new(), Vec::new());
    for name in &targets {
        match crate::cmd::containers::find(&views, name) {
            Ok(v) => {
                let doc = container_inspect::inspect_json(&store, v);
                template_data.push(container_inspect::template_view(&doc, v));
                docs.push(doc);
            }
            Err(e) => missing.push(e),
        }
    }
    print_docs(args.format.as_deref(), &docs, &template_data)?;
    if let Some(first) = missing.into_iter().next() {
        return Err(StatusError::wrap(
            ExitStatus::OWN_ERROR,
            anyhow::Error::new(first),
        ));
    }
    Ok(ExitStatus::Success)
}

fn print_docs(format: Option<&str>, docs: &[Value], template_data: &[Value]) -> anyhow::Result<()> {
    let text = match format {
        Some(f) if !output::is_json(f) && !f.is_empty() => {
            output::render_inspect(Some(f), template_data)?
        }
        _ => output::render_inspect(None, docs)?,
    };
    out(&text)?;
    Ok(())
}

/// What a `--format` template sees: Podman's Go structs, not its JSON. Every field exists
/// (Go zero values where the JSON omits them), times print as Go prints them, history
/// entries use Go's field names, and `.ID` works as well as `.Id`.
fn template_view(doc: &Value) -> Value {
    let mut d = doc.clone();
    d["ID"] = d["Id"].clone();
    if let Some(created) = doc["Created"]
        .as_str()
        .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
    {
        d["Created"] = json!(crate::cmd::images::go_time(
            created.with_timezone(&chrono::Utc)
        ));
    }
    let mut config = json!({
        "User": "", "ExposedPorts": {}, "Env": [], "Entrypoint": [], "Cmd": [], "Volumes": {},
        "WorkingDir": "", "Labels": {}, "StopSignal": "", "ArgsEscaped": false,
    });
    if let Some(given) = doc["Config"].as_object() {
        for (k, v) in given {
            if !v.is_null() {
                config[k] = v.clone();
            }
        }
    }
    d["Config"] = config;
    if d["Labels"].is_null() {
        d["Labels"] = json!({});
    }
    d["HealthCheck"] = Value::Null;
    let history: Vec<Value> = doc["History"]
        .as_array()
        .map(|h| {
            h.iter()
                .map(|e| {
                    json!({
                        "Created": e["created"].as_str()
                            .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                            .map(|c| crate::cmd::images::go_time(c.with_timezone(&chrono::Utc)))
                            .unwrap_or_default(),
                        "CreatedBy": e["created_by"].as_str().unwrap_or_default(),
                        "Author": e["author"].as_str().unwrap_or_default(),
                        "Comment": e["comment"].as_str().unwrap_or_default(),
                        "EmptyLayer": e["empty_layer"].as_bool().unwrap_or(false),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    d["History"] = Value::Array(history);
    d
}

/// One image as `podman image inspect` shows it.
pub fn inspect_json(store: &Store, view: ImageView) -> anyhow::Result<Value> {
    let rec = &view.rec;
    let cfg = &view.config;
    let manifest: Option<Manifest> = store
        .blobs()
        .read(&rec.digest)
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok());
    let labels = cfg.labels();
    let history: Vec<Value> = cfg
        .history
        .iter()
        .map(|h| serde_json::to_value(h).unwrap_or(Value::Null))
        .collect();
    let comment = cfg
        .history
        .last()
        .and_then(|h| h.comment.clone())
        .unwrap_or_default();
    let top = rec.layers.last();
    let layer_dir =
        |d: &crate::oci::digest::Digest| store.layers().path(d).join("diff").display().to_string();
    let mut graph_data = serde_json::Map::new();
    if let Some(top) = top {
        graph_data.insert("UpperDir".into(), json!(layer_dir(top)));
        let lower: Vec<String> = rec.layers.iter().rev().skip(1).map(layer_dir).collect();
        if !lower.is_empty() {
            graph_data.insert("LowerDir".into(), json!(lower.join(":")));
        }
    }
    Ok(json!({
        "Id": rec.id.hex(),
        "Digest": rec.digest.to_string(),
        "RepoTags": view.repo_tags(),
        "RepoDigests": view.repo_digests(),
        "Parent": "",
        "Comment": comment,
        "Created": view.created().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        "Config": if cfg.config.is_null() { json!({}) } else { cfg.config.clone() },
        "Version": cfg.other.get("docker_version").cloned().unwrap_or(json!("")),
        "Author": cfg.author.clone().unwrap_or_default(),
        "Architecture": cfg.architecture,
        "Os": cfg.os,
        "Size": rec.size,
        "VirtualSize": rec.size,
        "GraphDriver": {"Name": store.paths().driver, "Data": graph_data},
        "RootFS": {"Type": if cfg.rootfs.fs_type.is_empty() { "layers".to_string() } else { cfg.rootfs.fs_type.clone() }, "Layers": rec.layers},
        "Labels": if labels.is_empty() { Value::Null } else { Value::Object(labels) },
        "Annotations": manifest.map(|m| json!(m.annotations)).unwrap_or(json!({})),
        "ManifestType": rec.manifest_media_type,
        "User": cfg.config.get("User").cloned().unwrap_or(json!("")),
        "History": history,
        "NamesHistory": rec.names_history,
    }))
}
