//! `ps` / `container list`: Podman's columns, `--format` fields and JSON, and its filters
//! (the same key given twice matches either value; different keys must all match).

use anyhow::bail;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::cli::PsArgs;
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::images::go_time;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle, ListFormat};
use crate::store::containers::State;
use crate::store::{LockMode, lookup};

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

/// One `--filter`.
#[derive(Debug)]
enum Filter {
    Status(State),
    Name(String),
    Id(String),
    Ancestor(String),
    Exited(i32),
    /// `healthy`, `unhealthy`, `starting`, or `none` (no health check).
    Health(String),
}

impl Filter {
    fn key(&self) -> &'static str {
        match self {
            Filter::Status(_) => "status",
            Filter::Name(_) => "name",
            Filter::Id(_) => "id",
            Filter::Ancestor(_) => "ancestor",
            Filter::Exited(_) => "exited",
            Filter::Health(_) => "health",
        }
    }
}

fn parse_filter(spec: &str) -> anyhow::Result<Filter> {
    let Some((key, value)) = spec.split_once('=') else {
        bail!("invalid filter {spec:?}: filters are key=value");
    };
    Ok(match key {
        "status" => Filter::Status(match value {
            "created" => State::Created,
            "running" => State::Running,
            "exited" | "stopped" => State::Exited,
            "paused" | "unknown" | "removing" => bail!(
                "filter status={value}: coracle's containers are never {value}; use created, \
                 running or exited"
            ),
            _ => bail!(
                "invalid filter {spec:?}: status must be one of created, running, exited, \
                 stopped, paused, unknown, removing"
            ),
        }),
        "name" => Filter::Name(value.to_string()),
        "id" => Filter::Id(value.to_ascii_lowercase()),
        "ancestor" => Filter::Ancestor(value.to_string()),
        "exited" => match value.parse() {
            Ok(code) => Filter::Exited(code),
            Err(_) => bail!("invalid filter {spec:?}: exited takes an exit code"),
        },
        "health" => match value {
            "healthy" | "unhealthy" | "starting" | "none" => Filter::Health(value.to_string()),
            _ => bail!(
                "invalid filter {spec:?}: health must be one of healthy, unhealthy, starting, none"
            ),
        },
        _ => bail!(
            "invalid filter {spec:?}: supported are status, name, id, ancestor, exited, health"
        ),
    })
}

/// `ancestor=`: the image named (resolved among the stored images when it can be), its ID
/// or ID prefix, or a part of the container's image name.
fn ancestor_matches(
    view: &ContainerView,
    wanted: &str,
    images: &[crate::store::ImageRecord],
) -> bool {
    if let Ok((img, _)) = lookup::find(images, wanted)
        && img.id == view.rec.image_id
    {
        return true;
    }
    let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
    (!hex.is_empty() && view.rec.image_id.hex().starts_with(hex))
        || view.image().contains(wanted)
        || view.rec.image == wanted
}

fn passes(
    view: &ContainerView,
    filter: &Filter,
    images: &[crate::store::ImageRecord],
    health: &Health,
) -> bool {
    match filter {
        Filter::Health(h) => match health.get(view.id()) {
            Some(status) => status == h,
            None => h == "none",
        },
        Filter::Status(s) => view.state == *s,
        // Podman matches names with an unanchored regular expression; a plain name is a
        // substring match there too.
        Filter::Name(n) => view.rec.names.iter().any(|name| name.contains(n.as_str())),
        Filter::Id(prefix) => view.id().starts_with(prefix.as_str()),
        Filter::Ancestor(a) => ancestor_matches(view, a, images),
        Filter::Exited(code) => view.state == State::Exited && view.exit_code == *code,
    }
}

pub fn run(ctx: &Context, args: &PsArgs) -> anyhow::Result<ExitStatus> {
    if args.size {
        bail!("--size: container sizes are not computed yet");
    }
    let filters = args
        .filters
        .iter()
        .map(|f| parse_filter(f))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let store = ctx.open_store(LockMode::Shared, "ps")?;
    let images = store.images().list()?;
    let pods = crate::pod::Pods::new(&store.paths().graphroot).list()?;
    let mut views = containers::all(&store)?;
    let health = health_statuses(&store, &views);
    drop(store);
    // -l and -n pick among all containers, whatever their state (Podman).
    let all = args.all || args.latest || args.last >= 0;
    if !all {
        views.retain(|v| v.state == State::Running);
    }
    views.retain(|v| {
        output::filters::pass_all(&filters, |f| f.key(), |f| passes(v, f, &images, &health))
    });
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

/// The health status of each container that has a check (`runtime::health`), by ID.
type Health = std::collections::HashMap<String, String>;

fn health_statuses(store: &crate::store::Store, views: &[ContainerView]) -> Health {
    views
        .iter()
        .filter_map(|v| {
            let state = crate::runtime::health::read_state(&store.containers().path(v.id()));
            Some((v.id().to_string(), state.ok()??.status))
        })
        .collect()
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
        "Labels": {},
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
        "Labels": null,
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

    #[test]
    fn filters_parse() {
        assert!(matches!(
            parse_filter("status=exited").unwrap(),
            Filter::Status(State::Exited)
        ));
        assert!(matches!(
            parse_filter("exited=3").unwrap(),
            Filter::Exited(3)
        ));
        assert!(parse_filter("status=bogus").is_err());
        assert!(parse_filter("label=x").is_err());
        assert!(parse_filter("name").is_err());
    }
}
