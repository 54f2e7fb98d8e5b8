//! `exec CONTAINER COMMAND...`: a process in a running container (`runtime::exec`); the exit
//! status is the process's, 126/127 when it cannot be invoked or is not found, 125 for
//! coracle's errors (a container that does not run among them, with Podman's message).

use std::fs::File;

use anyhow::Context as _;

use crate::cli::exec::ExecArgs;
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::runtime::exec::{self, ExecIo, ExecProcess, TtyEnd};
use crate::runtime::join;
use crate::runtime::security::{self, Security};
use crate::runtime::spec::{self, ContainerSpec, EnvFile, ImageRunConfig};
use crate::runtime::terminal;
use crate::runtime::{ChildExit, SignalRelay};
use crate::store::LockMode;
use crate::store::containers::SPEC;

pub fn run(ctx: &Context, args: &ExecArgs) -> anyhow::Result<ExitStatus> {
    let (name, command) = target(args)?;
    let keys = crate::cli::lifecycle::parse_detach_keys(args.detach_keys.as_deref())?;
    let (view, spec) = container_and_spec(ctx, name.as_deref())?;
    let init = join::find_init(&view.rec)?;
    let flags = init.foreign_namespaces()?;
    let process = ExecProcess {
        args: command,
        env: environment(&spec, args)?,
        cwd: match &args.workdir {
            Some(w) => spec::working_dir(&ImageRunConfig::default(), Some(w))?,
            None => spec.process.cwd.clone(),
        },
        user: args
            .user
            .clone()
            .unwrap_or_else(|| spec.process.user.clone()),
        security: if args.privileged {
            let every = security::all_caps();
            Security {
                bounding: every,
                added: every,
                ..spec.security.clone()
            }
        } else {
            spec.security.clone()
        },
        no_new_privs: init.no_new_privs()?,
        group_add: spec.process.group_add.clone(),
        mapping: spec.mapping.clone(),
        interactive: args.interactive,
    };
    let null = if args.detach {
        Some(File::options().read(true).write(true).open("/dev/null")?)
    } else {
        None
    };
    let relay = SignalRelay::block()?;
    let io = ExecIo {
        detached: null.as_ref(),
        tty: args.tty.then(|| {
            terminal::window_size(std::io::stdout())
                .or_else(|| terminal::window_size(std::io::stdin()))
        }),
        preserve_fds: args.preserve_fds,
    };
    let child = exec::start_with(&init, flags, &process, &io, &relay).map_err(|e| {
        let status = e.exec_status();
        let err = anyhow::Error::new(e);
        match status {
            Some(s) => StatusError::wrap(s, err),
            None => err,
        }
    })?;
    if args.detach {
        // Podman prints the exec session's ID; there are no sessions to name here, so a
        // fresh ID of the same form stands for this one.
        let id = crate::store::containers::new_id().context("making an exec session ID")?;
        out(&format!("{id}\n"))?;
        return Ok(ExitStatus::Success);
    }
    let exit = match child
        .relay_terminal(&relay, args.interactive, &keys)
        .map_err(anyhow::Error::new)?
    {
        TtyEnd::Exited(exit) => exit,
        // The process runs on; its joiner reads its terminal from now on.
        TtyEnd::Detached => return Ok(ExitStatus::Success),
    };
    Ok(match exit {
        ChildExit::Exited(0) => ExitStatus::Success,
        e => ExitStatus::Code(e.status()),
    })
}

/// The container (`None`: the latest) and the command: with `--latest` every argument is
/// the command's.
fn target(args: &ExecArgs) -> anyhow::Result<(Option<String>, Vec<String>)> {
    if args.latest {
        let mut command = vec![args.container.clone()];
        command.extend(args.command.iter().cloned());
        return Ok((None, command));
    }
    if args.command.is_empty() {
        anyhow::bail!("must provide a non-empty command to start an exec session");
    }
    Ok((Some(args.container.clone()), args.command.clone()))
}

/// The container's environment, then `--env-file`, then `-e`.
fn environment(spec: &ContainerSpec, args: &ExecArgs) -> anyhow::Result<spec::Environment> {
    let texts = args
        .env_file
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("reading the env file {}", p.display()))
                .map(|t| (p.display().to_string(), t))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let files: Vec<EnvFile<'_>> = texts
        .iter()
        .map(|(name, text)| EnvFile { name, text })
        .collect();
    // The container's variables as an image's: `spec::environment` keeps their order and
    // values (its defaults are among them already) and applies the files and flags on top.
    let base = ImageRunConfig {
        env: spec
            .process
            .env
            .vars()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        ..ImageRunConfig::default()
    };
    let host = |k: &str| std::env::var(k).ok();
    let hostname = spec.process.env.get("HOSTNAME").unwrap_or(&spec.hostname);
    Ok(spec::environment(
        &base, hostname, &files, &args.env, &host,
    )?)
}

/// The container `name` (`None`: the latest created; its state checked against its monitor)
/// and its `spec.json`. The store lock is released before returning: nothing here may hold
/// it while a process runs.
pub(crate) fn container_and_spec(
    ctx: &Context,
    name: Option<&str>,
) -> anyhow::Result<(ContainerView, ContainerSpec)> {
    let store = ctx.open_store(LockMode::Shared, "exec")?;
    let views = containers::all(&store)?;
    let view = match name {
        Some(name) => containers::find(&views, name)?.clone(),
        None => views
            .first()
            .cloned()
            .context("no containers to run the command in (--latest)")?,
    };
    let path = store.containers().path(view.id()).join(SPEC);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let spec: ContainerSpec = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid container spec", path.display()))?;
    Ok((view, spec))
}
