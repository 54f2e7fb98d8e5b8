//! `diff IMAGE`: the changes the image's top layer makes to the layers below it, as Podman
//! prints them (`A`/`C`/`D` lines, or `--format json`). Only the top layer is walked
//! ([`crate::archive::changes`]). Containers come with the runtime.

use anyhow::Context as _;
use serde_json::{Map, Value};

use crate::archive::{Change, ChangeKind, DIFF_DIR, layer_changes};
use crate::cli::DiffArgs;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle};
use crate::store::{LockMode, lookup};

/// `json.NewEncoder` with `SetIndent("", "     ")`, HTML escaped: Podman's `diff --format json`.
const DIFF_JSON: JsonStyle = JsonStyle {
    indent: "     ",
    escape_html: true,
};

pub fn run(ctx: &Context, args: &DiffArgs) -> anyhow::Result<ExitStatus> {
    let json = match args.format.as_deref() {
        None | Some("") => false,
        Some(f) if output::is_json(f) => true,
        Some(_) => anyhow::bail!("only supported value for '--format' is 'json'"),
    };
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
