//! Unprivileged user namespaces: the sysctls that forbid them (user_namespaces(7)), and
//! AppArmor's restriction (Ubuntu 23.10 and later), which lets an unconfined program create
//! one but takes every capability away inside it unless a profile grants `userns`.

use super::{Finding, Fix, Host, read_number};

const MAX_USER_NS: &str = "/proc/sys/user/max_user_namespaces";
/// Debian's and Ubuntu's older kernels' switch (absent on mainline kernels).
const USERNS_CLONE: &str = "/proc/sys/kernel/unprivileged_userns_clone";
const APPARMOR_RESTRICT: &str = "/proc/sys/kernel/apparmor_restrict_unprivileged_userns";
/// Where the fixes persist a sysctl across reboots.
const SYSCTL_FILE: &str = "/etc/sysctl.d/50-coracle-userns.conf";

fn sysctl_fix(key: &str, value: &str) -> String {
    format!("sysctl -w {key}={value} && echo '{key} = {value}' >> {SYSCTL_FILE}")
}

pub fn check_userns(host: &Host) -> Finding {
    const NAME: &str = "userns";
    let clone = read_number(&host.sys(USERNS_CLONE));
    let max = read_number(&host.sys(MAX_USER_NS));
    if host.is_root() {
        return Finding::ok(NAME, "not needed as root (containers use the host's ids)");
    }
    if clone == Some(0) {
        return Finding::fail(
            NAME,
            "kernel.unprivileged_userns_clone is 0: ordinary users cannot create user namespaces",
            Some(Fix::root(sysctl_fix(
                "kernel.unprivileged_userns_clone",
                "1",
            ))),
        );
    }
    match max {
        Some(0) => Finding::fail(
            NAME,
            "user.max_user_namespaces is 0: no user namespace can be created",
            Some(Fix::root(sysctl_fix("user.max_user_namespaces", "15000"))),
        ),
        Some(n) if n < 16 => Finding::warn(
            NAME,
            format!("user.max_user_namespaces is {n}: only a few containers can run at once"),
            Some(Fix::root(sysctl_fix("user.max_user_namespaces", "15000"))),
        ),
        Some(n) => Finding::ok(NAME, format!("allowed (user.max_user_namespaces = {n})")),
        None => Finding::fail(
            NAME,
            format!("{MAX_USER_NS} is missing: the kernel has no user namespaces (CONFIG_USER_NS)"),
            None,
        ),
    }
}

pub fn check_apparmor(host: &Host) -> Finding {
    const NAME: &str = "apparmor-userns";
    match read_number(&host.sys(APPARMOR_RESTRICT)) {
        None => Finding::ok(NAME, "no AppArmor restriction on user namespaces"),
        Some(0) => Finding::ok(NAME, "kernel.apparmor_restrict_unprivileged_userns is 0"),
        Some(_) if host.is_root() => Finding::ok(
            NAME,
            "kernel.apparmor_restrict_unprivileged_userns is set; root is not restricted",
        ),
        Some(_) => {
            let exe = std::env::current_exe()
                .ok()
                .and_then(|p| p.to_str().map(str::to_string))
                .filter(|p| !p.contains(['\'', ' ']))
                .unwrap_or_else(|| "/usr/bin/coracle".into());
            Finding::fail(
                NAME,
                "kernel.apparmor_restrict_unprivileged_userns is 1: coracle's user namespaces \
                 get no capabilities unless an AppArmor profile allows `userns`",
                Some(Fix::root(format!(
                    "printf 'abi <abi/4.0>,\\ninclude <tunables/global>\\nprofile coracle {exe} \
                     flags=(unconfined) {{\\n  userns,\\n}}\\n' > /etc/apparmor.d/coracle && \
                     apparmor_parser -r /etc/apparmor.d/coracle"
                ))),
            )
        }
    }
}
