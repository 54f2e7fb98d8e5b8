//! What a stage has built so far: its current image (ID, config, layers), the ARGs it
//! declared and the SHELL its shell-form instructions use.

use serde_json::{Map, Value, json};

use crate::oci::digest::Digest;

/// The default SHELL.
pub fn default_shell() -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into()]
}

#[derive(Debug, Clone)]
pub struct StageState {
    /// The current image; `None` for `FROM scratch` before the first step.
    pub image: Option<Digest>,
    /// The whole image config (`architecture`, `config`, `rootfs`, `history`...).
    pub config: Map<String, Value>,
    /// Diff IDs, base first.
    pub layers: Vec<Digest>,
    /// ARGs this stage declared, with their values, in order.
    pub args: Vec<(String, String)>,
    /// SHELL (kept here too: the OCI format drops it from the config, the build still uses it).
    pub shell: Vec<String>,
    /// Whether this stage set CMD (an ENTRYPOINT then keeps it; otherwise it clears the
    /// base's CMD, as Docker does).
    pub cmd_set: bool,
    /// The Containerfile's escape character (`# escape=`), for expanding its words.
    pub escape: char,
}

impl StageState {
    /// A stage on an image with `config`.
    pub fn on_image(image: Digest, config: Map<String, Value>, layers: Vec<Digest>) -> Self {
        let shell = config
            .get("config")
            .and_then(|c| c.get("Shell"))
            .and_then(|s| serde_json::from_value::<Vec<String>>(s.clone()).ok())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(default_shell);
        StageState {
            image: Some(image),
            config,
            layers,
            args: Vec::new(),
            shell,
            cmd_set: false,
            escape: '\\',
        }
    }

    /// A stage `FROM scratch`.
    pub fn scratch(platform: (&str, &str)) -> Self {
        let config = json!({
            "architecture": platform.1,
            "os": platform.0,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": []},
            "history": [],
        });
        let Value::Object(config) = config else {
            unreachable!("a JSON object literal")
        };
        StageState {
            image: None,
            config,
            layers: Vec::new(),
            args: Vec::new(),
            shell: default_shell(),
            cmd_set: false,
            escape: '\\',
        }
    }

    /// The run configuration (`config` in the image config), made if missing.
    pub fn run_config(&mut self) -> &mut Map<String, Value> {
        let slot = self
            .config
            .entry("config")
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        slot.as_object_mut().expect("made an object above")
    }

    fn run_config_ref(&self) -> Option<&Map<String, Value>> {
        self.config.get("config").and_then(Value::as_object)
    }

    /// The image's ENV, in order.
    pub fn env(&self) -> Vec<(String, String)> {
        self.run_config_ref()
            .and_then(|c| c.get("Env"))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|e| match e.split_once('=') {
                        Some((k, v)) => (k.to_string(), v.to_string()),
                        None => (e.to_string(), String::new()),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Sets (or replaces in place) one ENV variable.
    pub fn set_env(&mut self, key: &str, value: &str) {
        let mut env = self.env();
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => env.push((key.to_string(), value.to_string())),
        }
        let list: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        self.run_config().insert("Env".into(), json!(list));
    }

    /// A variable as instructions see it: ENV first, then the declared ARGs.
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.env()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .or_else(|| {
                self.args
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
    }

    /// The ARGs a RUN sees as environment variables: those ENV does not override.
    pub fn run_args(&self) -> Vec<(String, String)> {
        let env = self.env();
        let mut out: Vec<(String, String)> = Vec::new();
        for (k, v) in &self.args {
            if env.iter().any(|(e, _)| e == k) {
                continue;
            }
            out.retain(|(o, _)| o != k);
            out.push((k.clone(), v.clone()));
        }
        out
    }

    /// WORKDIR (`/` when unset).
    pub fn workdir(&self) -> String {
        self.run_config_ref()
            .and_then(|c| c.get("WorkingDir"))
            .and_then(Value::as_str)
            .filter(|w| !w.is_empty())
            .unwrap_or("/")
            .to_string()
    }

    /// Appends a history entry.
    pub fn push_history(&mut self, entry: Value) {
        let history = self
            .config
            .entry("history")
            .or_insert_with(|| Value::Array(Vec::new()));
        match history.as_array_mut() {
            Some(h) => h.push(entry),
            None => *history = Value::Array(vec![entry]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_overrides_args_in_lookup_and_run() {
        let mut s = StageState::scratch(("linux", "amd64"));
        s.args.push(("A".into(), "arg".into()));
        s.args.push(("B".into(), "b".into()));
        s.set_env("A", "env");
        s.set_env("C", "1");
        s.set_env("A", "env2");
        assert_eq!(s.lookup("A").as_deref(), Some("env2"));
        assert_eq!(s.lookup("B").as_deref(), Some("b"));
        assert_eq!(s.run_args(), vec![("B".to_string(), "b".to_string())]);
        assert_eq!(s.run_config()["Env"], json!(["A=env2", "C=1"]));
        assert_eq!(s.workdir(), "/");
    }
}
