//! Writing a build step's image into the store: a config (with the stage's layers, plus
//! possibly one new layer) and its manifest, committed as every other image is
//! ([`crate::transfer::commit`]), with the step's parent recorded so that `images` hides it as
//! intermediate.

use std::collections::BTreeMap;
use std::io::Write;

use anyhow::{Context as _, bail};
use serde_json::{Map, Value};

use crate::cmd::Context;
use crate::oci::digest::Digest;
use crate::oci::manifest::Schema;
use crate::store::{ImageRecord, LockMode, Staging, Store};
use crate::transfer::commit::{self, ImagePlan};
use crate::transfer::pipe;
use crate::transfer::scan::{self, StagedLayer};

/// The config (parsed JSON) and layers of image `id`.
pub fn read(store: &Store, id: &Digest) -> anyhow::Result<(Map<String, Value>, Vec<Digest>)> {
    let Some(rec) = store.images().get(id)? else {
        bail!("image {} is no longer in the store", id.hex());
    };
    // Read under the store lock: pinned in the same hold, a prune cannot take it from here on.
    crate::store::pins::pin(id)?;
    let bytes = store
        .blobs()
        .read(rec.config_digest())
        .with_context(|| format!("reading the config of image {}", id.hex()))?;
    let config: Map<String, Value> = serde_json::from_slice(&bytes)
        .with_context(|| format!("parsing the config of image {}", id.hex()))?;
    Ok((config, rec.layers))
}

/// Writes an image whose config is `config` (its `rootfs.diff_ids` are set from `layers`,
/// which the store must have), built on `parent`, with manifest `annotations`.
pub fn write(
    ctx: &Context,
    config: &Map<String, Value>,
    layers: &[Digest],
    parent: Option<&Digest>,
    schema: Schema,
    annotations: &BTreeMap<String, String>,
) -> anyhow::Result<ImageRecord> {
    write_image(ctx, config, layers, parent, schema, annotations, None)
}

/// Writes an image like [`write`] with one new layer on top, whose uncompressed tar
/// `layer` writes.
pub fn write_with_layer(
    ctx: &Context,
    config: &Map<String, Value>,
    layers: &[Digest],
    parent: Option<&Digest>,
    schema: Schema,
    layer: LayerWriter<'_>,
) -> anyhow::Result<ImageRecord> {
    write_image(
        ctx,
        config,
        layers,
        parent,
        schema,
        &BTreeMap::new(),
        Some(layer),
    )
}

/// Writes a layer's tar into the pipe it is given.
pub type LayerWriter<'a> = &'a dyn Fn(&mut dyn Write) -> std::io::Result<()>;

fn write_image(
    ctx: &Context,
    config: &Map<String, Value>,
    layers: &[Digest],
    parent: Option<&Digest>,
    schema: Schema,
    annotations: &BTreeMap<String, String>,
    new_layer: Option<LayerWriter<'_>>,
) -> anyhow::Result<ImageRecord> {
    let mut store = ctx.open_store(LockMode::Shared, "build")?;
    let staging = store.staging("build")?;
    crate::failpoint!("build.image.staging-created");
    let mut staged = Vec::with_capacity(layers.len() + 1);
    for d in layers {
        let rec = store
            .layers()
            .get(d)
            .with_context(|| format!("layer {d} of the build's image"))?;
        staged.push(StagedLayer::stored(rec, d));
    }
    if let Some(writer) = new_layer {
        staged.push(stage_new_layer(&staging, writer)?);
    }
    let diff_ids: Vec<Digest> = staged.iter().map(|l| l.diff_id.clone()).collect();
    let mut config = config.clone();
    config.insert(
        "rootfs".into(),
        serde_json::json!({"type": "layers", "diff_ids": diff_ids.iter().map(|d| d.to_string()).collect::<Vec<_>>()}),
    );
    let config_bytes = serde_json::to_vec(&config).context("encoding the image config")?;
    let (mut manifest_bytes, m) = commit::uncompressed_manifest(schema, &config_bytes, &staged);
    if !annotations.is_empty() {
        let mut v: Map<String, Value> =
            serde_json::from_slice(&manifest_bytes).context("re-reading the new manifest")?;
        v.insert("annotations".into(), serde_json::json!(annotations));
        manifest_bytes = serde_json::to_vec(&v).context("encoding the manifest")?;
    }
    let mut plan = ImagePlan::new(
        config_bytes,
        manifest_bytes,
        m.media_type.unwrap_or_default(),
        staged,
        Vec::new(),
        staging.path(),
        "build",
    )?;
    plan.parent = parent.cloned();
    crate::failpoint!("build.image.planned");
    store.lock_exclusive("build")?;
    crate::failpoint!("build.image.store-locked");
    if let Some(p) = parent
        && store.images().get(p)?.is_none()
    {
        bail!(
            "the build's previous step image {} was removed while the build ran",
            p.hex()
        );
    }
    let mut records = commit::commit(&mut store, &staging, vec![plan])?;
    for r in &records {
        crate::store::pins::pin(&r.id)?;
    }
    crate::failpoint!("build.image.committed");
    Ok(records.remove(0))
}

/// Extracts the tar `writer` produces into a new layer directory in `staging`.
fn stage_new_layer(staging: &Staging, writer: LayerWriter<'_>) -> anyhow::Result<StagedLayer> {
    let dir = staging.path().join("layers").join("build");
    let (target, staging_dir) = (dir.clone(), staging.path().to_path_buf());
    let (mut to_extract, extractor) = pipe::spawn("coracle:extract", move |r| {
        scan::stage_layer(r, "the step's layer", &target, &staging_dir, "build")
    })
    .context("starting the layer extraction")?;
    let written = writer(&mut to_extract).and_then(|()| to_extract.finish());
    let extracted = extractor
        .join()
        .map_err(|_| anyhow::anyhow!("the layer extraction thread panicked"))?;
    // The writer's error is the cause; the extractor then only saw a short stream.
    written.with_context(|| format!("writing the step's layer into {}", dir.display()))?;
    let staged = extracted?;
    Ok(staged)
}

/// Gives image `id` the names `names` (taking them from other images, as `tag` does).
pub fn tag(ctx: &Context, id: &Digest, names: &[String]) -> anyhow::Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let store = ctx.open_store(LockMode::Exclusive, "build")?;
    crate::failpoint!("build.tag.store-locked");
    let Some(mut rec) = store.images().get(id)? else {
        bail!(
            "the built image {} was removed before it was tagged",
            id.hex()
        );
    };
    for n in names {
        rec.add_name(n);
    }
    let staging = store.staging("build")?;
    store.images().put(staging.path(), &rec)?;
    crate::failpoint!("build.tag.record-written");
    commit::take_names(&store, staging.path(), &rec)?;
    Ok(())
}
