//! `import`: a flat root file system tarball becomes a one-layer image, with `--change`
//! instructions applied to its config as a Containerfile would apply them.

use std::io::Read;

use chrono::{DateTime, Utc};

use crate::oci::manifest;
use crate::store::{ImageRecord, Store};
use crate::transfer::TransferError;
use crate::transfer::commit::{self, ImagePlan};
use crate::transfer::scan;

#[derive(Debug, Default, Clone)]
pub struct ImportOptions {
    /// Full name for the new image (already normalised), if any.
    pub name: Option<String>,
    /// `--change` instructions (`CMD=...`, `ENV K=V`, ...).
    pub changes: Vec<String>,
    /// `--message`: the history comment.
    pub message: Option<String>,
    pub created: Option<DateTime<Utc>>,
}

pub fn import<R: Read>(
    store: &mut Store,
    reader: R,
    origin: &str,
    opts: &ImportOptions,
) -> Result<ImageRecord, TransferError> {
    let staging = store.staging("import")?;
    let dir = staging.path().join("layers").join("import");
    let layer = scan::stage_layer(reader, origin, &dir, staging.path(), origin)?;
    let created = opts.created.unwrap_or_else(Utc::now);
    let mut run_config = serde_json::Map::new();
    for change in &opts.changes {
        apply_change(&mut run_config, change).map_err(|message| TransferError::Invalid {
            origin: "--change".into(),
            message,
        })?;
    }
    let mut history = serde_json::json!({
        "created": created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "created_by": format!("/bin/sh -c #(nop) ADD file:{} in / ", layer.diff_id.hex()),
    });
    if let Some(m) = &opts.message {
        history["comment"] = serde_json::Value::String(m.clone());
    }
    let config = serde_json::json!({
        "created": created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "architecture": manifest::host_arch(),
        "os": "linux",
        "config": run_config,
        "rootfs": {"type": "layers", "diff_ids": [layer.diff_id.to_string()]},
        "history": [history],
    });
    let config_bytes = serde_json::to_vec(&config).map_err(|e| TransferError::Write {
        path: "config".into(),
        source: e.into(),
    })?;
    let (manifest_bytes, _) = crate::transfer::commit::uncompressed_manifest(
        manifest::Schema::Oci,
        &config_bytes,
        std::slice::from_ref(&layer),
    );
    let names = opts.name.iter().cloned().collect();
    let plan = ImagePlan::new(
        config_bytes,
        manifest_bytes,
        manifest::OCI_MANIFEST.into(),
        vec![layer],
        names,
        staging.path(),
        origin,
    )?;
    let mut records = commit::commit(store, &staging, vec![plan])?;
    Ok(records.remove(0))
}

/// Applies one `--change` instruction (`INSTRUCTION=VALUE` or `INSTRUCTION VALUE`) to the
/// image's run configuration, with Containerfile semantics for shell and JSON forms.
pub fn apply_change(
    config: &mut serde_json::Map<String, serde_json::Value>,
    change: &str,
) -> Result<(), String> {
    use serde_json::Value;
    let split = change
        .find(['=', ' '])
        .ok_or_else(|| format!("invalid change {change:?}: expected INSTRUCTION=VALUE"))?;
    let (instr, value) = (
        change[..split].trim().to_ascii_uppercase(),
        change[split + 1..].trim(),
    );
    let exec_form = |v: &str| -> Value {
        match serde_json::from_str::<Vec<String>>(v) {
            Ok(list) => Value::from(list),
            Err(_) => Value::from(vec!["/bin/sh".to_string(), "-c".to_string(), v.to_string()]),
        }
    };
    let key_values = |v: &str| -> Result<Vec<(String, String)>, String> {
        let v = v.trim();
        if let Some((k, val)) = v.split_once('=') {
            if !v.contains(' ') || !k.contains(' ') {
                return Ok(split_words(v)
                    .into_iter()
                    .map(|kv| match kv.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (kv, String::new()),
                    })
                    .collect());
            }
            return Ok(vec![(k.trim().to_string(), val.to_string())]);
        }
        match v.split_once(' ') {
            Some((k, val)) => Ok(vec![(k.to_string(), val.trim().to_string())]),
            None => Err(format!("invalid change {change:?}: expected KEY=VALUE")),
        }
    };
    match instr.as_str() {
        "CMD" => {
            config.insert("Cmd".into(), exec_form(value));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".into(), exec_form(value));
        }
        "ENV" => {
            let mut env: Vec<String> = config
                .get("Env")
                .and_then(|e| serde_json::from_value(e.clone()).ok())
                .unwrap_or_default();
            for (k, v) in key_values(value)? {
                env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
            config.insert("Env".into(), Value::from(env));
        }
        "LABEL" => {
            let labels = config
                .entry("Labels")
                .or_insert_with(|| Value::Object(Default::default()));
            for (k, v) in key_values(value)? {
                if let Some(map) = labels.as_object_mut() {
                    map.insert(k, Value::String(v));
                }
            }
        }
        "EXPOSE" => {
            let ports = config
                .entry("ExposedPorts")
                .or_insert_with(|| Value::Object(Default::default()));
            for p in value.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_string()
                } else {
                    format!("{p}/tcp")
                };
                if let Some(map) = ports.as_object_mut() {
                    map.insert(p, Value::Object(Default::default()));
                }
            }
        }
        "VOLUME" => {
            let vols = config
                .entry("Volumes")
                .or_insert_with(|| Value::Object(Default::default()));
            let list: Vec<String> = serde_json::from_str(value)
                .unwrap_or_else(|_| value.split_whitespace().map(String::from).collect());
            for v in list {
                if let Some(map) = vols.as_object_mut() {
                    map.insert(v, Value::Object(Default::default()));
                }
            }
        }
        "USER" => {
            config.insert("User".into(), Value::String(value.to_string()));
        }
        "WORKDIR" => {
            config.insert("WorkingDir".into(), Value::String(value.to_string()));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".into(), Value::String(value.to_string()));
        }
        "ONBUILD" => {
            let list = config
                .entry("OnBuild")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Some(a) = list.as_array_mut() {
                a.push(Value::String(value.to_string()));
            }
        }
        other => {
            return Err(format!(
                "invalid change {change:?}: {other} is not one of CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR"
            ));
        }
    }
    Ok(())
}

/// Splits on spaces, honouring double quotes (`A="x y" B=z`).
fn split_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_changes() {
        let mut c = serde_json::Map::new();
        apply_change(&mut c, "CMD=/bin/sh -c 'echo hi'").unwrap();
        assert_eq!(
            c["Cmd"],
            serde_json::json!(["/bin/sh", "-c", "/bin/sh -c 'echo hi'"])
        );
        apply_change(&mut c, r#"ENTRYPOINT ["/bin/busybox", "sh"]"#).unwrap();
        assert_eq!(c["Entrypoint"], serde_json::json!(["/bin/busybox", "sh"]));
        apply_change(&mut c, "ENV=A=1 B=\"x y\"").unwrap();
        apply_change(&mut c, "ENV A=2").unwrap();
        assert_eq!(c["Env"], serde_json::json!(["B=x y", "A=2"]));
        apply_change(&mut c, "LABEL=k=v").unwrap();
        assert_eq!(c["Labels"]["k"], "v");
        apply_change(&mut c, "EXPOSE=80 53/udp").unwrap();
        assert!(c["ExposedPorts"].get("80/tcp").is_some());
        apply_change(&mut c, "WORKDIR=/srv").unwrap();
        assert_eq!(c["WorkingDir"], "/srv");
        assert!(apply_change(&mut c, "FROB=1").is_err());
        assert!(apply_change(&mut c, "CMD").is_err());
    }
}
