//! `manifest push LIST [DESTINATION]`: every instance by digest (with `--all`, the default),
//! then the index by the destination's tag.
//!
//! A local instance goes out through `push`'s engine (`transfer::push`: compressing layers
//! that have no compressed blob yet, skipping and mounting what the registry has). Its
//! manifest may come out different from the one recorded (compressed now, or `--format`
//! asked for the other schema): the index then names what was pushed, as Podman's does. An
//! instance added from a registry is copied blob by blob from there (mounted when both
//! repositories are on one registry), its manifest unchanged.

use std::io::{self, Read};

use anyhow::{Context as _, bail};

use crate::cli::manifest::ManifestPushArgs;
use crate::cmd::Context;
use crate::cmd::manifest::{find, index, remote};
use crate::config::Env;
use crate::error::ExitStatus;
use crate::oci::digest::Digest;
use crate::oci::manifest::Manifest;
use crate::oci::reference;
use crate::registry::client::Client;
use crate::registry::conf::RegistriesConf;
use crate::registry::connect;
use crate::store::LockMode;
use crate::store::lists::{Instance, InstanceSource, ListRecord};
use crate::transfer::known_blobs::KnownBlobs;
use crate::transfer::push::{
    self, BlobOutcome, Counter, Destination, Progress, PushBlob, PushOptions,
};

pub fn run(ctx: &Context, args: &ManifestPushArgs) -> anyhow::Result<ExitStatus> {
    for (set, flag) in [
        (args.sign_by.is_some(), "--sign-by"),
        (
            args.sign_by_sigstore_private_key.is_some(),
            "--sign-by-sigstore-private-key",
        ),
        (
            args.sign_passphrase_file.is_some(),
            "--sign-passphrase-file",
        ),
    ] {
        if set {
            bail!("{flag} is not supported: coracle does not sign images");
        }
    }
    let compression = crate::cmd::push::compression_flag(args.compression_format.as_deref())?;
    let schema = crate::cmd::push::format_flag(args.format.as_deref())?;
    let progress = Lines { quiet: args.quiet };

    let (list, mut known) = {
        let store = ctx.open_store(LockMode::Shared, "manifest push")?;
        let list = find::list(&store, &args.list)?;
        if args.all {
            // Every local instance's image must still be there before anything is sent.
            for inst in &list.instances {
                if let InstanceSource::Local { image } = &inst.source
                    && store.images().get(image)?.is_none()
                {
                    bail!(
                        "pushing manifest list {}: instance {} was added from image {}, which is no longer in the store",
                        args.list,
                        inst.digest,
                        image.short()
                    );
                }
            }
        }
        (list, KnownBlobs::load(&store))
    };
    let destination = match (&args.destination, list.names.first()) {
        (Some(d), _) => d.clone(),
        (None, Some(n)) => n.clone(),
        (None, None) => bail!(
            "{}: a manifest list given by ID needs a DESTINATION to push to",
            args.list
        ),
    };
    let dest_input = destination
        .strip_prefix("docker://")
        .unwrap_or(&destination);
    if let Some((transport, _)) = dest_input.split_once(':')
        && ["oci", "oci-archive", "docker-archive", "dir"].contains(&transport)
    {
        bail!("{destination}: manifest lists can only be pushed to a registry (docker://)");
    }
    let dest_ref = reference::normalize_docker(dest_input)
        .with_context(|| format!("invalid destination {destination:?}"))?;
    let options = PushOptions {
        compression,
        level: None,
        schema,
    };

    let env = Env::process();
    let conf = RegistriesConf::load(&env).context("reading registries.conf")?;
    let dest_source = conf
        .push_source(&dest_ref)
        .with_context(|| format!("pushing to {dest_ref}"))?;
    let (pushed, digest) = {
        let client = connect::client_for(&env, &args.registry, &dest_source)
            .with_context(|| format!("pushing to {dest_ref}"))?;
        let target = &dest_source.reference;
        let mut dest = Destination {
            client: &client,
            registry: target.registry().to_string(),
            repository: target.path().to_string(),
            reference: remote::tag_or_digest(target),
            display: dest_ref.to_string(),
        };
        let pctx = PushCtx {
            env: &env,
            conf: &conf,
            args,
            progress: &progress,
        };
        progress.line("Getting image list signatures");
        let total = list.instances.len();
        if args.all {
            progress.line(&format!("Copying {total} of {total} images in list"));
        }
        let mut pushed: Vec<Instance> = Vec::new();
        for (n, inst) in list.instances.iter().enumerate() {
            let mut inst = inst.clone();
            if args.all {
                progress.line(&format!(
                    "Copying image {} ({}/{total})",
                    inst.digest,
                    n + 1
                ));
                progress.line("Getting image source signatures");
                match &inst.source {
                    InstanceSource::Local { image } => {
                        let store = ctx.open_store(LockMode::Shared, "manifest push")?;
                        let Some(img) = store.images().get(image)? else {
                            bail!("image {} is no longer in the store", image.short());
                        };
                        // No tag: the manifest goes under its own digest.
                        dest.reference = String::new();
                        let sent =
                            push::push_image(store, &img, &options, &dest, &mut known, &progress)
                                .with_context(|| format!("pushing instance {}", inst.digest))?;
                        if !sent.unchanged || sent.manifest_digest != inst.digest {
                            // Compressed now, or in the other schema: name what was pushed.
                            let head = client
                                .head_manifest(&dest.repository, &sent.manifest_digest.to_string())?
                                .with_context(|| {
                                    format!(
                                        "manifest {} vanished from {dest_ref}",
                                        sent.manifest_digest
                                    )
                                })?;
                            inst.digest = sent.manifest_digest;
                            inst.size = head.size;
                            inst.media_type = head.media_type;
                        }
                    }
                    InstanceSource::Remote { .. } => copy_remote(&pctx, &dest, &inst)
                        .with_context(|| format!("pushing instance {}", inst.digest))?,
                }
                progress.line("Writing manifest to image destination");
            }
            pushed.push(inst);
        }
        let index_schema = schema.unwrap_or_else(|| index::default_schema(&list));
        let (bytes, media_type) = index::serialize(&list, &pushed, index_schema);
        progress.line("Writing manifest list to image destination");
        let digest = client
            .put_manifest(
                target.path(),
                &remote::tag_or_digest(target),
                &media_type,
                &bytes,
            )
            .with_context(|| format!("writing manifest list to {dest_ref}"))?;
        (pushed, digest)
    };
    tracing::debug!("pushed {} instances, list {digest}", pushed.len());
    if let Some(path) = &args.digestfile {
        std::fs::write(path, digest.to_string())
            .with_context(|| format!("writing the digest to {}", path.display()))?;
    }
    let store = ctx.open_store(
        if args.rm {
            LockMode::Exclusive
        } else {
            LockMode::Shared
        },
        "manifest push",
    )?;
    if let Err(e) = known.save(&store) {
        tracing::warn!("could not record where blobs were pushed: {e}");
    }
    if args.rm {
        remove_list(&store, &list)?;
    }
    Ok(ExitStatus::Success)
}

fn remove_list(store: &crate::store::Store, list: &ListRecord) -> anyhow::Result<()> {
    let staging = store.staging("manifest-rm")?;
    store.lists().remove(staging.path(), &list.id)?;
    Ok(())
}

struct PushCtx<'a> {
    env: &'a Env<'a>,
    conf: &'a RegistriesConf,
    args: &'a ManifestPushArgs,
    progress: &'a Lines,
}

/// Copies an instance that came from a registry: each blob the destination lacks is mounted
/// (same registry) or streamed from the source, then the manifest by digest.
fn copy_remote(ctx: &PushCtx<'_>, dest: &Destination<'_>, inst: &Instance) -> anyhow::Result<()> {
    let InstanceSource::Remote { reference } = &inst.source else {
        bail!("instance {} has no registry to copy from", inst.digest);
    };
    let src_ref = reference::normalize_docker(reference)?;
    let m: Manifest = serde_json::from_str(&inst.manifest)
        .with_context(|| format!("manifest {} is not valid JSON", inst.digest))?;
    let source = ctx
        .conf
        .pull_sources(&src_ref)?
        .into_iter()
        .find(|s| !s.mirror)
        .with_context(|| format!("registries.conf gives no place to read {src_ref} from"))?;
    let src_repo = source.reference.path().to_string();
    let same_registry = source.endpoint.host == dest.registry;
    let mut src_client: Option<Client> = None;
    let mut blobs: Vec<(Digest, u64, bool)> = Vec::new();
    for l in &m.layers {
        if !blobs.iter().any(|(d, _, _)| *d == l.digest) {
            blobs.push((l.digest.clone(), l.size, false));
        }
    }
    blobs.push((m.config.digest.clone(), m.config.size, true));
    for (digest, size, is_config) in blobs {
        let kind = if is_config { "config" } else { "blob" };
        let how = if dest.client.blob_size(&dest.repository, &digest)?.is_some() {
            "skipped: already exists".to_string()
        } else if same_registry
            && dest
                .client
                .mount_blob(&dest.repository, &digest, &src_repo)?
        {
            format!("mounted from {src_repo}")
        } else {
            if src_client.is_none() {
                src_client = Some(connect::client_for(ctx.env, &ctx.args.registry, &source)?);
            }
            let src = src_client.as_ref().map(|c| (c, src_repo.as_str()));
            let mut body = || -> io::Result<Box<dyn Read + Send>> {
                let Some((c, repo)) = src else {
                    return Err(io::Error::other("no source registry"));
                };
                c.get_blob(repo, &digest, 0)
                    .map(|s| s.body)
                    .map_err(io::Error::other)
            };
            dest.client
                .upload_blob(&dest.repository, &digest, size, &mut body)
                .with_context(|| format!("copying blob {digest} from {src_ref}"))?;
            "done".to_string()
        };
        ctx.progress.line(&format!("Copying {kind} {digest} {how}"));
    }
    dest.client.put_manifest(
        &dest.repository,
        &inst.digest.to_string(),
        &inst.media_type,
        inst.manifest.as_bytes(),
    )?;
    Ok(())
}

/// Progress as plain lines on stderr (nothing with `-q`).
struct Lines {
    quiet: bool,
}

impl Lines {
    #[allow(clippy::print_stderr)]
    fn line(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }
}

struct NoCount;

impl Counter for NoCount {
    fn set(&self, _sent: u64) {}
}

impl Progress for Lines {
    fn start(&self, _blob: &PushBlob) -> Box<dyn Counter> {
        Box::new(NoCount)
    }

    fn finish(&self, blob: &PushBlob, outcome: &BlobOutcome) {
        let how = match outcome {
            BlobOutcome::Exists => "skipped: already exists".to_string(),
            BlobOutcome::Mounted(from) => format!("mounted from {from}"),
            BlobOutcome::Uploaded => "done".to_string(),
        };
        let kind = if blob.is_config { "config" } else { "blob" };
        self.line(&format!("Copying {kind} {} {how}", blob.digest));
    }
}
