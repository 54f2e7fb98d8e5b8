//! `auto-update`: containers labelled `io.containers.autoupdate=registry|local` whose unit is
//! known (`PODMAN_SYSTEMD_UNIT`, set by `generate systemd` and `quadlet` units) are checked
//! against their image's newest version — the registry's digest for `registry`, the store's
//! image of the same name for `local` — and, unless `--dry-run`, the image is pulled and the
//! unit restarted with `systemctl --user restart`. Where no systemd user manager answers, the
//! container is created again from its create command (`--replace -d`) and the output says
//! so. When that restart fails, `--rollback` (the default) gives the name back to the image
//! the container ran before and restarts it again: `rolled back`. Columns as Podman's: UNIT
//! CONTAINER IMAGE POLICY UPDATED.

use std::process::Command;

use anyhow::Context as _;
use serde_json::json;

use crate::cli::autoupdate::{AutoUpdateArgs, SYSTEMD_UNIT_LABEL};
use crate::cli::pull::PullPolicy;
use crate::cmd::Context;
use crate::error::ExitStatus;
use crate::output::{JsonStyle, ListFormat, render_list};
use crate::store::containers::ContainerRecord;
use crate::store::{LockMode, lookup};

/// The label naming a container's update policy.
pub const POLICY_LABEL: &str = "io.containers.autoupdate";

const FORMAT: ListFormat = ListFormat {
    default: "table {{.Unit}}\t{{.Container}}\t{{.Image}}\t{{.Policy}}\t{{.Updated}}",
    headers: &[],
    json: JsonStyle::LIST,
};

pub fn run(ctx: &Context, args: &AutoUpdateArgs) -> anyhow::Result<ExitStatus> {
    let records = {
        let store = ctx.open_store(LockMode::Shared, "auto-update")?;
        let mut r = store.containers().list()?;
        r.sort_by_key(|c| c.created);
        r
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for rec in &records {
        let Some(policy) = rec.labels.get(POLICY_LABEL) else {
            continue;
        };
        let unit = rec
            .labels
            .get(SYSTEMD_UNIT_LABEL)
            .cloned()
            .unwrap_or_default();
        let name = rec.names.first().cloned().unwrap_or_default();
        let container = format!("{} ({name})", &rec.id[..12.min(rec.id.len())]);
        // The name the container was created with, which a newer image takes over.
        let image = rec.image.clone();
        let updated = match check_and_update(ctx, args, rec, policy, &image, &unit) {
            Ok(u) => u,
            Err(e) => {
                errors.push(format!("{name}: {e:#}"));
                "failed".to_string()
            }
        };
        rows.push(json!({
            "Unit": unit,
            "Container": container,
            "ContainerName": name,
            "ContainerID": rec.id,
            "Image": image,
            "Policy": policy,
            "Updated": updated,
        }));
    }
    let text = render_list(args.format.as_deref(), &FORMAT, &rows, false, || {
        serde_json::Value::Array(rows.clone())
    })?;
    crate::cmd::out(&text)?;
    match errors.is_empty() {
        true => Ok(ExitStatus::Success),
        false => anyhow::bail!("{}", errors.join("\n")),
    }
}

/// `false` (current), `pending` (`--dry-run`), `true` (updated, with how it restarted).
fn check_and_update(
    ctx: &Context,
    args: &AutoUpdateArgs,
    rec: &ContainerRecord,
    policy: &str,
    image: &str,
    unit: &str,
) -> anyhow::Result<String> {
    if unit.is_empty() {
        anyhow::bail!(
            "the container has no {SYSTEMD_UNIT_LABEL} label: it is not run by a systemd unit"
        );
    }
    let current = match policy {
        "local" => {
            let store = ctx.open_store(LockMode::Shared, "auto-update")?;
            let images = store.images().list()?;
            let (found, _) = lookup::find(&images, image)
                .with_context(|| format!("looking up the local image {image}"))?;
            found.id == rec.image_id
        }
        "registry" => {
            let reference = crate::oci::reference::normalize_docker(image)
                .map_err(|e| anyhow::anyhow!("{image}: {e}"))?;
            let local = {
                let store = ctx.open_store(LockMode::Shared, "auto-update")?;
                let images = store.images().list()?;
                let (found, _) = lookup::find(&images, image)?;
                if found.id != rec.image_id {
                    // A newer image is already here: only the restart is missing.
                    None
                } else {
                    Some(found.digest.clone())
                }
            };
            match local {
                None => false,
                Some(digest) => crate::transfer::pull::is_current(
                    &crate::config::Env::process(),
                    &args.registry,
                    &reference,
                    &digest,
                )?,
            }
        }
        other => anyhow::bail!("unknown auto-update policy {other:?} (registry or local)"),
    };
    if current {
        return Ok("false".into());
    }
    if args.dry_run {
        return Ok("pending".into());
    }
    if policy == "registry" {
        crate::cmd::pull::for_run(
            ctx,
            image,
            PullPolicy::Always,
            &args.registry,
            &Default::default(),
            true,
        )?;
    }
    let failed = match restart(rec, unit) {
        Ok(how) => return Ok(how),
        Err(e) if !args.rollback => return Err(e),
        Err(e) => e,
    };
    rollback(ctx, rec, image, unit).map_err(|e| {
        e.context(format!(
            "rolling back to the previous image {} after the update failed ({failed:#})",
            rec.image_id.hex()
        ))
    })?;
    crate::output::eprint(&format!(
        "{}: the update failed ({failed:#}); rolled back to image {}\n",
        rec.names.first().map_or("", String::as_str),
        rec.image_id.hex()
    ));
    Ok("rolled back".into())
}

/// Gives the container's name for its image back to the image it ran before, and restarts
/// it on that image (Podman's `--rollback`).
fn rollback(ctx: &Context, rec: &ContainerRecord, image: &str, unit: &str) -> anyhow::Result<()> {
    crate::cmd::tag::tag(
        ctx,
        &crate::cli::TagArgs {
            image: rec.image_id.hex().to_string(),
            names: vec![image.to_string()],
        },
    )
    .with_context(|| format!("tagging the previous image as {image}"))?;
    restart(rec, unit)
        .map(drop)
        .context("restarting on the previous image")
}

/// `systemctl --user restart UNIT`, or (no user manager) the container made again.
fn restart(rec: &ContainerRecord, unit: &str) -> anyhow::Result<String> {
    let manager = Command::new("systemctl")
        .args(["--user", "is-system-running"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .is_some_and(|s| matches!(s.trim(), "running" | "degraded"));
    if manager {
        let status = Command::new("systemctl")
            .args(["--user", "restart", unit])
            .status()
            .context("running systemctl --user restart")?;
        if !status.success() {
            anyhow::bail!("systemctl --user restart {unit} failed ({status})");
        }
        return Ok("true".into());
    }
    let line = crate::cmd::generate::rewrite::split(&rec.create_command)?;
    let exe = crate::cmd::generate::self_path()?;
    let out = Command::new(exe)
        .args(&line.globals)
        .args(["run", "--replace", "-d"])
        .args(&line.run_flags)
        .args(&line.image_and_command)
        .env(SYSTEMD_UNIT_LABEL, unit)
        .env_remove("NOTIFY_SOCKET")
        .stdout(std::process::Stdio::null())
        .output()
        .context("creating the container again")?;
    if !out.status.success() {
        anyhow::bail!(
            "creating the container again failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    crate::output::eprint(&format!(
        "no systemd user manager: container {} was created again directly, outside {unit}\n",
        rec.names.first().map_or("", String::as_str)
    ));
    Ok("true".into())
}
