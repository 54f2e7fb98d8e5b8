//! `create`: a container from an image, written to the store but not started; `run` is
//! `create` followed by starting it in the foreground (`cmd::run`).
//!
//! The command resolves the image (pulling it when the policy says so) and everything the
//! container will run, then writes the container's directory under the exclusive store lock:
//! its record (`container.json`), what it runs (`spec.json`, a [`ContainerSpec`]) and the
//! generated `/etc` files. A later `start` forks a monitor from `spec.json` alone.

use anyhow::Context as _;
use chrono::Utc;

use crate::cli::run::RunArgs;
use crate::cmd::Context;
use crate::error::ExitStatus;
use crate::events::Event;
use crate::runtime::UserMapping;
use crate::runtime::network;
use crate::runtime::sdnotify::Notifier;
use crate::runtime::spec::{
    self, ContainerSpec, EnvFile, ImageRunConfig, Network, ProcessSpec, RootFs,
};
use crate::runtime::user::{IdSpec, UserSpec};
use crate::store::containers::{self, ContainerRecord, State};
use crate::store::{LockMode, Store, lookup};

/// `coracle create`: prints the new container's ID.
pub fn run(ctx: &Context, args: &RunArgs) -> anyhow::Result<ExitStatus> {
    let created = create(ctx, args, None)?;
    crate::cmd::out(&format!("{}\n", created.spec.id))?;
    Ok(ExitStatus::Success)
}

/// A container just written to the store, with the store still open under its exclusive
/// lock (the caller decides how long to keep the layers locked).
pub struct Created {
    pub spec: ContainerSpec,
    pub store: Store,
}

/// Creates the container `args` describe; `notifier` hears `EXTEND_TIMEOUT_USEC` while a pull
/// runs (`run --sdnotify`). No thread is left running when this returns.
pub fn create(
    ctx: &Context,
    args: &RunArgs,
    notifier: Option<&Notifier>,
) -> anyhow::Result<Created> {
    let net_flags = args.net.runtime(args.network.as_deref());
    let mut net = network::Settings::from_flags(&net_flags)?;
    if let Some(name) = &args.name
        && !containers::valid_name(name)
    {
        anyhow::bail!("container name {name:?} is invalid: names match [a-zA-Z0-9][a-zA-Z0-9_.-]*");
    }
    let control = crate::cmd::control::CreateControl::before_create(
        ctx,
        &args.control,
        args.name.as_deref(),
    )?;
    // Pulling is over (and its registry clients with their threads gone) before anything forks.
    crate::failpoint!("create.start");
    let pulled = crate::cmd::run::extending_start_timeout(notifier, || {
        crate::cmd::pull::for_run(
            ctx,
            args.image(),
            args.pull,
            &args.registry,
            &args.platform,
            args.quiet,
        )
    })?;
    let image_ref = pulled.as_deref().unwrap_or(args.image());

    // Before the store lock: `--pod new:NAME` writes the pod under its own.
    let pod = crate::cmd::pod::join::for_create(ctx, args)?;
    let store = ctx.open_store(LockMode::Exclusive, "create")?;
    crate::failpoint!("create.store-locked");
    let driver = store.paths().driver.clone();
    let records = store.images().list()?;
    let (image, _) = lookup::find(&records, image_ref)?;
    let image = image.clone();
    let config_bytes = store
        .blobs()
        .read(image.config_digest())
        .with_context(|| format!("reading the config of image {}", args.image()))?;
    let config = crate::oci::config::ImageConfig::parse(image.config_digest(), &config_bytes)?;
    let image_run = ImageRunConfig::from_json(&config.config);
    let health = crate::cmd::healthcheck::for_create(args, &config.config)?;
    let isolation = crate::cmd::isolation::decide(&args.isolation, &image_run.user)?;
    let (security, mapping) = (isolation.security, isolation.mapping);
    let network = net.mode;
    let pod_hostname = crate::cmd::pod::join::hostname(pod.as_ref());
    if let Some(warning) = net.publish(&net_flags, &config.config)? {
        crate::output::eprint(&format!("WARN: {warning}\n"));
    }

    let argv = spec::command_line(&image_run, args.entrypoint.as_deref(), args.command())?;
    let id = containers::new_id().context("making a container ID")?;
    let hostname = match (args.hostname.as_ref().or(pod_hostname.as_ref()), network) {
        (Some(h), _) => h.clone(),
        (None, Network::Host) => nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| spec::short_id(&id).to_string()),
        (None, _) => spec::short_id(&id).to_string(),
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
    let host_env_text = args
        .isolation
        .env_host
        .then(crate::cmd::isolation::host_environment);
    let env_files: Vec<EnvFile<'_>> = host_env_text
        .iter()
        .map(|text| EnvFile {
            name: "the host environment (--env-host)",
            text,
        })
        .chain(env_texts.iter().map(|(name, text)| EnvFile { name, text }))
        .collect();
    let host_env = |k: &str| std::env::var(k).ok();
    let env = spec::environment(&image_run, &hostname, &env_files, &args.env, &host_env)?;
    let cwd = spec::working_dir(&image_run, args.workdir.as_deref())?;
    let user = isolation.user;
    check_user_mapped(&user, &mapping)?;
    let planned = crate::cmd::volume::attach::plan(
        &store,
        &args.mounts,
        &crate::cmd::volume::attach::image_volumes(&config.config),
        &store.containers().path(&id),
    )?;

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
    let mut record = ContainerRecord {
        id: id.clone(),
        names: vec![name.clone()],
        image: args.image().to_string(),
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
        mounts: planned.mounts.clone(),
        stop_requested: false,
        restart_count: 0,
        control: control.settings(&config.config)?,
        labels: args.labels.parse()?,
        create_command: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        network_mode: net.mode_name().to_string(),
        ports: net.spec.ports.clone(),
        pod: None,
    };
    let (hosts, resolv) = net.etc_files(&net_flags, &hostname, &name)?;
    let hostname_file = format!("{hostname}\n");

    let dir = store.containers().path(&id);
    let (rootfs, root_kind) = if driver == "vfs" {
        (dir.join("rootfs"), RootFs::Vfs)
    } else {
        let kind = RootFs::Overlay {
            upper: dir.join("upper"),
            work: dir.join("work"),
        };
        (dir.join("merged"), kind)
    };
    let mut spec = ContainerSpec {
        id: id.clone(),
        name,
        hostname,
        network,
        mapping,
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
            group_add: args.isolation.group_add.clone(),
            init: args.isolation.init,
        },
        remove: args.rm,
        security,
        storage: planned.storage.clone(),
        lifecycle: args.lifecycle.spec(args.tty, args.rm)?,
        health,
        sdnotify: args.sdnotify,
        net: net.spec,
        pod: None,
    };
    crate::cmd::healthcheck::notify_socket_into(&mut spec)?;
    crate::cmd::pod::join::attach(
        pod.as_ref(),
        &store.paths().graphroot,
        &mut spec,
        &mut record,
    );
    let spec_json = serde_json::to_vec_pretty(&spec).context("encoding the container's spec")?;
    planned.commit(&store)?;
    crate::failpoint!("create.volumes-created");
    let staging = store.staging("create")?;
    crate::failpoint!("create.staging-created");
    // Without a hosts file (--no-hosts) the image's /etc/hosts stays.
    let files: Vec<(&str, &[u8])> = [
        hosts.as_deref().map(|h| ("hosts", h.as_bytes())),
        Some(("hostname", hostname_file.as_bytes())),
        Some(("resolv.conf", resolv.as_bytes())),
    ]
    .into_iter()
    .flatten()
    .collect();
    let written = store
        .containers()
        .create(staging.path(), &record, &spec_json, &files)?;
    debug_assert_eq!(written, dir);
    crate::failpoint!("create.record-renamed");
    drop(staging);
    // A created container has its (empty) writable layer: `commit` and `diff` work on it
    // before it ever ran.
    crate::cmd::run::prepare_root_dirs(&spec)?;
    crate::cmd::healthcheck::created(&spec)?;
    crate::failpoint!("create.root-dirs-made");
    store
        .events()
        .record(&Event::container("create", &id, &spec.name, args.image()));
    crate::failpoint!("create.done");
    control.created(&id)?;
    Ok(Created { spec, store })
}

/// Refuses a numeric user the namespace cannot have, before anything starts (names are
/// resolved by the init with the container's `/etc/passwd`).
fn check_user_mapped(user: &str, mapping: &UserMapping) -> anyhow::Result<()> {
    let spec = UserSpec::parse(user)?;
    let unmapped = |what: &str, id: u32| {
        let free = crate::doctor::hints::free_range_on_host();
        let text = crate::doctor::hints::unmapped_id(what == "group", id, mapping, free.as_deref());
        anyhow::anyhow!("{text}")
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
