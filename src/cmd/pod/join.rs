//! `--pod NAME|new:NAME` of `run` and `create`: the pod found (or created), the flags that
//! conflict with it refused, and the container's spec and record pointed at it.

use anyhow::bail;

use crate::cli::run::RunArgs;
use crate::cmd::Context;
use crate::pod::PodJoin;
use crate::pod::record::{PodRecord, Pods};
use crate::runtime::spec::{ContainerSpec, Network};
use crate::store::containers::ContainerRecord;

/// The pod `--pod` names, made first for `new:NAME`; `None` without `--pod`.
pub fn for_create(ctx: &Context, args: &RunArgs) -> anyhow::Result<Option<PodRecord>> {
    let Some(wanted) = args.pod.pod.as_deref() else {
        return Ok(None);
    };
    let rec = match wanted.strip_prefix("new:") {
        Some(name) => {
            let create = crate::cli::pod::PodCreateArgs {
                name: Some(name.to_string()),
                hostname: None,
                share: crate::pod::record::SHARED_BY_DEFAULT.into(),
                share_parent: None,
                infra: true,
                network: None,
                labels: Vec::new(),
                exit_policy: "continue".into(),
                pod_id_file: None,
                net: Default::default(),
            };
            super::create(ctx, &create)?
        }
        None => Pods::new(&ctx.paths()?.graphroot).find(wanted)?,
    };
    if rec.shares("net")
        && (args.network.is_some()
            || !args.net.publish.is_empty()
            || args.net.publish_all
            || !args.net.expose.is_empty())
    {
        bail!(
            "invalid config provided: published or exposed ports must be defined when the pod is \
             created: network cannot be configured when it is shared with a pod"
        );
    }
    let iso = &args.isolation;
    if iso.userns.is_some() || !iso.uidmap.is_empty() || !iso.gidmap.is_empty() {
        bail!(
            "--userns, --uidmap and --gidmap cannot be set for a container in a pod: it shares the pod's user namespace"
        );
    }
    if rec.shares("uts") && args.hostname.is_some() {
        bail!("invalid config provided: cannot set hostname when joining the pod's UTS namespace");
    }
    Ok(Some(rec))
}

/// The hostname of a container of `pod` (the pod's, when it shares the UTS namespace).
pub fn hostname(pod: Option<&PodRecord>) -> Option<String> {
    pod.filter(|p| p.shares("uts")).map(|p| p.hostname.clone())
}

/// Points the new container's spec and record at `pod`: its user namespace mapping, and no
/// network of its own when the pod's is shared.
pub fn attach(
    pod: Option<&PodRecord>,
    pods_root: &std::path::Path,
    spec: &mut ContainerSpec,
    record: &mut ContainerRecord,
) {
    let Some(pod) = pod else { return };
    spec.mapping = pod.mapping.clone();
    if pod.shares("net") {
        // The pod's namespace, joined by the monitor: nothing to start for this container.
        spec.network = Network::None;
        spec.net = Default::default();
        record.network_mode = crate::runtime::network::mode_name(pod.network).to_string();
        record.ports = pod.net.ports.clone();
    }
    spec.pod = Some(PodJoin {
        id: pod.id.clone(),
        dir: Pods::new(pods_root).path(&pod.id),
        share: pod
            .share
            .iter()
            .filter(|s| matches!(s.as_str(), "ipc" | "net" | "pid" | "uts"))
            .cloned()
            .collect(),
    });
    record.pod = Some(pod.id.clone());
}
