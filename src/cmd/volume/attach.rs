//! The storage flags of `run`/`create` turned into the container's [`Storage`] (what its init
//! mounts) and its `Mounts` (what `inspect` shows), checked before anything is written:
//!
//! - a host path (absolute, or `./relative` to the working directory) must exist (Podman's
//!   `statfs PATH: no such file or directory`); it is recorded absolute and canonical;
//! - a named volume that does not exist is created when the container is (`Planned::commit`);
//!   `-v /dir`, `--mount type=volume` without a source and the image's `VOLUME`s get anonymous
//!   volumes (random names), removed with the container by `rm -v` and `run --rm`;
//! - a volume not mounted before is filled from the image's directory by its first container
//!   (`nocopy` skips that), and is marked so when the container is created;
//! - a device must be one the user may open with the permissions asked for;
//! - a `--ulimit` above coracle's own hard limit is refused (only `CAP_SYS_RESOURCE` could
//!   raise it, which the container's root does not have over the host's limits);
//! - `--read-only` with `--read-only-tmpfs` (the default) adds tmpfs on `/tmp`, `/var/tmp`
//!   and `/run` where nothing else is mounted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use chrono::Utc;

use crate::cli::volume::MountFlags as Flags;
use crate::runtime::volumes::parse::{self, Options, Request};
use crate::runtime::volumes::{Mount, MountFlags, MountKind, Storage, setup};
use crate::store::Store;
use crate::store::volumes::{MountRecord, VolumeRecord};

/// What a new container mounts, and the volumes to create or mark with it.
#[derive(Debug, Default)]
pub struct Planned {
    pub storage: Storage,
    pub mounts: Vec<MountRecord>,
    /// Volumes to create (named ones on first use, anonymous ones).
    new_volumes: Vec<VolumeRecord>,
    /// Existing volumes this container fills: no longer `needs_copy_up` once it exists.
    filled: Vec<String>,
}

/// Checks the flags and plans the mounts; nothing is written. `image_volumes`: the image's
/// `VOLUME` paths; `dir`: the container's directory.
pub fn plan(
    store: &Store,
    flags: &Flags,
    image_volumes: &[String],
    dir: &Path,
) -> anyhow::Result<Planned> {
    let mut requests = Vec::new();
    for v in &flags.volume {
        requests.push(parse::volume(v)?);
    }
    for m in &flags.mount {
        requests.push(parse::mount(m)?);
    }
    for t in &flags.tmpfs {
        requests.push(parse::tmpfs(t)?);
    }
    requests.extend(volumes_from(store, &flags.volumes_from)?);
    parse::check_duplicates(&requests)?;
    let mut p = Planned {
        storage: Storage {
            read_only: flags.read_only,
            scratch: dir.join("scratch"),
            ..Storage::default()
        },
        ..Planned::default()
    };
    for r in requests {
        p.add(store, r)?;
    }
    for d in &flags.device {
        p.device(d)?;
    }
    let taken = |p: &Planned, dest: &str| p.storage.mounts.iter().any(|m| m.destination == dest);
    for v in image_volumes {
        let dest = parse::destination(v).with_context(|| format!("the image's VOLUME {v:?}"))?;
        if !taken(&p, &dest) {
            p.add(
                store,
                Request::Volume {
                    name: None,
                    destination: dest,
                    options: Options::default(),
                },
            )?;
        }
    }
    if flags.read_only && flags.read_only_tmpfs {
        for dest in ["/tmp", "/var/tmp", "/run"] {
            if !taken(&p, dest) {
                p.storage.mounts.push(Mount {
                    destination: dest.into(),
                    kind: MountKind::Tmpfs {
                        data: String::new(),
                        copy_up: true,
                    },
                    flags: MountFlags {
                        nosuid: true,
                        nodev: true,
                        ..MountFlags::default()
                    },
                    propagation: None,
                    chown: false,
                });
            }
        }
    }
    for u in &flags.ulimit {
        if let Some(limit) = parse::ulimit(u)? {
            check_ulimit(u, &limit)?;
            p.storage.ulimits.push(limit);
        }
    }
    // Shallowest first, so that a mount on /a/b lands inside the one on /a.
    p.storage
        .mounts
        .sort_by_key(|m| m.destination.matches('/').count() - usize::from(m.destination == "/"));
    Ok(p)
}

impl Planned {
    fn add(&mut self, store: &Store, r: Request) -> anyhow::Result<()> {
        match r {
            Request::Bind {
                source,
                destination,
                options,
            } => {
                let path = host_path(&source)?;
                let kind = if options.overlay {
                    if !path.is_dir() {
                        bail!("{source}: an overlay (:O) needs a directory");
                    }
                    MountKind::Overlay {
                        lower: path.clone(),
                    }
                } else {
                    MountKind::Bind {
                        source: path.clone(),
                        recursive: options.recursive,
                    }
                };
                self.push(
                    "bind",
                    "",
                    &path.display().to_string(),
                    destination,
                    kind,
                    &options,
                );
            }
            Request::Volume {
                name,
                destination,
                mut options,
            } => {
                let volumes = store.volumes();
                let (name, copy_up) = match name {
                    Some(n) if volumes.exists(&n) => {
                        let rec = volumes.get(&n)?;
                        let fill = rec.needs_copy_up && !options.nocopy;
                        if rec.needs_copy_up {
                            self.filled.push(n.clone());
                        }
                        (n, fill)
                    }
                    Some(n) => {
                        if !self.new_volumes.iter().any(|v| v.name == n) {
                            self.new_volumes.push(new_volume(&n, false));
                        }
                        (n, !options.nocopy)
                    }
                    None => {
                        let n = crate::store::containers::new_id()
                            .context("making an anonymous volume's name")?;
                        self.new_volumes.push(new_volume(&n, true));
                        (n, !options.nocopy)
                    }
                };
                // Podman's defaults for volumes.
                options.flags.nosuid = true;
                options.flags.nodev = true;
                let source = volumes.data(&name);
                let kind = MountKind::Volume {
                    name: name.clone(),
                    source: source.clone(),
                    copy_up,
                };
                self.push(
                    "volume",
                    &name,
                    &source.display().to_string(),
                    destination,
                    kind,
                    &options,
                );
            }
            Request::Tmpfs {
                destination,
                flags,
                data,
                copy_up,
            } => {
                let mut shown = flag_names(flags);
                shown.extend(data.iter().cloned());
                if copy_up {
                    shown.push("tmpcopyup".into());
                }
                self.mounts.push(MountRecord {
                    kind: "tmpfs".into(),
                    name: String::new(),
                    source: "tmpfs".into(),
                    destination: destination.clone(),
                    driver: String::new(),
                    mode: String::new(),
                    options: shown,
                    rw: !flags.read_only,
                    propagation: String::new(),
                });
                self.storage.mounts.push(Mount {
                    destination,
                    kind: MountKind::Tmpfs {
                        data: data.join(","),
                        copy_up,
                    },
                    flags,
                    propagation: None,
                    chown: false,
                });
            }
            Request::Devpts {
                destination,
                flags,
                data,
            } => {
                self.mounts.push(MountRecord {
                    kind: "devpts".into(),
                    name: String::new(),
                    source: "devpts".into(),
                    destination: destination.clone(),
                    driver: String::new(),
                    mode: String::new(),
                    options: flag_names(flags).into_iter().chain(data.clone()).collect(),
                    rw: !flags.read_only,
                    propagation: String::new(),
                });
                self.storage.mounts.push(Mount {
                    destination,
                    kind: MountKind::Devpts {
                        data: data.join(","),
                    },
                    flags,
                    propagation: None,
                    chown: false,
                });
            }
        }
        Ok(())
    }

    fn push(
        &mut self,
        kind_name: &str,
        name: &str,
        source: &str,
        destination: String,
        kind: MountKind,
        o: &Options,
    ) {
        let mut shown = flag_names(o.flags);
        if o.chown {
            shown.push("U".into());
        }
        shown.push(if o.recursive { "rbind" } else { "bind" }.into());
        self.mounts.push(MountRecord {
            kind: kind_name.into(),
            name: name.into(),
            source: source.into(),
            destination: destination.clone(),
            driver: if kind_name == "volume" { "local" } else { "" }.into(),
            mode: if o.overlay { "O" } else { "" }.into(),
            options: shown,
            rw: !o.flags.read_only,
            propagation: o.propagation.map_or("rprivate", |p| p.name()).into(),
        });
        self.storage.mounts.push(Mount {
            destination,
            kind,
            flags: o.flags,
            propagation: o.propagation,
            chown: o.chown,
        });
    }

    /// `--device`: the node must be one the user can open as asked.
    fn device(&mut self, spec: &str) -> anyhow::Result<()> {
        let (src, dst, perms) = parse::device(spec)?;
        let meta = std::fs::metadata(&src)
            .map_err(|e| anyhow::anyhow!("device {src}: {}", errno_text(&e)))?;
        use std::os::unix::fs::FileTypeExt as _;
        let ft = meta.file_type();
        if !ft.is_char_device() && !ft.is_block_device() {
            bail!("device {src}: not a device node");
        }
        let mut mode = nix::unistd::AccessFlags::empty();
        if perms.contains('r') {
            mode |= nix::unistd::AccessFlags::R_OK;
        }
        if perms.contains('w') {
            mode |= nix::unistd::AccessFlags::W_OK;
        }
        if let Err(e) = nix::unistd::access(src.as_str(), mode) {
            bail!(
                "device {src}: the user cannot open it ({}): a rootless container can only \
                 use devices its user may open",
                e.desc().to_lowercase()
            );
        }
        if self.storage.mounts.iter().any(|m| m.destination == dst) {
            bail!("{dst:?}: duplicate mount destination");
        }
        self.storage.mounts.push(Mount {
            destination: dst,
            kind: MountKind::Device {
                source: PathBuf::from(&src),
            },
            flags: MountFlags {
                read_only: !perms.contains('w'),
                nosuid: true,
                noexec: true,
                nodev: false,
            },
            propagation: None,
            chown: false,
        });
        Ok(())
    }

    /// Creates the new volumes and marks the ones this container fills. Call with the
    /// exclusive store lock, right before the container's record is written.
    pub fn commit(&self, store: &Store) -> anyhow::Result<()> {
        if self.new_volumes.is_empty() && self.filled.is_empty() {
            return Ok(());
        }
        let staging = store.staging("volume")?;
        for v in &self.new_volumes {
            store
                .volumes()
                .create(staging.path(), v)
                .with_context(|| format!("creating volume {}", v.name))?;
        }
        for name in &self.filled {
            let mut rec = store.volumes().get(name)?;
            rec.needs_copy_up = false;
            store.volumes().put(&rec)?;
        }
        Ok(())
    }
}

/// The image's `VOLUME` paths (the keys of its config's `Volumes`).
pub fn image_volumes(config: &serde_json::Value) -> Vec<String> {
    config
        .get("Volumes")
        .and_then(serde_json::Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn new_volume(name: &str, anonymous: bool) -> VolumeRecord {
    VolumeRecord {
        name: name.into(),
        driver: "local".into(),
        labels: BTreeMap::new(),
        options: BTreeMap::new(),
        created_at: Utc::now(),
        anonymous,
        // The container that creates it fills it.
        needs_copy_up: false,
    }
}

fn flag_names(f: MountFlags) -> Vec<String> {
    let mut v = Vec::new();
    for (on, name) in [
        (f.read_only, "ro"),
        (f.nosuid, "nosuid"),
        (f.nodev, "nodev"),
        (f.noexec, "noexec"),
    ] {
        if on {
            v.push(name.to_string());
        }
    }
    v
}

/// An errno's text as Go prints it (`no such file or directory`).
fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

/// A host path made absolute (from the working directory) and canonical; it must exist.
fn host_path(source: &str) -> anyhow::Result<PathBuf> {
    let path = Path::new(source);
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .context("reading the working directory")?
            .join(path)
    };
    std::fs::canonicalize(&abs)
        .map_err(|e| anyhow::anyhow!("statfs {}: {}", abs.display(), errno_text(&e)))
}

/// `--volumes-from CTR[:ro|rw]`: the other container's volumes and binds, at the same places.
fn volumes_from(store: &Store, specs: &[String]) -> anyhow::Result<Vec<Request>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let all = store.containers().list()?;
    let mut out = Vec::new();
    for spec in specs {
        let (name, mode) = match spec.split_once(':') {
            Some((n, m @ ("ro" | "rw"))) => (n, Some(m == "ro")),
            Some((_, m)) => bail!("--volumes-from {spec}: invalid option {m:?} (ro or rw)"),
            None => (spec.as_str(), None),
        };
        let c = crate::store::containers::find(&all, name)?;
        for m in &c.mounts {
            let mut options = Options::default();
            options.flags.read_only = mode.unwrap_or(!m.rw);
            match m.kind.as_str() {
                "bind" if m.mode != "O" => out.push(Request::Bind {
                    source: m.source.clone(),
                    destination: m.destination.clone(),
                    options,
                }),
                "volume" => out.push(Request::Volume {
                    name: Some(m.name.clone()),
                    destination: m.destination.clone(),
                    options: Options {
                        nocopy: true,
                        ..options
                    },
                }),
                _ => {}
            }
        }
    }
    Ok(out)
}

/// Refuses a limit above coracle's own hard limit (none as real root, who may raise it).
fn check_ulimit(spec: &str, limit: &crate::runtime::volumes::Ulimit) -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let have = setup::hard_limit(limit.resource);
    let above = match (limit.hard, have) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(want), Some(have)) => want > have,
    };
    if above {
        let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |v| v.to_string());
        bail!(
            "--ulimit {spec}: the hard limit {} is above the hard limit {} coracle runs with \
             (raising it needs CAP_SYS_RESOURCE on the host)",
            show(limit.hard),
            show(have)
        );
    }
    Ok(())
}
