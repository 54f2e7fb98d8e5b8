//! `cp [-a] SRC DEST`: files between a container (`CONTAINER:PATH`) and the host (a path,
//! or `-` for a tar stream on standard input or output), running or not. The host side is
//! handled here, the container side in a child whose root is the container's
//! (`runtime::join::enter_root`); a tar stream on a pipe joins them (`runtime::copy`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use nix::fcntl::OFlag;

use crate::cli::exec::CpArgs;
use crate::cmd::Context;
use crate::cmd::exec::container_and_spec;
use crate::error::ExitStatus;
use crate::runtime::SignalRelay;
use crate::runtime::channel::{self, Report, Step, StepError};
use crate::runtime::copy::{self, CopyError, DestKind, Owners};
use crate::runtime::join::{self, Root};
use crate::runtime::spec::ContainerSpec;
use crate::runtime::user::{self, UserSpec};
use crate::store::containers::State;

/// One side of the copy.
#[derive(Debug, PartialEq, Eq)]
enum Side {
    Host(String),
    /// `-`: a tar stream.
    Stream,
    Container {
        name: String,
        path: String,
    },
}

fn parse_side(arg: &str) -> Side {
    if arg == "-" {
        return Side::Stream;
    }
    // A host path that names itself as one (`/x:y`, `./x:y`) is never a container's.
    if let Some((name, path)) = arg.split_once(':')
        && !name.is_empty()
        && !name.contains('/')
    {
        return Side::Container {
            name: name.into(),
            path: path.into(),
        };
    }
    Side::Host(arg.into())
}

pub fn run(ctx: &Context, args: &CpArgs) -> anyhow::Result<ExitStatus> {
    match (parse_side(&args.source), parse_side(&args.dest)) {
        (Side::Container { name, path }, host @ (Side::Host(_) | Side::Stream)) => {
            copy_out(ctx, &name, &path, &host)?
        }
        (host @ (Side::Host(_) | Side::Stream), Side::Container { name, path }) => {
            copy_in(ctx, &host, &name, &path, args.archive)?
        }
        (Side::Container { .. }, Side::Container { .. }) => anyhow::bail!(
            "invalid arguments {}, {}: copying between containers is not supported",
            args.source,
            args.dest
        ),
        _ => anyhow::bail!(
            "invalid arguments {}, {}: you must specify one container (CONTAINER:PATH)",
            args.source,
            args.dest
        ),
    }
    Ok(ExitStatus::Success)
}

/// A container path, which is relative to the container's root (as Podman has it).
fn in_container(path: &str) -> String {
    let path = path.trim_start_matches('/');
    format!("/{path}")
}

pub(crate) fn pipe() -> anyhow::Result<(File, File)> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).context("creating a pipe")?;
    Ok((File::from(r), File::from(w)))
}

pub(crate) fn copy_report(e: CopyError) -> Report {
    let errno = match &e {
        CopyError::Io { source, .. } => source.raw_os_error().unwrap_or(0),
        _ => 0,
    };
    let detail = match &e {
        CopyError::Io { path, source } if errno == 0 => format!("{path}: {source}"),
        _ => e.to_string(),
    };
    Report::Failed {
        step: Step::Copy,
        errno,
        detail,
    }
}

/// Runs `body` in the container's root (joined when it runs) and waits for it; `host` is
/// what the command does meanwhile with its end of the stream.
pub(crate) fn with_container<B, H>(
    ctx: &Context,
    name: &str,
    body: impl FnOnce(&ContainerSpec) -> B,
    host: H,
) -> anyhow::Result<()>
where
    B: FnOnce() -> Result<(), Report>,
    H: FnOnce() -> anyhow::Result<()>,
{
    let (view, spec) = container_and_spec(ctx, Some(name))?;
    let init = if view.state == State::Running {
        Some(join::find_init(&view.rec)?)
    } else {
        None
    };
    let root = match &init {
        Some(init) => Root::Running(init),
        None => Root::Stopped(&spec),
    };
    let (mut from_child, to_parent) = pipe()?;
    let relay = SignalRelay::block()?;
    let child = join::enter_root(root, to_parent, body(&spec))
        .with_context(|| format!("copying in container {name}"))?;
    let hosted = host();
    let exit = child.wait(&relay);
    drop(relay);
    let reports = channel::recv_all(&mut from_child).context("reading the copy's reports")?;
    if let Some(Report::Failed {
        step,
        errno,
        detail,
    }) = reports.into_iter().next()
    {
        return Err(anyhow::Error::new(StepError {
            step,
            errno,
            detail,
        }));
    }
    hosted?;
    match exit.context("waiting for the copy in the container")? {
        crate::runtime::ChildExit::Exited(0) => Ok(()),
        e => anyhow::bail!(
            "the copy in container {name} ended with status {}",
            e.status()
        ),
    }
}

fn copy_out(ctx: &Context, name: &str, path: &str, host: &Side) -> anyhow::Result<()> {
    let (from_child, to_host) = pipe()?;
    let contents = copy::wants_contents(path);
    // Where it goes on the host, and the name the container side gives the top entry.
    let (dir, top, dest_kind) = match host {
        Side::Host(dest) => {
            let kind = copy::dest_kind(Path::new(dest))?;
            let (dir, top) = copy::placement(Path::new(dest), kind, contents, false)?;
            (Some(dir), top, Some(kind))
        }
        _ => (None, None, None),
    };
    // A tar stream shows the files' owners as the container sees them, the true ones where
    // its root cannot (`podman cp CTR:PATH -`); extracted on the host they are the caller's.
    let owners = match dir {
        Some(_) => HashMap::new(),
        None => {
            let (_, spec) = container_and_spec(ctx, Some(name))?;
            crate::cmd::diff::container::true_owners(&spec)
                .with_context(|| format!("reading the owners of container {name}"))?
        }
    };
    let body = |_: &ContainerSpec| {
        let src = in_container(path);
        move || -> Result<(), Report> {
            let dir_src = copy::source_is_dir(&src).map_err(copy_report)?;
            if dir_src && dest_kind == Some(DestKind::File) {
                return Err(copy_report(CopyError::DirOntoFile(src.clone())));
            }
            copy::write_tar_owned(&src, top.as_deref(), &owners, to_host).map_err(copy_report)
        }
    };
    let host_side = move || -> anyhow::Result<()> {
        match &dir {
            Some(dir) => copy::extract(from_child, dir, None, Owners::Caller)
                .with_context(|| format!("copying to {}", dir.display())),
            None => {
                let mut from_child = from_child;
                io::copy(&mut from_child, &mut io::stdout().lock())
                    .map(drop)
                    .context("writing the tar stream to standard output")
            }
        }
    };
    with_container(ctx, name, body, host_side)
}

fn copy_in(
    ctx: &Context,
    host: &Side,
    name: &str,
    path: &str,
    archive: bool,
) -> anyhow::Result<()> {
    let (from_host, to_child) = pipe()?;
    // The source's kind and name are the host's to know; the destination's the container's.
    let source: Option<(PathBuf, bool, bool)> = match host {
        Side::Host(src) => {
            let dir = copy::source_is_dir(src)?;
            Some((PathBuf::from(src), dir, copy::wants_contents(src)))
        }
        _ => None,
    };
    let shape = source.as_ref().map(|(_, dir, contents)| (*dir, *contents));
    let host_end = to_child.try_clone().context("duplicating a pipe")?;
    let body = |spec: &ContainerSpec| {
        let dest = in_container(path);
        let user = spec.process.user.clone();
        move || -> Result<(), Report> {
            // The container side must see end of file once the command is done.
            drop(to_child);
            let owners = if archive {
                let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
                let u = UserSpec::parse(&user)
                    .and_then(|u| user::resolve(&u, &read("/etc/passwd"), &read("/etc/group")))
                    .map_err(|e| Report::Failed {
                        step: Step::User,
                        errno: 0,
                        detail: e.to_string(),
                    })?;
                Owners::Set(u.uid, u.gid)
            } else {
                Owners::FromTar
            };
            let dest_path = Path::new(&dest);
            let kind = copy::dest_kind(dest_path).map_err(copy_report)?;
            let (dir, rename): (PathBuf, Option<OsString>) = match shape {
                None if kind != DestKind::Dir => {
                    return Err(copy_report(CopyError::NotADir(dest.clone())));
                }
                None => (dest_path.to_path_buf(), None),
                Some((is_dir, contents)) => {
                    copy::placement(dest_path, kind, contents, is_dir).map_err(copy_report)?
                }
            };
            copy::extract(from_host, &dir, rename.as_deref(), owners).map_err(copy_report)
        }
    };
    let host_side = move || -> anyhow::Result<()> {
        let written = match &source {
            Some((src, _, contents)) => {
                let top = contents.then(|| OsString::from("."));
                copy::write_tar(&src.to_string_lossy(), top.as_deref(), host_end)
                    .with_context(|| format!("copying {}", src.display()))
            }
            None => {
                let mut out = host_end;
                io::copy(&mut io::stdin().lock(), &mut out)
                    .map(drop)
                    .context("reading the tar stream from standard input")
            }
        };
        // A container side that gave up closes the pipe; its report says why.
        match written {
            Err(e)
                if e.chain().any(|c| {
                    c.downcast_ref::<io::Error>()
                        .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
                }) =>
            {
                Ok(())
            }
            other => other,
        }
    };
    with_container(ctx, name, body, host_side)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides() {
        assert_eq!(parse_side("-"), Side::Stream);
        assert_eq!(
            parse_side("web:/etc/hosts"),
            Side::Container {
                name: "web".into(),
                path: "/etc/hosts".into()
            }
        );
        assert_eq!(parse_side("./a:b"), Side::Host("./a:b".into()));
        assert_eq!(parse_side("/x:y"), Side::Host("/x:y".into()));
        assert_eq!(parse_side("file"), Side::Host("file".into()));
    }
}
