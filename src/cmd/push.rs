//! `push IMAGE [DESTINATION]`: to a registry (`docker://`, the default), or through `save`'s
//! writers to `oci:`, `oci-archive:`, `docker-archive:` and `dir:`.

use std::fs;
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context as _, bail};

use crate::cli::push::PushArgs;
use crate::cmd::Context;
use crate::config::Env;
use crate::error::ExitStatus;
use crate::oci::manifest::Schema;
use crate::oci::reference;
use crate::registry::conf::RegistriesConf;
use crate::registry::connect;
use crate::store::LockMode;
use crate::store::lookup::{self, Matched};
use crate::transfer::compress::LayerCompression;
use crate::transfer::known_blobs::KnownBlobs;
use crate::transfer::push::{
    self, BlobOutcome, Counter, Destination, Progress, PushBlob, PushOptions,
};
use crate::transfer::save::{self, SaveFormat, SaveItem};

/// Where a push goes.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Registry(String),
    /// A save format, its path, and the reference to record (if any).
    Save(SaveFormat, PathBuf, Option<String>),
}

fn parse_target(dest: &str) -> anyhow::Result<Target> {
    if let Some(r) = dest.strip_prefix("docker://") {
        return Ok(Target::Registry(r.to_string()));
    }
    let Some((transport, rest)) = dest.split_once(':') else {
        return Ok(Target::Registry(dest.to_string()));
    };
    let format = match transport {
        "oci" => SaveFormat::OciDir,
        "oci-archive" => SaveFormat::OciArchive,
        "docker-archive" => SaveFormat::DockerArchive,
        "dir" => SaveFormat::DockerDir,
        // `localhost:5000/app`: a registry with a port, not a transport.
        _ => return Ok(Target::Registry(dest.to_string())),
    };
    // As c/image: the path ends at the first colon; `dir:` takes no reference.
    let (path, reference) = match rest.split_once(':') {
        Some((p, r)) if format != SaveFormat::DockerDir => (p, Some(r.to_string())),
        _ => (rest, None),
    };
    if path.is_empty() {
        bail!("{dest}: the {transport}: transport needs a path");
    }
    Ok(Target::Save(format, PathBuf::from(path), reference))
}

/// `--compression-format` of `push` and `manifest push`.
pub(crate) fn compression_flag(flag: Option<&str>) -> anyhow::Result<Option<LayerCompression>> {
    flag.map(|f| {
        LayerCompression::parse(f)
            .with_context(|| format!("unsupported compression format {f:?}: use gzip or zstd"))
    })
    .transpose()
}

/// `--format` of `push` and `manifest push`: the manifest schema to write.
pub(crate) fn format_flag(flag: Option<&str>) -> anyhow::Result<Option<Schema>> {
    Ok(match flag {
        None => None,
        Some("oci") => Some(Schema::Oci),
        Some("v2s2" | "docker") => Some(Schema::Docker),
        Some("v2s1") => bail!("--format v2s1 is not supported: use oci or v2s2"),
        Some(other) => bail!("unknown --format {other:?}: use oci, v2s2 or docker"),
    })
}

pub fn run(ctx: &Context, args: &PushArgs) -> anyhow::Result<ExitStatus> {
    for (set, flag) in [
        (args.sign_by.is_some(), "--sign-by"),
        (args.sign_by_sigstore.is_some(), "--sign-by-sigstore"),
        (
            args.sign_by_sigstore_private_key.is_some(),
            "--sign-by-sigstore-private-key",
        ),
        (
            args.sign_passphrase_file.is_some(),
            "--sign-passphrase-file",
        ),
        (!args.encryption_key.is_empty(), "--encryption-key"),
    ] {
        if set {
            bail!("{flag} is not supported: coracle does not sign or encrypt images");
        }
    }
    let compression = compression_flag(args.compression_format.as_deref())?;
    let schema = format_flag(args.format.as_deref())?;

    let store = ctx.open_store(LockMode::Shared, "push")?;
    let records = store.images().list()?;
    let (image, matched) = lookup::find(&records, &args.image)?;
    let image = image.clone();
    let destination = match (&args.destination, &matched) {
        (Some(d), _) => d.clone(),
        (None, Matched::Name(n)) => n.clone(),
        (None, Matched::Id) => {
            bail!(
                "{}: an image given by ID needs a DESTINATION to push to",
                args.image
            )
        }
    };
    let target = parse_target(&destination)?;
    let reference = match target {
        Target::Save(format, path, reference) => {
            let names = match (reference, format, &matched) {
                (Some(r), _, _) => vec![r],
                // A docker-archive names its image; Podman records the source's name.
                (None, SaveFormat::DockerArchive, Matched::Name(n)) => vec![n.clone()],
                _ => Vec::new(),
            };
            let items = [SaveItem { image, names }];
            if !args.quiet {
                eprintln_progress("Getting image source signatures");
            }
            write_save(&store, &items, format, &path)
                .with_context(|| format!("pushing to {destination}"))?;
            if !args.quiet {
                eprintln_progress("Writing manifest to image destination");
            }
            return Ok(ExitStatus::Success);
        }
        Target::Registry(r) => {
            reference::normalize_docker(&r).with_context(|| format!("invalid destination {r:?}"))?
        }
    };

    let env = Env::process();
    let conf = RegistriesConf::load(&env).context("reading registries.conf")?;
    let source = conf
        .push_source(&reference)
        .with_context(|| format!("pushing to {reference}"))?;
    let options = PushOptions {
        compression,
        level: args.compression_level,
        schema,
    };
    let progress = Reporter::new(args.quiet);
    progress.line("Getting image source signatures");
    // No store lock while the client is made: credential helpers may prompt.
    drop(store);
    // The client (and its runtime thread) lives only for the network part.
    let (pushed, known) = {
        let client = connect::client_for(&env, &args.registry, &source)
            .with_context(|| format!("pushing to {reference}"))?;
        let store = ctx.open_store(LockMode::Shared, "push")?;
        if store.images().get(&image.id)?.is_none() {
            bail!("image {} was removed while the push started", args.image);
        }
        let known = KnownBlobs::load(&store);
        let target_ref = &source.reference;
        let dest = Destination {
            client: &client,
            registry: target_ref.registry().to_string(),
            repository: target_ref.path().to_string(),
            reference: match (target_ref.tag(), target_ref.digest()) {
                (Some(t), _) => t.to_string(),
                (None, Some(d)) => d.to_string(),
                (None, None) => "latest".to_string(),
            },
            display: reference.to_string(),
        };
        let mut known = known;
        // The store goes with it: its lock is released once what the push needs is read.
        let pushed = push::push_image(store, &image, &options, &dest, &mut known, &progress)
            .with_context(|| format!("pushing {} to {reference}", args.image))?;
        (pushed, known)
    };
    tracing::debug!(
        "push of {}: {} layers compressed, manifest {} ({})",
        image.id,
        pushed.compressed,
        pushed.manifest_digest,
        if pushed.unchanged { "as stored" } else { "new" }
    );
    let digest = pushed.manifest_digest;
    progress.line("Writing manifest to image destination");
    // Podman 4 says so even with nothing to store.
    progress.line("Storing signatures");
    if let Some(path) = &args.digestfile {
        fs::write(path, digest.to_string())
            .with_context(|| format!("writing the digest to {}", path.display()))?;
    }
    // Where the blobs now are, for cross-repository mounts on later pushes.
    match ctx.open_store(LockMode::Shared, "push") {
        Ok(store) => {
            if let Err(e) = known.save(&store) {
                tracing::warn!("could not record where blobs were pushed: {e}");
            }
        }
        Err(e) => tracing::warn!("could not record where blobs were pushed: {e:#}"),
    }
    Ok(ExitStatus::Success)
}

#[allow(clippy::print_stderr)]
fn eprintln_progress(line: &str) {
    eprintln!("{line}");
}

/// Writes an image through `save`'s writers; a file is replaced by rename and a directory
/// removed again when the write fails, so nothing half-written stays.
fn write_save(
    store: &crate::store::Store,
    items: &[SaveItem],
    format: SaveFormat,
    path: &Path,
) -> anyhow::Result<()> {
    if format.is_dir() {
        let existed = path.exists();
        if existed
            && fs::read_dir(path)
                .map(|mut d| d.next().is_some())
                .unwrap_or(true)
        {
            bail!("{} exists and is not empty", path.display());
        }
        if let Err(e) = save::save_dir(store, items, format, path) {
            if existed {
                for entry in fs::read_dir(path).into_iter().flatten().flatten() {
                    let _ = crate::store::staging::remove_all(&entry.path());
                }
            } else {
                let _ = fs::remove_dir_all(path);
            }
            return Err(e.into());
        }
        return Ok(());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.coracle-{}", std::process::id()));
    let res = (|| -> anyhow::Result<()> {
        let file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
        let w = save::save_archive(
            store,
            items,
            format,
            BufWriter::with_capacity(1 << 20, file),
        )?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::store::staging::sync_dir(dir)?;
        }
        Ok(())
    })();
    if res.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    res
}

/// Progress as Podman shows it: a bar per blob on a terminal, a line per blob otherwise,
/// nothing with `-q`.
struct Reporter {
    quiet: bool,
    bars: Option<indicatif::MultiProgress>,
    /// Bars by blob digest, to finish them with the blob's outcome.
    open: Mutex<Vec<(String, indicatif::ProgressBar)>>,
}

impl Reporter {
    fn new(quiet: bool) -> Reporter {
        let bars = (!quiet && std::io::stderr().is_terminal()).then(|| {
            indicatif::MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::stderr())
        });
        Reporter {
            quiet,
            bars,
            open: Mutex::new(Vec::new()),
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.bars {
            Some(m) => {
                let _ = m.println(text);
            }
            None => eprintln_progress(text),
        }
    }
}

fn kind(blob: &PushBlob) -> &'static str {
    if blob.is_config { "config" } else { "blob" }
}

struct BarCounter(Option<indicatif::ProgressBar>);

impl Counter for BarCounter {
    fn set(&self, sent: u64) {
        if let Some(b) = &self.0 {
            b.set_position(sent);
        }
    }
}

impl Progress for Reporter {
    fn start(&self, blob: &PushBlob) -> Box<dyn Counter> {
        let Some(m) = &self.bars else {
            return Box::new(BarCounter(None));
        };
        let bar = m.add(indicatif::ProgressBar::new(blob.size));
        if let Ok(style) = indicatif::ProgressStyle::with_template(
            "{prefix} {bar:30} {bytes} / {total_bytes} {bytes_per_sec}",
        ) {
            bar.set_style(style);
        }
        let short = blob.digest.hex().get(..12).unwrap_or_default();
        bar.set_prefix(format!("Copying {} {short}", kind(blob)));
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((blob.digest.to_string(), bar.clone()));
        Box::new(BarCounter(Some(bar)))
    }

    fn finish(&self, blob: &PushBlob, outcome: &BlobOutcome) {
        let how = match outcome {
            BlobOutcome::Exists => "skipped: already exists".to_string(),
            BlobOutcome::Mounted(from) => format!("mounted from {from}"),
            BlobOutcome::Uploaded => "done".to_string(),
        };
        let text = format!("Copying {} {} {how}", kind(blob), blob.digest);
        let bar = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let key = blob.digest.to_string();
            open.iter()
                .position(|(d, _)| *d == key)
                .map(|i| open.remove(i).1)
        };
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        self.line(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations() {
        assert_eq!(
            parse_target("localhost:5000/a:1").unwrap(),
            Target::Registry("localhost:5000/a:1".into())
        );
        assert_eq!(
            parse_target("docker://localhost:5000/a").unwrap(),
            Target::Registry("localhost:5000/a".into())
        );
        assert_eq!(
            parse_target("oci-archive:/tmp/x.tar:app:1").unwrap(),
            Target::Save(
                SaveFormat::OciArchive,
                "/tmp/x.tar".into(),
                Some("app:1".into())
            )
        );
        assert_eq!(
            parse_target("oci:/tmp/l").unwrap(),
            Target::Save(SaveFormat::OciDir, "/tmp/l".into(), None)
        );
        assert_eq!(
            parse_target("dir:/tmp/d").unwrap(),
            Target::Save(SaveFormat::DockerDir, "/tmp/d".into(), None)
        );
        assert!(parse_target("oci-archive:").is_err());
    }
}
