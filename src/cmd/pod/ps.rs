//! `pod ps`: Podman's columns, `--format` fields and JSON, its filters.

use anyhow::bail;
use chrono::Utc;
use serde_json::{Value, json};

use super::PodView;
use crate::cli::pod::PodPsArgs;
use crate::cmd::images::go_time;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle, ListFormat};

const POD_FORMAT: ListFormat = ListFormat {
    default: "table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}\t{{.NumberOfContainers}}",
    headers: &[
        ("ID", "POD ID"),
        ("InfraID", "INFRA ID"),
        ("NumberOfContainers", "# OF CONTAINERS"),
        ("ContainerNames", "NAMES"),
        ("ContainerIds", "IDS"),
        ("ContainerStatuses", "STATUS"),
    ],
    json: JsonStyle::LIST,
};

fn passes(v: &PodView, key: &str, value: &str) -> bool {
    match key {
        "name" => v.rec.name.contains(value),
        "id" => v.rec.id.starts_with(&value.to_ascii_lowercase()),
        "status" => v.status().eq_ignore_ascii_case(value),
        "label" => match value.split_once('=') {
            Some((k, val)) => v.rec.labels.get(k).is_some_and(|x| x == val),
            None => v.rec.labels.contains_key(value),
        },
        _ => false,
    }
}

pub fn run(ctx: &Context, args: &PodPsArgs) -> anyhow::Result<ExitStatus> {
    let mut filters = Vec::new();
    for f in &args.filters {
        let Some((k, v)) = f.split_once('=') else {
            bail!("invalid filter {f:?}: filters are key=value");
        };
        if !matches!(k, "name" | "id" | "status" | "label") {
            bail!("invalid filter {f:?}: supported are name, id, status, label");
        }
        filters.push((k.to_string(), v.to_string()));
    }
    let mut views = super::all(ctx)?;
    views.retain(|v| output::filters::pass_all(&filters, |f| &f.0, |(k, fv)| passes(v, k, fv)));
    // Newest first, as Podman lists them.
    views.reverse();
    let short = |id: &str| -> String {
        if args.no_trunc {
            id.to_string()
        } else {
            id[..12.min(id.len())].to_string()
        }
    };
    if args.quiet {
        let text: String = views
            .iter()
            .map(|v| format!("{}\n", short(&v.rec.id)))
            .collect();
        out(&text)?;
        return Ok(ExitStatus::Success);
    }
    let now = Utc::now();
    let rows: Vec<Value> = views
        .iter()
        .map(|v| {
            let names: Vec<&str> = v.containers.iter().map(|c| c.name()).collect();
            let ids: Vec<String> = v.containers.iter().map(|c| short(c.id())).collect();
            let states: Vec<&str> = v.containers.iter().map(|c| c.state_name()).collect();
            json!({
                "ID": short(&v.rec.id),
                "Id": v.rec.id,
                "Name": v.rec.name,
                "Status": v.status(),
                "Created": output::created_since(v.rec.created, now),
                "CreatedAt": go_time(v.rec.created),
                "InfraID": short(&v.rec.infra_id),
                "NumberOfContainers": v.containers.len(),
                "ContainerNames": names.join(","),
                "ContainerIds": ids.join(","),
                "ContainerStatuses": states.join(","),
                "Labels": v.rec.labels,
                "Networks": crate::runtime::network::mode_name(v.rec.network),
            })
        })
        .collect();
    // --ctr-*: the container columns instead of the count.
    let mut custom = None;
    if args.format.is_none() && (args.ctr_names || args.ctr_ids || args.ctr_status) {
        let mut f =
            String::from("table {{.ID}}\t{{.Name}}\t{{.Status}}\t{{.Created}}\t{{.InfraID}}");
        if args.ctr_ids {
            f += "\t{{.ContainerIds}}";
        }
        if args.ctr_names {
            f += "\t{{.ContainerNames}}";
        }
        if args.ctr_status {
            f += "\t{{.ContainerStatuses}}";
        }
        custom = Some(f);
    }
    let format = args.format.as_deref().or(custom.as_deref());
    let text = output::render_list(format, &POD_FORMAT, &rows, args.noheading, || {
        Value::Array(
            views
                .iter()
                .map(|v| {
                    json!({
                        "Cgroup": "",
                        "Containers": v.containers.iter().map(|c| json!({
                            "Id": c.id(), "Names": c.name(), "Status": c.state_name()
                        })).collect::<Vec<_>>(),
                        "Created": go_time(v.rec.created),
                        "Id": v.rec.id,
                        "InfraId": v.rec.infra_id,
                        "Name": v.rec.name,
                        "Namespace": "",
                        "Networks": [crate::runtime::network::mode_name(v.rec.network)],
                        "Status": v.status(),
                        "Labels": v.rec.labels,
                    })
                })
                .collect(),
        )
    })?;
    out(&text)?;
    Ok(ExitStatus::Success)
}
