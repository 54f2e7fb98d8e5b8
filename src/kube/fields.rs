//! Which fields of a Kubernetes object `kube play` understands: a field the typed object does
//! not know is an unknown field, one it knows that coracle does not carry out is unsupported,
//! and both are errors naming the field (Podman ignores them silently).

use serde_json::Value;

/// Fields of the YAML (`raw`) that the typed object (`typed`, `raw` deserialised and
/// serialised again) lost: the fields Kubernetes does not know, as dotted paths.
pub fn unknown(raw: &Value, typed: &Value) -> Vec<String> {
    let mut out = Vec::new();
    walk_unknown(raw, typed, "", &mut out);
    out
}

fn walk_unknown(raw: &Value, typed: &Value, path: &str, out: &mut Vec<String>) {
    match (raw, typed) {
        (Value::Object(r), Value::Object(t)) => {
            for (k, v) in r {
                if v.is_null() {
                    continue;
                }
                let p = join(path, k);
                match t.get(k) {
                    Some(tv) => walk_unknown(v, tv, &p, out),
                    None => out.push(p),
                }
            }
        }
        (Value::Array(r), Value::Array(t)) => {
            for (i, (rv, tv)) in r.iter().zip(t).enumerate() {
                walk_unknown(rv, tv, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Fields of `raw` that no pattern of `allowed` covers. A pattern is a dotted path with `[]`
/// for any element of a list; one ending in `.*` covers everything beneath it.
pub fn unsupported(raw: &Value, allowed: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    walk_allowed(raw, "", "", allowed, &mut out);
    out
}

fn walk_allowed(v: &Value, pattern: &str, shown: &str, allowed: &[String], out: &mut Vec<String>) {
    if !pattern.is_empty()
        && allowed.iter().any(|a| {
            a.strip_suffix(".*").is_some_and(|prefix| {
                prefix == pattern || pattern.starts_with(&format!("{prefix}."))
            })
        })
    {
        return;
    }
    match v {
        Value::Null => {}
        Value::Object(m) if m.is_empty() => push_if_unknown(pattern, shown, allowed, out),
        Value::Array(a) if a.is_empty() => push_if_unknown(pattern, shown, allowed, out),
        Value::Object(m) => {
            for (k, v) in m {
                walk_allowed(v, &join(pattern, k), &join(shown, k), allowed, out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                walk_allowed(
                    v,
                    &format!("{pattern}[]"),
                    &format!("{shown}[{i}]"),
                    allowed,
                    out,
                );
            }
        }
        _ => {
            if !allowed.iter().any(|a| a == pattern) {
                out.push(shown.to_string());
            }
        }
    }
}

/// An empty object or list is fine where it could hold supported fields.
fn push_if_unknown(pattern: &str, shown: &str, allowed: &[String], out: &mut Vec<String>) {
    if !allowed.iter().any(|a| a.starts_with(pattern)) {
        out.push(shown.to_string());
    }
}

/// The fields of a container coracle runs (under `prefix`, e.g. `spec.containers[]`).
fn container(prefix: &str) -> Vec<String> {
    [
        "name",
        "image",
        "imagePullPolicy",
        "command[]",
        "args[]",
        "workingDir",
        "tty",
        "stdin",
        "env[].name",
        "env[].value",
        "env[].valueFrom.configMapKeyRef.name",
        "env[].valueFrom.configMapKeyRef.key",
        "env[].valueFrom.configMapKeyRef.optional",
        "env[].valueFrom.secretKeyRef.name",
        "env[].valueFrom.secretKeyRef.key",
        "env[].valueFrom.secretKeyRef.optional",
        "envFrom[].prefix",
        "envFrom[].configMapRef.name",
        "envFrom[].configMapRef.optional",
        "envFrom[].secretRef.name",
        "envFrom[].secretRef.optional",
        "ports[].containerPort",
        "ports[].hostPort",
        "ports[].hostIP",
        "ports[].protocol",
        "ports[].name",
        "volumeMounts[].name",
        "volumeMounts[].mountPath",
        "volumeMounts[].readOnly",
        "securityContext.runAsUser",
        "securityContext.runAsGroup",
        "securityContext.privileged",
        "securityContext.readOnlyRootFilesystem",
        "securityContext.capabilities.add[]",
        "securityContext.capabilities.drop[]",
    ]
    .iter()
    .map(|f| format!("{prefix}.{f}"))
    .collect()
}

/// The fields of a pod spec coracle runs (under `prefix`, e.g. `spec`).
fn pod_spec(prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = [
        "hostname",
        "restartPolicy",
        "shareProcessNamespace",
        "volumes[].name",
        "volumes[].hostPath.path",
        "volumes[].hostPath.type",
        "volumes[].emptyDir.medium",
        "volumes[].persistentVolumeClaim.claimName",
        "volumes[].persistentVolumeClaim.readOnly",
        "volumes[].configMap.name",
        "volumes[].configMap.optional",
        "volumes[].secret.secretName",
        "volumes[].secret.optional",
    ]
    .iter()
    .map(|f| format!("{prefix}.{f}"))
    .collect();
    v.extend(container(&format!("{prefix}.containers[]")));
    v.extend(container(&format!("{prefix}.initContainers[]")));
    v
}

/// The fields coracle supports in an object of `kind`.
pub fn allowed(kind: &str) -> Vec<String> {
    // A status and a creation time are what a cluster reports (Podman's generated YAML holds
    // them); Kubernetes ignores them on creation too.
    let mut v: Vec<String> = [
        "apiVersion",
        "kind",
        "metadata.name",
        "metadata.labels.*",
        "metadata.creationTimestamp",
        "status.*",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    match kind {
        "Pod" => v.extend(pod_spec("spec")),
        "Deployment" => {
            v.extend(
                [
                    "spec.replicas",
                    "spec.selector.matchLabels.*",
                    "spec.template.metadata.name",
                    "spec.template.metadata.labels.*",
                ]
                .iter()
                .map(|s| s.to_string()),
            );
            v.extend(pod_spec("spec.template.spec"));
        }
        "ConfigMap" => v.push("data.*".into()),
        "Secret" => v.extend(["data.*".into(), "stringData.*".into(), "type".into()]),
        "Service" => v.extend(
            [
                "spec.type",
                "spec.selector.*",
                "spec.ports[].name",
                "spec.ports[].port",
                "spec.ports[].targetPort",
                "spec.ports[].nodePort",
                "spec.ports[].protocol",
            ]
            .iter()
            .map(|s| s.to_string()),
        ),
        "PersistentVolumeClaim" => v.extend([
            "spec.accessModes[]".into(),
            "spec.resources.requests.storage".into(),
        ]),
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_those_the_typed_object_lost() {
        let raw = json!({"a": 1, "b": {"c": 2, "d": 3}, "l": [{"x": 1, "y": 2}], "n": null});
        let typed = json!({"a": 1, "b": {"c": 2}, "l": [{"x": 1}]});
        assert_eq!(unknown(&raw, &typed), vec!["b.d", "l[0].y"]);
    }

    #[test]
    fn unsupported_fields_are_named_with_their_index() {
        let raw = json!({
            "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "x"}, "namespace": "default"},
            "spec": {"containers": [{"name": "a", "image": "i", "livenessProbe": {"exec": {}}}]}
        });
        let bad = unsupported(&raw, &allowed("Pod"));
        assert_eq!(
            bad,
            vec![
                "metadata.namespace",
                "spec.containers[0].livenessProbe.exec"
            ]
        );
    }
}
