//! `diff IMAGE|CONTAINER`: the changes the image's top layer makes to the layers below it,
//! or those of a container's writable layer ([`container`]), as Podman prints them
//! (`A`/`C`/`D` lines, or `--format json`). Only the top layer is walked
//! ([`crate::archive::changes`]). A name is looked up among containers first, as Podman does.

pub(crate) mod container;

use anyhow::Context as _;
use serde_json::{Map, Value};

use crate::archive::{Change, ChangeKind, DIFF_DIR, layer_changes};
use crate::cli::DiffArgs;
use crate::cli::exec::ContainerDiffArgs;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle};
use crate::store::{LockMode, lookup};

/// `json.NewEncoder` with `SetIndent("", "     ")`, HTML escaped: Podman's `diff --format json`.
const DIFF_JSON: JsonStyle = JsonStyle {
    indent: "     ",
    escape_html: true,
};

fn wants_json(format: Option<&str>) -> anyhow::Result<bool> {
    Ok(match format {
        None | Some("") => false,
        Some(f) if output::is_json(f) => true,
        Some(_) => anyhow::bail!("only supported value for '--format' is 'json'"),
    })
}

/// `container diff [-l] CONTAINER`.
pub fn container(ctx: &Context, args: &ContainerDiffArgs) -> anyhow::Result<ExitStatus> {
    let json = wants_json(args.format.as_deref())?;
    let name = match (&args.container, args.latest) {
        (Some(_), true) | (None, false) => {
            anyhow::bail!("provide a container name or ID, or --latest")
        }
        (Some(n), false) => Some(n.as_str()),
        (None, true) => None,
    };
    let (view, spec) = crate::cmd::exec::container_and_spec(ctx, name)?;
    let changes = container::changes(&spec)
        .with_context(|| format!("comparing container {} with its image", view.id()))?;
    out(&render(&changes, json))?;
    Ok(ExitStatus::Success)
}

pub fn run(ctx: &Context, args: &DiffArgs) -> anyhow::Result<ExitStatus> {
    let json = wants_json(args.format.as_deref())?;
    let is_container = {
        let store = ctx.open_store(LockMode::Shared, "diff")?;
        let views = crate::cmd::containers::all(&store)?;
        crate::cmd::containers::find(&views, &args.image).is_ok()
    };
    if is_container {
        return container(
            ctx,
            &ContainerDiffArgs {
                format: args.format.clone(),
                latest: false,
                container: Some(args.image.clone()),
            },
        );
    }
    let store = ctx.open_store(LockMode::Shared, "diff")?;
    let records = store.images().list()?;
    let (rec, _) = lookup::find(&records, &args.image)?;
    let Some((top, below)) = rec.layers.split_last() else {
        anyhow::bail!("image {} has no layers", rec.id.short());
    };
    let tree = |d| store.layers().path(d).join(DIFF_DIR);
    let lowers: Vec<_> = below.iter().rev().map(tree).collect();
    let changes = layer_changes(&tree(top), &lowers)
        .with_context(|| format!("comparing the layers of {}", args.image))?;
    drop(store);
    out(&render(&changes, json))?;
    Ok(ExitStatus::Success)
}

/// The lines, or Podman's JSON object (`changed`, `added`, `deleted`, empty lists left out).
fn render(changes: &[Change], json: bool) -> String {
    if !json {
        return changes.iter().map(|c| format!("{c}\n")).collect();
    }
    let mut obj = Map::new();
    for (key, kind) in [
        ("changed", ChangeKind::Changed),
        ("added", ChangeKind::Added),
        ("deleted", ChangeKind::Deleted),
    ] {
        let paths: Vec<Value> = changes
            .iter()
            .filter(|c| c.kind == kind)
            .map(|c| Value::String(c.path_display()))
            .collect();
        if !paths.is_empty() {
            obj.insert(key.into(), Value::Array(paths));
        }
    }
    format!("{}\n", output::to_json(&Value::Object(obj), DIFF_JSON))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ChangeKind, path: &str) -> Change {
        Change {
            kind,
            path: path.as_bytes().to_vec(),
        }
    }

    #[test]
    fn podman_json_and_lines() {
        let changes = [
            change(ChangeKind::Changed, "/usr"),
            change(ChangeKind::Added, "/usr/a<b"),
            change(ChangeKind::Changed, "/etc"),
        ];
        assert_eq!(render(&changes, false), "C /usr\nA /usr/a<b\nC /etc\n");
        assert_eq!(
            render(&changes, true),
            "{\n     \"changed\": [\n          \"/usr\",\n          \"/etc\"\n     ],\n     \"added\": [\n          \"/usr/a\\u003cb\"\n     ]\n}\n"
        );
        assert_eq!(render(&[], true), "{}\n");
    }
}
