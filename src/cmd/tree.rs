//! `image tree`: the layer stack of an image, bottom layer first, as Podman draws it.

use crate::cli::TreeArgs;
use crate::cmd::images::ImageView;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::output;
use crate::store::{LockMode, lookup};

pub fn run(ctx: &Context, args: &TreeArgs) -> anyhow::Result<ExitStatus> {
    if args.whatrequires {
        anyhow::bail!("--whatrequires is not supported yet");
    }
    let store = ctx.open_store(LockMode::Shared, "image tree")?;
    let records = store.images().list()?;
    let (rec, _) = lookup::find(&records, &args.image)?;
    let view = ImageView::load(&store, rec.clone())?;
    let mut text = String::new();
    text.push_str(&format!("Image ID: {}\n", rec.id.short()));
    text.push_str(&format!("Tags:     [{}]\n", view.repo_tags().join(" ")));
    text.push_str(&format!(
        "Size:     {}\n",
        output::human_size_precision(rec.size, 4)
    ));
    text.push_str("Image Layers\n");
    let n = rec.layers.len();
    for (i, diff_id) in rec.layers.iter().enumerate() {
        let size = store.layers().get(diff_id).map(|l| l.tar_size).unwrap_or(0);
        let branch = if i + 1 == n { "└──" } else { "├──" };
        let mut line = format!(
            "{branch} ID: {} Size: {}",
            diff_id.short(),
            output::human_size_precision(size, 4)
        );
        // Images whose top layer this is, as Podman notes them.
        let tops: Vec<String> = records
            .iter()
            .filter(|r| r.layers.last() == Some(diff_id) && r.layers[..] == rec.layers[..=i])
            .flat_map(|r| {
                if r.names.is_empty() {
                    vec![format!("<none>@{}", r.id.short())]
                } else {
                    r.names.clone()
                }
            })
            .collect();
        if !tops.is_empty() {
            line.push_str(&format!(" Top Layer of: [{}]", tops.join(" ")));
        }
        text.push_str(&line);
        text.push('\n');
    }
    out(&text)?;
    Ok(ExitStatus::Success)
}
