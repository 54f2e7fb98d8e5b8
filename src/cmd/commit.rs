//! `commit CONTAINER [IMAGE]`: a stopped container's changes become a new image
//! ([`crate::transfer::container`]). Podman's progress lines go to stderr unless `-q`; the new
//! image's ID goes to stdout.

use anyhow::{Context as _, bail};

use crate::cli::CommitArgs;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::oci::manifest::Schema;
use crate::oci::reference;
use crate::output::eprint;
use crate::store::LockMode;
use crate::store::containers::ContainerRecord;
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
    };
    let mut store = ctx.open_store(LockMode::Shared, "commit")?;
    let record = find(&store.containers().list()?, &args.container)?;
    let dir = store.containers().path(&record.id);
    if !args.quiet {
        eprint("Getting image source signatures\n");
    }
    let done = commit::commit_container(&mut store, &dir, &record, &opts)
        .with_context(|| format!("committing container {}", args.container))?;
    drop(store);
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

/// The container named `query`: a full ID, a name, or a unique ID prefix (Podman's order).
fn find(all: &[ContainerRecord], query: &str) -> anyhow::Result<ContainerRecord> {
    if let Some(c) = all
        .iter()
        .find(|c| c.id == query || c.names.iter().any(|n| n == query))
    {
        return Ok(c.clone());
    }
    let prefixed: Vec<_> = if query.is_empty() || !query.bytes().all(|b| b.is_ascii_hexdigit()) {
        Vec::new()
    } else {
        all.iter().filter(|c| c.id.starts_with(query)).collect()
    };
    match prefixed.as_slice() {
        [one] => Ok((*one).clone()),
        [] => bail!("no container with name or ID {query:?} found: no such container"),
        _ => bail!(
            "more than one result for container {query:?}: {}",
            prefixed
                .iter()
                .map(|c| containers_short(&c.id))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn containers_short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_by_id_name_and_prefix() {
        let rec = |id: &str, name: &str| ContainerRecord {
            id: id.into(),
            names: vec![name.into()],
            image: "busybox".into(),
            image_id: crate::oci::digest::Digest::of_bytes(b"i"),
            image_name: String::new(),
            command: Vec::new(),
            created: chrono::Utc::now(),
            state: crate::store::containers::State::Exited,
            pid: None,
            started_at: None,
            finished_at: None,
            exit_code: None,
            driver: "overlay".into(),
            remove: false,
        };
        let all = [rec("abc1", "web"), rec("abd2", "abc")];
        assert_eq!(find(&all, "web").unwrap().id, "abc1");
        assert_eq!(find(&all, "abc").unwrap().id, "abd2");
        assert_eq!(find(&all, "abd").unwrap().id, "abd2");
        assert!(find(&all, "ab").is_err());
        assert!(find(&all, "zz").is_err());
    }
}
