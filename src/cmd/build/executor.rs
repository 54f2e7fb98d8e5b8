//! The stages and their steps: which stages the target needs, each step's cache key, and the
//! image every step makes (a config change, a RUN container's layer, a COPY/ADD tar).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::args::BuildArgValues;
use super::cache::{self, Key};
use super::output::Printer;
use super::run_step::{self, RunStep};
use super::state::StageState;
use super::{image, onbuild, remote_cache, step};
use crate::build::context::BuildContext;
use crate::build::copy::{self, CopyRequest, Source};
use crate::build::expand;
use crate::build::syntax::{Command, Containerfile, Instruction, Kind, Run, Stage};
use crate::cli::build::BuildArgs;
use crate::cmd::Context;
use crate::oci::digest::Digest;
use crate::oci::manifest::Schema;
use crate::store::{LockMode, lookup};

/// Settings of the whole build.
pub struct Settings<'a> {
    pub args: &'a BuildArgs,
    pub schema: Schema,
    pub timestamp: Option<i64>,
    /// `--label`, `--env`, `--annotation` for the final image.
    pub labels: BTreeMap<String, String>,
    pub env: Vec<(String, String)>,
    pub annotations: BTreeMap<String, String>,
    /// `--secret id=..,src=..`: id → file.
    pub secrets: BTreeMap<String, PathBuf>,
    pub platform: (String, String),
}

/// The build's result.
pub struct Built {
    pub image: Digest,
    /// Images this build wrote that are not the final one (`--layers=false` removes them).
    pub intermediate: Vec<Digest>,
    /// How many layers the target stage's base had (`--squash` keeps them).
    pub base_layers: usize,
}

/// Runs the build of `file` up to its target stage.
pub fn build(
    ctx: &Context,
    settings: &Settings<'_>,
    context: &BuildContext,
    file: &Containerfile,
    out: &Printer,
) -> anyhow::Result<Built> {
    let a = settings.args;
    let mut values = BuildArgValues::new(
        &a.build_args,
        &a.build_arg_files,
        &settings.platform.0,
        &settings.platform.1,
        a.platform.variant.as_deref(),
    )?;
    values.declare_global(&file.global_args)?;
    let bases: Vec<String> = file
        .stages
        .iter()
        .map(|s| {
            let lookup = |n: &str| values.global(n);
            expand::word_with_escape(&s.base, file.escape.0, &lookup)
                .with_context(|| format!("expanding FROM {} (line {})", s.base, s.line))
        })
        .collect::<anyhow::Result<_>>()?;
    let target = match &a.target {
        Some(t) => stage_index(file, t, file.stages.len()).with_context(|| {
            format!("the target {t:?} was not found in the provided Containerfile")
        })?,
        None => file.stages.len() - 1,
    };
    let needed = needed_stages(file, &bases, target)?;
    let mut executor = Executor {
        ctx,
        file,
        current: 0,
        settings,
        context,
        out,
        values,
        built: vec![None; file.stages.len()],
        written: Vec::new(),
        missed: false,
        base_layers: 0,
    };
    let count = needed.len();
    for (n, &i) in needed.iter().enumerate() {
        let prefix = if count > 1 {
            format!("[{}/{count}] ", n + 1)
        } else {
            String::new()
        };
        let last = i == target;
        executor.current = i;
        let state = executor.stage(file, i, &bases[i], &prefix, last)?;
        executor.built[i] = Some(state);
    }
    let final_state = executor.built[target]
        .take()
        .expect("the target stage was built");
    let image = final_state
        .image
        .expect("the final step always writes an image");
    let unused = executor.values.unused();
    if !unused.is_empty() {
        crate::output::eprint(&format!(
            "[Warning] one or more build args were not consumed: [{}]\n",
            unused.join(" ")
        ));
    }
    let intermediate = executor
        .written
        .into_iter()
        .filter(|d| d != &image)
        .collect();
    Ok(Built {
        image,
        intermediate,
        base_layers: executor.base_layers,
    })
}

/// The stage `name` (an `AS` name, case-insensitive, or an index) among the first `before`.
fn stage_index(file: &Containerfile, name: &str, before: usize) -> Option<usize> {
    file.stages[..before]
        .iter()
        .position(|s| {
            s.name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })
        .or_else(|| name.parse::<usize>().ok().filter(|&i| i < before))
}

/// The stages `target` needs (FROM and COPY --from an earlier stage), in file order.
fn needed_stages(
    file: &Containerfile,
    bases: &[String],
    target: usize,
) -> anyhow::Result<Vec<usize>> {
    let mut needed = vec![false; file.stages.len()];
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        let stage = &file.stages[i];
        let mut refs = vec![bases[i].clone()];
        for ins in &stage.instructions {
            if let Kind::Copy(c) | Kind::Add(c) = &ins.kind
                && let Some(from) = &c.from
            {
                refs.push(from.clone());
            }
            if let Kind::Run(r) = &ins.kind {
                refs.extend(r.mounts.iter().filter_map(|m| mount_from(m)));
            }
        }
        for r in refs {
            if let Some(j) = stage_index(file, &r, i) {
                todo.push(j);
            }
        }
    }
    Ok((0..file.stages.len()).filter(|&i| needed[i]).collect())
}

/// The `from=` of a RUN --mount value.
fn mount_from(raw: &str) -> Option<String> {
    raw.split(',')
        .find_map(|kv| kv.strip_prefix("from="))
        .map(String::from)
}

struct Executor<'a> {
    ctx: &'a Context,
    file: &'a Containerfile,
    /// The stage being built.
    current: usize,
    settings: &'a Settings<'a>,
    context: &'a BuildContext,
    out: &'a Printer,
    values: BuildArgValues,
    /// The built stages' final states.
    built: Vec<Option<StageState>>,
    /// Every image a step of this build wrote.
    written: Vec<Digest>,
    /// A step missed the cache: every later step of the stage runs.
    missed: bool,
    /// The layer count of the last built stage's base.
    base_layers: usize,
}

impl Executor<'_> {
    fn use_cache(&self) -> bool {
        self.settings.args.layers && !self.settings.args.no_cache && !self.missed
    }

    fn created(&self) -> DateTime<Utc> {
        match self.settings.timestamp {
            Some(t) => DateTime::from_timestamp(t, 0).unwrap_or_default(),
            None => Utc::now(),
        }
    }

    /// Builds stage `i`; returns its final state.
    fn stage(
        &mut self,
        file: &Containerfile,
        i: usize,
        base: &str,
        prefix: &str,
        last: bool,
    ) -> anyhow::Result<StageState> {
        let stage: &Stage = &file.stages[i];
        let total = stage.instructions.len() + 1;
        self.out
            .step(&format!("{prefix}STEP 1/{total}: {}", stage.source));
        self.missed = false;
        let mut state = self
            .from(file, i, base)
            .with_context(|| format!("building at STEP \"{}\"", stage.source))?;
        // The base's ONBUILD triggers run first, as steps of this stage.
        self.base_layers = state.layers.len();
        let triggers = onbuild::take_triggers(&mut state)?;
        if !triggers.is_empty() {
            // The base without its triggers: what a RUN's container starts from.
            self.without_triggers(&mut state)?;
        }
        let instructions: Vec<Instruction> = triggers
            .into_iter()
            .chain(stage.instructions.iter().cloned())
            .collect();
        let total = instructions.len() + 1;
        for (n, ins) in instructions.iter().enumerate() {
            self.out
                .step(&format!("{prefix}STEP {}/{total}: {}", n + 2, ins.source));
            let final_step = last && n + 1 == instructions.len();
            state = self
                .instruction(state, ins)
                .with_context(|| format!("building at STEP \"{}\"", ins.source))?;
            if !final_step {
                self.out.id_line(state.image.as_ref());
            }
        }
        if last {
            state = self.finish(state, instructions.is_empty())?;
        }
        Ok(state)
    }

    /// The stage's base: an earlier stage, scratch, or an image (pulled by the policy).
    fn from(&mut self, file: &Containerfile, i: usize, base: &str) -> anyhow::Result<StageState> {
        let mut state = self.base(file, i, base)?;
        state.escape = file.escape.0;
        Ok(state)
    }

    fn base(&mut self, file: &Containerfile, i: usize, base: &str) -> anyhow::Result<StageState> {
        if let Some(j) = stage_index(file, base, i) {
            let mut s = self.built[j]
                .clone()
                .with_context(|| format!("stage {base} was not built"))?;
            s.args.clear();
            s.cmd_set = false;
            return Ok(s);
        }
        // `FROM --platform=...` (ARGs before FROM and the predefined platform ARGs expand in
        // it) chooses the base's platform; otherwise `build --platform` and the host's do.
        let platform = match &file.stages[i].platform {
            Some(raw) => {
                let lookup = |n: &str| self.values.global(n);
                let p = expand::word_with_escape(raw, file.escape.0, &lookup)
                    .with_context(|| format!("expanding FROM --platform={raw}"))?;
                Some(p)
            }
            None => None,
        };
        if base.eq_ignore_ascii_case("scratch") {
            let (os, arch) = match platform
                .as_deref()
                .map(|p| p.split('/').collect::<Vec<_>>())
            {
                Some(parts) if parts.len() >= 2 => (parts[0].to_string(), parts[1].to_string()),
                _ => self.settings.platform.clone(),
            };
            return Ok(StageState::scratch((&os, &arch)));
        }
        let id = self.image_id_on(base, platform.as_deref())?;
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let (config, layers) = image::read(&store, &id)?;
        Ok(StageState::on_image(id, config, layers))
    }

    /// The ID of image `name`, pulled when the policy says so.
    fn image_id(&self, name: &str) -> anyhow::Result<Digest> {
        self.image_id_on(name, None)
    }

    /// [`Self::image_id`] for `platform` (`os/arch[/variant]`) instead of the build's.
    fn image_id_on(&self, name: &str, platform: Option<&str>) -> anyhow::Result<Digest> {
        let a = self.settings.args;
        let chosen = match platform {
            Some(p) => crate::cli::pull::PlatformArgs {
                platform: Some(p.to_string()),
                ..Default::default()
            },
            None => a.platform.clone(),
        };
        let pulled = crate::cmd::pull::for_run(
            self.ctx,
            name,
            a.pull,
            &a.registry,
            &chosen,
            self.out.quiet,
        )?;
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let records = store.images().list()?;
        let (rec, _) = lookup::find(&records, pulled.as_deref().unwrap_or(name))?;
        Ok(rec.id.clone())
    }

    /// The cache key inputs every step shares.
    fn key_inputs(&self, state: &StageState, step: &str) -> Value {
        json!({
            "parent": state.image.as_ref().map(|d| d.to_string()),
            "step": step,
            "args": state.args,
            "env": state.env(),
            "shell": state.shell,
            "format": format!("{:?}", self.settings.schema),
            "timestamp": self.settings.timestamp,
        })
    }

    /// The cached image for `inputs`, if the cache may be used and has one.
    fn cached(
        &mut self,
        inputs: &Value,
        parent: Option<&Digest>,
    ) -> anyhow::Result<(Key, Option<StageState>)> {
        let key = Key::of(inputs);
        if !self.use_cache() {
            return Ok((key, None));
        }
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let local = cache::lookup(&store, &key)?;
        drop(store);
        let id = match local {
            Some(id) => {
                remote_cache::push(self.ctx, self.settings.args, &key, &id)?;
                id
            }
            None => match remote_cache::pull(self.ctx, self.settings.args, &key, parent)? {
                Some(id) => {
                    cache::record(self.ctx, &key, &id)?;
                    id
                }
                None => {
                    self.missed = true;
                    return Ok((key, None));
                }
            },
        };
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let (config, layers) = image::read(&store, &id)?;
        self.out.step(&format!("--> Using cache {}", id.hex()));
        Ok((key, Some(StageState::on_image(id, config, layers))))
    }

    /// Takes a hit's image into `next` (the state the step computed, whose ARGs, SHELL and
    /// CMD flag stay).
    fn adopt(next: &mut StageState, hit: StageState) {
        next.image = hit.image;
        next.config = hit.config;
        next.layers = hit.layers;
    }

    fn remember(&mut self, key: &Key, id: &Digest) -> anyhow::Result<()> {
        self.written.push(id.clone());
        if self.settings.args.layers {
            cache::record(self.ctx, key, id)?;
            remote_cache::push(self.ctx, self.settings.args, key, id)?;
        }
        Ok(())
    }

    fn instruction(&mut self, state: StageState, ins: &Instruction) -> anyhow::Result<StageState> {
        match &ins.kind {
            Kind::Run(run) => self.run(state, run),
            Kind::Copy(c) => self.copy(state, c, false),
            Kind::Add(c) => self.copy(state, c, true),
            kind => self.config_step(state, kind),
        }
    }

    fn config_step(&mut self, state: StageState, kind: &Kind) -> anyhow::Result<StageState> {
        let mut next = state.clone();
        let out = self.out;
        let text = step::apply(
            &mut next,
            kind,
            &mut self.values,
            self.settings.schema,
            &mut |w| out.warn(&w),
        )?;
        let created_by = step::nop(&text);
        let inputs = self.key_inputs(&next, &created_by);
        let (key, hit) = self.cached(&inputs, next.image.as_ref())?;
        if let Some(hit) = hit {
            Self::adopt(&mut next, hit);
            return Ok(next);
        }
        let created = self.created();
        next.push_history(json!({
            "created": created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            "created_by": created_by,
            "empty_layer": true,
        }));
        next.config.insert(
            "created".into(),
            json!(created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        );
        let rec = image::write(
            self.ctx,
            &next.config,
            &next.layers,
            state.image.as_ref(),
            self.settings.schema,
            &BTreeMap::new(),
        )?;
        self.remember(&key, &rec.id)?;
        next.image = Some(rec.id);
        Ok(next)
    }

    /// The final image: `--label`, `--env` and `--annotation` applied (or, for a stage with no
    /// instruction, a new image of the base, as Podman makes).
    fn finish(&mut self, mut state: StageState, bare: bool) -> anyhow::Result<StageState> {
        let s = self.settings;
        if !bare && s.labels.is_empty() && s.env.is_empty() && s.annotations.is_empty() {
            return Ok(state);
        }
        let parent = state.image.clone();
        for (k, v) in &s.env {
            state.set_env(k, v);
        }
        for (k, v) in &s.labels {
            let run = state.run_config();
            let labels = run.entry("Labels").or_insert_with(|| json!({}));
            if let Some(l) = labels.as_object_mut() {
                l.insert(k.clone(), json!(v));
            }
        }
        let inputs = json!({
            "final": self.key_inputs(&state, ""),
            "labels": s.labels,
            "env": s.env,
            "annotations": s.annotations,
        });
        let (key, hit) = self.cached(&inputs, parent.as_ref())?;
        if let Some(hit) = hit {
            Self::adopt(&mut state, hit);
            return Ok(state);
        }
        let created = self.created();
        state.config.insert(
            "created".into(),
            json!(created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)),
        );
        let rec = image::write(
            self.ctx,
            &state.config,
            &state.layers,
            parent.as_ref(),
            s.schema,
            &s.annotations,
        )?;
        self.remember(&key, &rec.id)?;
        state.image = Some(rec.id);
        Ok(state)
    }

    fn run(&mut self, state: StageState, run: &Run) -> anyhow::Result<StageState> {
        let mut next = state.clone();
        let script = match &run.command {
            Command::Shell(text) => Some(heredoc_script(text, run)),
            Command::Exec(_) => None,
        };
        let argv: Vec<String> = match (&run.command, &script) {
            (Command::Exec(argv), _) => argv.clone(),
            (Command::Shell(_), Some(s)) => next.shell.iter().cloned().chain([s.clone()]).collect(),
            (Command::Shell(_), None) => unreachable!("a shell command has a script"),
        };
        let shown = match &run.command {
            Command::Exec(argv) => argv.join(" "),
            Command::Shell(_) => argv.join(" "),
        };
        let args = next.run_args();
        let created_by = if args.is_empty() {
            shown.clone()
        } else {
            let pairs: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("|{} {} {shown}", args.len(), pairs.join(" "))
        };
        let network = run
            .network
            .clone()
            .or_else(|| self.settings.args.network.clone());
        let mounts = self.run_mounts(&next, &run.mounts)?;
        // The key has the mount options as written and the image a `from=` names, not the
        // content a bind shows: Podman does not key RUN on it either, so a changed context
        // file under a bind does not miss (`--no-cache` rebuilds).
        let inputs = json!({
            "step": self.key_inputs(&next, &created_by),
            "mounts": run.mounts,
            "mount_from": mounts.from_images,
            "network": network,
        });
        let (key, hit) = self.cached(&inputs, next.image.as_ref())?;
        if let Some(hit) = hit {
            Self::adopt(&mut next, hit);
            return Ok(next);
        }
        let image = self.materialise(&mut next)?;
        let mut env = args;
        env.extend(self.values.proxies());
        let id = run_step::run(
            self.ctx,
            &RunStep {
                image,
                argv,
                env,
                network,
                no_hosts: self.settings.args.no_hosts,
                mounts: mounts.flags,
                mount_targets: mounts.targets,
                created_by,
                created: self.created(),
                timestamp: self.settings.timestamp,
                schema: self.settings.schema,
                quiet: self.out.quiet,
            },
        )?;
        self.remember(&key, &id)?;
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let (config, layers) = image::read(&store, &id)?;
        drop(store);
        next.image = Some(id);
        next.config = config;
        next.layers = layers;
        Ok(next)
    }

    /// An image of `state`'s config (its base's, less the ONBUILD triggers) on its base.
    fn without_triggers(&mut self, state: &mut StageState) -> anyhow::Result<()> {
        let rec = image::write(
            self.ctx,
            &state.config,
            &state.layers,
            state.image.as_ref(),
            self.settings.schema,
            &BTreeMap::new(),
        )?;
        self.written.push(rec.id.clone());
        state.image = Some(rec.id);
        Ok(())
    }

    /// An image for the state (a scratch stage has none before its first step).
    fn materialise(&mut self, state: &mut StageState) -> anyhow::Result<Digest> {
        if let Some(id) = &state.image {
            return Ok(id.clone());
        }
        let rec = image::write(
            self.ctx,
            &state.config,
            &state.layers,
            None,
            self.settings.schema,
            &BTreeMap::new(),
        )?;
        self.written.push(rec.id.clone());
        state.image = Some(rec.id.clone());
        Ok(rec.id)
    }

    /// RUN --mount values as the container's `--mount` flags, their targets and the trees
    /// made for them.
    fn run_mounts(&self, state: &StageState, raw: &[String]) -> anyhow::Result<RunMounts> {
        let mut out = RunMounts::default();
        let (mounts, targets) = (&mut out.flags, &mut out.targets);
        for m in raw {
            let m = step::expand_in(state, m)?;
            let mut kind = "bind".to_string();
            let mut opts: BTreeMap<String, String> = BTreeMap::new();
            let mut flags: Vec<String> = Vec::new();
            for part in m.split(',') {
                match part.split_once('=') {
                    Some(("type", t)) => kind = t.to_string(),
                    Some((k, v)) => {
                        opts.insert(k.to_string(), v.to_string());
                    }
                    None => flags.push(part.to_string()),
                }
            }
            let target = opts
                .get("target")
                .or_else(|| opts.get("dst"))
                .or_else(|| opts.get("destination"))
                .cloned();
            let rw = flags.iter().any(|f| f == "rw" || f == "readwrite")
                || opts.get("rw").is_some_and(|v| v == "true");
            let flag = match kind.as_str() {
                "bind" => {
                    let target = target.with_context(|| format!("RUN --mount={m}: no target"))?;
                    let source = opts
                        .get("source")
                        .or_else(|| opts.get("src"))
                        .map(String::as_str)
                        .unwrap_or("");
                    let src = match opts.get("from") {
                        Some(from) => {
                            let (id, layers) = self
                                .image_of(from)
                                .with_context(|| format!("RUN --mount={m}: from={from}"))?;
                            out.from_images.push(id.map(|d| d.to_string()));
                            let store = self.ctx.open_store(LockMode::Shared, "build")?;
                            let dirs: Vec<PathBuf> =
                                layers.iter().map(|d| store.layers().path(d)).collect();
                            drop(store);
                            let tree = copy::bind::from_layers(&dirs, source)
                                .with_context(|| format!("RUN --mount={m}"))?;
                            let path = tree.path.clone();
                            out.trees.push(tree);
                            path
                        }
                        None => {
                            let src = self.context.root.join(source.trim_start_matches('/'));
                            let src = std::fs::canonicalize(&src)
                                .with_context(|| format!("RUN --mount={m}: {}", src.display()))?;
                            let root = std::fs::canonicalize(&self.context.root)
                                .context("resolving the build context")?;
                            if !src.starts_with(&root) {
                                bail!(
                                    "RUN --mount={m}: forbidden path outside the build context: {source}"
                                );
                            }
                            if rw {
                                let tree = copy::bind::writable_copy(&src)
                                    .with_context(|| format!("RUN --mount={m}"))?;
                                let path = tree.path.clone();
                                out.trees.push(tree);
                                path
                            } else {
                                src
                            }
                        }
                    };
                    targets.push(target.clone());
                    // Writable binds are private copies: what the step writes is dropped.
                    let mode = if rw { "rw" } else { "ro" };
                    format!("type=bind,src={},dst={target},{mode}", src.display())
                }
                "cache" => {
                    let target = target.with_context(|| format!("RUN --mount={m}: no target"))?;
                    let id = opts.get("id").cloned().unwrap_or_else(|| target.clone());
                    let dir = self.cache_mount_dir(&id)?;
                    targets.push(target.clone());
                    format!("type=bind,src={},dst={target}", dir.display())
                }
                "tmpfs" => {
                    let target = target.with_context(|| format!("RUN --mount={m}: no target"))?;
                    targets.push(target.clone());
                    format!("type=tmpfs,dst={target}")
                }
                "secret" => {
                    let id = opts
                        .get("id")
                        .cloned()
                        .with_context(|| format!("RUN --mount={m}: a secret needs id="))?;
                    let target = target.unwrap_or_else(|| format!("/run/secrets/{id}"));
                    let Some(src) = self.settings.secrets.get(&id) else {
                        if opts.get("required").is_some_and(|v| v == "true")
                            || flags.iter().any(|f| f == "required")
                        {
                            bail!(
                                "RUN --mount={m}: no secret with id {id} (build --secret id={id},src=FILE)"
                            );
                        }
                        continue;
                    };
                    targets.push(target.clone());
                    format!("type=bind,src={},dst={target},ro", src.display())
                }
                other => bail!("RUN --mount={m}: unknown mount type {other:?}"),
            };
            mounts.push(flag);
        }
        Ok(out)
    }

    /// The directory of a RUN --mount=type=cache, kept between builds.
    fn cache_mount_dir(&self, id: &str) -> anyhow::Result<PathBuf> {
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let dir = store
            .graphroot()
            .join("build")
            .join("mounts")
            .join(Digest::of_bytes(id.as_bytes()).hex());
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    fn copy(
        &mut self,
        state: StageState,
        c: &crate::build::syntax::Copy,
        add: bool,
    ) -> anyhow::Result<StageState> {
        let mut next = state.clone();
        let mut expanded = c.clone();
        expanded.sources = c
            .sources
            .iter()
            .map(|s| step::expand_in(&next, s))
            .collect::<anyhow::Result<_>>()?;
        expanded.dest = step::expand_in(&next, &c.dest)?;
        expanded.chown = c
            .chown
            .as_ref()
            .map(|v| step::expand_in(&next, v))
            .transpose()?;
        expanded.chmod = c
            .chmod
            .as_ref()
            .map(|v| step::expand_in(&next, v))
            .transpose()?;
        let from_layers = match &expanded.from {
            Some(from) => Some(self.layers_of(from)?),
            None => None,
        };
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let base: Vec<PathBuf> = next.layers.iter().map(|d| store.layers().path(d)).collect();
        let from_paths: Option<Vec<PathBuf>> = from_layers
            .as_ref()
            .map(|l| l.iter().map(|d| store.layers().path(d)).collect());
        drop(store);
        let workdir = next.workdir();
        let request = CopyRequest {
            copy: &expanded,
            add,
            source: match &from_paths {
                Some(p) => Source::Layers(p),
                None => Source::Context(self.context),
            },
            base: &base,
            workdir: &workdir,
            timestamp: self.settings.timestamp,
        };
        let digest = copy::sources_digest(&request)?;
        let keyword = if add { "ADD" } else { "COPY" };
        let dest = if expanded.dest.starts_with('/') {
            expanded.dest.clone()
        } else {
            format!("{}/{}", workdir.trim_end_matches('/'), expanded.dest)
        };
        let created_by = step::nop(&format!("{keyword} file:{} in {dest} ", digest.hex()));
        let inputs = json!({
            "step": self.key_inputs(&next, &created_by),
            "sources": digest.to_string(),
        });
        let (key, hit) = self.cached(&inputs, next.image.as_ref())?;
        if let Some(hit) = hit {
            Self::adopt(&mut next, hit);
            return Ok(next);
        }
        // --link: the layer does not depend on the base (see `copy::plan`), so its key has
        // only what the layer holds, and a layer made on another base is put on this one, as
        // BuildKit rebases a linked step. `--no-cache` and `--layers=false` still rebuild.
        let link_key = expanded.link.then(|| {
            Key::of(&json!({
                "link": digest.to_string(),
                "created_by": created_by,
                "timestamp": self.settings.timestamp,
            }))
        });
        let created = self.created();
        let created_text = created.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        next.push_history(json!({"created": created_text, "created_by": created_by}));
        next.config.insert("created".into(), json!(created_text));
        if let Some(link_key) = &link_key
            && let Some(layer) = self.linked_layer(link_key)?
        {
            let mut layers = next.layers.clone();
            layers.push(layer);
            let rec = image::write(
                self.ctx,
                &next.config,
                &layers,
                state.image.as_ref(),
                self.settings.schema,
                &BTreeMap::new(),
            )?;
            self.out.step(&format!("--> Using cache {}", rec.id.hex()));
            self.remember(&key, &rec.id)?;
            next.image = Some(rec.id.clone());
            next.layers = rec.layers.clone();
            let rootfs = json!({"type": "layers", "diff_ids": next.layers.iter().map(|d| d.to_string()).collect::<Vec<_>>()});
            next.config.insert("rootfs".into(), rootfs);
            return Ok(next);
        }
        let rec = image::write_with_layer(
            self.ctx,
            &next.config,
            &next.layers,
            state.image.as_ref(),
            self.settings.schema,
            &|w| copy::write_layer(&request, w).map_err(std::io::Error::other),
        )?;
        self.remember(&key, &rec.id)?;
        if let Some(link_key) = &link_key
            && self.settings.args.layers
        {
            cache::record(self.ctx, link_key, &rec.id)?;
        }
        next.image = Some(rec.id.clone());
        next.layers = rec.layers.clone();
        let rootfs = json!({"type": "layers", "diff_ids": next.layers.iter().map(|d| d.to_string()).collect::<Vec<_>>()});
        next.config.insert("rootfs".into(), rootfs);
        Ok(next)
    }

    /// The layer an earlier `--link` step with `key` made (the last of the image it
    /// recorded), if the cache may be used and the store still has it. Unlike other steps,
    /// an earlier miss in the stage does not matter: the layer does not depend on the base.
    fn linked_layer(&self, key: &Key) -> anyhow::Result<Option<Digest>> {
        let a = self.settings.args;
        if !a.layers || a.no_cache {
            return Ok(None);
        }
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let Some(id) = cache::lookup(&store, key)? else {
            return Ok(None);
        };
        let (_, layers) = image::read(&store, &id)?;
        Ok(layers
            .last()
            .filter(|d| store.layers().get(d).is_ok())
            .cloned())
    }

    /// The image (`None` for an empty scratch stage) and layers of an earlier stage or an
    /// image.
    fn image_of(&self, from: &str) -> anyhow::Result<(Option<Digest>, Vec<Digest>)> {
        if let Some(j) = stage_index(self.file, from, self.current)
            && let Some(s) = &self.built[j]
        {
            return Ok((s.image.clone(), s.layers.clone()));
        }
        let id = self.image_id(from)?;
        let store = self.ctx.open_store(LockMode::Shared, "build")?;
        let layers = image::read(&store, &id)?.1;
        Ok((Some(id), layers))
    }

    /// The layers of `--from`'s stage or image.
    fn layers_of(&self, from: &str) -> anyhow::Result<Vec<Digest>> {
        Ok(self.image_of(from)?.1)
    }
}

/// A RUN's mounts.
#[derive(Default)]
struct RunMounts {
    /// The container's `--mount` values.
    flags: Vec<String>,
    /// Their targets.
    targets: Vec<String>,
    /// The images `from=` binds name (a cache key input).
    from_images: Vec<Option<String>>,
    /// Trees made for the binds, removed when the step is done.
    trees: Vec<copy::bind::BindTree>,
}

/// The shell script of a RUN with here-documents: the command line followed by each
/// document and its terminator, as a shell reads them; a RUN that is only `<<EOF` runs the
/// document itself.
fn heredoc_script(text: &str, run: &Run) -> String {
    if run.heredocs.is_empty() {
        return text.to_string();
    }
    let strip = |h: &crate::build::syntax::Heredoc| {
        if h.strip_tabs {
            h.content
                .lines()
                .map(|l| format!("{}\n", l.trim_start_matches('\t')))
                .collect()
        } else {
            h.content.clone()
        }
    };
    let only_marker = text
        .trim()
        .trim_start_matches("<<")
        .trim_start_matches('-')
        .trim_matches(['"', '\''])
        == run.heredocs[0].name;
    if only_marker && run.heredocs.len() == 1 {
        return strip(&run.heredocs[0]);
    }
    let mut script = format!("{text}\n");
    for h in &run.heredocs {
        script.push_str(&strip(h));
        script.push_str(&h.name);
        script.push('\n');
    }
    script
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::syntax::Heredoc;

    fn run_with(docs: Vec<Heredoc>) -> Run {
        Run {
            command: Command::Shell(String::new()),
            mounts: Vec::new(),
            network: None,
            security: None,
            heredocs: docs,
        }
    }

    #[test]
    fn heredoc_scripts() {
        let doc = Heredoc {
            name: "EOF".into(),
            content: "echo a\necho b\n".into(),
            expand: true,
            strip_tabs: false,
        };
        let run = run_with(vec![doc.clone()]);
        assert_eq!(heredoc_script("<<EOF", &run), "echo a\necho b\n");
        assert_eq!(
            heredoc_script("cat <<EOF > /f", &run),
            "cat <<EOF > /f\necho a\necho b\nEOF\n"
        );
        assert_eq!(heredoc_script("echo hi", &run_with(Vec::new())), "echo hi");
    }

    #[test]
    fn stages_needed_by_the_target() {
        let file = crate::build::parse::parse(
            "FROM busybox AS a\nFROM busybox AS b\nFROM a AS c\nCOPY --from=b /x /x\nFROM busybox\n",
            "Containerfile",
        )
        .unwrap();
        let bases: Vec<String> = file.stages.iter().map(|s| s.base.clone()).collect();
        assert_eq!(needed_stages(&file, &bases, 2).unwrap(), vec![0, 1, 2]);
        assert_eq!(needed_stages(&file, &bases, 3).unwrap(), vec![3]);
        assert_eq!(stage_index(&file, "B", 3), Some(1));
        assert_eq!(stage_index(&file, "1", 3), Some(1));
        assert_eq!(stage_index(&file, "c", 2), None);
    }
}
