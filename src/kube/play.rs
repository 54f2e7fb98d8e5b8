//! `kube play`: Kubernetes YAML read into typed `k8s-openapi` objects, checked for fields
//! coracle does not carry out, and turned into the command lines coracle's own `pod create`
//! and `create` parse (so a Pod means exactly what the same flags mean on the command line).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, PersistentVolumeClaim, Pod, PodSpec, Secret, Service, Volume,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use super::fields;

#[derive(Debug, thiserror::Error)]
pub enum PlayError {
    #[error("reading the YAML")]
    Yaml(#[source] serde_saphyr::Error),
    #[error("document {index}: no kind")]
    NoKind { index: usize },
    #[error(
        "document {index}: kind {kind} is not supported by kube play (Pod, Deployment, Service, ConfigMap, Secret and PersistentVolumeClaim are)"
    )]
    Kind { index: usize, kind: String },
    #[error("{kind} {name}: not a valid {kind}")]
    Invalid {
        kind: String,
        name: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{kind} {name}: unknown field{} {}", plural(.fields), .fields.join(", "))]
    Unknown {
        kind: String,
        name: String,
        fields: Vec<String>,
    },
    #[error("{kind} {name}: field{} not supported by coracle: {}", plural(.fields), .fields.join(", "))]
    Unsupported {
        kind: String,
        name: String,
        fields: Vec<String>,
    },
    #[error("{what}: {why}")]
    Value { what: String, why: String },
}

fn plural(v: &[String]) -> &'static str {
    if v.len() == 1 { "" } else { "s" }
}

fn bad(what: impl Into<String>, why: impl Into<String>) -> PlayError {
    PlayError::Value {
        what: what.into(),
        why: why.into(),
    }
}

/// The objects of one YAML stream, in order.
#[derive(Debug, Default)]
pub struct Objects {
    /// Pods, and Deployments as their pod (`<name>-pod`, as Podman names it).
    pub pods: Vec<(String, PodSpec, BTreeMap<String, String>)>,
    pub config_maps: Vec<ConfigMap>,
    pub secrets: Vec<Secret>,
    pub claims: Vec<PersistentVolumeClaim>,
    /// Their nodePorts are published on the host for the pods they select.
    pub services: Vec<Service>,
}

/// Reads every document of `text` (separated by `---`).
pub fn parse(text: &str) -> Result<Objects, PlayError> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(PlayError::Yaml)?;
    let mut objects = Objects::default();
    for (i, raw) in docs.into_iter().enumerate() {
        if raw.is_null() {
            continue;
        }
        let index = i + 1;
        let kind = raw
            .get("kind")
            .and_then(Value::as_str)
            .ok_or(PlayError::NoKind { index })?
            .to_string();
        let name = raw
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if name.is_empty() {
            return Err(bad(
                format!("{kind} (document {index})"),
                "metadata.name is missing",
            ));
        }
        match kind.as_str() {
            "Pod" => {
                let pod: Pod = typed(&raw, &kind, &name)?;
                let spec = pod
                    .spec
                    .ok_or_else(|| bad(format!("Pod {name}"), "spec is missing"))?;
                let labels = pod.metadata.labels.unwrap_or_default();
                objects.pods.push((name, spec, labels));
            }
            "Deployment" => {
                let d: Deployment = typed(&raw, &kind, &name)?;
                let spec = d
                    .spec
                    .ok_or_else(|| bad(format!("Deployment {name}"), "spec is missing"))?;
                if let Some(r) = spec.replicas
                    && r != 1
                {
                    return Err(bad(
                        format!("Deployment {name}"),
                        format!("replicas: {r}: coracle runs one replica"),
                    ));
                }
                let pod = spec.template.spec.ok_or_else(|| {
                    bad(
                        format!("Deployment {name}"),
                        "spec.template.spec is missing",
                    )
                })?;
                let labels = spec
                    .template
                    .metadata
                    .and_then(|m| m.labels)
                    .unwrap_or_default();
                objects.pods.push((format!("{name}-pod"), pod, labels));
            }
            "ConfigMap" => objects.config_maps.push(typed(&raw, &kind, &name)?),
            "Secret" => {
                let s: Secret = typed(&raw, &kind, &name)?;
                if let Some(t) = &s.type_
                    && t != "Opaque"
                {
                    return Err(bad(
                        format!("Secret {name}"),
                        format!("type {t} is not supported (Opaque is)"),
                    ));
                }
                objects.secrets.push(s);
            }
            "PersistentVolumeClaim" => objects.claims.push(typed(&raw, &kind, &name)?),
            "Service" => {
                let s: Service = typed(&raw, &kind, &name)?;
                let t = s.spec.as_ref().and_then(|s| s.type_.as_deref());
                if let Some(t) = t.filter(|t| !matches!(*t, "ClusterIP" | "NodePort")) {
                    return Err(bad(
                        format!("Service {name}"),
                        format!("type {t} is not supported (ClusterIP and NodePort are)"),
                    ));
                }
                objects.services.push(s);
            }
            _ => return Err(PlayError::Kind { index, kind }),
        }
    }
    Ok(objects)
}

/// `raw` as a `T`, refused when it holds fields `T` does not know or coracle does not support.
fn typed<T>(raw: &Value, kind: &str, name: &str) -> Result<T, PlayError>
where
    T: serde::de::DeserializeOwned + serde::Serialize,
{
    let obj: T = serde_json::from_value(raw.clone()).map_err(|source| PlayError::Invalid {
        kind: kind.into(),
        name: name.into(),
        source,
    })?;
    let back = serde_json::to_value(&obj).map_err(|source| PlayError::Invalid {
        kind: kind.into(),
        name: name.into(),
        source,
    })?;
    let unknown = fields::unknown(raw, &back);
    if !unknown.is_empty() {
        return Err(PlayError::Unknown {
            kind: kind.into(),
            name: name.into(),
            fields: unknown,
        });
    }
    let unsupported = fields::unsupported(raw, &fields::allowed(kind));
    if !unsupported.is_empty() {
        return Err(PlayError::Unsupported {
            kind: kind.into(),
            name: name.into(),
            fields: unsupported,
        });
    }
    Ok(obj)
}

/// Files of a ConfigMap or Secret volume: name and content.
pub type Files = Vec<(String, Vec<u8>)>;

/// What to do for one pod: command lines (after `coracle`) and files to write first.
#[derive(Debug, Default)]
pub struct PodPlan {
    pub name: String,
    /// `pod create ...`
    pub pod_create: Vec<String>,
    /// `create ...` of each init container, run to completion in order before the others.
    pub init: Vec<Vec<String>>,
    /// `create ...` of each container.
    pub containers: Vec<Vec<String>>,
    /// Directories to (re)create with these files: ConfigMap and Secret volumes, emptyDir.
    pub dirs: Vec<(PathBuf, Files)>,
    /// hostPath volumes with their type, checked or created before the containers.
    pub host_paths: Vec<(PathBuf, String)>,
}

/// The plan of every pod of `objects`; `files` is the directory that holds a pod's
/// ConfigMap, Secret and emptyDir volumes (one subdirectory per pod).
pub fn plan(objects: &Objects, files: &Path) -> Result<Vec<PodPlan>, PlayError> {
    let mut plans = objects
        .pods
        .iter()
        .map(|(name, spec, labels)| plan_pod(objects, name, spec, labels, &files.join(name)))
        .collect::<Result<Vec<_>, _>>()?;
    for s in &objects.services {
        publish_service(objects, s, &mut plans)?;
    }
    Ok(plans)
}

/// Publishes a Service's nodePorts on the host for each pod it selects (the port the
/// Service sends to, `targetPort`, in the pod), as Podman does: a one-machine cluster's
/// node is the host. A Service without nodePorts publishes nothing (its cluster IP has no
/// meaning on one machine); one with nodePorts must select a pod of the YAML.
fn publish_service(objects: &Objects, s: &Service, plans: &mut [PodPlan]) -> Result<(), PlayError> {
    let name = s.metadata.name.clone().unwrap_or_default();
    let what = format!("Service {name}");
    let Some(spec) = &s.spec else { return Ok(()) };
    let node_ports: Vec<_> = spec
        .ports
        .iter()
        .flatten()
        .filter(|p| p.node_port.is_some())
        .collect();
    if node_ports.is_empty() {
        return Ok(());
    }
    let selector = spec.selector.clone().unwrap_or_default();
    let mut selected = 0;
    for ((_, pod, labels), plan) in objects.pods.iter().zip(plans.iter_mut()) {
        if selector.is_empty() || !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            continue;
        }
        selected += 1;
        for p in &node_ports {
            let proto = match p.protocol.as_deref().unwrap_or("TCP") {
                "TCP" => "tcp",
                "UDP" => "udp",
                other => {
                    return Err(bad(
                        &what,
                        format!("protocol {other} is not supported (TCP and UDP are)"),
                    ));
                }
            };
            let target = match &p.target_port {
                None => p.port,
                Some(IntOrString::Int(n)) => *n,
                Some(IntOrString::String(port_name)) => pod
                    .containers
                    .iter()
                    .flat_map(|c| c.ports.iter().flatten())
                    .find(|cp| cp.name.as_deref() == Some(port_name.as_str()))
                    .map(|cp| cp.container_port)
                    .ok_or_else(|| {
                        bad(
                            &what,
                            format!(
                                "targetPort {port_name} names no container port of pod {}",
                                plan.name
                            ),
                        )
                    })?,
            };
            let node = p.node_port.unwrap_or_default();
            let flag = format!("{node}:{target}/{proto}");
            let listed = plan
                .pod_create
                .windows(2)
                .any(|w| w[0] == "--publish" && w[1] == flag);
            if !listed {
                plan.pod_create.extend(["--publish".into(), flag]);
            }
        }
    }
    match selected {
        0 => Err(bad(
            what,
            "its selector matches no Pod or Deployment of the YAML, so its nodePorts would publish nothing",
        )),
        // One host port cannot go to two pods.
        1 => Ok(()),
        _ => Err(bad(
            what,
            "its selector matches more than one pod: a nodePort can be published for one only",
        )),
    }
}

/// How a volume is mounted: the `-v`/`--tmpfs` source, or a tmpfs.
enum Mount {
    Source(String, bool),
    Tmpfs,
}

fn plan_pod(
    objects: &Objects,
    name: &str,
    spec: &PodSpec,
    labels: &BTreeMap<String, String>,
    dir: &Path,
) -> Result<PodPlan, PlayError> {
    let what = format!("pod {name}");
    let mut plan = PodPlan {
        name: name.to_string(),
        ..Default::default()
    };
    let mut pod = vec!["pod".into(), "create".into(), "--name".into(), name.into()];
    if let Some(h) = &spec.hostname {
        pod.extend(["--hostname".into(), h.clone()]);
    }
    if spec.share_process_namespace == Some(true) {
        pod.extend(["--share".into(), "+pid".into()]);
    }
    for (k, v) in labels {
        pod.extend(["--label".into(), format!("{k}={v}")]);
    }
    let mut published = Vec::new();
    for c in spec
        .containers
        .iter()
        .chain(spec.init_containers.iter().flatten())
    {
        for p in c.ports.iter().flatten() {
            let Some(host) = p.host_port else { continue };
            let proto = match p.protocol.as_deref().unwrap_or("TCP") {
                "TCP" => "tcp",
                "UDP" => "udp",
                other => {
                    return Err(bad(
                        format!("{what}, container {}", c.name),
                        format!("protocol {other} is not supported (TCP and UDP are)"),
                    ));
                }
            };
            let ip = p
                .host_ip
                .as_deref()
                .map(|ip| format!("{ip}:"))
                .unwrap_or_default();
            let flag = format!("{ip}{host}:{}/{proto}", p.container_port);
            if !published.contains(&flag) {
                published.push(flag);
            }
        }
    }
    for p in published {
        pod.extend(["--publish".into(), p]);
    }
    plan.pod_create = pod;

    let mut mounts: BTreeMap<&str, Mount> = BTreeMap::new();
    for v in spec.volumes.iter().flatten() {
        let m = volume(objects, &what, v, dir, &mut plan)?;
        mounts.insert(v.name.as_str(), m);
    }
    let restart = match spec.restart_policy.as_deref().unwrap_or("Always") {
        "Always" => "always",
        "OnFailure" => "on-failure",
        "Never" => "no",
        other => return Err(bad(&what, format!("restartPolicy {other} is not valid"))),
    };
    for c in spec.init_containers.iter().flatten() {
        plan.init.push(container(objects, name, c, &mounts, None)?);
    }
    for c in &spec.containers {
        plan.containers
            .push(container(objects, name, c, &mounts, Some(restart))?);
    }
    Ok(plan)
}

fn volume(
    objects: &Objects,
    what: &str,
    v: &Volume,
    dir: &Path,
    plan: &mut PodPlan,
) -> Result<Mount, PlayError> {
    let what = format!("{what}, volume {}", v.name);
    if let Some(h) = &v.host_path {
        let t = h.type_.clone().unwrap_or_default();
        if !matches!(
            t.as_str(),
            "" | "DirectoryOrCreate" | "Directory" | "FileOrCreate" | "File"
        ) {
            return Err(bad(what, format!("hostPath type {t} is not supported")));
        }
        plan.host_paths.push((PathBuf::from(&h.path), t));
        return Ok(Mount::Source(h.path.clone(), false));
    }
    if let Some(e) = &v.empty_dir {
        return match e.medium.as_deref().unwrap_or("") {
            "Memory" => Ok(Mount::Tmpfs),
            "" => {
                let d = dir.join(&v.name);
                plan.dirs.push((d.clone(), Vec::new()));
                Ok(Mount::Source(d.display().to_string(), false))
            }
            m => Err(bad(what, format!("emptyDir medium {m} is not supported"))),
        };
    }
    if let Some(c) = &v.persistent_volume_claim {
        // A claim not in the YAML names an existing volume (as with Podman).
        return Ok(Mount::Source(
            c.claim_name.clone(),
            c.read_only.unwrap_or(false),
        ));
    }
    if let Some(c) = &v.config_map {
        let files = match config_map(objects, &c.name) {
            Some(m) => m.into_iter().map(|(k, v)| (k, v.into_bytes())).collect(),
            None if c.optional == Some(true) => Vec::new(),
            None => {
                return Err(bad(
                    what,
                    format!("ConfigMap {} is not in the YAML", c.name),
                ));
            }
        };
        let d = dir.join(&v.name);
        plan.dirs.push((d.clone(), files));
        return Ok(Mount::Source(d.display().to_string(), true));
    }
    if let Some(s) = &v.secret {
        let secret_name = s.secret_name.clone().unwrap_or_default();
        let files = match secret(objects, &secret_name) {
            Some(m) => m.into_iter().collect(),
            None if s.optional == Some(true) => Vec::new(),
            None => {
                return Err(bad(
                    what,
                    format!("Secret {secret_name} is not in the YAML"),
                ));
            }
        };
        let d = dir.join(&v.name);
        plan.dirs.push((d.clone(), files));
        return Ok(Mount::Source(d.display().to_string(), true));
    }
    Err(bad(
        what,
        "no source (hostPath, emptyDir, persistentVolumeClaim, configMap or secret)",
    ))
}

fn config_map(objects: &Objects, name: &str) -> Option<BTreeMap<String, String>> {
    objects
        .config_maps
        .iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .map(|c| c.data.clone().unwrap_or_default())
}

/// A Secret's keys with their decoded values (`data` and `stringData`).
fn secret(objects: &Objects, name: &str) -> Option<BTreeMap<String, Vec<u8>>> {
    let s = objects
        .secrets
        .iter()
        .find(|s| s.metadata.name.as_deref() == Some(name))?;
    let mut out: BTreeMap<String, Vec<u8>> = s
        .data
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    for (k, v) in s.string_data.iter().flatten() {
        out.insert(k.clone(), v.clone().into_bytes());
    }
    Some(out)
}

fn text(what: &str, key: &str, v: &[u8]) -> Result<String, PlayError> {
    String::from_utf8(v.to_vec())
        .map_err(|_| bad(what, format!("the value of {key} is not UTF-8 text")))
}

fn container(
    objects: &Objects,
    pod: &str,
    c: &Container,
    mounts: &BTreeMap<&str, Mount>,
    restart: Option<&str>,
) -> Result<Vec<String>, PlayError> {
    let what = format!("pod {pod}, container {}", c.name);
    let image = c
        .image
        .clone()
        .ok_or_else(|| bad(&what, "image is missing"))?;
    let mut a: Vec<String> = vec![
        "create".into(),
        "--pod".into(),
        pod.into(),
        "--name".into(),
        format!("{pod}-{}", c.name),
    ];
    let flag = |a: &mut Vec<String>, f: &str, v: String| {
        a.push(f.to_string());
        a.push(v);
    };
    if let Some(r) = restart {
        flag(&mut a, "--restart", r.into());
    }
    if let Some(p) = &c.image_pull_policy {
        let policy = match p.as_str() {
            "Always" => "always",
            "IfNotPresent" => "missing",
            "Never" => "never",
            other => return Err(bad(&what, format!("imagePullPolicy {other} is not valid"))),
        };
        flag(&mut a, "--pull", policy.into());
    }
    if let Some(cmd) = &c.command {
        flag(
            &mut a,
            "--entrypoint",
            serde_json::to_string(cmd).unwrap_or_default(),
        );
    }
    for e in c.env_from.iter().flatten() {
        let prefix = e.prefix.clone().unwrap_or_default();
        let vars: BTreeMap<String, Vec<u8>> = if let Some(r) = &e.config_map_ref {
            match config_map(objects, &r.name) {
                Some(m) => m.into_iter().map(|(k, v)| (k, v.into_bytes())).collect(),
                None if r.optional == Some(true) => BTreeMap::new(),
                None => {
                    return Err(bad(
                        &what,
                        format!("ConfigMap {} is not in the YAML", r.name),
                    ));
                }
            }
        } else if let Some(r) = &e.secret_ref {
            match secret(objects, &r.name) {
                Some(m) => m,
                None if r.optional == Some(true) => BTreeMap::new(),
                None => return Err(bad(&what, format!("Secret {} is not in the YAML", r.name))),
            }
        } else {
            return Err(bad(&what, "envFrom without configMapRef or secretRef"));
        };
        for (k, v) in vars {
            let v = text(&what, &k, &v)?;
            flag(&mut a, "--env", format!("{prefix}{k}={v}"));
        }
    }
    for e in c.env.iter().flatten() {
        let value = match (&e.value, &e.value_from) {
            (_, Some(from)) => {
                if let Some(r) = &from.config_map_key_ref {
                    match config_map(objects, &r.name).and_then(|m| m.get(&r.key).cloned()) {
                        Some(v) => Some(v),
                        None if r.optional == Some(true) => None,
                        None => {
                            return Err(bad(
                                &what,
                                format!(
                                    "env {}: key {} of ConfigMap {} is not in the YAML",
                                    e.name, r.key, r.name
                                ),
                            ));
                        }
                    }
                } else if let Some(r) = &from.secret_key_ref {
                    match secret(objects, &r.name).and_then(|m| m.get(&r.key).cloned()) {
                        Some(v) => Some(text(&what, &r.key, &v)?),
                        None if r.optional == Some(true) => None,
                        None => {
                            return Err(bad(
                                &what,
                                format!(
                                    "env {}: key {} of Secret {} is not in the YAML",
                                    e.name, r.key, r.name
                                ),
                            ));
                        }
                    }
                } else {
                    return Err(bad(&what, format!("env {}: empty valueFrom", e.name)));
                }
            }
            (v, None) => Some(v.clone().unwrap_or_default()),
        };
        if let Some(v) = value {
            flag(&mut a, "--env", format!("{}={v}", e.name));
        }
    }
    if let Some(w) = &c.working_dir {
        flag(&mut a, "--workdir", w.clone());
    }
    if let Some(s) = &c.security_context {
        match (s.run_as_user, s.run_as_group) {
            (Some(u), Some(g)) => flag(&mut a, "--user", format!("{u}:{g}")),
            (Some(u), None) => flag(&mut a, "--user", u.to_string()),
            (None, Some(_)) => {
                return Err(bad(&what, "runAsGroup without runAsUser is not supported"));
            }
            (None, None) => {}
        }
        if s.privileged == Some(true) {
            a.push("--privileged".into());
        }
        if s.read_only_root_filesystem == Some(true) {
            a.push("--read-only".into());
        }
        if let Some(caps) = &s.capabilities {
            for c in caps.add.iter().flatten() {
                flag(&mut a, "--cap-add", c.clone());
            }
            for c in caps.drop.iter().flatten() {
                flag(&mut a, "--cap-drop", c.clone());
            }
        }
    }
    if c.tty == Some(true) {
        a.push("--tty".into());
    }
    if c.stdin == Some(true) {
        a.push("--interactive".into());
    }
    for m in c.volume_mounts.iter().flatten() {
        let Some(mount) = mounts.get(m.name.as_str()) else {
            return Err(bad(
                &what,
                format!("volumeMount {}: no volume of that name in the pod", m.name),
            ));
        };
        match mount {
            Mount::Tmpfs => flag(&mut a, "--tmpfs", m.mount_path.clone()),
            Mount::Source(src, ro) => {
                let ro = *ro || m.read_only == Some(true);
                let opt = if ro { ":ro" } else { "" };
                flag(&mut a, "--volume", format!("{src}:{}{opt}", m.mount_path));
            }
        }
    }
    a.push(image);
    a.extend(c.args.iter().flatten().cloned());
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    const POD: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  GREETING: hello
---
apiVersion: v1
kind: Pod
metadata:
  name: web
  labels:
    app: web
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c"]
    args: ["echo $GREETING"]
    env:
    - name: GREETING
      valueFrom:
        configMapKeyRef:
          name: cfg
          key: GREETING
    ports:
    - containerPort: 80
      hostPort: 8080
    volumeMounts:
    - name: conf
      mountPath: /etc/conf
  volumes:
  - name: conf
    configMap:
      name: cfg
"#;

    #[test]
    fn a_pod_becomes_command_lines() {
        let objects = parse(POD).unwrap();
        let plans = plan(&objects, Path::new("/k")).unwrap();
        let p = &plans[0];
        assert_eq!(
            p.pod_create.join(" "),
            "pod create --name web --label app=web --publish 8080:80/tcp"
        );
        assert_eq!(
            p.containers[0].join(" "),
            "create --pod web --name web-main --restart no --entrypoint [\"sh\",\"-c\"] \
             --env GREETING=hello --volume /k/web/conf:/etc/conf:ro busybox echo $GREETING"
        );
        assert_eq!(
            p.dirs,
            vec![(
                PathBuf::from("/k/web/conf"),
                vec![("GREETING".to_string(), b"hello".to_vec())]
            )]
        );
    }

    #[test]
    fn unknown_and_unsupported_fields_are_errors() {
        let typo = POD.replace("restartPolicy", "restartPolcy");
        let e = parse(&typo).unwrap_err().to_string();
        assert_eq!(e, "Pod web: unknown field spec.restartPolcy");
        let probe = POD.replace(
            "    ports:",
            "    livenessProbe:\n      exec:\n        command: [\"true\"]\n    ports:",
        );
        let e = parse(&probe).unwrap_err().to_string();
        assert_eq!(
            e,
            "Pod web: field not supported by coracle: spec.containers[0].livenessProbe.exec.command[0]"
        );
        let e = parse("apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: s\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("kind StatefulSet is not supported"), "{e}");
    }

    #[test]
    fn deployments_need_one_replica() {
        let d = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: d\n  template:\n    metadata:\n      labels:\n        app: d\n    spec:\n      containers:\n      - name: c\n        image: busybox\n";
        let e = parse(d).unwrap_err().to_string();
        assert!(e.contains("replicas: 2"), "{e}");
        let objects = parse(&d.replace("replicas: 2", "replicas: 1")).unwrap();
        assert_eq!(objects.pods[0].0, "d-pod");
    }

    const SERVICE: &str = "
apiVersion: v1
kind: Service
metadata:
  name: web-svc
spec:
  type: NodePort
  selector:
    app: web
  ports:
  - name: http
    port: 80
    targetPort: 8080
    nodePort: 30080
  - port: 9000
    targetPort: metrics
    nodePort: 30090
    protocol: UDP
  - port: 7000
";

    #[test]
    fn a_service_publishes_its_node_ports_for_the_pod_it_selects() {
        let yaml = format!(
            "{SERVICE}---\n{}",
            POD.replace("    - containerPort: 80\n      hostPort: 8080\n",
                "    - containerPort: 8080\n    - containerPort: 9100\n      name: metrics\n      protocol: UDP\n")
        );
        let objects = parse(&yaml).unwrap();
        assert_eq!(objects.services.len(), 1);
        assert_eq!(objects.config_maps.len(), 1);
        let plans = plan(&objects, Path::new("/k")).unwrap();
        assert_eq!(
            plans[0].pod_create.join(" "),
            "pod create --name web --label app=web --publish 30080:8080/tcp --publish 30090:9100/udp"
        );
        // A selector matching no pod, a named port no container has, a load balancer.
        let other = yaml.replace("    app: web\n  ports", "    app: other\n  ports");
        let e = plan(&parse(&other).unwrap(), Path::new("/k"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("Service web-svc: its selector matches no Pod"),
            "{e}"
        );
        let unnamed = yaml.replace("      name: metrics\n", "");
        let e = plan(&parse(&unnamed).unwrap(), Path::new("/k"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("targetPort metrics names no container port of pod web"),
            "{e}"
        );
        let lb = yaml.replace("type: NodePort", "type: LoadBalancer");
        let e = parse(&lb).unwrap_err().to_string();
        assert!(e.contains("type LoadBalancer is not supported"), "{e}");
        let shared = yaml.replace(
            "spec:\n  restartPolicy",
            "spec:\n  shareProcessNamespace: true\n  restartPolicy",
        );
        let p = plan(&parse(&shared).unwrap(), Path::new("/k")).unwrap();
        assert!(
            p[0].pod_create.join(" ").contains(" --share +pid"),
            "{:?}",
            p[0].pod_create
        );
        let ip = yaml.replace(
            "  type: NodePort\n",
            "  type: NodePort\n  clusterIP: 10.0.0.1\n",
        );
        let e = parse(&ip).unwrap_err().to_string();
        assert_eq!(
            e,
            "Service web-svc: field not supported by coracle: spec.clusterIP"
        );
    }
}
