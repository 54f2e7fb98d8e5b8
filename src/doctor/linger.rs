//! Linger (loginctl(1)): without it systemd stops a user's manager, and the containers its
//! units run, when the user's last session ends, and does not start them at boot.

use super::{Finding, Fix, Host};

pub fn check(host: &Host) -> Finding {
    const NAME: &str = "linger";
    if host.is_root() {
        return Finding::ok(
            NAME,
            "not needed as root (system units run without a session)",
        );
    }
    let user = host.user_name();
    if !host.sys("/run/systemd/system").is_dir() {
        return Finding::warn(
            NAME,
            "systemd is not the init system here: no user units, so coracle's example units \
             cannot run",
            None,
        );
    }
    if host
        .sys(&format!("/var/lib/systemd/linger/{user}"))
        .exists()
    {
        return Finding::ok(NAME, format!("enabled for {user}"));
    }
    Finding::warn(
        NAME,
        format!(
            "not enabled for {user}: user units (and their containers) stop at logout and do \
             not start at boot"
        ),
        Some(Fix::root(format!("loginctl enable-linger {user}"))),
    )
}
