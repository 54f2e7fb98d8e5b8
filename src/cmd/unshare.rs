//! `unshare`: a command (default `$SHELL`) in a fresh user and mount namespace with the
//! mapping coracle's containers use, as `podman unshare` gives.
//!
//! There is no long-lived namespace to join (no daemon, no pause process): every call makes a
//! new one with the same mapping, so files in the store appear with the owners containers see.
//! The command gets `CORACLE_GRAPHROOT` and `CORACLE_RUNROOT`, coracle's counterparts of the
//! `CONTAINERS_GRAPHROOT`/`CONTAINERS_RUNROOT` that Podman sets (those name Podman's store, in
//! containers/storage's format, and tools read them as such). The exit status is the
//! command's; 126/127 when it cannot be run or found, from the `execve` errno.
//!
//! Unlike Podman, which refuses to run as root ("please use unshare with rootless", a wart
//! that breaks scripts meant for both), root gets the command in a new mount namespace: its
//! mapping is the identity, so the store already looks to it as it does to its containers.

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt as _;
use std::process::Command;

use anyhow::Context as _;

use crate::cli::unshare::UnshareArgs;
use crate::cmd::Context;
use crate::error::{ExitStatus, StatusError};
use crate::runtime::{SignalRelay, UserMapping, userns};

pub fn run(ctx: &Context, args: &UnshareArgs) -> anyhow::Result<ExitStatus> {
    if args.rootless_netns {
        anyhow::bail!(
            "--rootless-netns: coracle keeps no shared rootless network namespace \
             (each container gets its own network)"
        );
    }
    let paths = ctx.paths()?;
    let graphroot = std::path::absolute(&paths.graphroot)
        .with_context(|| format!("resolving {}", paths.graphroot.display()))?;
    let runroot = std::path::absolute(&paths.runroot)
        .with_context(|| format!("resolving {}", paths.runroot.display()))?;
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    let argv: Vec<OsString> = if args.command.is_empty() {
        let shell = std::env::var_os("SHELL")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "/bin/sh".into());
        vec![shell]
    } else {
        args.command.clone()
    };
    let shown = argv[0].to_string_lossy().into_owned();

    let relay = SignalRelay::block()?;
    let mut child = userns::spawn(&mapping, || {
        Command::new(&argv[0])
            .args(&argv[1..])
            .env("CORACLE_GRAPHROOT", &graphroot)
            .env("CORACLE_RUNROOT", &runroot)
            .exec()
    })
    .context("entering the user namespace")?;
    if let Err(err) = child.wait_exec() {
        let status = err.exec_status();
        let err = anyhow::Error::new(err).context(format!("running {}", quote(&argv[0])));
        return Err(match status {
            Some(status) => StatusError::wrap(status, err),
            None => err,
        });
    }
    let exit = child
        .wait(&relay)
        .with_context(|| format!("waiting for {shown}"))?;
    Ok(match exit.status() {
        0 => ExitStatus::Success,
        code => ExitStatus::Code(code),
    })
}

fn quote(s: &OsStr) -> String {
    format!("{:?}", s.to_string_lossy())
}
