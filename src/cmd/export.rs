//! `export [-o FILE] CONTAINER`: the container's whole root file system as a tar, running or
//! not, read from inside its root (`runtime::join::enter_root`) as the container sees it,
//! with the true owners where the root cannot show them (ids its user namespace does not
//! map: `diff::container::true_owners`) and hard links kept. `import` makes an image of it
//! again.

use std::fs::File;
use std::io::{self, IsTerminal as _};

use anyhow::Context as _;

use crate::cli::exec::ExportArgs;
use crate::cmd::Context;
use crate::cmd::cp::{copy_report, pipe, with_container};
use crate::error::ExitStatus;
use crate::runtime::channel::Report;
use crate::runtime::copy;
use crate::runtime::spec::ContainerSpec;

pub fn run(ctx: &Context, args: &ExportArgs) -> anyhow::Result<ExitStatus> {
    if args.output.is_none() && io::stdout().is_terminal() {
        anyhow::bail!("refusing to export to terminal. Use -o flag or redirect");
    }
    let (_, spec) = crate::cmd::exec::container_and_spec(ctx, Some(&args.container))?;
    let owners = crate::cmd::diff::container::true_owners(&spec)
        .with_context(|| format!("reading the owners of container {}", args.container))?;
    let (mut from_child, to_host) = pipe()?;
    let body = |_: &ContainerSpec| {
        move || -> Result<(), Report> {
            copy::write_root_tar(to_host, &owners).map_err(copy_report)
        }
    };
    // A file is written beside its destination and renamed there once the whole export
    // succeeded: a failed export leaves no partial tar.
    let tmp = args.output.as_ref().map(|path| {
        path.with_file_name(format!(
            ".{}.tmp",
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ))
    });
    let tmp_for_host = tmp.clone();
    let host_side = move || -> anyhow::Result<()> {
        match &tmp_for_host {
            Some(tmp) => {
                let mut file =
                    File::create(tmp).with_context(|| format!("creating {}", tmp.display()))?;
                io::copy(&mut from_child, &mut file)
                    .and_then(|_| file.sync_all())
                    .with_context(|| format!("writing {}", tmp.display()))
            }
            None => io::copy(&mut from_child, &mut io::stdout().lock())
                .map(drop)
                .context("writing the tar to standard output"),
        }
    };
    let done = with_container(ctx, &args.container, body, host_side)
        .with_context(|| format!("exporting container {}", args.container));
    if let (Some(tmp), Some(path)) = (&tmp, &args.output) {
        let renamed = done
            .as_ref()
            .map_err(|_| ())
            .and_then(|()| std::fs::rename(tmp, path).map_err(|_| ()));
        if renamed.is_err() {
            let _ = std::fs::remove_file(tmp);
            if done.is_ok() {
                anyhow::bail!("renaming {} to {}", tmp.display(), path.display());
            }
        }
    }
    done?;
    Ok(ExitStatus::Success)
}
