//! `volume ls` (Podman's `DRIVER  VOLUME NAME` table, `-q`, `--format`, `--filter`) and
//! `volume inspect`.

use anyhow::bail;
use serde_json::Value;

use super::inspect_json;
use crate::cli::volume::{VolumeInspectArgs, VolumeLsArgs};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle, ListFormat};
use crate::store::volumes::{VolumeRecord, users};
use crate::store::{ContainerRecord, LockMode};

const LS_FORMAT: ListFormat = ListFormat {
    default: "table {{.Driver}}\t{{.Name}}",
    headers: &[("Name", "VOLUME NAME")],
    json: JsonStyle::LIST,
};

/// One `--filter` of `volume ls` and `volume prune`.
#[derive(Debug)]
pub(super) enum Filter {
    Name(String),
    Driver(String),
    Label(String, Option<String>),
    Dangling(bool),
}

pub(super) fn parse_filter(spec: &str) -> anyhow::Result<Filter> {
    let Some((key, value)) = spec.split_once('=') else {
        bail!("invalid filter {spec:?}: filters are key=value");
    };
    Ok(match key {
        "name" => Filter::Name(value.into()),
        "driver" => Filter::Driver(value.into()),
        "label" => match value.split_once('=') {
            Some((k, v)) => Filter::Label(k.into(), Some(v.into())),
            None => Filter::Label(value.into(), None),
        },
        "dangling" => match value {
            "true" | "1" => Filter::Dangling(true),
            "false" | "0" => Filter::Dangling(false),
            _ => bail!("invalid filter {spec:?}: dangling takes true or false"),
        },
        _ => bail!("invalid filter {spec:?}: supported are name, driver, label, dangling"),
    })
}

/// Whether `v` passes every filter (the same key twice matches either value, as Podman).
pub(super) fn matches(
    v: &VolumeRecord,
    filters: &[Filter],
    containers: &[ContainerRecord],
) -> bool {
    let one = |f: &Filter| match f {
        Filter::Name(n) => v.name.contains(n.as_str()),
        Filter::Driver(d) => &v.driver == d,
        Filter::Label(k, val) => match (v.labels.get(k), val) {
            (Some(have), Some(want)) => have == want,
            (Some(_), None) => true,
            (None, _) => false,
        },
        Filter::Dangling(d) => users(containers, &v.name).is_empty() == *d,
    };
    let key = |f: &Filter| std::mem::discriminant(f);
    filters
        .iter()
        .all(|f| filters.iter().filter(|g| key(g) == key(f)).any(&one))
}

pub(super) fn ls(ctx: &Context, args: &VolumeLsArgs) -> anyhow::Result<ExitStatus> {
    let filters = args
        .filter
        .iter()
        .map(|f| parse_filter(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = ctx.open_store(LockMode::Shared, "volume ls")?;
    let containers = store.containers().list()?;
    let volumes: Vec<VolumeRecord> = store
        .volumes()
        .list()?
        .into_iter()
        .filter(|v| matches(v, &filters, &containers))
        .collect();
    if args.quiet {
        let text: String = volumes.iter().map(|v| format!("{}\n", v.name)).collect();
        out(&text)?;
        return Ok(ExitStatus::Success);
    }
    let rows: Vec<Value> = volumes
        .iter()
        .map(|v| inspect_json(&store, v, users(&containers, &v.name).len()))
        .collect();
    let text = output::render_list(
        args.format.as_deref(),
        &LS_FORMAT,
        &rows,
        args.noheading,
        || Value::Array(rows.clone()),
    )?;
    out(&text)?;
    Ok(ExitStatus::Success)
}

pub(super) fn inspect(ctx: &Context, args: &VolumeInspectArgs) -> anyhow::Result<ExitStatus> {
    if args.all && !args.names.is_empty() {
        bail!("when passing --all, no volume names may be given");
    }
    if !args.all && args.names.is_empty() {
        bail!("provide one or more volume names or use --all");
    }
    let store = ctx.open_store(LockMode::Shared, "volume inspect")?;
    let containers = store.containers().list()?;
    let volumes = store.volumes();
    let records = if args.all {
        volumes.list()?
    } else {
        let mut found = Vec::new();
        let mut missing = Vec::new();
        for n in &args.names {
            match volumes.get(n) {
                Ok(v) => found.push(v),
                Err(crate::store::volumes::VolumeError::NotFound(_)) => missing.push(n),
                Err(e) => return Err(e.into()),
            }
        }
        if !missing.is_empty() {
            let items: Vec<Value> = found
                .iter()
                .map(|v| inspect_json(&store, v, users(&containers, &v.name).len()))
                .collect();
            if !items.is_empty() {
                out(&output::render_inspect(args.format.as_deref(), &items)?)?;
            }
            let errs: Vec<String> = missing
                .iter()
                .map(|n| format!("no such volume {n}"))
                .collect();
            bail!(errs.join("\nError: "));
        }
        found
    };
    let items: Vec<Value> = records
        .iter()
        .map(|v| inspect_json(&store, v, users(&containers, &v.name).len()))
        .collect();
    out(&output::render_inspect(args.format.as_deref(), &items)?)?;
    Ok(ExitStatus::Success)
}
