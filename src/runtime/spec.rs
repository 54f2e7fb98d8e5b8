//! What a container runs, from the image's config and the command line, with Docker's and
//! Podman's rules:
//!
//! - the command is `Entrypoint` followed by `Cmd`; arguments after the image replace `Cmd`;
//!   `--entrypoint` replaces `Entrypoint` and drops the image's `Cmd` (a JSON array is taken
//!   as the argument vector, any other string as one program name, `""` as none);
//! - the environment: defaults (`PATH`, `container`, `HOSTNAME`), then the image's `Env`,
//!   then `--env-file` lines, then `-e` (later wins; `-e NAME` and a bare `NAME` line take the
//!   value from coracle's own environment, and are skipped when it has none); `HOME` comes
//!   from the user's `/etc/passwd` entry when nothing set it;
//! - the working directory is `-w`, else the image's `WorkingDir`, else `/`; it must be
//!   absolute;
//! - the user is `-u`, else the image's `User`, else root.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::idmap::UserMapping;
use super::security::Security;

/// The default `PATH` when the image sets none (Podman's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The fields of the image's runtime configuration (`config` in the image JSON) run uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageRunConfig {
    pub env: Vec<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

impl ImageRunConfig {
    /// Reads the fields from the image's `config` object (missing or null fields are empty).
    pub fn from_json(config: &Value) -> ImageRunConfig {
        let strings = |k: &str| -> Vec<String> {
            config
                .get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let string = |k: &str| {
            config
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        ImageRunConfig {
            env: strings("Env"),
            entrypoint: strings("Entrypoint"),
            cmd: strings("Cmd"),
            working_dir: string("WorkingDir"),
            user: string("User"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error("no command or entrypoint provided, and no CMD or ENTRYPOINT from image")]
    NoCommand,
    #[error("invalid environment variable {0:?}: the name is empty")]
    EmptyEnvName(String),
    #[error("{file}, line {line}: invalid environment variable {text:?}")]
    EnvFile {
        file: String,
        line: usize,
        text: String,
    },
    #[error("the working directory {0:?} is not an absolute path")]
    RelativeWorkdir(String),
}

/// `--entrypoint`'s value as an argument vector.
pub fn parse_entrypoint(s: &str) -> Vec<String> {
    if s.is_empty() {
        return Vec::new();
    }
    if s.trim_start().starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(s)
    {
        return v;
    }
    vec![s.to_string()]
}

/// The container's argument vector.
pub fn command_line(
    image: &ImageRunConfig,
    entrypoint: Option<&str>,
    args: &[String],
) -> Result<Vec<String>, SpecError> {
    let (entry, image_cmd) = match entrypoint {
        Some(e) => (parse_entrypoint(e), Vec::new()),
        None => (image.entrypoint.clone(), image.cmd.clone()),
    };
    let cmd = if args.is_empty() {
        image_cmd
    } else {
        args.to_vec()
    };
    let argv: Vec<String> = entry.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(SpecError::NoCommand);
    }
    Ok(argv)
}

/// An ordered environment in which a later value replaces an earlier one in place.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    vars: Vec<(String, String)>,
}

impl Environment {
    pub fn set(&mut self, key: &str, value: &str) {
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.vars.push((key.to_string(), value.to_string())),
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn vars(&self) -> &[(String, String)] {
        &self.vars
    }

    /// Applies one `NAME=value` or `NAME` (from `host`) setting.
    fn apply(
        &mut self,
        setting: &str,
        host: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), SpecError> {
        match setting.split_once('=') {
            Some(("", _)) => return Err(SpecError::EmptyEnvName(setting.to_string())),
            Some((k, v)) => self.set(k, v),
            None if setting.is_empty() => {
                return Err(SpecError::EmptyEnvName(setting.to_string()));
            }
            None => {
                if let Some(v) = host(setting) {
                    self.set(setting, &v);
                }
            }
        }
        Ok(())
    }
}

/// An `--env-file`: its name (for errors) and text. Blank lines and `#` comments are skipped.
pub struct EnvFile<'a> {
    pub name: &'a str,
    pub text: &'a str,
}

/// The container's environment before `HOME` (which needs the resolved user).
pub fn environment(
    image: &ImageRunConfig,
    hostname: &str,
    env_files: &[EnvFile<'_>],
    cli: &[String],
    host: &dyn Fn(&str) -> Option<String>,
) -> Result<Environment, SpecError> {
    let mut env = Environment::default();
    env.set("PATH", DEFAULT_PATH);
    env.set("container", "coracle");
    for e in &image.env {
        // The image's entries are taken as they are (a bare name there means nothing).
        if let Some((k, v)) = e.split_once('=')
            && !k.is_empty()
        {
            env.set(k, v);
        }
    }
    env.set("HOSTNAME", hostname);
    for f in env_files {
        for (i, line) in f.text.lines().enumerate() {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            env.apply(t, host).map_err(|_| SpecError::EnvFile {
                file: f.name.to_string(),
                line: i + 1,
                text: line.to_string(),
            })?;
        }
    }
    for s in cli {
        env.apply(s, host)?;
    }
    Ok(env)
}

/// The working directory: `-w`, the image's, or `/`.
pub fn working_dir(image: &ImageRunConfig, flag: Option<&str>) -> Result<String, SpecError> {
    let dir = match flag {
        Some(d) => d,
        None if !image.working_dir.is_empty() => &image.working_dir,
        None => "/",
    };
    if !dir.starts_with('/') {
        return Err(SpecError::RelativeWorkdir(dir.to_string()));
    }
    Ok(dir.to_string())
}

/// `--network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// A new network namespace with only `lo`, up.
    None,
    /// The host's network namespace.
    Host,
    /// A new network namespace connected by pasta (`runtime::network`).
    Pasta,
    /// A new network namespace connected by slirp4netns.
    Slirp4netns,
}

/// How the container's root file system is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RootFs {
    /// A copy of the layers (`containers/<id>/rootfs`).
    Vfs,
    /// coracle's FUSE overlay over the layers, mounted on `containers/<id>/merged` by the
    /// monitor, writing to `upper` (with `work` for atomic copy-up).
    Overlay { upper: PathBuf, work: PathBuf },
}

/// The process the init execs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProcessSpec {
    pub args: Vec<String>,
    pub env: Environment,
    pub cwd: String,
    /// `user[:group]` (empty: root), resolved by the init with the container's files.
    pub user: String,
    /// `-i`: standard input stays the command's; else the container reads `/dev/null`.
    pub interactive: bool,
    /// `--group-add`: more supplementary groups (names or numbers; `keep-groups`).
    #[serde(default)]
    pub group_add: Vec<String>,
    /// `--init`: coracle's reaping init runs as PID 1 and execs nothing; the command is its
    /// child.
    #[serde(default)]
    pub init: bool,
}

/// Everything the monitor and the init need, built by the command before the monitor forks
/// (it reaches them as memory copied by `fork`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub id: String,
    pub name: String,
    pub hostname: String,
    pub network: Network,
    pub mapping: UserMapping,
    /// The image's layer directories (each holding `diff/`), base layer first.
    pub layers: Vec<PathBuf>,
    /// `containers/<id>/`: the record `container.json`.
    pub dir: PathBuf,
    /// The root file system's directory (`containers/<id>/rootfs` or `.../merged`).
    pub rootfs: PathBuf,
    pub root_kind: RootFs,
    /// Generated files bind-mounted into the container (`hosts`, `hostname`, `resolv.conf`).
    pub userdata: PathBuf,
    pub process: ProcessSpec,
    /// `--rm`: the monitor removes a `vfs` root file system once the container exited.
    pub remove: bool,
    /// Capabilities, masked paths, seccomp.
    pub security: Security,
    /// Volumes, binds, tmpfs, devices, `--read-only`, `--ulimit` (`runtime::volumes`).
    #[serde(default)]
    pub storage: super::volumes::Storage,
    /// Terminal, logs and restart policy.
    #[serde(default)]
    pub lifecycle: super::lifecycle::Lifecycle,
    /// The health check the monitor runs (`--health-*`, the image's `Healthcheck`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::HealthConfig>,
    /// `--sdnotify` (the monitor sends `READY=1` for `healthy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sdnotify: Option<super::sdnotify::SdNotifyMode>,
    /// The network helper, its options and the published ports.
    #[serde(default)]
    pub net: super::network::NetSpec,
    /// The pod whose namespaces the container joins (`--pod`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<crate::pod::PodJoin>,
}

/// The short ID: the first 12 hex digits, as Podman shows it and uses as the hostname.
pub fn short_id(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn image(entry: &[&str], cmd: &[&str]) -> ImageRunConfig {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect();
        ImageRunConfig {
            entrypoint: v(entry),
            cmd: v(cmd),
            ..Default::default()
        }
    }

    fn s(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn entrypoint_and_cmd_as_docker() {
        type Case<'a> = (
            &'a [&'a str],
            &'a [&'a str],
            Option<&'a str>,
            &'a [&'a str],
            &'a [&'a str],
        );
        let cases: &[Case<'_>] = &[
            // (image entrypoint, image cmd, --entrypoint, args, argv)
            (&[], &["sh"], None, &[], &["sh"]),
            (&[], &["sh"], None, &["echo", "hi"], &["echo", "hi"]),
            (&["/init"], &["--serve"], None, &[], &["/init", "--serve"]),
            (&["/init"], &["--serve"], None, &["-x"], &["/init", "-x"]),
            (&["/init"], &["--serve"], Some("/bin/sh"), &[], &["/bin/sh"]),
            (
                &["/init"],
                &["--serve"],
                Some("sh"),
                &["-c", "x"],
                &["sh", "-c", "x"],
            ),
            (&["/init"], &["sh"], Some(""), &["ls"], &["ls"]),
            (
                &[],
                &[],
                Some(r#"["sh","-c"]"#),
                &["exit 3"],
                &["sh", "-c", "exit 3"],
            ),
            (&[], &[], Some("a b"), &[], &["a b"]),
        ];
        for (entry, cmd, flag, args, want) in cases {
            let got = command_line(&image(entry, cmd), *flag, &s(args)).unwrap();
            assert_eq!(got, s(want), "{entry:?} {cmd:?} {flag:?} {args:?}");
        }
        assert_eq!(
            command_line(&image(&[], &[]), None, &[]),
            Err(SpecError::NoCommand)
        );
        assert_eq!(
            command_line(&image(&["/init"], &[]), Some(""), &[]),
            Err(SpecError::NoCommand)
        );
    }

    #[test]
    fn environment_layers_in_order() {
        let img = ImageRunConfig {
            env: s(&["PATH=/img/bin", "A=image", "B=image", "BROKEN"]),
            ..Default::default()
        };
        let host = |k: &str| (k == "FROM_HOST").then(|| "h".to_string());
        let file = EnvFile {
            name: "f.env",
            text: "# comment\n\nB=file\nC=file=with=equals\nFROM_HOST\nUNSET_ON_HOST\n",
        };
        let env = environment(
            &img,
            "abc",
            &[file],
            &s(&["C=cli", "D=", "FROM_HOST"]),
            &host,
        )
        .unwrap();
        let want = [
            ("PATH", "/img/bin"),
            ("container", "coracle"),
            ("A", "image"),
            ("B", "file"),
            ("HOSTNAME", "abc"),
            ("C", "cli"),
            ("FROM_HOST", "h"),
            ("D", ""),
        ];
        let want: Vec<(String, String)> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(env.vars(), want.as_slice());
        assert_eq!(
            environment(&img, "h", &[], &s(&["=x"]), &host),
            Err(SpecError::EmptyEnvName("=x".into()))
        );
        let bad = EnvFile {
            name: "bad.env",
            text: "OK=1\n=oops\n",
        };
        assert!(matches!(
            environment(&img, "h", &[bad], &[], &host),
            Err(SpecError::EnvFile { line: 2, .. })
        ));
    }

    #[test]
    fn working_dirs() {
        let mut img = ImageRunConfig::default();
        assert_eq!(working_dir(&img, None).unwrap(), "/");
        img.working_dir = "/srv".into();
        assert_eq!(working_dir(&img, None).unwrap(), "/srv");
        assert_eq!(working_dir(&img, Some("/tmp")).unwrap(), "/tmp");
        assert!(working_dir(&img, Some("tmp")).is_err());
    }

    #[test]
    fn image_config_fields() {
        let c = ImageRunConfig::from_json(&json!({
            "Env": ["A=1"], "Cmd": ["sh"], "Entrypoint": null, "WorkingDir": "/w", "User": "web"
        }));
        assert_eq!(c.env, s(&["A=1"]));
        assert_eq!(c.cmd, s(&["sh"]));
        assert!(c.entrypoint.is_empty());
        assert_eq!(c.working_dir, "/w");
        assert_eq!(c.user, "web");
        assert_eq!(
            ImageRunConfig::from_json(&Value::Null),
            ImageRunConfig::default()
        );
    }
}
