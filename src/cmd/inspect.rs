//! `inspect` / `image inspect`: Podman's image JSON, or a Go template applied to it.

use anyhow::bail;
use serde_json::{Value, json};

use crate::cli::InspectArgs;
use crate::cmd::images::ImageView;
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::oci::manifest::Manifest;
use crate::output;
use crate::store::{LockMode, Store, lookup};

pub fn run(ctx: &Context, args: &InspectArgs) -> anyhow::Result<ExitStatus> {
    if !matches!(args.kind.as_str(), "all" | "image") {
        bail!(
            "invalid type {:?}: only images can be inspected so far",
            args.kind
        );
    }
    let store = ctx.open_store(LockMode::Shared, "inspect")?;
    let records = store.images().list()?;
    let mut docs = Vec::new();
    let mut missing = Vec::new();
    for name in &args.names {
        match lookup::find(&records, name) {
            Ok((rec, _)) => docs.push(inspect_json(&store, ImageView::load(&store, rec.clone())?)?),
            Err(e) => missing.push(e),
        }
    }
    let text = match args.format.as_deref() {
        Some(f) if !output::is_json(f) && !f.is_empty() => {
            let data: Vec<Value> = docs.iter().map(template_view).collect();
            output::render_inspect(Some(f), &data)?
        }
        _ => output::render_inspect(None, &docs)?,
    };
    out(&text)?;
    if let Some(first) = missing.into_iter().next() {
        return Err(StatusError::wrap(
            ExitStatus::OWN_ERROR,
            anyhow::Error::new(first).context("no such image"),
        ));
    }
    Ok(ExitStatus::Success)
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
