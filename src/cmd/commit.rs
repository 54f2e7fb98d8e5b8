//! `commit CONTAINER [IMAGE]`: a stopped container's changes become a new image
//! ([`crate::transfer::container`]). Podman's progress lines go to stderr unless `-q`; the new
//! image's ID goes to stdout.

use anyhow::{Context as _, bail};

use crate::cli::CommitArgs;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::events::Event;
use crate::oci::manifest::Schema;
use crate::oci::reference;
use crate::output::eprint;
use crate::store::LockMode;
use crate::transfer::container::{self as commit, CommitOptions};

pub fn run(ctx: &Context, args: &CommitArgs) -> anyhow::Result<ExitStatus> {
    let schema = match args.format.as_str() {
        "oci" => Schema::Oci,
        "docker" => Schema::Docker,
        other => bail!("unrecognized image type {other:?}"),
    };
    if args.squash {
        bail!("--squash: squashing a commit into one layer is not supported yet");
    }
    let name = match &args.image {
        Some(r) => Some(
            reference::normalize_local(r)
                .with_context(|| format!("committing as {r}"))?
                .to_string(),
        ),
        None => None,
    };
    let opts = CommitOptions {
        name,
        changes: args.changes.clone(),
        message: args.message.clone(),
        author: args.author.clone(),
        schema,
        created: None,
        ..Default::default()
    };
    let mut store = ctx.open_store(LockMode::Shared, "commit")?;
    crate::failpoint!("commit.store-locked");
    let record =
        crate::store::containers::find(&store.containers().list()?, &args.container)?.clone();
    let dir = store.containers().path(&record.id);
    if !args.quiet {
        eprint("Getting image source signatures\n");
    }
    let done = commit::commit_container(&mut store, &dir, &record, &opts)
        .with_context(|| format!("committing container {}", args.container))?;
    let cname = record.names.first().map(String::as_str).unwrap_or_default();
    store.events().record(&Event::container(
        "commit",
        &record.id,
        cname,
        &record.image,
    ));
    drop(store);
    crate::failpoint!("commit.done");
    if !args.quiet {
        let mut text: String = done
            .record
            .layers
            .iter()
            .map(|l| format!("Copying blob {l}\n"))
            .collect();
        text.push_str(&format!("Copying config {}\n", done.record.id));
        text.push_str("Writing manifest to image destination\nStoring signatures\n");
        eprint(&text);
    }
    let id = done.record.id.hex();
    if let Some(path) = &args.iidfile {
        std::fs::write(path, done.record.id.to_string())
            .with_context(|| format!("writing the image ID to {}", path.display()))?;
    }
    out(&format!("{id}\n"))?;
    Ok(ExitStatus::Success)
}
