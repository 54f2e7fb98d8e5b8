//! `history`: one row per config history entry, newest first, `<missing>` where the entry has
//! no image of its own in the store (as Podman prints it).

use chrono::Utc;
use serde_json::{Value, json};

use crate::cli::HistoryArgs;
use crate::cmd::images::{ImageView, go_time};
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle, ListFormat};
use crate::store::{LockMode, lookup};

const HISTORY_FORMAT: ListFormat = ListFormat {
    default: "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
    headers: &[
        ("ID", "IMAGE"),
        ("CreatedBy", "CREATED BY"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
    ],
    json: JsonStyle::COMPACT,
};

/// One history entry, resolved against the image's layers.
struct Entry {
    id: String,
    created: Option<chrono::DateTime<Utc>>,
    created_by: String,
    size: u64,
    comment: String,
    tags: Vec<String>,
}

pub fn run(ctx: &Context, args: &HistoryArgs) -> anyhow::Result<ExitStatus> {
    let store = ctx.open_store(LockMode::Shared, "history")?;
    let records = store.images().list()?;
    let (rec, _) = lookup::find(&records, &args.image)?;
    let view = ImageView::load(&store, rec.clone())?;
    let others = ImageView::all(&store)?;
    let entries = entries(&store, &view, &others);
    let now = Utc::now();
    if args.quiet {
        let text: String = entries
            .iter()
            .map(|e| format!("{}\n", shorten_id(&e.id, args.no_trunc)))
            .collect();
        out(&text)?;
        return Ok(ExitStatus::Success);
    }
    let rows: Vec<Value> = entries
        .iter()
        .map(|e| {
            let since = e
                .created
                .map(|c| output::created_since(c, now))
                .unwrap_or_default();
            let created = if args.human {
                since.clone()
            } else {
                e.created
                    .map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
                    .unwrap_or_default()
            };
            let created_by = if !args.no_trunc && e.created_by.chars().count() > 45 {
                format!("{}...", e.created_by.chars().take(42).collect::<String>())
            } else {
                e.created_by.clone()
            };
            json!({
                "ID": shorten_id(&e.id, args.no_trunc),
                "Created": created,
                "CreatedSince": since,
                "CreatedAt": e.created.map(go_time).unwrap_or_default(),
                "CreatedBy": created_by,
                "Size": if args.human { output::human_size(e.size) } else { e.size.to_string() },
                "Comment": e.comment,
                "Tags": e.tags,
            })
        })
        .collect();
    let text = output::render_list(
        args.format.as_deref(),
        &HISTORY_FORMAT,
        &rows,
        false,
        || {
            Value::Array(
            entries
                .iter()
                .map(|e| {
                    // The keys Podman 4.3 writes (its struct mixes two spellings).
                    let created = e.created.map(|c| c.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
                    let mut row = json!({"id": e.id, "created": created, "CreatedBy": e.created_by, "size": e.size});
                    if !e.comment.is_empty() {
                        row["comment"] = json!(e.comment);
                    }
                    if !e.tags.is_empty() {
                        row["tags"] = json!(e.tags);
                    }
                    row["Created"] = json!(created);
                    row
                })
                .collect(),
        )
        },
    )?;
    out(&text)?;
    Ok(ExitStatus::Success)
}

fn shorten_id(id: &str, no_trunc: bool) -> String {
    if no_trunc || id.len() < 12 || id == "<missing>" {
        id.to_string()
    } else {
        id[..12].to_string()
    }
}

/// Newest first; the image's own ID on the first row, a parent image's ID on the row where
/// that parent's history ends (an image in the store whose history and layers are this
/// image's up to there), `<missing>` elsewhere; sizes from the layers the non-empty entries
/// produced.
fn entries(store: &crate::store::Store, view: &ImageView, others: &[ImageView]) -> Vec<Entry> {
    let mut layers = view.rec.layers.iter().rev();
    let mut out = Vec::new();
    let history = &view.config.history;
    let parent_at = |kept: usize| -> Option<String> {
        let prefix = &history[..kept];
        let layer_count = prefix.iter().filter(|h| !h.empty_layer).count();
        others
            .iter()
            .find(|o| {
                o.rec.id != view.rec.id
                    && o.config.history.len() == kept
                    && o.config.history[..] == *prefix
                    && view.rec.layers.get(..layer_count) == Some(&o.rec.layers[..])
            })
            .map(|o| o.rec.id.hex().to_string())
    };
    for (i, h) in history.iter().rev().enumerate() {
        let size = if h.empty_layer {
            0
        } else {
            layers
                .next()
                .and_then(|d| store.layers().get(d).ok())
                .map(|l| l.tar_size)
                .unwrap_or(0)
        };
        out.push(Entry {
            id: if i == 0 {
                view.rec.id.hex().to_string()
            } else {
                parent_at(history.len() - i).unwrap_or_else(|| "<missing>".into())
            },
            created: h.created,
            created_by: h.created_by.clone().unwrap_or_default(),
            size,
            comment: h.comment.clone().unwrap_or_default(),
            tags: if i == 0 { view.repo_tags() } else { Vec::new() },
        });
    }
    if history.is_empty() {
        out.push(Entry {
            id: view.rec.id.hex().to_string(),
            created: Some(view.created()),
            created_by: String::new(),
            size: view.rec.size,
            comment: String::new(),
            tags: view.repo_tags(),
        });
    }
    out
}
