//! `container inspect` (and `inspect` of a container): Podman's container JSON, or a Go
//! template applied to it.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use crate::cmd::containers::ContainerView;
use crate::store::Store;
use crate::store::containers::State;

/// Go's zero `time.Time` as Podman's JSON prints it.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn rfc3339(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || ZERO_TIME.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

/// One container as `podman container inspect` shows it (its main fields).
pub fn inspect_json(store: &Store, v: &ContainerView) -> Value {
    let rec = &v.rec;
    let dir = store.containers().path(&rec.id);
    let userdata = dir.join("userdata");
    let path_of = |p: std::path::PathBuf| p.display().to_string();
    let graph_data = if rec.driver == "vfs" {
        Value::Null
    } else {
        let lower: Vec<String> = rec
            .layers
            .iter()
            .rev()
            .map(|d| path_of(store.layers().path(d).join(crate::archive::DIFF_DIR)))
            .collect();
        json!({
            "LowerDir": lower.join(":"),
            "UpperDir": path_of(dir.join("upper")),
            "WorkDir": path_of(dir.join("work")),
            "MergedDir": path_of(dir.join("merged")),
        })
    };
    let running = v.state == State::Running;
    let (path, args) = match rec.command.split_first() {
        Some((p, a)) => (p.clone(), a.to_vec()),
        None => (String::new(), Vec::new()),
    };
    let state = json!({
        "OciVersion": "1.2.0",
        "Status": v.state_name(),
        "Running": running,
        "Paused": false,
        "Restarting": false,
        "OOMKilled": false,
        "Dead": false,
        "Pid": if running { rec.pid.unwrap_or(0) } else { 0 },
        "ConmonPid": v.monitor().map_or(0, |m| m.pid),
        "ExitCode": v.exit_code,
        "Error": "",
        "StartedAt": rfc3339(rec.started_at),
        "FinishedAt": rfc3339(v.finished_at),
    });
    let mut state = state;
    if let Ok(Some(health)) = crate::runtime::health::read_state(&dir) {
        state["Health"] = serde_json::to_value(health).unwrap_or(Value::Null);
    }
    let config = json!({
        "Hostname": rec.hostname,
        "Domainname": "",
        "User": rec.user,
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "StdinOnce": false,
        "Env": rec.env,
        "Cmd": rec.command,
        "Image": v.image(),
        "Volumes": null,
        "WorkingDir": rec.working_dir,
        "Entrypoint": [],
        "OnBuild": null,
        "Labels": labels_or_null(&rec.labels),
        "Annotations": {},
        "StopSignal": "SIGTERM",
    });
    let mut config = config;
    if let Some(hc) = health_config(&dir) {
        config["Healthcheck"] = hc.to_inspect();
        if let Some(startup) = &hc.startup {
            config["StartupHealthCheck"] = startup.to_inspect();
        }
    }
    json!({
        "Id": rec.id,
        "Created": rec.created.to_rfc3339_opts(SecondsFormat::AutoSi, true),
        "Path": path,
        "Args": args,
        "State": state,
        "Image": rec.image_id.hex(),
        "ImageDigest": rec.image_id.to_string(),
        "ImageName": v.image(),
        "Rootfs": "",
        "Pod": rec.pod.clone().unwrap_or_default(),
        "ResolvConfPath": path_of(userdata.join("resolv.conf")),
        "HostnamePath": path_of(userdata.join("hostname")),
        "HostsPath": path_of(userdata.join("hosts")),
        "StaticDir": path_of(userdata.clone()),
        "OCIRuntime": "coracle",
        "Name": v.name(),
        "RestartCount": rec.restart_count,
        "Driver": rec.driver,
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": [],
        "GraphDriver": {"Name": rec.driver, "Data": graph_data},
        "Mounts": rec.mounts,
        "Dependencies": [],
        "Namespace": "",
        "IsInfra": false,
        "IsService": false,
        "Config": config,
        "NetworkSettings": crate::runtime::network::inspect::network_settings(rec, running),
        "HostConfig": {
            "AutoRemove": rec.remove,
            "NetworkMode": rec.network_mode,
            "PortBindings": crate::runtime::network::ports::inspect_ports(&rec.ports),
        },
    })
}

/// What a `--format` template sees: times as Go prints a `time.Time`, `.ID` as well as `.Id`.
pub fn template_view(doc: &Value, v: &ContainerView) -> Value {
    let mut d = doc.clone();
    d["ID"] = d["Id"].clone();
    d["Created"] = json!(crate::cmd::images::go_time(v.rec.created));
    let go = |t: Option<DateTime<Utc>>| {
        t.map_or_else(
            || "0001-01-01 00:00:00 +0000 UTC".to_string(),
            crate::cmd::images::go_time,
        )
    };
    d["State"]["StartedAt"] = json!(go(v.rec.started_at));
    d["State"]["FinishedAt"] = json!(go(v.finished_at));
    d
}

/// The health check in the container's `spec.json`, for `Config.Healthcheck`.
fn health_config(dir: &std::path::Path) -> Option<crate::runtime::health::HealthConfig> {
    let bytes = std::fs::read(dir.join(crate::store::containers::SPEC)).ok()?;
    let spec: Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::from_value(spec.get("health")?.clone()).ok()
}

/// A container's labels as Podman shows them: an object, or `null` when there are none.
pub(crate) fn labels_or_null(labels: &std::collections::BTreeMap<String, String>) -> Value {
    if labels.is_empty() {
        Value::Null
    } else {
        json!(labels)
    }
}
