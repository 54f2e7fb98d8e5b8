//! `pod`: create, start, stop, kill, restart, rm, ps, inspect, exists, top, prune, as Podman
//! has them (`crate::pod` holds the record and the infra process); `join`: `--pod` of `run`
//! and `create`.

pub mod join;
mod ps;

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use chrono::Utc;
use serde_json::{Value, json};

use crate::cli::pod::{
    PodCommand, PodCreateArgs, PodExistsArgs, PodInspectArgs, PodKillArgs, PodPruneArgs, PodRmArgs,
    PodSelectArgs, PodStopArgs, PodTopArgs,
};
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::pod::record::{self, PodRecord, Pods, SHAREABLE};
use crate::runtime::UserMapping;
use crate::runtime::network;
use crate::runtime::spec::Network;
use crate::store::LockMode;
use crate::store::containers::State;

pub fn run(ctx: &Context, command: &PodCommand) -> anyhow::Result<ExitStatus> {
    match command {
        PodCommand::Create(a) => create_cmd(ctx, a),
        PodCommand::Start(a) => start(ctx, a),
        PodCommand::Stop(a) => stop(ctx, a),
        PodCommand::Kill(a) => kill(ctx, a),
        PodCommand::Restart(a) => restart(ctx, a),
        PodCommand::Rm(a) => rm(ctx, a),
        PodCommand::Ps(a) => ps::run(ctx, a),
        PodCommand::Inspect(a) => inspect(ctx, a),
        PodCommand::Exists(a) => exists(ctx, a),
        PodCommand::Top(a) => top(ctx, a),
        PodCommand::Prune(a) => prune(ctx, a),
    }
}

fn pods(ctx: &Context) -> anyhow::Result<Pods> {
    Ok(Pods::new(&ctx.paths()?.graphroot))
}

/// A pod with its containers (their states checked against their monitors).
pub struct PodView {
    pub rec: PodRecord,
    pub containers: Vec<ContainerView>,
}

impl PodView {
    /// Podman's pod status: Created, Running, Degraded (some run), Exited.
    pub fn status(&self) -> &'static str {
        let running = self
            .containers
            .iter()
            .filter(|c| c.state == State::Running)
            .count();
        if self.containers.is_empty() {
            return if self.rec.live_infra().is_some() {
                "Running"
            } else {
                "Created"
            };
        }
        if running == self.containers.len() {
            "Running"
        } else if running > 0 {
            "Degraded"
        } else if self.containers.iter().all(|c| c.state == State::Created) {
            "Created"
        } else {
            "Exited"
        }
    }
}

/// Every pod with its containers.
pub fn all(ctx: &Context) -> anyhow::Result<Vec<PodView>> {
    let store = ctx.open_store(LockMode::Shared, "pod")?;
    let views = containers::all(&store)?;
    drop(store);
    let pods = pods(ctx)?.list()?;
    Ok(pods
        .into_iter()
        .map(|rec| {
            let containers = views
                .iter()
                .filter(|v| v.rec.pod.as_deref() == Some(rec.id.as_str()))
                .cloned()
                .collect();
            PodView { rec, containers }
        })
        .collect())
}

/// The pods named (or all of them), each with what the user typed; missing ones are an
/// error unless `ignore`.
fn select(
    ctx: &Context,
    all: bool,
    names: &[String],
    ignore: bool,
) -> anyhow::Result<Vec<(String, PodView)>> {
    if all && !names.is_empty() {
        bail!("--all and pod names cannot be given together");
    }
    if !all && names.is_empty() {
        bail!("you must provide at least one pod name or id");
    }
    let mut views = all_views_by_id(ctx)?;
    if all {
        return Ok(views.into_values().map(|v| (v.rec.id.clone(), v)).collect());
    }
    let recs: Vec<PodRecord> = views.values().map(|v| v.rec.clone()).collect();
    let mut out = Vec::new();
    for n in names {
        match record::find_in(&recs, n) {
            Ok(r) => {
                let id = r.id.clone();
                if let Some(v) = views.remove(&id) {
                    out.push((n.clone(), v));
                }
            }
            Err(record::PodError::NotFound(_)) if ignore => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

fn all_views_by_id(ctx: &Context) -> anyhow::Result<BTreeMap<String, PodView>> {
    Ok(all(ctx)?
        .into_iter()
        .map(|v| (v.rec.id.clone(), v))
        .collect())
}

/// `pod create`.
fn create_cmd(ctx: &Context, args: &PodCreateArgs) -> anyhow::Result<ExitStatus> {
    let rec = create(ctx, args)?;
    if let Some(f) = &args.pod_id_file {
        std::fs::write(f, &rec.id).with_context(|| format!("writing {}", f.display()))?;
    }
    out(&format!("{}\n", rec.id))?;
    Ok(ExitStatus::Success)
}

/// Writes a new pod's record (its infra starts with the pod or its first container).
pub fn create(ctx: &Context, args: &PodCreateArgs) -> anyhow::Result<PodRecord> {
    if !args.infra {
        bail!(
            "--infra=false: coracle's pods always have an infra process (it holds the shared namespaces)"
        );
    }
    if args.share_parent.is_some() {
        bail!(
            "--share-parent: coracle puts no container in a cgroup of its pod (it manages no cgroups), so there is no cgroup parent to share"
        );
    }
    let share = share_list(&args.share)?;
    if !matches!(args.exit_policy.as_str(), "continue" | "stop") {
        bail!("--exit-policy {}: use continue or stop", args.exit_policy);
    }
    if let Some(n) = &args.name
        && !record::valid_name(n)
    {
        bail!("pod name {n:?} is invalid: names match [a-zA-Z0-9][a-zA-Z0-9_.-]*");
    }
    let flags = args.net.runtime(args.network.as_deref());
    let mut net = network::Settings::from_flags(&flags)?;
    if net.mode == Network::Slirp4netns || net.mode == Network::Host {
        bail!(
            "--network {}: pods support pasta and none",
            network::mode_name(net.mode)
        );
    }
    if !share.iter().any(|s| s == "net") && net.publishes() {
        bail!("-p: ports can only be published by a pod that shares its network namespace");
    }
    let no_config = serde_json::Value::Null;
    if let Some(w) = net.publish(&flags, &no_config)? {
        crate::output::eprint(&format!("WARN: {w}\n"));
    }
    let mapping = UserMapping::current().context("computing the pod's user namespace mapping")?;
    let me = nix::unistd::geteuid().as_raw();
    if net.mode == Network::Pasta && !(me == 0 || mapping.uid.to_host(0) == Some(me)) {
        bail!("the pod's network helper needs the user to be root in its user namespace");
    }
    let store = ctx.open_store(LockMode::Exclusive, "pod create")?;
    let pods = Pods::new(&store.paths().graphroot);
    pods.prune_debris();
    let existing = pods.list()?;
    let id = crate::store::containers::new_id().context("making a pod ID")?;
    let name = match &args.name {
        Some(n) if existing.iter().any(|p| &p.name == n) => {
            bail!(
                "the pod name {n:?} is already in use by another pod; remove it or choose another name"
            )
        }
        Some(n) => n.clone(),
        None => {
            let taken: Vec<String> = existing.iter().map(|p| p.name.clone()).collect();
            crate::store::containers::generate_name(&id, &taken)
        }
    };
    let labels = crate::cli::autoupdate::LabelArgs {
        label: args.labels.clone(),
    }
    .parse()?;
    let infra_id = crate::store::containers::new_id().context("making the infra's ID")?;
    let rec = PodRecord {
        id,
        infra_id,
        hostname: args.hostname.clone().unwrap_or_else(|| name.clone()),
        name,
        created: Utc::now(),
        share,
        mapping,
        network: net.mode,
        net: std::mem::take(&mut net.spec),
        labels,
        create_command: std::env::args().collect(),
        infra: None,
        exit_policy: args.exit_policy.clone(),
    };
    pods.create(&rec)?;
    drop(store);
    Ok(rec)
}

/// The namespaces `--share` names: `+NS,...` adds to the default ones, `none` is none.
fn share_list(flag: &str) -> anyhow::Result<Vec<String>> {
    let flag = flag.trim();
    let (mut share, listed): (Vec<String>, &str) = match flag.strip_prefix('+') {
        Some(rest) => (
            record::SHARED_BY_DEFAULT
                .split(',')
                .map(String::from)
                .collect(),
            rest,
        ),
        None if flag == "none" => (Vec::new(), ""),
        None => (Vec::new(), flag),
    };
    for s in listed.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if !SHAREABLE.contains(&s) {
            bail!("--share {s}: unknown namespace (use cgroup, ipc, net, pid, uts)");
        }
        if !share.iter().any(|x| x == s) {
            share.push(s.to_string());
        }
    }
    Ok(share)
}

/// Starts the infra and every container of the pod.
pub(crate) fn start_pod(ctx: &Context, view: &PodView) -> anyhow::Result<()> {
    let dir = pods(ctx)?.path(&view.rec.id);
    crate::pod::infra::ensure(&dir)?;
    for c in &view.containers {
        if c.state != State::Running {
            crate::cmd::start::start_detached(ctx, c.id()).with_context(|| {
                format!("starting container {} of pod {}", c.id(), view.rec.name)
            })?;
        }
    }
    Ok(())
}

fn start(ctx: &Context, args: &PodSelectArgs) -> anyhow::Result<ExitStatus> {
    for (_, v) in select(ctx, args.all, &args.pods, false)? {
        start_pod(ctx, &v)?;
        out(&format!("{}\n", v.rec.id))?;
    }
    Ok(ExitStatus::Success)
}

/// Stops the pod's containers, then its infra.
fn stop_pod(ctx: &Context, view: &PodView, time: Option<i64>) -> anyhow::Result<()> {
    let store = ctx.open_store(LockMode::Shared, "pod stop")?;
    let dirs: Vec<_> = view
        .containers
        .iter()
        .filter(|c| c.state == State::Running)
        .map(|c| (store.containers().path(c.id()), c.name().to_string()))
        .collect();
    drop(store);
    for (dir, name) in dirs {
        crate::cmd::stop::stop_one(&dir, &name, time)
            .with_context(|| format!("stopping container {name} of pod {}", view.rec.name))?;
    }
    crate::pod::infra::stop(&pods(ctx)?.path(&view.rec.id))?;
    Ok(())
}

fn stop(ctx: &Context, args: &PodStopArgs) -> anyhow::Result<ExitStatus> {
    for (_, v) in select(ctx, args.all, &args.pods, args.ignore)? {
        stop_pod(ctx, &v, args.time)?;
        out(&format!("{}\n", v.rec.id))?;
    }
    Ok(ExitStatus::Success)
}

fn restart(ctx: &Context, args: &PodSelectArgs) -> anyhow::Result<ExitStatus> {
    for (_, v) in select(ctx, args.all, &args.pods, false)? {
        stop_pod(ctx, &v, None)?;
        let fresh = select(ctx, false, std::slice::from_ref(&v.rec.id), false)?;
        for (_, v) in fresh {
            start_pod(ctx, &v)?;
        }
        out(&format!("{}\n", v.rec.id))?;
    }
    Ok(ExitStatus::Success)
}

fn kill(ctx: &Context, args: &PodKillArgs) -> anyhow::Result<ExitStatus> {
    let signal = crate::runtime::signals::parse(&args.signal)?;
    for (_, v) in select(ctx, args.all, &args.pods, false)? {
        let running: Vec<_> = v
            .containers
            .iter()
            .filter(|c| c.state == State::Running)
            .collect();
        if running.is_empty() {
            bail!("pod {} has no running containers to kill", v.rec.name);
        }
        for c in running {
            crate::runtime::control::kill(&c.rec, signal)
                .with_context(|| format!("killing container {}", c.id()))?;
        }
        out(&format!("{}\n", v.rec.id))?;
    }
    Ok(ExitStatus::Success)
}

/// Removes the pod's containers (killed if running), its infra and its record.
pub(crate) fn remove_pod(ctx: &Context, view: &PodView, force: bool) -> anyhow::Result<()> {
    let running = view.containers.iter().any(|c| c.state == State::Running);
    if running && !force {
        bail!(
            "pod {} has running containers: stop them or use --force",
            view.rec.name
        );
    }
    if !view.containers.is_empty() && !force {
        bail!(
            "pod {} has containers that are not ready to be removed: remove them or use --force",
            view.rec.name
        );
    }
    let store = ctx.open_store(LockMode::Exclusive, "pod rm")?;
    let refs: Vec<&ContainerView> = view.containers.iter().collect();
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    crate::cmd::rm::remove(&store, &mapping, &refs)?;
    let pods = Pods::new(&store.paths().graphroot);
    crate::pod::infra::stop(&pods.path(&view.rec.id))?;
    pods.remove(&view.rec.id)?;
    Ok(())
}

fn rm(ctx: &Context, args: &PodRmArgs) -> anyhow::Result<ExitStatus> {
    for (_, v) in select(ctx, args.all, &args.pods, args.ignore)? {
        if args.force
            && let Some(t) = args.time
        {
            // Given a time, the containers get their stop signal first.
            stop_pod(ctx, &v, Some(t))?;
        }
        remove_pod(ctx, &v, args.force)?;
        out(&format!("{}\n", v.rec.id))?;
    }
    Ok(ExitStatus::Success)
}

fn prune(ctx: &Context, _args: &PodPruneArgs) -> anyhow::Result<ExitStatus> {
    for v in all(ctx)? {
        if v.containers.iter().any(|c| c.state == State::Running) {
            continue;
        }
        remove_pod(ctx, &v, true)?;
        out(&format!("{}\n", v.rec.id))?;
    }
    Ok(ExitStatus::Success)
}

fn exists(ctx: &Context, args: &PodExistsArgs) -> anyhow::Result<ExitStatus> {
    match pods(ctx)?.find(&args.pod) {
        Ok(_) => Ok(ExitStatus::Success),
        Err(record::PodError::NotFound(_)) => Ok(ExitStatus::Code(1)),
        Err(e) => Err(e.into()),
    }
}

/// `pod inspect`: Podman's `InspectPodData` fields coracle has.
pub fn inspect_json(v: &PodView) -> Value {
    let containers: Vec<Value> = v
        .containers
        .iter()
        .map(|c| json!({"Id": c.id(), "Name": c.name(), "State": c.state_name()}))
        .collect();
    let ports: Vec<Value> = v
        .rec
        .net
        .ports
        .iter()
        .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
        .collect();
    json!({
        "Id": v.rec.id,
        "Name": v.rec.name,
        "Created": crate::cmd::images::go_time(v.rec.created),
        "CreateCommand": v.rec.create_command,
        "ExitPolicy": v.rec.exit_policy,
        "State": v.status(),
        "Hostname": v.rec.hostname,
        "Labels": v.rec.labels,
        "CreateInfra": true,
        "InfraContainerID": v.rec.infra_id,
        "InfraConfig": {
            "PortBindings": ports,
            "NetworkOptions": v.rec.net.options,
            "HostNetwork": false,
            "Networks": [network::mode_name(v.rec.network)],
        },
        "InfraPid": v.rec.live_infra().map_or(0, |i| i.pid),
        "SharedNamespaces": v.rec.share,
        "NumContainers": v.containers.len(),
        "Containers": containers,
    })
}

fn inspect(ctx: &Context, args: &PodInspectArgs) -> anyhow::Result<ExitStatus> {
    let views = select(ctx, false, &args.pods, false)?;
    let items: Vec<Value> = views.iter().map(|(_, v)| inspect_json(v)).collect();
    let text = crate::output::render_inspect(args.format.as_deref(), &items)?;
    out(&text)?;
    Ok(ExitStatus::Success)
}

fn top(ctx: &Context, args: &PodTopArgs) -> anyhow::Result<ExitStatus> {
    let (_, v) = select(ctx, false, std::slice::from_ref(&args.pod), false)?
        .pop()
        .context("no such pod")?;
    let running: Vec<_> = v
        .containers
        .iter()
        .filter(|c| c.state == State::Running)
        .collect();
    if running.is_empty() {
        bail!("pod {} is not running", v.rec.name);
    }
    out(&crate::cmd::top::pod_table(
        ctx,
        &running,
        &args.descriptors,
    )?)?;
    Ok(ExitStatus::Success)
}

/// `ps --pod`: Podman's default columns with the pod's ID and name.
pub const PS_POD_FORMAT: &str = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.CreatedHuman}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}\t{{.Pod}}\t{{.PodName}}";

/// Fills `ps`'s `Pod` and `PodName` fields of the row of `v`.
pub fn ps_columns(row: &mut Value, v: &ContainerView, pods: &[PodRecord], no_trunc: bool) {
    let Some(pod) = v
        .rec
        .pod
        .as_deref()
        .and_then(|id| pods.iter().find(|p| p.id == id))
    else {
        return;
    };
    let id = if no_trunc {
        &pod.id[..]
    } else {
        &pod.id[..12.min(pod.id.len())]
    };
    row["Pod"] = Value::String(id.to_string());
    row["PodName"] = Value::String(pod.name.clone());
}
