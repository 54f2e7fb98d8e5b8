//! `system reset [-f]`: every container stopped, then everything coracle made in its graph
//! root and run root removed — as container root in the user namespace, so files containers
//! gave to subordinate ids go too — and nothing else (`store::reset` decides what is
//! coracle's). It does not open the store: a store too broken to open is reset all the same.

use std::io::{BufRead as _, Write as _};
use std::path::Path;

use anyhow::Context as _;

use crate::cli::system::SystemResetArgs;
use crate::cmd::{Context, out};
use crate::error::ExitStatus;
use crate::runtime::UserMapping;
use crate::store::containers::Containers;
use crate::store::reset::{self, Plan, ResetError};

pub fn run(ctx: &Context, args: &SystemResetArgs) -> anyhow::Result<ExitStatus> {
    let paths = ctx.paths()?;
    if !args.force && !confirmed(&paths.graphroot, &paths.runroot)? {
        return Ok(ExitStatus::Success);
    }
    stop_containers(&paths.graphroot);
    let mapping = UserMapping::current().context("computing the user namespace's id mapping")?;
    let root_plan = reset::plan(&paths.graphroot)?;
    // The run root holds only state that dies with a reboot: one coracle did not mark is
    // left alone rather than failing the reset.
    let run_plan = match reset::plan(&paths.runroot) {
        Err(ResetError::NotMarked { .. }) => Plan::Absent,
        other => other?,
    };
    for (dir, plan) in [(&paths.graphroot, root_plan), (&paths.runroot, run_plan)] {
        let Plan::Remove { entries, others } = plan else {
            continue;
        };
        // Directories may hold files of subordinate ids; the top-level files are the user's.
        let (dirs, files): (Vec<_>, Vec<_>) = entries
            .into_iter()
            .partition(|p| p.symlink_metadata().is_ok_and(|m| m.is_dir()));
        crate::cmd::rm::delete_dirs(&mapping, &dirs)
            .with_context(|| format!("removing the store in {}", dir.display()))?;
        for f in files {
            match std::fs::remove_file(&f) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", f.display()));
                }
                _ => {}
            }
        }
        if others.is_empty() {
            match std::fs::remove_dir(dir) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(e).with_context(|| format!("removing {}", dir.display()));
                }
                _ => {}
            }
        } else {
            let names: Vec<String> = others
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect();
            out(&format!(
                "Kept {} in {}: coracle did not make {}\n",
                names.join(", "),
                dir.display(),
                if names.len() == 1 { "it" } else { "them" }
            ))?;
        }
    }
    Ok(ExitStatus::Success)
}

/// Podman's prompt; true when the user answered yes.
fn confirmed(graphroot: &Path, runroot: &Path) -> anyhow::Result<bool> {
    let mut stderr = std::io::stderr();
    let mut text = String::from("WARNING! This will remove:\n");
    for item in [
        "all containers".to_string(),
        "all images".to_string(),
        "all volumes".to_string(),
        "all build cache".to_string(),
        format!(
            "the graphRoot directory: {:?}",
            graphroot.display().to_string()
        ),
        format!("the runRoot directory: {:?}", runroot.display().to_string()),
    ] {
        text.push_str(&format!("        - {item}\n"));
    }
    text.push_str("Are you sure you want to continue? [y/N] ");
    let _ = stderr.write_all(text.as_bytes());
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("reading the answer")?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Kills the monitors of running containers (their inits die with them); records that cannot
/// be read are skipped: their directories go with the rest.
fn stop_containers(graphroot: &Path) {
    let Ok(records) = Containers::new(graphroot.join("containers")).list() else {
        return;
    };
    for r in records {
        if let (Some(pid), Some(start)) = (r.monitor_pid, r.monitor_start) {
            let monitor = crate::sys::process::ProcessIdentity {
                pid,
                start_time: start,
            };
            let _ = monitor.kill();
            for _ in 0..500 {
                if !monitor.is_alive() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    }
}
