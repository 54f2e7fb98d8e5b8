//! A list as JSON: what `manifest inspect` prints (Podman 4.3's Docker-shaped view with the OCI
//! annotations added), and the OCI index or Docker manifest list `manifest push` sends, with
//! the Go tools' field order so the digests match theirs.

use anyhow::Context as _;
use serde_json::{Map, Value, json};

use crate::cli::manifest::ManifestInspectArgs;
use crate::cmd::manifest::{find, remote};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::oci::manifest::{DOCKER_MANIFEST_LIST, OCI_INDEX, Schema};
use crate::store::LockMode;
use crate::store::lists::{Instance, ListPlatform, ListRecord};

pub fn inspect(ctx: &Context, args: &ManifestInspectArgs) -> anyhow::Result<ExitStatus> {
    let local_only = args.image.strip_prefix("containers-storage:");
    let local = {
        let store = ctx.open_store(LockMode::Shared, "manifest inspect")?;
        match find::list(&store, local_only.unwrap_or(&args.image)) {
            Ok(list) => Some(list),
            Err(e) if local_only.is_some() => return Err(e),
            // Not a local list (maybe a local image): Podman looks in the registry then.
            Err(_) => None,
        }
    };
    let text = match local {
        Some(list) => pretty(&inspect_view(&list)),
        None => {
            let (_, fetched) = remote::fetch(&args.image, &args.registry)?;
            let value: Value = serde_json::from_slice(&fetched.bytes).with_context(|| {
                format!(
                    "manifest {} of {} is not valid JSON",
                    fetched.digest, args.image
                )
            })?;
            pretty(&value)
        }
    };
    out(&format!("{text}\n"))?;
    Ok(ExitStatus::Success)
}

/// Go's `json.MarshalIndent(v, "", "    ")`.
pub fn pretty(value: &Value) -> String {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    // A `Value` always serialises.
    let _ = serde::Serialize::serialize(value, &mut ser);
    String::from_utf8(buf).unwrap_or_default()
}

/// Podman 4.3's `manifest inspect` of a local list.
pub fn inspect_view(list: &ListRecord) -> Value {
    let manifests: Vec<Value> = list
        .instances
        .iter()
        .map(|i| {
            let mut d = docker_descriptor(i);
            if !i.annotations.is_empty() {
                d["annotations"] = json!(i.annotations);
            }
            d
        })
        .collect();
    let mut v = json!({
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        // Go's nil slice.
        "manifests": if manifests.is_empty() { Value::Null } else { Value::Array(manifests) },
    });
    if !list.annotations.is_empty() {
        v["annotations"] = json!(list.annotations);
    }
    v
}

/// The format `push` writes without `--format`: buildah's choice (OCI when there is anything
/// only OCI can say or any instance at all; Docker when only Docker can say it, or empty).
pub fn default_schema(list: &ListRecord) -> Schema {
    let oci_only =
        !list.annotations.is_empty() || list.instances.iter().any(|i| !i.annotations.is_empty());
    let docker_only = list
        .instances
        .iter()
        .any(|i| !i.platform.features.is_empty());
    if oci_only || (!docker_only && !list.instances.is_empty()) {
        Schema::Oci
    } else {
        Schema::Docker
    }
}

/// The index to push (compact, as the Go tools write it) and its media type.
pub fn serialize(list: &ListRecord, instances: &[Instance], schema: Schema) -> (Vec<u8>, String) {
    let value = match schema {
        Schema::Docker => json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST_LIST,
            "manifests": instances.iter().map(docker_descriptor).collect::<Vec<_>>(),
        }),
        Schema::Oci => {
            let mut v = json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": instances.iter().map(oci_descriptor).collect::<Vec<_>>(),
            });
            if !list.annotations.is_empty() {
                v["annotations"] = json!(list.annotations);
            }
            v
        }
    };
    let media_type = match schema {
        Schema::Docker => DOCKER_MANIFEST_LIST,
        Schema::Oci => OCI_INDEX,
    };
    (
        serde_json::to_vec(&value).unwrap_or_default(),
        media_type.to_string(),
    )
}

fn docker_descriptor(i: &Instance) -> Value {
    json!({
        "mediaType": i.media_type,
        "size": i.size,
        "digest": i.digest.to_string(),
        "platform": platform(&i.platform, true),
    })
}

fn oci_descriptor(i: &Instance) -> Value {
    let mut d = json!({
        "mediaType": i.media_type,
        "digest": i.digest.to_string(),
        "size": i.size,
    });
    if !i.annotations.is_empty() {
        d["annotations"] = json!(i.annotations);
    }
    d["platform"] = platform(&i.platform, false);
    d
}

fn platform(p: &ListPlatform, docker: bool) -> Value {
    let mut m = Map::new();
    m.insert("architecture".into(), json!(p.architecture));
    m.insert("os".into(), json!(p.os));
    if let Some(v) = &p.os_version {
        m.insert("os.version".into(), json!(v));
    }
    if !p.os_features.is_empty() {
        m.insert("os.features".into(), json!(p.os_features));
    }
    if let Some(v) = &p.variant {
        m.insert("variant".into(), json!(v));
    }
    if docker && !p.features.is_empty() {
        m.insert("features".into(), json!(p.features));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::digest::Digest;
    use crate::store::lists::InstanceSource;

    fn list() -> ListRecord {
        let mut l = ListRecord::new(vec!["localhost/l:latest".into()]).unwrap();
        l.instances.push(Instance {
            digest: Digest::of_bytes(b"m"),
            media_type: crate::oci::manifest::OCI_MANIFEST.into(),
            size: 1,
            platform: ListPlatform {
                architecture: "arm64".into(),
                os: "linux".into(),
                os_version: Some("1.0".into()),
                variant: Some("v8".into()),
                ..Default::default()
            },
            annotations: [("a".to_string(), "b".to_string())].into(),
            manifest: "m".into(),
            source: InstanceSource::Local {
                image: Digest::of_bytes(b"c"),
            },
        });
        l
    }

    #[test]
    fn indexes_keep_go_field_order() {
        let l = list();
        let (bytes, mt) = serialize(&l, &l.instances, Schema::Oci);
        assert_eq!(mt, OCI_INDEX);
        let text = String::from_utf8(bytes).unwrap();
        assert!(
            text.contains(r#""size":1,"annotations":{"a":"b"},"platform":{"architecture":"arm64","os":"linux","os.version":"1.0","variant":"v8"}}"#),
            "{text}"
        );
        let (bytes, _) = serialize(&l, &[], Schema::Docker);
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.list.v2+json","manifests":[]}"#
        );
        assert_eq!(default_schema(&l), Schema::Oci);
        let empty = ListRecord::new(vec![]).unwrap();
        assert_eq!(default_schema(&empty), Schema::Docker);
        assert!(pretty(&inspect_view(&empty)).contains("\"manifests\": null"));
    }
}
