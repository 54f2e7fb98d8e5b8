//! `ps` / `container list`: Podman's columns, `--format` fields and JSON, and its filters
//! (`cmd::container_filter`).

use anyhow::bail;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::cli::PsArgs;
use crate::cmd::container_filter::{self, Filters};
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::images::go_time;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle, ListFormat};
use crate::store::LockMode;
use crate::store::containers::State;

const PS_FORMAT: ListFormat = ListFormat {
    default: "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
    headers: &[
        ("ID", "CONTAINER ID"),
        ("Id", "CONTAINER ID"),
        ("CreatedHuman", "CREATED"),
        ("RunningFor", "CREATED"),
        ("ImageID", "IMAGE ID"),
        ("Pod", "POD ID"),
        ("PodName", "PODNAME"),
    ],
    json: JsonStyle::LIST,
};

pub fn run(ctx: &Context, args: &PsArgs) -> anyhow::Result<ExitStatus> {
    if args.size {
        bail!("--size: container sizes are not computed yet");
    }
    let filters = Filters::parse(&args.filters)?;
    let store = ctx.open_store(LockMode::Shared, "ps")?;
    let pods = crate::pod::Pods::new(&store.paths().graphroot).list()?;
    let mut views = containers::all(&store)?;
    let health = container_filter::health_statuses(&store, &views);
    views = filters.apply(&store, views)?;
    drop(store);
    // -l and -n pick among all containers, whatever their state (Podman).
    let all = args.all || args.latest || args.last >= 0;
    if !all {
        views.retain(|v| v.state == State::Running);
    }
    if args.latest {
        views.truncate(1);
    } else if args.last >= 0 {
        views.truncate(usize::try_from(args.last).unwrap_or(usize::MAX));
    }

    if args.quiet {
        let text: String = views
            .iter()
            .map(|v| {
                let id = if args.no_trunc { v.id() } else { v.short_id() };
                format!("{id}\n")
            })
            .collect();
        out(&text)?;
        return Ok(ExitStatus::Success);
    }
    let now = Utc::now();
    let rows: Vec<Value> = views
        .iter()
        .map(|v| {
            let mut row = template_row(v, args.no_trunc, now);
            crate::cmd::pod::ps_columns(&mut row, v, &pods, args.no_trunc);
            if v.state == State::Running
                && let Some(h) = health.get(v.id()).filter(|h| !h.is_empty())
            {
                row["Status"] = Value::String(format!("{} ({h})", v.status(now)));
            }
            row
        })
        .collect();
    let with_pod = (args.pod && args.format.is_none()).then_some(crate::cmd::pod::PS_POD_FORMAT);
    let text = output::render_list(
        args.format.as_deref().or(with_pod),
        &PS_FORMAT,
        &rows,
        args.noheading,
        || {
            Value::Array(
                views
                    .iter()
                    .map(|v| {
                        let mut entry = json_entry(v, now);
                        crate::cmd::pod::ps_columns(&mut entry, v, &pods, true);
                        entry
                    })
                    .collect(),
            )
        },
    )?;
    out(&text)?;
    Ok(ExitStatus::Success)
}

/// Podman's command column: the command line, cut to 17 characters and `...` unless
/// `--no-trunc`.
fn command_column(command: &[String], no_trunc: bool) -> String {
    let line = command.join(" ");
    if no_trunc || line.chars().count() <= 17 {
        line
    } else {
        let cut: String = line.chars().take(17).collect();
        format!("{cut}...")
    }
}

fn unix(t: Option<DateTime<Utc>>) -> i64 {
    t.map_or(0, |t| t.timestamp())
}

/// The fields a `--format` template sees (Podman's `psReporter`).
fn template_row(v: &ContainerView, no_trunc: bool, now: DateTime<Utc>) -> Value {
    let created_human = output::created_since(v.rec.created, now);
    json!({
        "ID": if no_trunc { v.id() } else { v.short_id() },
        "Id": v.id(),
        "Image": v.image(),
        "ImageID": v.rec.image_id.hex(),
        "Command": command_column(&v.rec.command, no_trunc),
        "Created": go_time(v.rec.created),
        "CreatedAt": go_time(v.rec.created),
        "CreatedHuman": created_human,
        "RunningFor": created_human,
        "Status": v.status(now),
        "State": v.state_name(),
        "Names": v.name(),
        "ExitCode": v.exit_code,
        "Exited": v.state == State::Exited,
        "ExitedAt": unix(v.finished_at),
        "StartedAt": unix(v.rec.started_at),
        "Pid": v.monitor().and(v.rec.pid).unwrap_or(0),
        "Ports": crate::runtime::network::ports::ps_column(&v.rec.ports),
        "Labels": v.rec.labels,
        "Mounts": mount_destinations(v).join(","),
        "Networks": "",
        "Pod": "",
        "PodName": "",
        "Size": "",
        "AutoRemove": v.rec.remove,
        "IsInfra": false,
        "Restarts": 0,
    })
}

/// The destinations of the container's volumes and binds (Podman's `UserVolumes`).
fn mount_destinations(v: &ContainerView) -> Vec<String> {
    v.rec.mounts.iter().map(|m| m.destination.clone()).collect()
}

/// `ps --format json`: Podman's `ListContainer`.
fn json_entry(v: &ContainerView, now: DateTime<Utc>) -> Value {
    json!({
        "AutoRemove": v.rec.remove,
        "Command": v.rec.command,
        "Created": v.rec.created.timestamp(),
        "CreatedAt": output::created_since(v.rec.created, now),
        "CIDFile": "",
        "Exited": v.state == State::Exited,
        "ExitedAt": unix(v.finished_at),
        "ExitCode": v.exit_code,
        "Id": v.id(),
        "Image": v.image(),
        "ImageID": v.rec.image_id.hex(),
        "IsInfra": false,
        "Labels": crate::cmd::container_inspect::labels_or_null(&v.rec.labels),
        "Mounts": mount_destinations(v),
        "Names": v.rec.names,
        "Namespaces": {},
        "Networks": [],
        "Pid": v.monitor().and(v.rec.pid).unwrap_or(0),
        "Pod": "",
        "PodName": "",
        "Ports": if v.rec.ports.is_empty() { Value::Null } else { json!(v.rec.ports) },
        "Restarts": 0,
        "Size": null,
        "StartedAt": unix(v.rec.started_at),
        "State": v.state_name(),
        "Status": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_is_cut_as_podman_cuts_it() {
        let c = |s: &str| s.split(' ').map(String::from).collect::<Vec<_>>();
        assert_eq!(command_column(&c("sh -c exit 3"), false), "sh -c exit 3");
        assert_eq!(
            command_column(&c("sh -c echo hello world"), false),
            "sh -c echo hello ..."
        );
        assert_eq!(
            command_column(&c("sh -c echo hello world"), true),
            "sh -c echo hello world"
        );
    }
}
