//! A Pod from containers' records and specs: image, command and args (only where they differ
//! from the image's), environment (only what the image does not set), ports, volumes
//! (named volumes as PersistentVolumeClaims, binds as hostPath, tmpfs as emptyDir), the
//! security context (run-as user and group, capabilities added to and dropped from the
//! default set, read-only root, privileged) and the restart policy.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, HostPathVolumeSource,
    PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Pod,
    PodSpec, SecurityContext, Service, ServicePort, ServiceSpec, Volume, VolumeMount,
    VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::runtime::lifecycle::RestartPolicy;
use crate::runtime::network::ports::Protocol;
use crate::runtime::security::{CapMask, DEFAULT_CAPS};
use crate::runtime::spec::{ContainerSpec, ImageRunConfig};
use crate::store::containers::ContainerRecord;

/// One container as `generate` reads it.
pub struct Source<'a> {
    pub record: &'a ContainerRecord,
    pub spec: &'a ContainerSpec,
    pub image: &'a ImageRunConfig,
}

/// The objects of one `kube generate`.
pub struct Generated {
    pub pod: Pod,
    pub service: Option<Service>,
    pub claims: Vec<PersistentVolumeClaim>,
}

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("writing YAML")]
    Yaml(#[source] serde_saphyr::ser::Error),
}

/// A name Kubernetes accepts for an object or a port (DNS-1123 label: lower case letters,
/// digits and `-`, starting and ending with a letter or digit, at most 63 characters).
pub fn dns_label(name: &str) -> String {
    let mut s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    s.truncate(63);
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "x".into() } else { s }
}

/// The Pod `name` (with its `hostname`, when the pod has one) of `sources`.
pub fn generate(
    name: &str,
    hostname: Option<&str>,
    sources: &[Source<'_>],
    with_service: bool,
) -> Generated {
    let app = dns_label(name);
    let labels = BTreeMap::from([("app".to_string(), app.clone())]);
    let mut volumes: Vec<Volume> = Vec::new();
    let mut claims = Vec::new();
    let mut containers: Vec<Container> = sources
        .iter()
        .map(|s| container(s, &mut volumes, &mut claims))
        .collect();
    // `kube play` names a pod's containers `<pod>-<container>`: the prefix goes, so that
    // generate and play round-trip.
    let prefix = format!("{app}-");
    for c in &mut containers {
        if let Some(rest) = c.name.strip_prefix(&prefix)
            && !rest.is_empty()
        {
            c.name = rest.to_string();
        }
    }
    let restart = sources
        .first()
        .map(|s| match s.spec.lifecycle.restart {
            RestartPolicy::No => "Never",
            RestartPolicy::OnFailure { .. } => "OnFailure",
            RestartPolicy::Always | RestartPolicy::UnlessStopped => "Always",
        })
        .unwrap_or("Never");
    let service = with_service.then(|| service(&app, &labels, &containers));
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some(app.clone()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(PodSpec {
            containers,
            hostname: hostname.map(dns_label),
            restart_policy: Some(restart.to_string()),
            volumes: (!volumes.is_empty()).then_some(volumes),
            ..Default::default()
        }),
        status: None,
    };
    Generated {
        pod,
        service,
        claims,
    }
}

fn container(
    s: &Source<'_>,
    volumes: &mut Vec<Volume>,
    claims: &mut Vec<PersistentVolumeClaim>,
) -> Container {
    let (command, args) = command_and_args(&s.record.command, s.image);
    let env: Vec<EnvVar> = s
        .record
        .env
        .iter()
        .filter(|kv| !s.image.env.contains(kv))
        .filter_map(|kv| kv.split_once('='))
        // Set by coracle for every container, not by the user.
        .filter(|(k, v)| {
            let coracles = matches!(*k, "HOSTNAME" | "container")
                || (*k == "PATH" && *v == crate::runtime::spec::DEFAULT_PATH)
                || (*k == "TERM" && *v == "xterm");
            !coracles
        })
        .map(|(k, v)| EnvVar {
            name: k.to_string(),
            value: Some(v.to_string()),
            value_from: None,
        })
        .collect();
    let mut ports = Vec::new();
    for p in &s.record.ports {
        for i in 0..p.range.max(1) {
            ports.push(ContainerPort {
                container_port: i32::from(p.container_port + i),
                host_port: Some(i32::from(p.host_port + i)),
                host_ip: (!p.host_ip.is_empty()).then(|| p.host_ip.clone()),
                protocol: Some(
                    match p.protocol {
                        Protocol::Tcp => "TCP",
                        Protocol::Udp => "UDP",
                    }
                    .to_string(),
                ),
                name: None,
            });
        }
    }
    let mut mounts = Vec::new();
    for m in &s.record.mounts {
        let vol_name = dns_label(&match m.kind.as_str() {
            "volume" if !m.name.is_empty() => format!("{}-pvc", m.name),
            _ => format!("{}-{}", m.kind, m.destination),
        });
        let mut volume = Volume {
            name: vol_name.clone(),
            ..Default::default()
        };
        match m.kind.as_str() {
            "volume" if !anonymous(&m.name) => {
                let claim = dns_label(&m.name);
                volume.persistent_volume_claim = Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: None,
                });
                if !claims
                    .iter()
                    .any(|c| c.metadata.name.as_deref() == Some(claim.as_str()))
                {
                    claims.push(claim_for(&claim));
                }
            }
            "bind" => {
                let is_dir = std::path::Path::new(&m.source).is_dir();
                volume.host_path = Some(HostPathVolumeSource {
                    path: m.source.clone(),
                    type_: Some(if is_dir { "Directory" } else { "File" }.into()),
                });
            }
            "tmpfs" => {
                volume.empty_dir = Some(EmptyDirVolumeSource {
                    medium: Some("Memory".into()),
                    size_limit: None,
                });
            }
            _ => volume.empty_dir = Some(EmptyDirVolumeSource::default()),
        }
        if !volumes.iter().any(|v| v.name == vol_name) {
            volumes.push(volume);
        }
        mounts.push(VolumeMount {
            name: vol_name,
            mount_path: m.destination.clone(),
            read_only: (!m.rw).then_some(true),
            ..Default::default()
        });
    }
    Container {
        name: dns_label(s.record.names.first().map_or("ctr", String::as_str)),
        image: Some(if s.record.image_name.is_empty() {
            s.record.image.clone()
        } else {
            s.record.image_name.clone()
        }),
        command,
        args,
        env: (!env.is_empty()).then_some(env),
        ports: (!ports.is_empty()).then_some(ports),
        volume_mounts: (!mounts.is_empty()).then_some(mounts),
        working_dir: (!s.record.working_dir.is_empty()
            && s.record.working_dir != s.image.working_dir
            && !(s.image.working_dir.is_empty() && s.record.working_dir == "/"))
            .then(|| s.record.working_dir.clone()),
        security_context: security_context(s),
        tty: s.spec.lifecycle.tty.then_some(true),
        stdin: s.spec.process.interactive.then_some(true),
        ..Default::default()
    }
}

/// Anonymous volumes are named by 64 hex digits: they become emptyDir.
fn anonymous(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `command` (the entrypoint, when it is not the image's) and `args` (when not the image's).
fn command_and_args(
    argv: &[String],
    image: &ImageRunConfig,
) -> (Option<Vec<String>>, Option<Vec<String>>) {
    let ep = &image.entrypoint;
    let default: Vec<String> = ep.iter().chain(&image.cmd).cloned().collect();
    if argv == default.as_slice() {
        return (None, None);
    }
    if !ep.is_empty() && argv.starts_with(ep) {
        return (None, Some(argv[ep.len()..].to_vec()));
    }
    (Some(argv.to_vec()), None)
}

fn cap_names(mask: CapMask) -> Vec<String> {
    let mut v: Vec<String> = mask
        .caps()
        .iter()
        .map(|c| c.to_string().trim_start_matches("CAP_").to_string())
        .collect();
    v.sort();
    v
}

fn security_context(s: &Source<'_>) -> Option<SecurityContext> {
    let sec = &s.spec.security;
    let default: CapMask = DEFAULT_CAPS.into_iter().collect();
    let mut ctx = SecurityContext::default();
    if sec.privileged {
        ctx.privileged = Some(true);
    } else {
        let add = cap_names(sec.bounding.minus(default));
        let drop = cap_names(default.minus(sec.bounding));
        if !add.is_empty() || !drop.is_empty() {
            ctx.capabilities = Some(Capabilities {
                add: (!add.is_empty()).then_some(add),
                drop: (!drop.is_empty()).then_some(drop),
            });
        }
    }
    if s.spec.storage.read_only {
        ctx.read_only_root_filesystem = Some(true);
    }
    // A numeric user (and group) is kept; a name is not (Kubernetes takes numbers only).
    let user = &s.record.user;
    if user != &s.image.user {
        let (u, g) = user.split_once(':').unwrap_or((user.as_str(), ""));
        if let Ok(uid) = u.parse::<i64>() {
            ctx.run_as_user = Some(uid);
        }
        if let Ok(gid) = g.parse::<i64>() {
            ctx.run_as_group = Some(gid);
        }
    }
    (ctx != SecurityContext::default()).then_some(ctx)
}

fn claim_for(name: &str) -> PersistentVolumeClaim {
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            resources: Some(VolumeResourceRequirements {
                requests: Some(BTreeMap::from([(
                    "storage".to_string(),
                    Quantity("1Gi".into()),
                )])),
                limits: None,
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn service(app: &str, labels: &BTreeMap<String, String>, containers: &[Container]) -> Service {
    let ports: Vec<ServicePort> = containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| ServicePort {
            name: Some(format!(
                "{}-{}",
                p.container_port,
                p.protocol.as_deref().unwrap_or("TCP").to_ascii_lowercase()
            )),
            port: p.container_port,
            target_port: Some(IntOrString::Int(p.container_port)),
            protocol: p.protocol.clone(),
            ..Default::default()
        })
        .collect();
    Service {
        metadata: ObjectMeta {
            name: Some(app.to_string()),
            ..Default::default()
        },
        spec: Some(ServiceSpec {
            selector: Some(labels.clone()),
            ports: (!ports.is_empty()).then_some(ports),
            type_: Some("NodePort".into()),
            ..Default::default()
        }),
        status: None,
    }
}

/// The YAML documents: PersistentVolumeClaims, then the Service, then the Pod (Podman's
/// order), each after `---`.
pub fn to_yaml(g: &Generated) -> Result<String, GenerateError> {
    let mut docs = Vec::new();
    for c in &g.claims {
        docs.push(serde_saphyr::to_string(c).map_err(GenerateError::Yaml)?);
    }
    if let Some(s) = &g.service {
        docs.push(serde_saphyr::to_string(s).map_err(GenerateError::Yaml)?);
    }
    docs.push(serde_saphyr::to_string(&g.pod).map_err(GenerateError::Yaml)?);
    let mut out = format!(
        "# Save the output of this file and use kubectl create -f to import\n\
         # it into Kubernetes.\n#\n# Created with coracle-{}\n",
        env!("CARGO_PKG_VERSION")
    );
    for d in docs {
        out.push_str("---\n");
        out.push_str(&d);
        if !d.ends_with('\n') {
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &[&str]) -> Vec<String> {
        a.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn labels_are_dns_names() {
        assert_eq!(dns_label("My_Ctr.1"), "my-ctr-1");
        assert_eq!(dns_label("__"), "x");
    }

    #[test]
    fn command_and_args_only_where_they_differ() {
        let img = ImageRunConfig {
            entrypoint: s(&["/init"]),
            cmd: s(&["--serve"]),
            ..Default::default()
        };
        assert_eq!(
            command_and_args(&s(&["/init", "--serve"]), &img),
            (None, None)
        );
        assert_eq!(
            command_and_args(&s(&["/init", "-x"]), &img),
            (None, Some(s(&["-x"])))
        );
        assert_eq!(
            command_and_args(&s(&["sh", "-c", "x"]), &img),
            (Some(s(&["sh", "-c", "x"])), None)
        );
    }
}
