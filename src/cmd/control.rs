//! What the container control commands share: choosing containers from arguments
//! (`--all`, `--latest`, `--cidfile`, names and IDs), collecting per-container errors as
//! Podman reports them, and the `run`/`create` side (`--cidfile`, `--replace`,
//! `--stop-signal`, `--stop-timeout`, refused resource limits).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::cli::control::RunControlArgs;
use crate::cmd::Context;
use crate::cmd::container_filter::Filters;
use crate::cmd::containers::{self, ContainerView};
use crate::runtime::cgroups::CgroupSupport;
use crate::runtime::control::ControlSettings;
use crate::runtime::signals;
use crate::store::LockMode;
use crate::store::containers::{Containers, LookupError};

/// A container chosen by an argument: what the user typed (printed back, as Podman does)
/// and the container (`None`: not found, with the lookup error).
pub struct Target {
    pub input: String,
    pub found: Result<ContainerView, LookupError>,
}

/// How the containers are named on the command line.
pub struct Selection<'a> {
    /// `--filter`s: like `--all`, the containers that pass them (and `keep`).
    pub filters: &'a [String],
    pub all: bool,
    pub latest: bool,
    pub cidfiles: &'a [PathBuf],
    pub names: &'a [String],
}

impl Selection<'_> {
    /// Resolves the selection against every container (read under a shared store lock, then
    /// released: nothing here may hold the store across a running container). With `all`,
    /// `keep` filters the containers (e.g. only running ones). Also returns where the
    /// container directories are.
    pub fn resolve(
        &self,
        ctx: &Context,
        purpose: &str,
        keep: impl Fn(&ContainerView) -> bool,
    ) -> anyhow::Result<(Vec<Target>, Containers)> {
        let explicit = !self.names.is_empty() || !self.cidfiles.is_empty();
        let filtered = !self.filters.is_empty();
        if (self.all || self.latest || filtered) && explicit {
            bail!("--all, --latest, --filter and containers cannot be used together");
        }
        if !self.all && !self.latest && !filtered && !explicit {
            bail!("you must provide at least one container name or ID");
        }
        let filters = Filters::parse(self.filters)?;
        let store = ctx.open_store(LockMode::Shared, purpose)?;
        let views = filters.apply(&store, containers::all(&store)?)?;
        let handle = store.containers().clone();
        drop(store);
        let with = |t: Vec<Target>| Ok((t, handle.clone()));
        if self.all || filtered {
            return with(
                views
                    .into_iter()
                    .filter(|v| keep(v))
                    .map(|v| Target {
                        input: v.id().to_string(),
                        found: Ok(v),
                    })
                    .collect(),
            );
        }
        if self.latest {
            return with(
                views
                    .into_iter()
                    .take(1)
                    .map(|v| Target {
                        input: v.id().to_string(),
                        found: Ok(v),
                    })
                    .collect(),
            );
        }
        let mut inputs: Vec<String> = Vec::new();
        for f in self.cidfiles {
            let text = std::fs::read_to_string(f)
                .with_context(|| format!("reading CIDFile {}", f.display()))?;
            inputs.push(text.trim().to_string());
        }
        inputs.extend(self.names.iter().cloned());
        with(
            inputs
                .into_iter()
                .map(|input| {
                    let found = containers::find(&views, &input).cloned();
                    Target { input, found }
                })
                .collect(),
        )
    }
}

/// Errors of a command acting on several containers: each is reported, the others still
/// run; the first decides the exit status.
#[derive(Default)]
pub struct Failures(Vec<anyhow::Error>);

impl Failures {
    pub fn push(&mut self, e: anyhow::Error) {
        self.0.push(e);
    }

    /// `Ok` when nothing failed; else every error but the last printed, the last returned
    /// (so `main` prints it and exits with its status).
    pub fn finish(mut self) -> anyhow::Result<()> {
        let Some(last) = self.0.pop() else {
            return Ok(());
        };
        for e in &self.0 {
            crate::output::eprint(&format!("Error: {e:#}\n"));
        }
        Err(last)
    }
}

/// Podman's error for a container that must be running and is not.
pub fn state_improper(what: &str) -> anyhow::Error {
    anyhow::anyhow!("{what}: container state improper")
}

/// `--interval`: a Go duration (`250ms`, `1s`, `1m30s`) or a number of milliseconds.
pub fn parse_interval(text: &str) -> anyhow::Result<std::time::Duration> {
    use std::time::Duration;
    if let Ok(ms) = text.parse::<u64>() {
        return Ok(Duration::from_millis(ms));
    }
    let bad = || anyhow::anyhow!("invalid interval {text:?}: use a duration such as 250ms or 1s");
    let mut total = Duration::ZERO;
    let mut rest = text;
    if rest.is_empty() {
        return Err(bad());
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let value: f64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += Duration::from_secs_f64(value * scale);
    }
    Ok(total)
}

/// The resource limit flags given (each refused).
fn limits_given(a: &RunControlArgs) -> Vec<(&'static str, Option<&'static str>)> {
    let flags: [(&Option<String>, &'static str, Option<&'static str>); 9] = [
        (&a.memory, "--memory", Some("memory")),
        (
            &a.memory_reservation,
            "--memory-reservation",
            Some("memory"),
        ),
        (&a.memory_swap, "--memory-swap", Some("memory")),
        (&a.cpus, "--cpus", Some("cpu")),
        (&a.cpu_shares, "--cpu-shares", Some("cpu")),
        (&a.cpu_period, "--cpu-period", Some("cpu")),
        (&a.cpu_quota, "--cpu-quota", Some("cpu")),
        (&a.cpuset_cpus, "--cpuset-cpus", Some("cpuset")),
        (&a.pids_limit, "--pids-limit", Some("pids")),
    ];
    flags
        .into_iter()
        .filter(|(v, _, _)| v.is_some())
        .map(|(_, flag, c)| (flag, c))
        .collect()
}

/// The refusal of a cgroup feature (a limit, `pause`): what it needs and why it is not here.
pub fn cgroup_refusal(what: &str, controller: Option<&str>) -> anyhow::Error {
    anyhow::anyhow!(
        "{what} needs a cgroup v2 delegated to this user, and there is none: {}",
        CgroupSupport::detect().reason(controller)
    )
}

/// The `--cidfile` being written: created (exclusively) before the container, filled with
/// its ID once it exists, removed again if creation fails.
pub struct CidFile {
    path: PathBuf,
    file: Option<File>,
}

impl CidFile {
    fn create(path: &Path) -> anyhow::Result<CidFile> {
        match OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(file) => Ok(CidFile {
                path: path.to_path_buf(),
                file: Some(file),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
                "container id file exists. Ensure another container is not using it or delete {}",
                path.display()
            ),
            Err(e) => Err(e).with_context(|| format!("opening CIDFile {}", path.display())),
        }
    }
}

impl Drop for CidFile {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// `run`/`create`'s control flags, checked before anything is created.
pub struct CreateControl {
    cidfile: Option<CidFile>,
    stop_signal: Option<i32>,
    stop_timeout: Option<u32>,
}

impl CreateControl {
    /// Refuses resource limits, parses `--stop-signal`, opens `--cidfile` and, with
    /// `--replace`, removes the container named `name` (forcibly). Call before the store is
    /// locked for the creation.
    pub fn before_create(
        ctx: &Context,
        args: &RunControlArgs,
        name: Option<&str>,
    ) -> anyhow::Result<CreateControl> {
        if let Some((flag, controller)) = limits_given(args).first() {
            return Err(cgroup_refusal(
                &format!("{flag}: a resource limit"),
                *controller,
            ));
        }
        let stop_signal = args
            .stop_signal
            .as_deref()
            .map(signals::parse)
            .transpose()?;
        if args.replace && name.is_none() {
            bail!("cannot replace container without --name being set");
        }
        let cidfile = args.cidfile.as_deref().map(CidFile::create).transpose()?;
        if args.replace
            && let Some(name) = name
        {
            crate::cmd::rm::replace(ctx, name)
                .with_context(|| format!("replacing container {name:?}"))?;
        }
        Ok(CreateControl {
            cidfile,
            stop_signal,
            stop_timeout: args.stop_timeout,
        })
    }

    /// What the record keeps; `image_config` is the image's `config` object (`StopSignal`).
    pub fn settings(&self, image_config: &Value) -> anyhow::Result<ControlSettings> {
        let image_signal = match image_config.get("StopSignal").and_then(Value::as_str) {
            Some(s) if !s.is_empty() => {
                Some(signals::parse(s).with_context(|| format!("the image's StopSignal {s:?}"))?)
            }
            _ => None,
        };
        Ok(ControlSettings {
            stop_signal: self.stop_signal.or(image_signal),
            stop_timeout: self.stop_timeout,
            cidfile: self
                .cidfile
                .as_ref()
                .map(|c| std::path::absolute(&c.path).unwrap_or_else(|_| c.path.clone())),
        })
    }

    /// The container `id` exists: its ID goes into the `--cidfile`.
    pub fn created(mut self, id: &str) -> anyhow::Result<()> {
        if let Some(cid) = self.cidfile.as_mut()
            && let Some(mut file) = cid.file.take()
        {
            let written = file.write_all(id.as_bytes()).and_then(|()| file.sync_all());
            if let Err(e) = written {
                let _ = std::fs::remove_file(&cid.path);
                return Err(e).with_context(|| format!("writing CIDFile {}", cid.path.display()));
            }
        }
        Ok(())
    }
}

/// Removes a container's `--cidfile` with the container (a file it no longer names).
pub fn remove_cidfile(settings: &ControlSettings, id: &str) {
    if let Some(p) = &settings.cidfile
        && std::fs::read_to_string(p).is_ok_and(|t| t.trim() == id)
    {
        let _ = std::fs::remove_file(p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_interval("100").unwrap(), Duration::from_millis(100));
        assert_eq!(parse_interval("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_interval("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_interval("1.5s").unwrap(), Duration::from_millis(1500));
        for bad in ["", "s", "1x", "ms5"] {
            assert!(parse_interval(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stop_signal_from_flag_else_image() {
        let c = CreateControl {
            cidfile: None,
            stop_signal: None,
            stop_timeout: Some(3),
        };
        let s = c
            .settings(&serde_json::json!({"StopSignal": "SIGQUIT"}))
            .unwrap();
        assert_eq!((s.stop_signal, s.stop_timeout), (Some(3), Some(3)));
        assert!(
            c.settings(&serde_json::json!({"StopSignal": "BOGUS"}))
                .is_err()
        );
        let c = CreateControl {
            stop_signal: Some(1),
            ..c
        };
        let s = c
            .settings(&serde_json::json!({"StopSignal": "SIGQUIT"}))
            .unwrap();
        assert_eq!(s.stop_signal, Some(1));
    }

    #[test]
    fn cidfile_is_exclusive_and_removed_on_failure() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("cid");
        let c = CidFile::create(&p).unwrap();
        let err = CidFile::create(&p).err().unwrap().to_string();
        assert!(err.starts_with("container id file exists"), "{err}");
        drop(c);
        assert!(!p.exists());
    }
}
