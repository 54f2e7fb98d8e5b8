//! `rename CONTAINER NEWNAME`: under the exclusive store lock (which keeps names unique, as
//! `create` does), the record's name and the spec's are replaced; a running container keeps
//! running (its `/etc/hosts` keeps the name it started with, as in Podman).

use anyhow::{Context as _, bail};

use crate::cli::control::RenameArgs;
use crate::cmd::{Context, containers};
use crate::error::ExitStatus;
use crate::store::LockMode;
use crate::store::containers::{self as records, SPEC};

pub fn run(ctx: &Context, args: &RenameArgs) -> anyhow::Result<ExitStatus> {
    let new = args.name.as_str();
    if !records::valid_name(new) {
        bail!("names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*: invalid argument");
    }
    let store = ctx.open_store(LockMode::Exclusive, "rename")?;
    let views = containers::all(&store)?;
    let v = containers::find(&views, &args.container)?;
    let id = v.id();
    if v.rec.names.iter().any(|n| n == new) {
        return Ok(ExitStatus::Success);
    }
    if views.iter().any(|o| o.rec.names.iter().any(|n| n == new)) {
        bail!(
            "renaming container {id}: name {new} already in use, cannot rename container \
             {id}: container already exists"
        );
    }
    let dir = store.containers().path(id);
    records::update(&dir, |r| r.names = vec![new.to_string()])
        .with_context(|| format!("renaming container {id}"))?;
    rename_in_spec(&dir.join(SPEC), new).with_context(|| format!("renaming container {id}"))?;
    Ok(ExitStatus::Success)
}

/// The spec's `name` (what a later start generates `/etc/hosts` from), rewritten in place
/// through a temporary file; other fields are kept as they are.
fn rename_in_spec(path: &std::path::Path, new: &str) -> anyhow::Result<()> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut spec: serde_json::Value = serde_json::from_slice(&text)
        .with_context(|| format!("{} is not valid JSON", path.display()))?;
    if let Some(obj) = spec.as_object_mut() {
        obj.insert("name".into(), new.into());
    }
    let tmp = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(&spec)?;
    crate::store::images::write_synced(&tmp, &bytes)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
