//! `save`: images to a docker-archive, OCI archive or directory layout, on a file or stdout.

use std::fs;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context as _, bail};

use crate::cli::SaveArgs;
use crate::cmd::Context;
use crate::error::ExitStatus;
use crate::events::Event;
use crate::oci::reference;
use crate::store::LockMode;
use crate::store::lookup::{self, Matched};
use crate::transfer::save::{self, SaveFormat, SaveItem};

pub fn run(ctx: &Context, args: &SaveArgs) -> anyhow::Result<ExitStatus> {
    let format = SaveFormat::parse(&args.format).with_context(|| {
        format!(
            "unknown format {:?}: use docker-archive, oci-archive, oci-dir or docker-dir",
            args.format
        )
    })?;
    if args.compress {
        bail!("--compress is not supported yet: docker-dir layers are written uncompressed");
    }
    if args.multi_image_archive && format != SaveFormat::DockerArchive {
        bail!("--multi-image-archive can only be used with the docker-archive format");
    }
    let store = ctx.open_store(LockMode::Shared, "save")?;
    let records = store.images().list()?;
    let mut items: Vec<SaveItem> = Vec::new();
    let image_args: &[String] = if args.multi_image_archive {
        &args.images
    } else {
        &args.images[..1]
    };
    for input in image_args {
        let (rec, matched) = lookup::find(&records, input)?;
        let names = match matched {
            Matched::Name(n) => vec![n],
            // Podman records no name for an image saved by ID.
            Matched::Id => Vec::new(),
        };
        items.push(SaveItem {
            image: rec.clone(),
            names,
        });
    }
    if !args.multi_image_archive {
        // Podman: without -m, further arguments are additional tags for the one image.
        for extra in &args.images[1..] {
            let name = reference::normalize_local(extra)
                .with_context(|| format!("tag {extra}"))?
                .to_string();
            items[0].names.push(name);
        }
    }
    write(args, format, &store, &items)?;
    for item in &items {
        let name = item.names.first().map(String::as_str).unwrap_or_default();
        store
            .events()
            .record(&Event::image("save", item.image.id.hex(), name));
    }
    Ok(ExitStatus::Success)
}

/// Writes the archive or layout `args` ask for.
fn write(
    args: &SaveArgs,
    format: SaveFormat,
    store: &crate::store::Store,
    items: &[SaveItem],
) -> anyhow::Result<()> {
    match (&args.output, format.is_dir()) {
        (None, true) => bail!("--format {} needs -o DIRECTORY", args.format),
        (Some(dir), true) => {
            let dir = PathBuf::from(dir);
            if dir.exists()
                && fs::read_dir(&dir)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true)
            {
                bail!("{} exists and is not empty", dir.display());
            }
            let existed = dir.exists();
            if let Err(e) = save::save_dir(store, items, format, &dir) {
                // Leave no half-written layout behind.
                if existed {
                    if let Ok(entries) = fs::read_dir(&dir) {
                        for entry in entries.flatten() {
                            let _ = crate::store::staging::remove_all(&entry.path());
                        }
                    }
                } else {
                    let _ = fs::remove_dir_all(&dir);
                }
                return Err(anyhow::Error::new(e).context(format!("saving to {}", dir.display())));
            }
        }
        (None, false) => {
            if std::io::stdout().is_terminal() {
                bail!("refusing to save to terminal. Use -o flag or redirect");
            }
            let stdout = std::io::stdout().lock();
            let mut w = save::save_archive(
                store,
                items,
                format,
                BufWriter::with_capacity(1 << 20, stdout),
            )
            .context("saving to stdout")?;
            w.flush()?;
        }
        (Some(path), false) => {
            let target = PathBuf::from(path);
            // A device, pipe or symlink is written through, as Podman does (`-o /dev/null`);
            // only a plain file (or nothing) is replaced by rename, so that a failed save
            // leaves no half archive behind.
            let in_place = fs::symlink_metadata(&target).is_ok_and(|m| !m.file_type().is_file());
            if in_place {
                let file = fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(&target)
                    .with_context(|| format!("opening {path}"))?;
                let mut w = save::save_archive(
                    store,
                    items,
                    format,
                    BufWriter::with_capacity(1 << 20, file),
                )
                .with_context(|| format!("saving to {path}"))?;
                w.flush()?;
                return Ok(());
            }
            let tmp = target.with_file_name(format!(
                ".{}.coracle-{}",
                target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                std::process::id()
            ));
            let res = (|| -> anyhow::Result<()> {
                let file = fs::File::create(&tmp)
                    .with_context(|| format!("creating {}", tmp.display()))?;
                let w = save::save_archive(
                    store,
                    items,
                    format,
                    BufWriter::with_capacity(1 << 20, file),
                )?;
                let file = w.into_inner().map_err(|e| e.into_error())?;
                file.sync_all()?;
                fs::rename(&tmp, &target).with_context(|| {
                    format!("renaming {} to {}", tmp.display(), target.display())
                })?;
                if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
                    crate::store::staging::sync_dir(dir)?;
                }
                Ok(())
            })();
            if let Err(e) = res {
                let _ = fs::remove_file(&tmp);
                return Err(e.context(format!("saving to {path}")));
            }
        }
    }
    Ok(())
}
