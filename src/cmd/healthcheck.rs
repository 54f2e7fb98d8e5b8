//! `healthcheck run CONTAINER` (exit 0 healthy, 1 unhealthy or still starting, 125 for
//! errors, Podman's messages), the hidden `healthcheck-probe DIR` that runs one check in a
//! container (the monitor's and `healthcheck run`'s), and what `create` takes from the
//! `--health-*` and `--sdnotify` flags.

use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

use crate::cli::health::{HealthArgs, HealthProbeArgs, HealthcheckCommand, HealthcheckRunArgs};
use crate::cli::run::RunArgs;
use crate::cmd::{Context, out};
use crate::error::{ExitStatus, StatusError};
use crate::runtime::exec::{self, ExecProcess};
use crate::runtime::health::probe::Probe;
use crate::runtime::health::schedule::{self, Subject};
use crate::runtime::health::{self, HealthConfig, HealthFlags, OnFailure};
use crate::runtime::join;
use crate::runtime::sdnotify::{CONTAINER_SOCKET, SdNotifyMode};
use crate::runtime::spec::{ContainerSpec, short_id};
use crate::runtime::volumes::{Mount, MountFlags, MountKind};
use crate::runtime::{ChildExit, SignalRelay};
use crate::store::containers::{SPEC, State};

pub fn run(ctx: &Context, command: &HealthcheckCommand) -> anyhow::Result<ExitStatus> {
    match command {
        HealthcheckCommand::Run(a) => run_check(ctx, a),
    }
}

fn run_check(ctx: &Context, args: &HealthcheckRunArgs) -> anyhow::Result<ExitStatus> {
    let (view, spec) = crate::cmd::exec::container_and_spec(ctx, Some(&args.container))?;
    let Some(config) = spec.health.clone() else {
        anyhow::bail!("container {} has no defined healthcheck", view.id());
    };
    if view.state != State::Running {
        anyhow::bail!("container {} is not running", view.id());
    }
    let graphroot = ctx.paths()?.graphroot;
    let subject = Subject::read(&spec.dir, &graphroot);
    // Until its startup check passed, a container's check is that one (Podman's).
    if let Some(startup) = config
        .startup
        .as_ref()
        .filter(|_| health::in_startup(&spec.dir, &config))
    {
        let entry = Probe::spawn(&spec.dir, startup.timeout(), true)
            .and_then(Probe::wait)
            .with_context(|| {
                format!(
                    "running the startup health check of {}",
                    short_id(view.id())
                )
            })?;
        let (state, outcome) = health::record_startup(&spec.dir, &config, entry)?;
        if let Some(s) = &subject {
            s.health_status(&state.status);
        }
        if outcome == health::StartupOutcome::Restart {
            act(&spec.dir, &view.rec, OnFailure::Restart)?;
        }
        return finish_check(&state);
    }
    let entry = Probe::spawn(&spec.dir, config.timeout(), false)
        .and_then(Probe::wait)
        .with_context(|| format!("running the health check of {}", short_id(view.id())))?;
    let since = view
        .rec
        .started_at
        .and_then(|t| (chrono::Utc::now() - t).to_std().ok())
        .unwrap_or_default();
    let (state, turned_unhealthy) =
        schedule::apply(&spec.dir, &config, entry, since, subject.as_ref())?;
    if turned_unhealthy {
        act(&spec.dir, &view.rec, config.on_failure)?;
    }
    finish_check(&state)
}

/// `healthcheck run`'s status: 0 when healthy, else the status printed and 1.
fn finish_check(state: &health::HealthState) -> anyhow::Result<ExitStatus> {
    if state.status == health::HEALTHY {
        return Ok(ExitStatus::Success);
    }
    out(&format!("{}\n", state.status))?;
    Ok(ExitStatus::Code(1))
}

/// `--health-on-failure` from this command (the monitor acts on its own checks).
fn act(
    dir: &Path,
    rec: &crate::store::containers::ContainerRecord,
    action: OnFailure,
) -> anyhow::Result<()> {
    use crate::runtime::control;
    match action {
        OnFailure::None => {}
        OnFailure::Kill => {
            control::kill(rec, libc::SIGKILL)?;
        }
        OnFailure::Restart => {
            schedule::request_restart(dir);
            control::kill(rec, libc::SIGKILL)?;
        }
        OnFailure::Stop => {
            control::stop(dir, None)?;
        }
    }
    Ok(())
}

/// The probe: the check's command in the container of `dir`, with this process's streams;
/// its status is the command's (126/127 when it cannot be run, 125 for other errors).
pub fn probe(args: &HealthProbeArgs) -> anyhow::Result<ExitStatus> {
    let rec = crate::store::containers::read(&args.dir)?;
    let path = args.dir.join(SPEC);
    let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    let spec: ContainerSpec = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a valid container spec", path.display()))?;
    let Some(config) = &spec.health else {
        anyhow::bail!("container {} has no defined healthcheck", rec.id);
    };
    let init = join::find_init(&rec)?;
    let flags = init.foreign_namespaces()?;
    let argv = match (&config.startup, args.startup) {
        (Some(startup), true) => startup.argv(),
        (None, true) => anyhow::bail!("container {} has no startup healthcheck", rec.id),
        _ => config.argv(),
    };
    let process = ExecProcess {
        args: argv,
        env: spec.process.env.clone(),
        cwd: spec.process.cwd.clone(),
        user: spec.process.user.clone(),
        security: spec.security.clone(),
        no_new_privs: init.no_new_privs()?,
        group_add: spec.process.group_add.clone(),
        mapping: spec.mapping.clone(),
        interactive: false,
    };
    let relay = SignalRelay::block()?;
    let child = exec::start(&init, flags, &process, None, &relay).map_err(|e| {
        let status = e.exec_status();
        let err = anyhow::Error::new(e);
        match status {
            Some(s) => StatusError::wrap(s, err),
            None => err,
        }
    })?;
    Ok(match child.wait(&relay)? {
        ChildExit::Exited(0) => ExitStatus::Success,
        e => ExitStatus::Code(e.status()),
    })
}

/// The container's health check from `run`/`create`'s flags over the image's `config`;
/// `--sdnotify=healthy` needs one (Podman's message).
pub(crate) fn for_create(args: &RunArgs, image: &Value) -> anyhow::Result<Option<HealthConfig>> {
    let h: &HealthArgs = &args.health;
    let config = health::resolve(
        image,
        &HealthFlags {
            cmd: h.health_cmd.as_deref(),
            interval: h.health_interval.as_deref(),
            retries: h.health_retries,
            start_period: h.health_start_period.as_deref(),
            timeout: h.health_timeout.as_deref(),
            on_failure: h.health_on_failure.as_deref(),
            disabled: h.no_healthcheck,
            startup_cmd: h.health_startup_cmd.as_deref(),
            startup_interval: h.health_startup_interval.as_deref(),
            startup_retries: h.health_startup_retries,
            startup_success: h.health_startup_success,
            startup_timeout: h.health_startup_timeout.as_deref(),
        },
    )?;
    if args.sdnotify == Some(SdNotifyMode::Healthy) && config.is_none() {
        anyhow::bail!("sdnotify policy \"healthy\" requires a healthcheck to be set");
    }
    Ok(config)
}

/// `--sdnotify=container`: `$NOTIFY_SOCKET` bound into the container at
/// [`CONTAINER_SOCKET`], which its `NOTIFY_SOCKET` names.
pub(crate) fn notify_socket_into(spec: &mut ContainerSpec) -> anyhow::Result<()> {
    if spec.sdnotify != Some(SdNotifyMode::Container) {
        return Ok(());
    }
    let Some(socket) = crate::runtime::sdnotify::socket_from_env() else {
        return Ok(());
    };
    if socket.starts_with('@') {
        anyhow::bail!(
            "--sdnotify=container: NOTIFY_SOCKET={socket} is an abstract socket, which cannot \
             be passed into the container; use --sdnotify=conmon"
        );
    }
    let source = std::fs::canonicalize(&socket)
        .with_context(|| format!("--sdnotify=container: NOTIFY_SOCKET={socket}"))?;
    spec.storage.mounts.push(Mount {
        destination: CONTAINER_SOCKET.into(),
        kind: MountKind::Bind {
            source,
            recursive: false,
        },
        flags: MountFlags::default(),
        propagation: None,
        chown: false,
    });
    spec.storage
        .mounts
        .sort_by_key(|m| m.destination.matches('/').count() - usize::from(m.destination == "/"));
    spec.process.env.set("NOTIFY_SOCKET", CONTAINER_SOCKET);
    Ok(())
}

/// A created container with a check starts out `starting` (`ps --filter health=`).
pub(crate) fn created(spec: &ContainerSpec) -> anyhow::Result<()> {
    if spec.health.is_some() {
        health::reset(&spec.dir)?;
    }
    Ok(())
}
