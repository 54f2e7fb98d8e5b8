//! RUN: the command runs in a container of the step's image, made and run by `coracle run`'s
//! own code (an argument vector parsed into [`RunArgs`]), its output streamed to the user;
//! the container's writable layer (vfs: its copied root compared with the image) then
//! becomes the step's layer
//! ([`crate::transfer::container::commit_container`]) and the container is removed, whatever
//! happened.

use std::path::Path;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::Parser;

use crate::cli::run::RunArgs;
use crate::cmd::Context;
use crate::cmd::containers as views;
use crate::error::{ExitStatus, StatusError};
use crate::oci::digest::Digest;
use crate::oci::manifest::Schema;
use crate::runtime::UserMapping;
use crate::store::LockMode;
use crate::store::containers::{self, State};
use crate::transfer::container::{CommitOptions, commit_container};

/// What one RUN needs.
#[derive(Debug)]
pub struct RunStep {
    /// The step's image (the container's).
    pub image: Digest,
    /// The full argument vector (SHELL and command, or the exec form).
    pub argv: Vec<String>,
    /// Build args and proxies the command sees (ENV comes from the image).
    pub env: Vec<(String, String)>,
    pub network: Option<String>,
    pub no_hosts: bool,
    /// `--mount` values for the container.
    pub mounts: Vec<String>,
    /// Where those mounts go: the empty mount points the runtime makes for them are left
    /// out of the layer.
    pub mount_targets: Vec<String>,
    /// The history entry's `created_by`.
    pub created_by: String,
    pub created: DateTime<Utc>,
    /// `--timestamp`: every file's time in the new layer.
    pub timestamp: Option<i64>,
    pub schema: Schema,
    /// `-q`: the command's standard output is not shown.
    pub quiet: bool,
}

#[derive(Parser)]
#[command(no_binary_name = true, disable_help_flag = true)]
struct RunCli {
    #[command(flatten)]
    run: RunArgs,
}

/// Runs the step; returns the new image's ID. A command that fails gives its exit status.
pub fn run(ctx: &Context, step: &RunStep) -> anyhow::Result<Digest> {
    if let Some(sig) = crate::runtime::attach::interrupted() {
        return Err(interrupted(sig));
    }
    let name = format!("coracle-build-{}", &containers::new_id()?[..12]);
    let mut argv: Vec<String> = vec![
        "--name".into(),
        name.clone(),
        "--pull=never".into(),
        // The signal relay's thread would outlive the step, and the next RUN's container
        // cannot be forked from a process with threads.
        "--sig-proxy=false".into(),
        "--entrypoint".into(),
        String::new(),
    ];
    for (k, v) in &step.env {
        argv.extend(["-e".into(), format!("{k}={v}")]);
    }
    if let Some(n) = &step.network {
        argv.extend(["--network".into(), n.clone()]);
    }
    if step.quiet {
        // `-q`: stdout carries the image ID alone; the command's errors still show.
        argv.extend(["--attach".into(), "stderr".into()]);
    }
    if step.no_hosts {
        argv.push("--no-hosts".into());
    }
    for m in &step.mounts {
        argv.extend(["--mount".into(), m.clone()]);
    }
    argv.push(step.image.hex().to_string());
    argv.extend(step.argv.iter().cloned());
    let cli = RunCli::try_parse_from(&argv).context("preparing the RUN container")?;
    crate::failpoint!("build.run.before");
    let outcome = crate::cmd::run::run(ctx, &cli.run).and_then(|status| match status {
        _ if crate::runtime::attach::interrupted().is_some() => Err(interrupted(
            crate::runtime::attach::interrupted().unwrap_or_default(),
        )),
        ExitStatus::Success => commit(ctx, &name, step),
        ExitStatus::Code(n) => Err(StatusError::wrap(
            n,
            anyhow::anyhow!(
                "while running runtime: exit status {n}{}",
                last_output(ctx, &name)
            ),
        )),
    });
    crate::failpoint!("build.run.committed");
    let removed = remove(ctx, &name);
    match (outcome, removed) {
        (Ok(id), Ok(())) => Ok(id),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(rm)) => Err(e.context(format!("also: {rm:#}"))),
    }
}

/// The error of a build a signal interrupted: exit 128 + the signal, as a shell reports a
/// command killed by it. Podman 4.3 differs and is not followed: it exits 1 on SIGINT and 0
/// (success, with no image) on SIGTERM, and leaves its working containers behind.
pub(super) fn interrupted(sig: i32) -> anyhow::Error {
    StatusError::wrap(
        u8::try_from(128 + sig).unwrap_or(u8::MAX),
        anyhow::anyhow!("the build was interrupted by signal {sig}"),
    )
}

/// The stopped container's changes as the step's image.
fn commit(ctx: &Context, name: &str, step: &RunStep) -> anyhow::Result<Digest> {
    let mut store = ctx.open_store(LockMode::Shared, "build")?;
    let record = containers::find(&store.containers().list()?, name)?.clone();
    let dir = store.containers().path(&record.id);
    // The monitor reports the end before it records it.
    let mut record = record;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while record.state == State::Running && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
        record = containers::read(&dir)?;
    }
    let upper = dir.join("upper");
    let lower: Vec<_> = record
        .layers
        .iter()
        .map(|d| store.layers().path(d))
        .collect();
    remove_mount_points(&upper, &lower, &step.mount_targets)?;
    // vfs: the commit leaves the mount points out and sets the times itself.
    if let Some(t) = step.timestamp
        && upper.is_dir()
    {
        clamp_times(&upper, t)?;
    }
    let opts = CommitOptions {
        schema: step.schema,
        created: Some(step.created),
        created_by: Some(step.created_by.clone()),
        parent: Some(step.image.clone()),
        exclude: step.mount_targets.clone(),
        timestamp: step.timestamp,
        ..Default::default()
    };
    crate::failpoint!("build.run.committing");
    let done = commit_container(&mut store, &dir, &record, &opts)
        .with_context(|| format!("committing the RUN container {name}"))?;
    Ok(done.record.id)
}

/// How many of a failing RUN's last output lines its error repeats.
const LAST_LINES: usize = 5;

/// The last lines the RUN container `name` printed (from its log), to follow the error: its
/// output may have scrolled away, or not been shown at all (`-q`). Empty when there are none.
fn last_output(ctx: &Context, name: &str) -> String {
    let log = (|| -> anyhow::Result<Vec<crate::runtime::logs::LogLine>> {
        let store = ctx.open_store(LockMode::Shared, "build")?;
        let record = containers::find(&store.containers().list()?, name)?.clone();
        let spec = crate::cmd::start::read_spec(&store.containers().path(&record.id))?;
        Ok(crate::runtime::logs::read(
            &crate::runtime::monitor::log_path(&spec),
        )?)
    })();
    let Ok(lines) = log else {
        return String::new();
    };
    let tail = &lines[lines.len().saturating_sub(LAST_LINES)..];
    if tail.is_empty() {
        return String::new();
    }
    let text: Vec<String> = tail
        .iter()
        .map(|l| format!("  {}", String::from_utf8_lossy(&l.text)))
        .collect();
    format!("; its last output:\n{}", text.join("\n"))
}

/// Removes the build container `name` (and its anonymous volumes), if it exists.
fn remove(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    let store = ctx.open_store(LockMode::Exclusive, "build")?;
    let all = views::all(&store)?;
    let Some(v) = all.iter().find(|v| v.rec.names.iter().any(|n| n == name)) else {
        return Ok(());
    };
    crate::cmd::rm::remove(&store, &mapping, &[v])
        .with_context(|| format!("removing the RUN container {name}"))?;
    crate::failpoint!("build.run.container-removed");
    crate::cmd::volume::remove_anonymous(&store, &[&v.rec])
}

/// Leaves the empty files and directories the runtime made as mount points (for RUN
/// --mount, secrets) out of the layer, with the parents made for them, when the image had
/// none there.
fn remove_mount_points(
    upper: &Path,
    lower: &[std::path::PathBuf],
    targets: &[String],
) -> anyhow::Result<()> {
    let in_image = |rel: &Path| {
        lower
            .iter()
            .any(|l| std::fs::symlink_metadata(l.join(rel)).is_ok())
    };
    for t in targets {
        let mut rel = Path::new(t.trim_start_matches('/')).to_path_buf();
        while !rel.as_os_str().is_empty() {
            let p = upper.join(&rel);
            let Ok(meta) = std::fs::symlink_metadata(&p) else {
                break;
            };
            if in_image(&rel) {
                break;
            }
            let removed = if meta.is_dir() {
                std::fs::remove_dir(&p).is_ok()
            } else if meta.is_file() && meta.len() == 0 {
                std::fs::remove_file(&p).is_ok()
            } else {
                false
            };
            if !removed {
                break;
            }
            if !rel.pop() {
                break;
            }
        }
    }
    Ok(())
}

/// Sets every file's access and modification time under `upper` to `t` (`--timestamp`).
fn clamp_times(upper: &Path, t: i64) -> anyhow::Result<()> {
    use rustix::fs::{AtFlags, CWD, Timespec, Timestamps, utimensat};
    let stamp = Timestamps {
        last_access: Timespec {
            tv_sec: t,
            tv_nsec: 0,
        },
        last_modification: Timespec {
            tv_sec: t,
            tv_nsec: 0,
        },
    };
    fn walk(dir: &Path, f: &mut dyn FnMut(&Path) -> anyhow::Result<()>) -> anyhow::Result<()> {
        for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_type()?.is_dir() {
                walk(&path, f)?;
            }
            f(&path)?;
        }
        Ok(())
    }
    let mut set = |p: &Path| -> anyhow::Result<()> {
        utimensat(CWD, p, &stamp, AtFlags::SYMLINK_NOFOLLOW)
            .with_context(|| format!("setting the time of {}", p.display()))
    };
    walk(upper, &mut set)?;
    set(upper)
}
