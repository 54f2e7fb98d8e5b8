//! `overlay-mount`: mounts the overlay on the given layers (or an image's) and serves it in
//! the foreground until it is unmounted or SIGTERM/SIGINT arrives, then exits 0.

use anyhow::Context as _;

use crate::archive::DIFF_DIR;
use crate::cli::OverlayMountArgs;
use crate::cmd::Context;
use crate::error::ExitStatus;
use crate::overlay::{Overlay, OverlayConfig, serve};
use crate::store::{LockMode, lookup};

pub fn run(ctx: &Context, args: &OverlayMountArgs) -> anyhow::Result<ExitStatus> {
    let mut lowers = args.lowers.clone();
    // The store stays locked (shared) while the mount lives, so its layers cannot go away.
    let _store = match &args.image {
        None => None,
        Some(name) => {
            let store = ctx.open_store(LockMode::Shared, "overlay-mount")?;
            let records = store.images().list()?;
            let (rec, _) = lookup::find(&records, name)?;
            for d in rec.layers.iter().rev() {
                lowers.push(store.layers().path(d).join(DIFF_DIR));
            }
            Some(store)
        }
    };
    if lowers.is_empty() {
        anyhow::bail!("overlay-mount needs --lower or --image");
    }
    let config = OverlayConfig {
        lowers,
        upper: args.upper.clone(),
        work: args.work.clone(),
        threads: args.threads,
    };
    let fs = Overlay::new(&config).context("preparing the overlay")?;
    serve(fs, &args.mountpoint, config.upper.is_none(), config.threads)?;
    Ok(ExitStatus::Success)
}
