//! `$XDG_RUNTIME_DIR`: coracle's run state (`runroot`) and systemd's user bus live there, so
//! it must be a directory the user owns. `su` and `sudo -u` sessions are the usual culprits:
//! they keep the caller's variable, or have none, since no login session was opened.

use std::os::unix::fs::MetadataExt as _;

use super::{Finding, Fix, Host};

pub fn check(host: &Host) -> Finding {
    const NAME: &str = "runtime-dir";
    if host.is_root() {
        return Finding::ok(
            NAME,
            "not needed as root (the run state is in /run/coracle)",
        );
    }
    let uid = host.account.uid;
    let session = if host.sudo_user.is_some() {
        "a sudo session"
    } else {
        "a su or sudo session?"
    };
    let Some(dir) = &host.xdg_runtime_dir else {
        return Finding::warn(
            NAME,
            format!(
                "XDG_RUNTIME_DIR is not set ({session}): run state goes to \
                 /tmp/coracle-run-{uid} and systemd user units cannot be reached"
            ),
            session_fix(host),
        );
    };
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Err(e) => Finding::fail(
            NAME,
            format!("XDG_RUNTIME_DIR={shown}: {e}"),
            session_fix(host),
        ),
        Ok(m) if !m.is_dir() => Finding::fail(
            NAME,
            format!("XDG_RUNTIME_DIR={shown} is not a directory"),
            session_fix(host),
        ),
        Ok(m) if m.uid() != uid => Finding::fail(
            NAME,
            format!(
                "XDG_RUNTIME_DIR={shown} belongs to uid {}, not {} ({session})",
                m.uid(),
                host.user_name()
            ),
            session_fix(host),
        ),
        Ok(_) => Finding::ok(NAME, format!("{shown}, owned by {}", host.user_name())),
    }
}

/// The hint for an error `message` that a permission was refused under `$XDG_RUNTIME_DIR`,
/// when the directory belongs to another user (which `su` and `sudo -u` sessions keep):
/// without it, a bare "Permission denied" on an auth file or a run directory says nothing of
/// the cause.
pub fn foreign_dir_hint(message: &str) -> Option<String> {
    let dir = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty())?;
    let shown = std::path::Path::new(&dir).display().to_string();
    if !message.contains("Permission denied") || !message.contains(&shown) {
        return None;
    }
    let owner = std::fs::metadata(&dir).ok()?.uid();
    let me = rustix::process::geteuid().as_raw();
    (owner != me).then(|| {
        format!(
            "XDG_RUNTIME_DIR={shown} belongs to uid {owner}, not to this user (uid {me}): a \
             `su` or `sudo -u` session keeps the caller's. Log in as the user (`machinectl \
             shell`, ssh) or unset XDG_RUNTIME_DIR; `coracle system doctor` checks this."
        )
    })
}

/// The user's own `/run/user/UID` if systemd-logind made it, else a real login session.
fn session_fix(host: &Host) -> Option<Fix> {
    let uid = host.account.uid;
    let own = format!("/run/user/{uid}");
    let usable = std::fs::metadata(host.sys(&own)).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    if usable {
        Some(Fix::user(format!("export XDG_RUNTIME_DIR={own}")))
    } else if host.which("machinectl").is_some() {
        Some(Fix::root(format!("machinectl shell {}@", host.user_name())))
    } else {
        Some(Fix::user(format!(
            "export XDG_RUNTIME_DIR=$(mktemp -d /tmp/coracle-xdg-{uid}-XXXXXX)"
        )))
    }
}
