//! A container's confinement, Podman's defaults: its capability sets, the `/proc` and `/sys`
//! paths it must not see or change, its seccomp filter and `no_new_privs`.
//!
//! - **Capabilities** ([`capabilities`]; `--cap-add`, `--cap-drop`, `--privileged`): the bounding set
//!   is [`DEFAULT_CAPS`] (every capability with `--privileged`) with the adds and drops merged
//!   as containers/common's `MergeCapabilities` does (`ALL` on either side; a capability both
//!   added and dropped is an error). Root in the container gets it as its permitted and
//!   effective sets, inheritable and ambient empty; any other user gets nothing but the
//!   capabilities it was explicitly given with `--cap-add`, in all four of permitted,
//!   effective, inheritable and ambient, so that they survive its `execve` (Podman's rule since
//!   CVE-2022-27649).
//! - **Masked and read-only paths** ([`MASKED_PATHS`], [`READ_ONLY_PATHS`]; `--security-opt
//!   mask=`/`unmask=`), mounted by `mounts::setup`; none with `--privileged`.
//! - **Seccomp** ([`profile`], [`bpf`]): containers' default profile
//!   ([`default_profile`]), a profile file (`--security-opt seccomp=FILE`, read when the
//!   container is created), or none (`seccomp=unconfined`, `--privileged`), compiled for the
//!   container's bounding set.
//! - **`no_new_privs`** only with `--security-opt no-new-privileges` (Podman's default is
//!   off, so set-user-ID programs in the image work).
//!
//! [`confine`] applies all of it but the paths to the calling process, in the order the kernel
//! needs (see there): the container's init runs it, and so does `exec`.

pub mod bpf;
pub mod capabilities;
pub mod default_profile;
pub mod profile;

use std::path::Path;

use nix::errno::Errno;
use nix::unistd::{Gid, Uid};
use serde::{Deserialize, Serialize};

pub use self::capabilities::{
    CapMask, CapSets, DEFAULT_CAPS, all_caps, apply_bounding, apply_sets, parse_caps,
};
use self::profile::{Profile, ProfileError};
use super::channel::{Step, StepError};
use super::idmap::UserMapping;

/// Podman's default masked paths (containers/common `DefaultMaskedPaths`): a directory gets
/// an empty read-only tmpfs over it, a file `/dev/null`.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/dev/block",
    "/sys/devices/virtual/powercap",
    "/sys/firmware",
    "/sys/fs/selinux",
];

/// Podman's default read-only paths (containers/common `DefaultReadOnlyPaths`): bind-mounted
/// onto themselves and remounted read-only.
pub const READ_ONLY_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    #[error("capability {0:?} cannot be dropped and added")]
    AddedAndDropped(String),
    #[error("adding all caps and removing all caps not allowed")]
    AllAndAll,
    #[error(
        "invalid --security-opt {0:?}: supported are seccomp=unconfined|FILE, \
         no-new-privileges[=true|false], mask=PATH[:PATH...], unmask=ALL|PATH[:PATH...], \
         label=..., apparmor=unconfined and systempaths=unconfined"
    )]
    UnsupportedOpt(String),
    #[error("invalid --security-opt {opt:?}: {path:?} is not an absolute path")]
    RelativePath { opt: String, path: String },
    #[error(transparent)]
    Profile(#[from] ProfileError),
}

/// Which seccomp filter the container gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seccomp {
    Unconfined,
    /// containers' default profile.
    Default,
    /// A profile file, as it was when the container was created.
    Profile {
        path: String,
        profile: Profile,
    },
}

impl Seccomp {
    /// The profile to compile, if any.
    pub fn profile(&self) -> Option<Profile> {
        match self {
            Seccomp::Unconfined => None,
            Seccomp::Default => Some(default_profile::profile()),
            Seccomp::Profile { profile, .. } => Some(profile.clone()),
        }
    }
}

/// The confinement of one container, decided by the command and applied by the init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Security {
    /// `--privileged`: every capability, no masked or read-only paths, no seccomp.
    pub privileged: bool,
    /// The bounding set (root's permitted and effective sets too).
    pub bounding: CapMask,
    /// What `--cap-add` named (for a non-root user: its only capabilities).
    pub added: CapMask,
    pub seccomp: Seccomp,
    /// `--security-opt no-new-privileges`.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// The paths hidden from the container (Podman's, less `unmask=`, plus `mask=`).
    #[serde(default = "default_masked")]
    pub masked_paths: Vec<String>,
    /// The paths the container may read only (Podman's, less `unmask=`).
    #[serde(default = "default_read_only")]
    pub read_only_paths: Vec<String>,
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn default_masked() -> Vec<String> {
    strings(MASKED_PATHS)
}

fn default_read_only() -> Vec<String> {
    strings(READ_ONLY_PATHS)
}

impl Default for Security {
    fn default() -> Security {
        Security {
            privileged: false,
            bounding: DEFAULT_CAPS.into_iter().collect(),
            added: CapMask::EMPTY,
            seccomp: Seccomp::Default,
            no_new_privileges: false,
            masked_paths: default_masked(),
            read_only_paths: default_read_only(),
        }
    }
}

/// `filepath.Match` for the patterns of `unmask=`: `*` is any run of characters but `/`,
/// `?` one such character; everything else is itself.
fn path_matches(pattern: &str, path: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                go(&p[1..], s) || (s.first().is_some_and(|c| *c != b'/') && go(p, &s[1..]))
            }
            (Some(b'?'), Some(c)) if *c != b'/' => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pattern.as_bytes(), path.as_bytes())
}

/// The `--security-opt` values, parsed.
#[derive(Debug, Default)]
struct Opts {
    seccomp: Option<Seccomp>,
    no_new_privileges: bool,
    mask: Vec<String>,
    /// `None`: nothing; `Some(empty)`: ALL.
    unmask: Vec<String>,
    unmask_all: bool,
}

fn parse_opts(values: &[String]) -> Result<Opts, SecurityError> {
    let mut o = Opts::default();
    for opt in values {
        let unsupported = || SecurityError::UnsupportedOpt(opt.clone());
        // Docker's old `key:value` spelling is accepted too, as Podman does.
        let (key, value) = match opt.split_once('=').or_else(|| opt.split_once(':')) {
            Some((k, v)) => (k, Some(v)),
            None => (opt.as_str(), None),
        };
        let paths = |v: Option<&str>| -> Result<Vec<String>, SecurityError> {
            v.unwrap_or_default()
                .split(':')
                .filter(|p| !p.is_empty())
                .map(|p| {
                    if p.starts_with('/') {
                        Ok(p.to_string())
                    } else {
                        Err(SecurityError::RelativePath {
                            opt: opt.clone(),
                            path: p.to_string(),
                        })
                    }
                })
                .collect()
        };
        match (key, value) {
            ("seccomp", Some("unconfined")) => o.seccomp = Some(Seccomp::Unconfined),
            ("seccomp", Some(file)) if !file.is_empty() => {
                let profile = Profile::read(Path::new(file))?;
                o.seccomp = Some(Seccomp::Profile {
                    path: file.to_string(),
                    profile,
                });
            }
            ("no-new-privileges", None | Some("true")) => o.no_new_privileges = true,
            ("no-new-privileges", Some("false")) => o.no_new_privileges = false,
            // There is no SELinux or AppArmor confinement here to turn off or choose.
            ("label", Some(_)) | ("apparmor", Some("unconfined")) => {}
            ("mask", v) => o.mask.extend(paths(v)?),
            ("unmask", Some("ALL")) | ("systempaths", Some("unconfined")) => o.unmask_all = true,
            ("unmask", v) => o.unmask.extend(paths(v)?),
            _ => return Err(unsupported()),
        }
    }
    Ok(o)
}

impl Security {
    /// The confinement from `--cap-add`, `--cap-drop`, `--privileged` and `--security-opt`;
    /// `every` is the set `ALL` and `--privileged` mean ([`all_caps`]).
    pub fn from_flags(
        cap_add: &[String],
        cap_drop: &[String],
        privileged: bool,
        security_opt: &[String],
        every: &CapMask,
    ) -> Result<Security, SecurityError> {
        let opts = parse_opts(security_opt)?;
        let seccomp = match opts.seccomp {
            Some(s) => s,
            None if privileged => Seccomp::Unconfined,
            None => Seccomp::Default,
        };
        let (add_all, add) = parse_caps(cap_add)?;
        let (drop_all, drop) = parse_caps(cap_drop)?;
        let base: CapMask = if privileged {
            *every
        } else {
            DEFAULT_CAPS.into_iter().collect()
        };
        // containers/common MergeCapabilities.
        let bounding = if drop_all {
            if add_all {
                return Err(SecurityError::AllAndAll);
            }
            add
        } else {
            if let Some(c) = add.intersect(drop).caps().first() {
                return Err(SecurityError::AddedAndDropped(c.to_string()));
            }
            let base = if add_all { *every } else { base };
            base.union(add).minus(drop)
        };
        let added = if add_all { *every } else { add };
        let kept = |defaults: &[&str]| -> Vec<String> {
            if privileged || opts.unmask_all {
                return Vec::new();
            }
            defaults
                .iter()
                .filter(|p| !opts.unmask.iter().any(|u| path_matches(u, p)))
                .map(|p| p.to_string())
                .collect()
        };
        let mut masked_paths = kept(MASKED_PATHS);
        for m in opts.mask {
            if !masked_paths.contains(&m) {
                masked_paths.push(m);
            }
        }
        Ok(Security {
            privileged,
            bounding,
            added: added.intersect(*every),
            seccomp,
            no_new_privileges: opts.no_new_privileges,
            masked_paths,
            read_only_paths: kept(READ_ONLY_PATHS),
        })
    }

    /// The sets for a process running as `uid` in the container (see the module header).
    pub fn cap_sets(&self, uid: u32) -> CapSets {
        if uid == 0 {
            CapSets {
                bounding: self.bounding,
                permitted: self.bounding,
                effective: self.bounding,
                ..CapSets::default()
            }
        } else {
            let own = self.added.intersect(self.bounding);
            CapSets {
                bounding: self.bounding,
                permitted: own,
                effective: own,
                inheritable: own,
                ambient: own,
            }
        }
    }
}

/// Who the confined process becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// The supplementary groups; `None` where `setgroups(2)` is denied (a single-mapping user
    /// namespace, user_namespaces(7)), so the process keeps the one group it has.
    pub groups: Option<Vec<u32>>,
}

fn failed(step: Step, errno: Errno, detail: impl Into<String>) -> StepError {
    StepError {
        step,
        errno: errno as i32,
        detail: detail.into(),
    }
}

/// Makes the calling process (root in the container's user namespace, single-threaded)
/// `who`, confined by `sec`:
///
/// 1. the seccomp filter is compiled (while failing is still cheap);
/// 2. supplementary groups, then the bounding set is cut (needs `CAP_SETPCAP`), and
///    `PR_SET_KEEPCAPS` keeps the permitted set across the change of uid;
/// 3. without `no_new_privs`, the filter is installed now: that needs `CAP_SYS_ADMIN`, which
///    the switch to the container's user may take away (seccomp(2));
/// 4. gid, uid (a `PR_SET_PDEATHSIG` the change of uid clears is armed again, prctl(2)), the
///    other capability sets;
/// 5. `no_new_privs` and then the filter, when asked for.
///
/// `mapping` is for the message when an id is not mapped.
pub fn confine(sec: &Security, who: &Identity, mapping: &UserMapping) -> Result<(), StepError> {
    let cap_sets = sec.cap_sets(who.uid);
    let filter = match sec.seccomp.profile() {
        Some(p) => Some(bpf::compile(&p, cap_sets.bounding).map_err(|e| StepError {
            step: Step::Privileges,
            errno: 0,
            detail: format!("compiling the seccomp filter: {e}"),
        })?),
        None => None,
    };
    let install = |f: &seccompiler::BpfProgram| {
        crate::sys::seccomp::install_filter(f).map_err(|e| StepError {
            step: Step::Privileges,
            errno: e.raw_os_error().unwrap_or(0),
            detail: "installing the seccomp filter".into(),
        })
    };
    let caps_failed = |what: &'static str| {
        move |e: ::caps::errors::CapsError| StepError {
            step: Step::Privileges,
            errno: 0,
            detail: format!("{what}: {e}"),
        }
    };
    if let Some(groups) = &who.groups {
        let groups: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
        nix::unistd::setgroups(&groups).map_err(|e| failed(Step::User, e, "setgroups"))?;
    }
    apply_bounding(&cap_sets).map_err(caps_failed("the bounding set"))?;
    if !sec.no_new_privileges
        && let Some(f) = &filter
    {
        install(f)?;
    }
    let unmapped =
        |what: &str, id: u32| crate::doctor::hints::unmapped_id(what == "group", id, mapping, None);
    let death = nix::sys::prctl::get_pdeathsig().ok().flatten();
    let gid = Gid::from_raw(who.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| {
        let detail = match e {
            Errno::EINVAL => unmapped("group", who.gid),
            _ => format!("setresgid {}", who.gid),
        };
        failed(Step::User, e, detail)
    })?;
    let uid = Uid::from_raw(who.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| {
        let detail = match e {
            Errno::EINVAL => unmapped("user", who.uid),
            _ => format!("setresuid {}", who.uid),
        };
        failed(Step::User, e, detail)
    })?;
    if let Some(sig) = death {
        nix::sys::prctl::set_pdeathsig(sig)
            .map_err(|e| failed(Step::Privileges, e, "PR_SET_PDEATHSIG"))?;
    }
    apply_sets(&cap_sets).map_err(caps_failed("the capability sets"))?;
    if sec.no_new_privileges {
        nix::sys::prctl::set_no_new_privs()
            .map_err(|e| failed(Step::Privileges, e, "no_new_privs"))?;
        if let Some(f) = &filter {
            install(f)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ::caps::Capability;

    fn s(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn mask(set: &CapMask) -> u64 {
        set.0
    }

    fn every() -> CapMask {
        ::caps::all().into_iter().collect()
    }

    fn sec(add: &[&str], drop: &[&str]) -> Result<Security, SecurityError> {
        Security::from_flags(&s(add), &s(drop), false, &[], &every())
    }

    fn opts(o: &[&str]) -> Result<Security, SecurityError> {
        Security::from_flags(&[], &[], false, &s(o), &every())
    }

    #[test]
    fn default_set_is_podmans_mask() {
        let d = Security::default();
        assert_eq!(mask(&d.bounding), 0x8004_05fb);
        assert_eq!(sec(&[], &[]).unwrap(), d);
        let root = d.cap_sets(0);
        assert_eq!(mask(&root.permitted), 0x8004_05fb);
        assert_eq!(mask(&root.effective), 0x8004_05fb);
        assert!(root.inheritable.is_empty() && root.ambient.is_empty());
        let user = d.cap_sets(1000);
        assert_eq!(mask(&user.bounding), 0x8004_05fb);
        assert!(user.permitted.is_empty());
        assert!(user.ambient.is_empty());
    }

    #[test]
    fn adds_and_drops_merge_as_podman() {
        let net_admin = Capability::CAP_NET_ADMIN;
        let a = sec(&["net_admin"], &[]).unwrap();
        assert_eq!(mask(&a.bounding), 0x8004_05fb | net_admin.bitmask());
        let u = a.cap_sets(1000);
        assert_eq!(u.ambient, [net_admin].into_iter().collect());
        assert_eq!(u.permitted, u.ambient);
        assert_eq!(u.inheritable, u.ambient);
        assert!(sec(&[], &["ALL"]).unwrap().bounding.is_empty());
        let only = sec(&["CAP_KILL,chown"], &["all"]).unwrap();
        assert_eq!(
            only.bounding,
            [Capability::CAP_CHOWN, Capability::CAP_KILL]
                .into_iter()
                .collect()
        );
        let d = sec(&[], &["CAP_CHOWN", "setfcap"]).unwrap();
        assert_eq!(mask(&d.bounding), 0x0004_05fa);
        assert_eq!(sec(&["ALL"], &[]).unwrap().bounding, every());
        assert!(matches!(
            sec(&["ALL"], &["ALL"]),
            Err(SecurityError::AllAndAll)
        ));
        assert!(matches!(
            sec(&["kill"], &["CAP_KILL"]),
            Err(SecurityError::AddedAndDropped(_))
        ));
        assert!(matches!(
            sec(&["nosuch"], &[]),
            Err(SecurityError::UnknownCapability(_))
        ));
    }

    #[test]
    fn privileged_and_security_opts() {
        let p = Security::from_flags(&[], &[], true, &[], &every()).unwrap();
        assert_eq!(p.bounding, every());
        assert_eq!(p.seccomp, Seccomp::Unconfined);
        assert!(p.masked_paths.is_empty() && p.read_only_paths.is_empty());
        let p = Security::from_flags(&[], &s(&["sys_admin"]), true, &[], &every()).unwrap();
        assert!(!p.bounding.contains(&Capability::CAP_SYS_ADMIN));
        let u = opts(&["seccomp=unconfined"]).unwrap();
        assert_eq!(u.seccomp, Seccomp::Unconfined);
        assert!(!u.no_new_privileges);
        let n = opts(&["no-new-privileges"]).unwrap();
        assert!(n.no_new_privileges);
        assert_eq!(n.seccomp, Seccomp::Default);
        assert!(opts(&["no-new-privileges=true"]).unwrap().no_new_privileges);
        assert!(
            !opts(&["no-new-privileges=false"])
                .unwrap()
                .no_new_privileges
        );
        assert!(!Security::default().no_new_privileges);
        opts(&["label=disable", "label=type:foo_t", "apparmor=unconfined"]).unwrap();
        for bad in ["label", "foo=bar", "apparmor=myprofile", "seccomp="] {
            assert!(
                matches!(opts(&[bad]), Err(SecurityError::UnsupportedOpt(_))),
                "{bad}"
            );
        }
        let e = opts(&["seccomp=/nonexistent/profile.json"]).unwrap_err();
        assert!(e.to_string().contains("/nonexistent/profile.json"), "{e}");
    }

    #[test]
    fn mask_and_unmask() {
        let m = opts(&["mask=/proc/cpuinfo:/sys/kernel", "unmask=/proc/kcore"]).unwrap();
        assert!(m.masked_paths.contains(&"/proc/cpuinfo".to_string()));
        assert!(m.masked_paths.contains(&"/sys/kernel".to_string()));
        assert!(!m.masked_paths.contains(&"/proc/kcore".to_string()));
        assert!(m.masked_paths.contains(&"/proc/keys".to_string()));
        assert_eq!(m.read_only_paths, default_read_only());
        let all = opts(&["unmask=ALL"]).unwrap();
        assert!(all.masked_paths.is_empty() && all.read_only_paths.is_empty());
        let globbed = opts(&["unmask=/proc/*"]).unwrap();
        assert!(globbed.masked_paths.iter().all(|p| p.starts_with("/sys/")));
        assert!(globbed.read_only_paths.is_empty());
        assert!(matches!(
            opts(&["mask=proc/x"]),
            Err(SecurityError::RelativePath { .. })
        ));
        assert!(path_matches("/proc/*", "/proc/kcore"));
        assert!(!path_matches("/proc/*", "/proc/sys/kernel"));
        assert!(path_matches("/sys/f?rmware", "/sys/firmware"));
    }
}
