//! `run`: a command in a new container, in the foreground; the exit status is the command's,
//! 125 for coracle's own errors, 126 when the command cannot be invoked and 127 when it is not
//! found (from the `execve` errno the init reports, see `runtime::channel`).
//!
//! This command: resolves the image and what to run, writes the container's directory and
//! record under the exclusive store lock, keeps a shared lock for the monitor (which drops it
//! once the layers are copied), forks the monitor into the user namespace and waits for it
//! while relaying signals, then reads the monitor's reports and, with `--rm`, removes the
//! container's directory. See `runtime/mod.rs` for the processes.
//!
//! Not yet: `-d`, `-t`, the default rootless network (the default is `none` until then).

use std::fs::File;
use std::path::Path;

use anyhow::Context as _;
use chrono::Utc;
use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::cli::run::RunArgs;
use crate::cmd::Context;
use crate::error::{ExitStatus, StatusError};
use crate::runtime::channel::{self, Report, StepError};
use crate::runtime::sdnotify::{Notifier, SdNotifyMode};
use crate::runtime::security::{self, Security};
use crate::runtime::spec::{
    self, ContainerSpec, EnvFile, ImageRunConfig, Network, ProcessSpec, RootFs,
};
use crate::runtime::user::{IdSpec, UserSpec};
use crate::runtime::{SignalRelay, UserMapping, exec_failure_status, monitor, userns};
use crate::store::containers::{self, ContainerRecord, State};
use crate::store::{LockMode, lookup};

pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<ExitStatus> {
    if args.detach {
        anyhow::bail!("--detach: detached containers are not supported yet");
    }
    if args.tty {
        anyhow::bail!("--tty: terminals are not supported yet");
    }
    let notifier = sd_notifier(args.sdnotify)?;
    let network = match args.network.as_deref() {
        None | Some("none") => Network::None,
        Some("host") => Network::Host,
        Some(other) => anyhow::bail!(
            "--network {other}: only none and host are supported (the rootless network is not \
             there yet)"
        ),
    };
    if let Some(name) = &args.name
        && !containers::valid_name(name)
    {
        anyhow::bail!("container name {name:?} is invalid: names match [a-zA-Z0-9][a-zA-Z0-9_.-]*");
    }
    let security = Security::from_flags(
        &args.cap_add,
        &args.cap_drop,
        args.privileged,
        &args.security_opt,
        &security::all_caps(),
    )?;
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    // Pulling is over (and its registry clients with their threads gone) before anything forks.
    let pulled = extending_start_timeout(notifier.as_ref(), || {
        crate::cmd::pull::for_run(
            ctx,
            &args.image,
            args.pull,
            &args.registry,
            &args.platform,
            args.quiet,
        )
    })?;
    let image_ref = pulled.as_deref().unwrap_or(&args.image);

    let mut store = ctx.open_store(LockMode::Exclusive, "run")?;
    let driver = store.paths().driver.clone();
    let records = store.images().list()?;
    let (image, _) = lookup::find(&records, image_ref)?;
    let image = image.clone();
    let config_bytes = store
        .blobs()
        .read(image.config_digest())
        .with_context(|| format!("reading the config of image {}", args.image))?;
    let config = crate::oci::config::ImageConfig::parse(image.config_digest(), &config_bytes)?;
    let image_run = ImageRunConfig::from_json(&config.config);

    let argv = spec::command_line(&image_run, args.entrypoint.as_deref(), &args.command)?;
    let id = containers::new_id().context("making a container ID")?;
    let hostname = match (&args.hostname, network) {
        (Some(h), _) => h.clone(),
        (None, Network::Host) => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| spec::short_id(&id).to_string()),
        (None, Network::None) => spec::short_id(&id).to_string(),
    };
    let env_texts = args
        .env_file
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .with_context(|| format!("reading the env file {}", p.display()))
                .map(|t| (p.display().to_string(), t))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let env_files: Vec<EnvFile<'_>> = env_texts
        .iter()
        .map(|(name, text)| EnvFile { name, text })
        .collect();
    let host_env = |k: &str| std::env::var(k).ok();
    let env = spec::environment(&image_run, &hostname, &env_files, &args.env, &host_env)?;
    let cwd = spec::working_dir(&image_run, args.workdir.as_deref())?;
    let user = args.user.clone().unwrap_or_else(|| image_run.user.clone());
    check_user_mapped(&user, &mapping)?;

    let taken: Vec<String> = store
        .containers()
        .list()?
        .into_iter()
        .flat_map(|c| c.names)
        .collect();
    let name = match &args.name {
        Some(n) if taken.contains(n) => anyhow::bail!(
            "the container name {n:?} is already in use by another container; remove it or \
             choose another name"
        ),
        Some(n) => n.clone(),
        None => containers::generate_name(&id, &taken),
    };
    let record = ContainerRecord {
        id: id.clone(),
        names: vec![name.clone()],
        image: args.image.clone(),
        image_id: image.id.clone(),
        image_name: image.names.first().cloned().unwrap_or_default(),
        command: argv.clone(),
        created: Utc::now(),
        state: State::Created,
        pid: None,
        started_at: None,
        finished_at: None,
        exit_code: None,
        monitor_pid: None,
        monitor_start: None,
        env: env.vars().iter().map(|(k, v)| format!("{k}={v}")).collect(),
        working_dir: cwd.clone(),
        user: user.clone(),
        hostname: hostname.clone(),
        layers: image.layers.clone(),
        driver: driver.clone(),
        remove: args.rm,
    };
    let read_host = |p: &str| std::fs::read_to_string(p).ok();
    let hosts_base = match network {
        Network::Host => read_host("/etc/hosts"),
        Network::None => None,
    };
    let hosts = spec::hosts_file(hosts_base.as_deref(), &hostname, &name);
    let resolv = read_host("/etc/resolv.conf").unwrap_or_default();
    let hostname_file = format!("{hostname}\n");
    let staging = store.staging("run")?;
    let dir = store.containers().create(
        staging.path(),
        &record,
        &[
            ("hosts", hosts.as_bytes()),
            ("hostname", hostname_file.as_bytes()),
            ("resolv.conf", resolv.as_bytes()),
        ],
    )?;
    drop(staging);
    // From here on the container exists: with --rm it goes away whatever happens next.
    let result = (|| {
        let (rootfs, root_kind) = if driver == "vfs" {
            (dir.join("rootfs"), RootFs::Vfs)
        } else {
            for sub in ["upper", "work", "merged"] {
                let p = dir.join(sub);
                std::fs::create_dir(&p).with_context(|| format!("creating {}", p.display()))?;
            }
            let kind = RootFs::Overlay {
                upper: dir.join("upper"),
                work: dir.join("work"),
            };
            (dir.join("merged"), kind)
        };
        let spec = ContainerSpec {
            id: id.clone(),
            name,
            hostname,
            network,
            mapping: mapping.clone(),
            layers: image
                .layers
                .iter()
                .map(|d| store.layers().path(d))
                .collect(),
            rootfs,
            root_kind,
            userdata: dir.join("userdata"),
            dir: dir.clone(),
            process: ProcessSpec {
                args: argv,
                env,
                cwd,
                user,
                interactive: args.interactive,
            },
            remove: args.rm,
            security,
        };
        // Readers may come in again; the shared lock keeps the layers until the monitor
        // copied or mounted them (it inherits the lock and drops it then).
        store.lock_shared()?;
        start_and_wait(&spec, &mapping, store, notifier.as_ref())
    })();
    if args.rm {
        let removed = remove_container(ctx, &id);
        if let Err(e) = removed {
            return Err(match result {
                Err(run_err) => run_err.context(format!("also: {e:#}")),
                Ok(_) => e,
            });
        }
    }
    result
}

/// Refuses a numeric user the namespace cannot have, before anything starts (names are
/// resolved by the init with the container's `/etc/passwd`).
fn check_user_mapped(user: &str, mapping: &UserMapping) -> anyhow::Result<()> {
    let spec = UserSpec::parse(user)?;
    let unmapped = |what: &str, id: u32| {
        let why = if mapping.uid.len() == 1 {
            format!(
                ": {} has no subordinate ids in /etc/subuid and /etc/subgid, so only root (0) \
                 exists in its containers",
                mapping.user
            )
        } else {
            String::new()
        };
        anyhow::anyhow!("{what} {id} is not mapped in the container's user namespace{why}")
    };
    if let IdSpec::Id(uid) = spec.user
        && mapping.uid.to_host(uid).is_none()
    {
        return Err(unmapped("user", uid));
    }
    if let Some(IdSpec::Id(gid)) = spec.group
        && mapping.gid.to_host(gid).is_none()
    {
        return Err(unmapped("group", gid));
    }
    Ok(())
}

/// Forks the monitor (handing it `store`, whose lock it drops after the copy), waits for it
/// and turns its reports into the exit status.
fn start_and_wait<L>(
    spec: &ContainerSpec,
    mapping: &UserMapping,
    store: L,
    notifier: Option<&Notifier>,
) -> anyhow::Result<ExitStatus> {
    let (rx, tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("creating the monitor's pipe")?;
    let (mut from_monitor, to_cli) = (File::from(rx), File::from(tx));
    let relay = SignalRelay::block()?;
    let mut child = userns::spawn_process(mapping, move || monitor::run(spec, to_cli, store))
        .context("starting the container's monitor")?;
    child
        .wait_exec()
        .context("starting the container's monitor")?;
    // The reports are read as they come, so systemd hears READY=1 while the container runs.
    // (A thread is safe here: the fork is done.)
    let (exit, reports) = std::thread::scope(|scope| {
        let reader = scope.spawn(move || read_reports(&mut from_monitor, notifier));
        let exit = child.wait(&relay);
        (exit, reader.join())
    });
    let exit = exit.context("waiting for the container's monitor")?;
    drop(relay);
    notify(notifier, "STOPPING=1");
    let reports = reports
        .map_err(|_| anyhow::anyhow!("the thread reading the monitor's reports panicked"))?
        .context("reading the monitor's reports")?;
    outcome(&reports, &spec.process.args[0], exit.status())
}

/// Every report of the monitor until it closes the channel; `READY=1` to systemd as soon as
/// the container's command runs.
fn read_reports(from: &mut File, notifier: Option<&Notifier>) -> std::io::Result<Vec<Report>> {
    let mut all = Vec::new();
    while let Some(report) = channel::recv(from)? {
        if matches!(report, Report::Started { .. }) {
            notify(
                notifier,
                &format!("MAINPID={}\nREADY=1", std::process::id()),
            );
        }
        all.push(report);
    }
    Ok(all)
}

/// Runs `work` (a pull) while telling systemd, every few seconds, to wait longer for READY=1
/// (`EXTEND_TIMEOUT_USEC`), so a slow pull does not hit the unit's start time-out. The
/// ticking thread is gone when this returns: nothing may fork while it runs.
fn extending_start_timeout<T>(notifier: Option<&Notifier>, work: impl FnOnce() -> T) -> T {
    const TICK: std::time::Duration = std::time::Duration::from_secs(5);
    let Some(notifier) = notifier else {
        return work();
    };
    let (done, ticks) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        scope.spawn(move || {
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = ticks.recv_timeout(TICK) {
                notify(
                    Some(notifier),
                    &format!("EXTEND_TIMEOUT_USEC={}", 3 * TICK.as_micros()),
                );
            }
        });
        let result = work();
        drop(done);
        result
    })
}

/// A notification that fails is reported, never fatal: the container runs either way.
fn notify(notifier: Option<&Notifier>, message: &str) {
    if let Some(n) = notifier
        && let Err(e) = n.notify(message)
    {
        crate::output::eprint(&format!("WARN: {e}\n"));
    }
}

/// The `$NOTIFY_SOCKET` notifier `--sdnotify` asks for (Podman's modes); `conmon` when the
/// flag is absent, as coracle cannot yet pass the socket into the container.
fn sd_notifier(mode: Option<SdNotifyMode>) -> anyhow::Result<Option<Notifier>> {
    let socket = std::env::var("NOTIFY_SOCKET")
        .ok()
        .filter(|s| !s.is_empty());
    match (mode, &socket) {
        (Some(SdNotifyMode::Ignore), _) | (_, None) => Ok(None),
        (Some(SdNotifyMode::Container), Some(_)) => anyhow::bail!(
            "--sdnotify=container: passing the notify socket into the container is not \
             supported yet; use --sdnotify=conmon"
        ),
        (Some(SdNotifyMode::Healthy), Some(_)) => {
            anyhow::bail!("--sdnotify=healthy: health checks are not supported yet")
        }
        (Some(SdNotifyMode::Conmon) | None, Some(s)) => {
            Notifier::new(Some(s)).with_context(|| format!("NOTIFY_SOCKET={s}"))
        }
    }
}

/// The exit status from the monitor's reports (and its own status, when it said nothing).
fn outcome(reports: &[Report], program: &str, monitor_status: u8) -> anyhow::Result<ExitStatus> {
    let mut status = None;
    let mut errors = Vec::new();
    for r in reports {
        match r {
            Report::Failed {
                step,
                errno,
                detail,
            } => errors.push(StepError {
                step: *step,
                errno: *errno,
                detail: detail.clone(),
            }),
            Report::ExecFailed { errno } => {
                let errno = Errno::from_raw(*errno);
                let msg = if errno == Errno::ENOENT && !program.contains('/') {
                    format!("{program}: executable file not found in $PATH")
                } else {
                    format!("{program}: {}", errno.desc())
                };
                return Err(StatusError::wrap(
                    exec_failure_status(errno),
                    anyhow::anyhow!(msg),
                ));
            }
            Report::Started { .. } => {}
            Report::Exited { code } => status = Some((*code & 0xff) as u8),
            Report::Signaled { signal } => status = Some(128u8.wrapping_add(*signal as u8)),
        }
    }
    if let Some(first) = errors.first() {
        let mut err = anyhow::Error::new(first.clone());
        for e in &errors[1..] {
            err = err.context(format!("also: {e}"));
        }
        if let Some(code) = status {
            // The container ran; what failed is the cleanup after it.
            #[allow(clippy::print_stderr)]
            {
                eprintln!("Error: {err:#}");
            }
            return Ok(code_status(code));
        }
        return Err(err);
    }
    match status {
        Some(code) => Ok(code_status(code)),
        None => anyhow::bail!(
            "the container's monitor ended (status {monitor_status}) without reporting the \
             container's end"
        ),
    }
}

fn code_status(code: u8) -> ExitStatus {
    match code {
        0 => ExitStatus::Success,
        c => ExitStatus::Code(c),
    }
}

/// Removes the container's directory (`--rm`), under the store lock.
fn remove_container(ctx: &Context, id: &str) -> anyhow::Result<()> {
    let store = ctx.open_store(LockMode::Shared, "run --rm")?;
    let dir = store.containers().path(id);
    if !Path::new(&dir).exists() {
        return Ok(());
    }
    let staging = store.staging("rm")?;
    store
        .containers()
        .remove(staging.path(), id)
        .with_context(|| format!("removing container {}", spec::short_id(id)))
}
