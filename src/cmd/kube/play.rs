//! `kube play FILE|-` and `kube down FILE|-`: the plan of `crate::kube::play` carried out with
//! coracle's own `pod create` and `create`, each parsed from its command line by clap.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Parser as _;

use crate::cli::kube::KubePlayArgs;
use crate::cli::pod::{PodCommand, PodCreateArgs};
use crate::cli::run::RunArgs;
use crate::cli::{Cli, Command};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::kube::play::{self, PodPlan};
use crate::pod::record::{self, Pods};
use crate::runtime::UserMapping;
use crate::store::LockMode;

fn read(file: &str) -> anyhow::Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the YAML from standard input")?;
        return Ok(s);
    }
    std::fs::read_to_string(file).with_context(|| format!("reading {file}"))
}

/// The pods of the YAML in `file`, planned.
fn plans(ctx: &Context, file: &str) -> anyhow::Result<(play::Objects, Vec<PodPlan>)> {
    let text = read(file)?;
    let objects = play::parse(&text).with_context(|| format!("playing {file}"))?;
    let plans =
        play::plan(&objects, &files_root(ctx)?).with_context(|| format!("playing {file}"))?;
    Ok((objects, plans))
}

/// Where a pod's ConfigMap, Secret and emptyDir volumes live.
fn files_root(ctx: &Context) -> anyhow::Result<PathBuf> {
    Ok(ctx.paths()?.graphroot.join("kube"))
}

pub(super) fn parse_line(line: &[String]) -> anyhow::Result<Command> {
    let argv = std::iter::once("coracle".to_string()).chain(line.iter().cloned());
    let cli = Cli::try_parse_from(argv)
        .map_err(|e| anyhow::anyhow!("{}", e.render().to_string().trim_end()))
        .with_context(|| format!("the command line `coracle {}`", line.join(" ")))?;
    cli.command
        .ok_or_else(|| anyhow::anyhow!("no command in `coracle {}`", line.join(" ")))
}

fn pod_create_args(line: &[String]) -> anyhow::Result<PodCreateArgs> {
    match parse_line(line)? {
        Command::Pod {
            command: PodCommand::Create(a),
        } => Ok(*a),
        _ => bail!("`coracle {}` is not a pod create", line.join(" ")),
    }
}

fn create_args(line: &[String]) -> anyhow::Result<RunArgs> {
    match parse_line(line)? {
        Command::Create(a) => Ok(*a),
        _ => bail!("`coracle {}` is not a create", line.join(" ")),
    }
}

pub fn play(ctx: &Context, args: &KubePlayArgs) -> anyhow::Result<ExitStatus> {
    if args.down {
        return down(ctx, &args.file, false);
    }
    let (objects, plans) = plans(ctx, &args.file)?;
    // Every command line is checked before anything is created.
    for p in &plans {
        pod_create_args(&p.pod_create)?;
        for c in p.init.iter().chain(&p.containers) {
            create_args(c)?;
        }
    }
    for p in &plans {
        let existing = Pods::new(&ctx.paths()?.graphroot).list()?;
        if record::find_in(&existing, &p.name).is_ok() {
            if !args.replace {
                bail!(
                    "pod {} already exists: use --replace, or `kube down` first",
                    p.name
                );
            }
            remove(ctx, &p.name)?;
        }
    }
    super::build::build_images(ctx, args, &objects)?;
    for p in &plans {
        if let Err(e) = play_pod(ctx, p) {
            // A pod half played (an init container failed, an image is missing) goes again.
            if let Err(cleanup) = remove(ctx, &p.name) {
                crate::output::eprint(&format!(
                    "WARN: removing pod {} after the failure: {cleanup:#}\n",
                    p.name
                ));
            }
            return Err(e.context(format!("playing pod {}", p.name)));
        }
    }
    Ok(ExitStatus::Success)
}

fn play_pod(ctx: &Context, p: &PodPlan) -> anyhow::Result<()> {
    for (path, kind) in &p.host_paths {
        host_path(path, kind)?;
    }
    for (dir, files) in &p.dirs {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, bytes) in files {
            if name.contains('/') || name == ".." || name == "." {
                bail!("the key {name:?} cannot be a file name");
            }
            let f = dir.join(name);
            std::fs::write(&f, bytes).with_context(|| format!("writing {}", f.display()))?;
        }
    }
    let pod = crate::cmd::pod::create(ctx, &pod_create_args(&p.pod_create)?)?;
    let pod_dir = Pods::new(&ctx.paths()?.graphroot).path(&pod.id);
    crate::pod::infra::ensure(&pod_dir)?;
    for line in &p.init {
        run_init(ctx, line)?;
    }
    let mut ids = Vec::new();
    for line in &p.containers {
        let created = crate::cmd::create::create(ctx, &create_args(line)?, None)?;
        ids.push(created.spec.id.clone());
    }
    let view = crate::cmd::pod::all(ctx)?
        .into_iter()
        .find(|v| v.rec.id == pod.id)
        .context("the pod just created is gone")?;
    crate::cmd::pod::start_pod(ctx, &view)?;
    out(&format!("Pod:\n{}\nContainer:\n", pod.id))?;
    for id in ids {
        out(&format!("{id}\n"))?;
    }
    out("\n")?;
    Ok(())
}

/// Runs an init container to its end; it must succeed, and is removed then.
fn run_init(ctx: &Context, line: &[String]) -> anyhow::Result<()> {
    let created = crate::cmd::create::create(ctx, &create_args(line)?, None)?;
    let id = created.spec.id.clone();
    let name = created.spec.name.clone();
    let dir = created.store.containers().path(&id);
    drop(created);
    crate::cmd::start::start_detached(ctx, &id)
        .with_context(|| format!("starting init container {name}"))?;
    let code = crate::cmd::wait::wait_exit(&dir)?;
    if code != Some(0) {
        bail!(
            "init container {name} failed (exit code {})",
            code.map_or("unknown".into(), |c| c.to_string())
        );
    }
    let store = ctx.open_store(LockMode::Exclusive, "kube play")?;
    let views = crate::cmd::containers::all(&store)?;
    let view = crate::cmd::containers::find(&views, &id)?;
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    crate::cmd::rm::remove(&store, &mapping, &[view])?;
    Ok(())
}

/// A hostPath volume's path, checked or created as its type says.
fn host_path(path: &Path, kind: &str) -> anyhow::Result<()> {
    let shown = path.display();
    match kind {
        "DirectoryOrCreate" => {
            std::fs::create_dir_all(path).with_context(|| format!("creating {shown}"))?
        }
        "FileOrCreate" if !path.exists() => {
            std::fs::write(path, b"").with_context(|| format!("creating {shown}"))?
        }
        "FileOrCreate" => {}
        "Directory" if !path.is_dir() => bail!("hostPath {shown} is not a directory"),
        "File" if !path.is_file() => bail!("hostPath {shown} is not a file"),
        _ if !path.exists() => bail!("hostPath {shown} does not exist"),
        _ => {}
    }
    Ok(())
}

/// Removes pod `name` (its containers killed) and its ConfigMap, Secret and emptyDir files.
fn remove(ctx: &Context, name: &str) -> anyhow::Result<Option<String>> {
    let Some(view) = crate::cmd::pod::all(ctx)?
        .into_iter()
        .find(|v| v.rec.name == name)
    else {
        return Ok(None);
    };
    crate::cmd::pod::remove_pod(ctx, &view, true)?;
    let dir = files_root(ctx)?.join(name);
    if dir.exists() {
        let mapping =
            UserMapping::current().context("computing the user namespace's id mapping")?;
        crate::cmd::rm::delete_dirs(&mapping, &[dir])?;
    }
    Ok(Some(view.rec.id))
}

/// `kube down` (and `kube play --down`): removes the YAML's pods; with `force` the volumes
/// of its PersistentVolumeClaims too.
pub fn down(ctx: &Context, file: &str, force: bool) -> anyhow::Result<ExitStatus> {
    let (objects, plans) = plans(ctx, file)?;
    let mut removed = Vec::new();
    for p in &plans {
        if let Some(id) = remove(ctx, &p.name)? {
            removed.push(id);
        }
    }
    out("Pods stopped:\n")?;
    for id in &removed {
        out(&format!("{id}\n"))?;
    }
    out("Pods removed:\n")?;
    for id in &removed {
        out(&format!("{id}\n"))?;
    }
    if force {
        out("Volumes removed:\n")?;
        for c in &objects.claims {
            let Some(name) = &c.metadata.name else {
                continue;
            };
            let line = ["volume", "rm", "--force", name.as_str()].map(String::from);
            if let Command::Volume { command } = parse_line(&line)? {
                crate::cmd::volume::run(ctx, command)?;
            }
        }
    }
    Ok(ExitStatus::Success)
}
