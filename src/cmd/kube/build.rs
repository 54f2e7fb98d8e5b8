//! `kube play --build`: an image of the YAML is built from a directory named after it
//! (`<dir>/<name>/Containerfile` or `Dockerfile`, the name without registry, tag or digest),
//! `<dir>` being `--context-dir`, else the YAML file's directory (the current directory for
//! standard input). As Podman: built when it is missing from the store, always with
//! `--build`, never with `--build=false`. The build is coracle's own `build`, given the
//! command line `build -t IMAGE -f FILE DIR`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::cli::Command;
use crate::cli::kube::KubePlayArgs;
use crate::cmd::Context;
use crate::kube::play::Objects;
use crate::store::LockMode;

/// The directory of `image`'s build and its Containerfile, if that directory holds one.
fn build_file(dir: &Path, image: &str) -> Option<(PathBuf, PathBuf)> {
    let name = image.rsplit('/').next()?;
    let name = name.split('@').next()?;
    let name = name.split(':').next()?;
    if name.is_empty() || name == "." || name == ".." {
        return None;
    }
    let context = dir.join(name);
    ["Containerfile", "Dockerfile"]
        .iter()
        .map(|f| context.join(f))
        .find(|f| f.is_file())
        .map(|f| (context, f))
}

/// Where the images' build directories are looked for.
fn base_dir(args: &KubePlayArgs) -> anyhow::Result<PathBuf> {
    if let Some(d) = &args.context_dir {
        return Ok(d.clone());
    }
    let parent = Path::new(&args.file)
        .parent()
        .filter(|p| args.file != "-" && !p.as_os_str().is_empty());
    match parent {
        Some(p) => Ok(p.to_path_buf()),
        None => std::env::current_dir().context("reading the current directory"),
    }
}

/// Every image the pods of `objects` run, in order, once each.
fn images(objects: &Objects) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, spec, _) in &objects.pods {
        for c in spec
            .init_containers
            .iter()
            .flatten()
            .chain(&spec.containers)
        {
            if let Some(i) = &c.image
                && !out.contains(i)
            {
                out.push(i.clone());
            }
        }
    }
    out
}

/// Builds the images of `objects` that `--build` and the store say to build.
pub fn build_images(ctx: &Context, args: &KubePlayArgs, objects: &Objects) -> anyhow::Result<()> {
    if args.build == Some(false) {
        if args.context_dir.is_some() {
            bail!("--context-dir cannot be used with --build=false");
        }
        return Ok(());
    }
    let base = base_dir(args)?;
    if let Some(d) = &args.context_dir
        && !d.is_dir()
    {
        bail!("--context-dir {}: not a directory", d.display());
    }
    for image in images(objects) {
        let Some((context, file)) = build_file(&base, &image) else {
            continue;
        };
        if args.build != Some(true) && stored(ctx, &image)? {
            continue;
        }
        let line: Vec<String> = vec![
            "build".into(),
            "-t".into(),
            image.clone(),
            "-f".into(),
            file.display().to_string(),
            context.display().to_string(),
        ];
        let Command::Build(build) = super::play::parse_line(&line)? else {
            bail!("`coracle {}` is not a build", line.join(" "));
        };
        crate::cmd::build::run(ctx, &build)
            .with_context(|| format!("building image {image} from {}", context.display()))?;
    }
    Ok(())
}

/// Whether the store holds `image`.
fn stored(ctx: &Context, image: &str) -> anyhow::Result<bool> {
    let store = ctx.open_store(LockMode::Shared, "kube play")?;
    let images = store.images().list()?;
    Ok(crate::store::lookup::find(&images, image).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_directory_is_named_after_the_image() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("app")).unwrap();
        assert_eq!(build_file(dir.path(), "localhost/app:1.0"), None);
        std::fs::write(dir.path().join("app/Dockerfile"), "FROM scratch\n").unwrap();
        let (ctx, file) = build_file(dir.path(), "localhost/app:1.0").unwrap();
        assert_eq!(ctx, dir.path().join("app"));
        assert_eq!(file, dir.path().join("app/Dockerfile"));
        std::fs::write(dir.path().join("app/Containerfile"), "FROM scratch\n").unwrap();
        let (_, file) = build_file(dir.path(), "app").unwrap();
        assert_eq!(file, dir.path().join("app/Containerfile"));
        assert_eq!(build_file(dir.path(), "other"), None);
        assert_eq!(
            build_file(dir.path(), "registry:5000/x/app@sha256:ab").map(|x| x.0),
            Some(dir.path().join("app"))
        );
    }
}
