//! `kube generate`: Kubernetes YAML from containers or a pod (`crate::kube::generate`);
//! `kube play` and `kube down` (`play`).

mod build;
mod play;

use anyhow::{Context as _, bail};

use crate::cli::kube::{KubeCommand, KubeGenerateArgs};
use crate::cmd::containers::{self, ContainerView};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::kube::generate::{self, Source};
use crate::pod::record::{self, Pods};
use crate::runtime::spec::{ContainerSpec, ImageRunConfig};
use crate::store::LockMode;

pub fn run(ctx: &Context, command: &KubeCommand) -> anyhow::Result<ExitStatus> {
    match command {
        KubeCommand::Generate(a) => generate_cmd(ctx, a),
        KubeCommand::Play(a) => play::play(ctx, a),
        KubeCommand::Down(a) => play::down(ctx, &a.file, a.force),
    }
}

fn generate_cmd(ctx: &Context, args: &KubeGenerateArgs) -> anyhow::Result<ExitStatus> {
    if args.kind != "pod" {
        bail!("--type {}: coracle generates pods only", args.kind);
    }
    let store = ctx.open_store(LockMode::Shared, "kube generate")?;
    let views = containers::all(&store)?;
    let pods = Pods::new(&store.paths().graphroot).list()?;
    // One pod, or containers.
    let (name, hostname, chosen): (String, Option<String>, Vec<&ContainerView>) = match (
        args.names.as_slice(),
        record::find_in(&pods, &args.names[0]),
    ) {
        ([_], Ok(pod)) => {
            let mut members: Vec<&ContainerView> = views
                .iter()
                .filter(|v| v.rec.pod.as_deref() == Some(pod.id.as_str()))
                .collect();
            // In the order they were created, which `kube play` keeps.
            members.sort_by_key(|v| v.rec.created);
            let host = pod.shares("uts").then(|| pod.hostname.clone());
            (pod.name.clone(), host, members)
        }
        _ => {
            let mut chosen = Vec::new();
            for n in &args.names {
                chosen.push(containers::find(&views, n)?);
            }
            let name = format!("{}-pod", chosen[0].name());
            (name, None, chosen)
        }
    };
    if chosen.is_empty() {
        bail!("pod {name} has no containers to generate YAML for");
    }
    let mut loaded = Vec::new();
    for v in &chosen {
        let dir = store.containers().path(v.id());
        let spec: ContainerSpec = crate::cmd::start::read_spec(&dir)?;
        let image = image_config(&store, v)?;
        loaded.push((spec, image));
    }
    drop(store);
    let sources: Vec<Source<'_>> = chosen
        .iter()
        .zip(&loaded)
        .map(|(v, (spec, image))| Source {
            record: &v.rec,
            spec,
            image,
        })
        .collect();
    let generated = generate::generate(&name, hostname.as_deref(), &sources, args.service);
    let yaml = generate::to_yaml(&generated)?;
    match &args.filename {
        Some(f) => std::fs::write(f, yaml).with_context(|| format!("writing {}", f.display()))?,
        None => out(&yaml)?,
    }
    Ok(ExitStatus::Success)
}

/// The image's run configuration (empty when the image is gone).
fn image_config(store: &crate::store::Store, v: &ContainerView) -> anyhow::Result<ImageRunConfig> {
    let records = store.images().list()?;
    let Some(image) = records.iter().find(|i| i.id == v.rec.image_id) else {
        return Ok(ImageRunConfig::default());
    };
    let bytes = store
        .blobs()
        .read(image.config_digest())
        .with_context(|| format!("reading the config of image {}", v.image()))?;
    let config = crate::oci::config::ImageConfig::parse(image.config_digest(), &bytes)?;
    Ok(ImageRunConfig::from_json(&config.config))
}
