//! `coracle system doctor`: runs the checks of `crate::doctor` for the calling user and
//! prints them as a table (with the fixes below it), JSON or a template.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::cli::system::DoctorArgs;
use crate::cmd::{Context, out};
use crate::doctor::{self, Finding, Host, RunAs, Status};
use crate::error::ExitStatus;
use crate::output::{self, JsonStyle, ListFormat};
use crate::runtime::idmap::Account;

const FORMAT: ListFormat = ListFormat {
    default: "table {{.Check}}\t{{.Status}}\t{{.Details}}",
    headers: &[],
    json: JsonStyle::LIST,
};

/// Exit status when a check fails.
const FAILED: u8 = 1;

pub fn run(ctx: &Context, args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    let host = host(ctx);
    let findings = doctor::run_all(&host);
    let rows: Vec<Value> = findings.iter().map(row).collect();
    let text = output::render_list(
        args.format.as_deref(),
        &FORMAT,
        &rows,
        args.noheading,
        || serde_json::to_value(&findings).unwrap_or(Value::Null),
    )?;
    let mut text = text;
    if matches!(args.format.as_deref(), None | Some("" | "table")) {
        text += &fixes(&findings);
    }
    out(&text)?;
    Ok(if findings.iter().any(|f| f.status == Status::Fail) {
        ExitStatus::Code(FAILED)
    } else {
        ExitStatus::Success
    })
}

fn row(f: &Finding) -> Value {
    json!({
        "Check": f.check,
        "Status": f.status.as_str(),
        "Details": f.details,
        "Fix": f.fix.as_ref().map(|x| x.command.clone()),
        "RunAs": f.fix.as_ref().map(|x| run_as(x.run_as)),
    })
}

fn run_as(r: RunAs) -> &'static str {
    match r {
        RunAs::Root => "root",
        RunAs::User => "user",
    }
}

/// The fixes, one block per command (checks one command fixes share it): which checks, who
/// runs it, the command.
fn fixes(findings: &[Finding]) -> String {
    let mut blocks: Vec<(Vec<&str>, Status, RunAs, &str)> = Vec::new();
    for f in findings.iter().filter(|f| f.status != Status::Ok) {
        let Some(fix) = &f.fix else { continue };
        match blocks.iter_mut().find(|b| b.3 == fix.command) {
            Some(b) => {
                b.0.push(f.check);
                b.1 = b.1.max(f.status);
            }
            None => blocks.push((vec![f.check], f.status, fix.run_as, &fix.command)),
        }
    }
    if blocks.is_empty() {
        return String::new();
    }
    let mut text = String::from("\nTo fix:\n");
    for (checks, status, who, command) in blocks {
        let who = match who {
            RunAs::Root => "as root",
            RunAs::User => "as the user",
        };
        text += &format!(
            "  {} ({}, {who}):\n    {command}\n",
            checks.join(", "),
            status.as_str()
        );
    }
    text
}

/// The calling user's view of the machine.
fn host(ctx: &Context) -> Host {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let uid = nix::unistd::geteuid();
    let name = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .map(|u| u.name);
    let graphroot = ctx
        .paths()
        .map(|p| p.graphroot)
        .map_err(|e| format!("cannot find the store: {e:#}"));
    Host {
        sysroot: var(doctor::ROOT_VAR)
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/")),
        account: Account {
            uid: uid.as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            name,
        },
        xdg_runtime_dir: var("XDG_RUNTIME_DIR").map(PathBuf::from),
        sudo_user: var("SUDO_USER").and_then(|v| v.into_string().ok()),
        path_var: var("PATH")
            .and_then(|v| v.into_string().ok())
            .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()),
        graphroot,
        graphroot_from_flag: ctx.flags.root.is_some(),
        storage_conf: crate::config::StorageConf::path(&crate::config::Env::process()).ok(),
    }
}
