//! The instructions that change only the image's configuration (ENV, LABEL, WORKDIR, CMD,
//! ...): their effect on a [`StageState`] and their text after expansion, which is both the
//! history entry's `created_by` (`/bin/sh -c #(nop) ENV A=1`, as Podman writes it) and part of
//! the step's cache key.

use anyhow::{Context as _, bail};
use serde_json::{Map, Value, json};

use super::args::BuildArgValues;
use super::state::StageState;
use crate::build::expand;
use crate::build::syntax::{Command, Healthcheck, Kind};
use crate::oci::manifest::Schema;

/// Expands `raw` with the variables the stage sees.
pub fn expand_in(state: &StageState, raw: &str) -> anyhow::Result<String> {
    let lookup = |n: &str| state.lookup(n);
    expand::word_with_escape(raw, state.escape, &lookup)
        .with_context(|| format!("expanding {raw:?}"))
}

/// The `created_by` of a step that adds no layer.
pub fn nop(text: &str) -> String {
    format!("/bin/sh -c #(nop) {text}")
}

/// Applies a configuration instruction; returns its expanded text (`ENV A=1`). `warn` hears
/// Podman's warnings (an instruction the OCI format cannot keep).
pub fn apply(
    state: &mut StageState,
    kind: &Kind,
    args: &mut BuildArgValues,
    schema: Schema,
    warn: &mut dyn FnMut(String),
) -> anyhow::Result<String> {
    let docker = schema == Schema::Docker;
    let text = match kind {
        Kind::Env(pairs) => {
            let mut parts = Vec::new();
            for kv in pairs {
                let key = expand_in(state, &kv.key)?;
                let value = expand_in(state, &kv.value)?;
                state.set_env(&key, &value);
                parts.push(format!("{key}={value}"));
            }
            format!("ENV {}", parts.join(" "))
        }
        Kind::Arg(decls) => {
            let mut parts = Vec::new();
            for d in decls {
                let visible: Vec<(String, String)> =
                    state.args.iter().cloned().chain(state.env()).collect();
                if let Some(v) = args.resolve(d, &visible)? {
                    state.args.retain(|(k, _)| k != &d.name);
                    state.args.push((d.name.clone(), v));
                }
                parts.push(match &d.default {
                    Some(def) => format!("{}={def}", d.name),
                    None => d.name.clone(),
                });
            }
            format!("ARG {}", parts.join(" "))
        }
        Kind::Label(pairs) => {
            let mut parts = Vec::new();
            for kv in pairs {
                let key = expand_in(state, &kv.key)?;
                let value = expand_in(state, &kv.value)?;
                object_entry(state.run_config(), "Labels").insert(key.clone(), json!(value));
                parts.push(format!("{key}={value}"));
            }
            format!("LABEL {}", parts.join(" "))
        }
        Kind::Workdir(raw) => {
            let dir = expand_in(state, raw)?;
            let dir = if dir.starts_with('/') {
                dir
            } else {
                format!("{}/{dir}", state.workdir().trim_end_matches('/'))
            };
            let dir = clean_path(&dir);
            state.run_config().insert("WorkingDir".into(), json!(dir));
            format!("WORKDIR {dir}")
        }
        Kind::User(raw) => {
            let user = expand_in(state, raw)?;
            state.run_config().insert("User".into(), json!(user));
            format!("USER {user}")
        }
        Kind::Expose(ports) => {
            let mut parts = Vec::new();
            for p in ports {
                for p in expand_in(state, p)?.split_whitespace() {
                    let port = if p.contains('/') {
                        p.to_string()
                    } else {
                        format!("{p}/tcp")
                    };
                    object_entry(state.run_config(), "ExposedPorts").insert(port, json!({}));
                    parts.push(p.to_string());
                }
            }
            format!("EXPOSE {}", parts.join(" "))
        }
        Kind::Volume(paths) => {
            let mut parts = Vec::new();
            for p in paths {
                let p = expand_in(state, p)?;
                object_entry(state.run_config(), "Volumes").insert(p.clone(), json!({}));
                parts.push(p);
            }
            format!("VOLUME {}", json!(parts))
        }
        Kind::Entrypoint(cmd) => {
            let argv = command_argv(state, cmd)?;
            state.run_config().insert("Entrypoint".into(), json!(argv));
            if !state.cmd_set {
                state.run_config().remove("Cmd");
            }
            format!("ENTRYPOINT {}", json!(argv))
        }
        Kind::Cmd(cmd) => {
            let argv = command_argv(state, cmd)?;
            state.run_config().insert("Cmd".into(), json!(argv));
            state.cmd_set = true;
            format!("CMD {}", json!(argv))
        }
        Kind::Shell(shell) => {
            if shell.is_empty() {
                bail!("SHELL needs a JSON array with at least one element");
            }
            state.shell = shell.clone();
            if docker {
                state.run_config().insert("Shell".into(), json!(shell));
            } else {
                warn(format!(
                    "SHELL is not supported for OCI image format, {} will be ignored. Must use `docker` format",
                    go_list(shell)
                ));
            }
            format!("SHELL {}", json!(shell))
        }
        Kind::StopSignal(raw) => {
            let sig = expand_in(state, raw)?;
            state.run_config().insert("StopSignal".into(), json!(sig));
            format!("STOPSIGNAL {sig}")
        }
        Kind::Healthcheck(check) => {
            let (value, text) = healthcheck(state, check)?;
            if docker {
                state.run_config().insert("Healthcheck".into(), value);
            } else {
                warn("HEALTHCHECK is not supported for OCI image format and will be ignored. Must use `docker` format".into());
            }
            format!("HEALTHCHECK {text}")
        }
        Kind::Onbuild(trigger) => {
            if docker {
                let run = state.run_config();
                let list = run.entry("OnBuild").or_insert_with(|| json!([]));
                match list.as_array_mut() {
                    Some(l) => l.push(json!(trigger)),
                    None => *list = json!([trigger]),
                }
            } else {
                warn("ONBUILD is not supported for OCI image format, it will be ignored. Must use `docker` format".into());
            }
            format!("ONBUILD {trigger}")
        }
        Kind::Maintainer(raw) => {
            let who = expand_in(state, raw)?;
            state.config.insert("author".into(), json!(who));
            format!("MAINTAINER {who}")
        }
        Kind::Run(_) | Kind::Copy(_) | Kind::Add(_) => {
            bail!("{} adds a layer: not a configuration step", kind.keyword())
        }
    };
    Ok(text)
}

/// CMD/ENTRYPOINT's argument vector: exec form as is, shell form through the SHELL.
fn command_argv(state: &StageState, cmd: &Command) -> anyhow::Result<Vec<String>> {
    Ok(match cmd {
        Command::Exec(argv) => argv.clone(),
        Command::Shell(text) => state.shell.iter().cloned().chain([text.clone()]).collect(),
    })
}

fn healthcheck(state: &StageState, check: &Healthcheck) -> anyhow::Result<(Value, String)> {
    match check {
        Healthcheck::None => Ok((json!({"Test": ["NONE"]}), "NONE".into())),
        Healthcheck::Check {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let test: Vec<String> = match command {
                Command::Exec(argv) => std::iter::once("CMD".to_string())
                    .chain(argv.iter().cloned())
                    .collect(),
                Command::Shell(text) => vec!["CMD-SHELL".into(), text.clone()],
            };
            let mut v = Map::new();
            v.insert("Test".into(), json!(test));
            for (key, value) in [
                ("Interval", interval),
                ("Timeout", timeout),
                ("StartPeriod", start_period),
                ("StartInterval", start_interval),
            ] {
                if let Some(raw) = value {
                    let text = expand_in(state, raw)?;
                    let ns = duration_ns(&text).with_context(|| {
                        format!("HEALTHCHECK --{}: {text:?}", key.to_ascii_lowercase())
                    })?;
                    v.insert(key.into(), json!(ns));
                }
            }
            if let Some(r) = retries {
                v.insert("Retries".into(), json!(r));
            }
            let text = format!("CMD {}", json!(test[1..]));
            Ok((Value::Object(v), text))
        }
    }
}

/// A Go duration (`1m30s`, `500ms`) in nanoseconds.
pub fn duration_ns(text: &str) -> anyhow::Result<u64> {
    let mut total = 0f64;
    let mut rest = text.trim();
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        bail!("empty duration");
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len]
            .parse()
            .with_context(|| format!("invalid duration {text:?}"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            other => bail!("invalid duration {text:?}: unknown unit {other:?}"),
        };
        total += number * factor;
        rest = &rest[unit_len..];
    }
    Ok(total as u64)
}

fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let slot = map.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if !slot.is_object() {
        *slot = Value::Object(Map::new());
    }
    slot.as_object_mut().expect("made an object above")
}

/// `/a/./b/../c` → `/a/c`.
fn clean_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Go's `%v` of a string slice, as Podman's warnings print it: `[/bin/bash -c]`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::syntax::KeyValue;

    fn no_args() -> BuildArgValues {
        BuildArgValues::new(&[], &[], "linux", "amd64", None).unwrap()
    }

    #[test]
    fn config_instructions() {
        let mut s = StageState::scratch(("linux", "amd64"));
        let mut args = no_args();
        let mut warnings = Vec::new();
        let mut warn = |w: String| warnings.push(w);
        let mut apply =
            |s: &mut StageState, k: Kind| apply(s, &k, &mut args, Schema::Oci, &mut warn).unwrap();
        let kv = |k: &str, v: &str| KeyValue {
            key: k.into(),
            value: v.into(),
        };
        assert_eq!(
            apply(&mut s, Kind::Env(vec![kv("A", "1"), kv("B", "$A-x")])),
            "ENV A=1 B=1-x"
        );
        assert_eq!(apply(&mut s, Kind::Workdir("/app".into())), "WORKDIR /app");
        assert_eq!(
            apply(&mut s, Kind::Workdir("sub/..".into())),
            "WORKDIR /app"
        );
        assert_eq!(
            apply(&mut s, Kind::Cmd(Command::Shell("echo $A".into()))),
            r#"CMD ["/bin/sh","-c","echo $A"]"#
        );
        apply(&mut s, Kind::Entrypoint(Command::Exec(vec!["/e".into()])));
        assert_eq!(s.run_config()["Cmd"], json!(["/bin/sh", "-c", "echo $A"]));
        apply(&mut s, Kind::Expose(vec!["80".into(), "53/udp".into()]));
        assert!(s.run_config()["ExposedPorts"].get("80/tcp").is_some());
        apply(&mut s, Kind::Shell(vec!["/bin/bash".into(), "-c".into()]));
        assert_eq!(s.shell, vec!["/bin/bash", "-c"]);
        assert!(s.run_config().get("Shell").is_none());
        let _ = apply;
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("[/bin/bash -c]"));
    }

    #[test]
    fn entrypoint_clears_inherited_cmd() {
        let mut s = StageState::scratch(("linux", "amd64"));
        s.run_config().insert("Cmd".into(), json!(["sh"]));
        apply(
            &mut s,
            &Kind::Entrypoint(Command::Exec(vec!["/e".into()])),
            &mut no_args(),
            Schema::Oci,
            &mut |_| {},
        )
        .unwrap();
        assert!(s.run_config().get("Cmd").is_none());
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ns("30s").unwrap(), 30_000_000_000);
        assert_eq!(duration_ns("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(duration_ns("500ms").unwrap(), 500_000_000);
        assert!(duration_ns("5x").is_err());
    }
}
