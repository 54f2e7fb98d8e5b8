//! A container's confinement, Podman's defaults: its capability sets, the `/proc` and `/sys`
//! paths it must not see or change, and its seccomp filter.
//!
//! - **Capabilities** (`--cap-add`, `--cap-drop`, `--privileged`): the bounding set is
//!   [`DEFAULT_CAPS`] (every capability with `--privileged`) with the adds and drops merged
//!   as containers/common's `MergeCapabilities` does (`ALL` on either side; a capability both
//!   added and dropped is an error). Root in the container gets it as its permitted and
//!   effective sets, inheritable and ambient empty; any other user gets nothing but the
//!   capabilities it was explicitly given with `--cap-add`, in all four of permitted,
//!   effective, inheritable and ambient, so that they survive its `execve` (Podman's rule since
//!   CVE-2022-27649). [`apply_bounding`] runs while the init is still root (dropping from the
//!   bounding set needs `CAP_SETPCAP`), [`apply_sets`] after the switch to the container's
//!   user (with `PR_SET_KEEPCAPS` set in between, capabilities(7)).
//! - **Masked and read-only paths** ([`MASKED_PATHS`], [`READ_ONLY_PATHS`]), mounted by
//!   `mounts::setup`; none with `--privileged`.
//! - **Seccomp**: [`default_filters`], compiled with `seccompiler` and installed by the init
//!   last before its `execve` (after `no_new_privs`, seccomp(2)); none with `--privileged` or
//!   `--security-opt seccomp=unconfined`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::{Deserialize, Serialize};
use syscalls::Sysno;

/// Podman's default capabilities (containers.conf `default_capabilities`): the bounding mask
/// `0x00000000800405fb`.
pub const DEFAULT_CAPS: [Capability; 11] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FOWNER,
    Capability::CAP_FSETID,
    Capability::CAP_KILL,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETGID,
    Capability::CAP_SETPCAP,
    Capability::CAP_SETUID,
    Capability::CAP_SYS_CHROOT,
];

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

/// A set of capabilities as the kernel's bit mask (bit `n` is capability `n`, as in
/// `/proc/PID/status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CapMask(pub u64);

impl CapMask {
    pub const EMPTY: CapMask = CapMask(0);

    pub fn contains(self, c: &Capability) -> bool {
        self.0 & c.bitmask() != 0
    }

    pub fn insert(&mut self, c: Capability) {
        self.0 |= c.bitmask();
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn union(self, o: CapMask) -> CapMask {
        CapMask(self.0 | o.0)
    }

    pub fn intersect(self, o: CapMask) -> CapMask {
        CapMask(self.0 & o.0)
    }

    pub fn minus(self, o: CapMask) -> CapMask {
        CapMask(self.0 & !o.0)
    }

    /// The capabilities, in index order.
    pub fn caps(self) -> Vec<Capability> {
        let mut v: Vec<Capability> = caps::all()
            .into_iter()
            .filter(|c| self.contains(c))
            .collect();
        v.sort_by_key(|c| c.index());
        v
    }
}

impl FromIterator<Capability> for CapMask {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> CapMask {
        CapMask(iter.into_iter().fold(0, |m, c| m | c.bitmask()))
    }
}

impl fmt::Display for CapMask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    #[error("unknown capability {0:?}")]
    UnknownCapability(String),
    #[error("capability {0:?} cannot be dropped and added")]
    AddedAndDropped(String),
    #[error("adding all caps and removing all caps not allowed")]
    AllAndAll,
    #[error(
        "--security-opt {0:?}: supported are seccomp=unconfined and no-new-privileges (a \
         seccomp profile file is not supported yet)"
    )]
    UnsupportedOpt(String),
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
    /// Whether the default seccomp filter is installed.
    pub seccomp: bool,
}

impl Default for Security {
    fn default() -> Security {
        Security {
            privileged: false,
            bounding: DEFAULT_CAPS.into_iter().collect(),
            added: CapMask::EMPTY,
            seccomp: true,
        }
    }
}

/// The capability sets of the container's process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CapSets {
    pub bounding: CapMask,
    pub permitted: CapMask,
    pub effective: CapMask,
    pub inheritable: CapMask,
    pub ambient: CapMask,
}

/// What `ALL` and `--privileged` mean: the calling thread's bounding set (Podman's
/// `capabilities.BoundingSet()`), which may lack capabilities the kernel knows when coracle
/// itself runs confined.
pub fn all_caps() -> CapMask {
    caps::read(None, CapSet::Bounding)
        .map(|set| set.into_iter().collect())
        .unwrap_or_else(|_| caps::runtime::thread_all_supported().into_iter().collect())
}

/// Every capability this kernel knows (up to `/proc/sys/kernel/cap_last_cap`).
fn kernel_caps() -> CapMask {
    caps::runtime::thread_all_supported().into_iter().collect()
}

/// One `--cap-add`/`--cap-drop` value: `ALL`, or a name with or without `CAP_`, any case.
fn parse_cap(name: &str) -> Result<Option<Capability>, SecurityError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Capability::from_str(&full)
        .map(Some)
        .map_err(|_| SecurityError::UnknownCapability(name.to_string()))
}

/// The names of one flag's values (each may be a comma-separated list): `ALL` as `None`.
fn parse_caps(values: &[String]) -> Result<(bool, CapMask), SecurityError> {
    let mut all = false;
    let mut set = CapMask::EMPTY;
    for name in values.iter().flat_map(|v| v.split(',')) {
        if name.trim().is_empty() {
            continue;
        }
        match parse_cap(name)? {
            None => all = true,
            Some(c) => set.insert(c),
        }
    }
    Ok((all, set))
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
        let mut seccomp = !privileged;
        for opt in security_opt {
            match opt.as_str() {
                "seccomp=unconfined" | "seccomp:unconfined" => seccomp = false,
                // The init always sets no_new_privs.
                "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true" => {}
                _ => return Err(SecurityError::UnsupportedOpt(opt.clone())),
            }
        }
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
        Ok(Security {
            privileged,
            bounding,
            added: added.intersect(*every),
            seccomp,
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

/// Drops from the calling thread's bounding set every capability not in `sets.bounding`,
/// and sets `PR_SET_KEEPCAPS` so that the permitted set survives the switch to a non-root
/// uid. Runs as root in the container's user namespace, before `setresuid`.
pub fn apply_bounding(sets: &CapSets) -> Result<(), caps::errors::CapsError> {
    for c in kernel_caps().caps() {
        if !sets.bounding.contains(&c) && caps::has_cap(None, CapSet::Bounding, c)? {
            caps::drop(None, CapSet::Bounding, c)?;
        }
    }
    caps::securebits::set_keepcaps(true)
}

/// Sets the calling thread's effective, permitted, inheritable and ambient sets to `sets`
/// (after `setresuid`). Effective first, since each `capset(2)` must keep effective within
/// permitted; ambient last, since a raised ambient capability must be permitted and
/// inheritable.
pub fn apply_sets(sets: &CapSets) -> Result<(), caps::errors::CapsError> {
    caps::securebits::set_keepcaps(false)?;
    let hash = |s: CapMask| s.caps().into_iter().collect::<CapsHashSet>();
    caps::set(None, CapSet::Effective, &hash(sets.effective))?;
    caps::set(None, CapSet::Permitted, &hash(sets.permitted))?;
    caps::set(None, CapSet::Inheritable, &hash(sets.inheritable))?;
    caps::clear(None, CapSet::Ambient)?;
    for c in sets.ambient.caps() {
        caps::raise(None, CapSet::Ambient, c)?;
    }
    Ok(())
}

/// System calls denied (`EPERM`) whatever the container's capabilities: the kernel keyring,
/// which is not namespaced (containers' default profile denies these explicitly).
const DENIED: &[Sysno] = &[Sysno::add_key, Sysno::keyctl, Sysno::request_key];

/// System calls denied (`EPERM`) unless the container has the capability, as in containers'
/// default profile (`includes.caps`).
const DENIED_WITHOUT: &[(Capability, &[Sysno])] = &[
    (
        Capability::CAP_SYS_ADMIN,
        &[
            Sysno::bpf,
            Sysno::fanotify_init,
            Sysno::fsconfig,
            Sysno::fsmount,
            Sysno::fsopen,
            Sysno::fspick,
            Sysno::lookup_dcookie,
            Sysno::mount,
            Sysno::mount_setattr,
            Sysno::move_mount,
            Sysno::open_tree,
            Sysno::perf_event_open,
            Sysno::pivot_root,
            Sysno::quotactl,
            Sysno::quotactl_fd,
            Sysno::setns,
            Sysno::swapoff,
            Sysno::swapon,
            Sysno::umount2,
            Sysno::unshare,
        ],
    ),
    (
        Capability::CAP_SYS_BOOT,
        &[Sysno::kexec_file_load, Sysno::kexec_load, Sysno::reboot],
    ),
    (
        Capability::CAP_SYS_MODULE,
        &[
            Sysno::delete_module,
            Sysno::finit_module,
            Sysno::init_module,
        ],
    ),
    (Capability::CAP_DAC_READ_SEARCH, &[Sysno::open_by_handle_at]),
    (Capability::CAP_SYS_PACCT, &[Sysno::acct]),
    (
        Capability::CAP_SYS_TIME,
        &[Sysno::clock_settime, Sysno::settimeofday],
    ),
    (Capability::CAP_SYS_RAWIO, &[Sysno::iopl, Sysno::ioperm]),
    (Capability::CAP_SYS_TTY_CONFIG, &[Sysno::vhangup]),
    (Capability::CAP_SYSLOG, &[Sysno::syslog]),
];

/// The system calls the default filter denies to a container with capabilities `caps`.
pub fn denied_syscalls(caps: CapMask) -> BTreeSet<Sysno> {
    let mut set: BTreeSet<Sysno> = DENIED.iter().copied().collect();
    for (cap, calls) in DENIED_WITHOUT {
        if !caps.contains(cap) {
            set.extend(calls.iter().copied());
        }
    }
    // Never deny what the init needs to start the command.
    set.remove(&Sysno::execve);
    set
}

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("this architecture has no seccomp support in coracle")]
    Arch,
    #[error("building the seccomp filter")]
    Build(#[source] seccompiler::BackendError),
}

/// The `CLONE_NEW*` flags `clone(2)` may not carry without `CAP_SYS_ADMIN` (or `unshare(2)`
/// would be bypassed).
const CLONE_NAMESPACES: [u64; 7] = [
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWCGROUP as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
];

/// The default filters, installed in order: everything allowed but [`denied_syscalls`] and,
/// without `CAP_SYS_ADMIN`, `clone` with a namespace flag (its first argument on x86_64 and
/// aarch64), which fail with `EPERM`; and without `CAP_SYS_ADMIN`, `clone3` fails with
/// `ENOSYS` (its flags are in memory a filter cannot read; C libraries then fall back to
/// `clone`), as in containers' default profile. (That profile is an allow-list; this
/// deny-list keeps its errno rules for the dangerous calls and lets new, harmless ones
/// through.)
pub fn default_filters(caps: CapMask) -> Result<Vec<BpfProgram>, SeccompError> {
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|_| SeccompError::Arch)?;
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = denied_syscalls(caps)
        .into_iter()
        .map(|s| (s.id() as i64, Vec::new()))
        .collect();
    let admin = caps.contains(&Capability::CAP_SYS_ADMIN);
    if !admin {
        let clone = CLONE_NAMESPACES
            .iter()
            .map(|flag| {
                SeccompCondition::new(
                    0,
                    SeccompCmpArgLen::Qword,
                    SeccompCmpOp::MaskedEq(*flag),
                    *flag,
                )
                .and_then(|c| SeccompRule::new(vec![c]))
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(SeccompError::Build)?;
        rules.insert(Sysno::clone.id() as i64, clone);
    }
    let compile = |rules, errno: i32| {
        SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(errno as u32),
            arch,
        )
        .and_then(BpfProgram::try_from)
        .map_err(SeccompError::Build)
    };
    let mut filters = vec![compile(rules, libc::EPERM)?];
    if !admin {
        let clone3 = [(Sysno::clone3.id() as i64, Vec::new())]
            .into_iter()
            .collect();
        filters.push(compile(clone3, libc::ENOSYS)?);
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn mask(set: &CapMask) -> u64 {
        set.0
    }

    fn every() -> CapMask {
        caps::all().into_iter().collect()
    }

    fn sec(add: &[&str], drop: &[&str]) -> Result<Security, SecurityError> {
        Security::from_flags(&s(add), &s(drop), false, &[], &every())
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
        assert_eq!(sec(&["ALL"], &["ALL"]), Err(SecurityError::AllAndAll));
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
        assert!(!p.seccomp);
        let p = Security::from_flags(&[], &s(&["sys_admin"]), true, &[], &every()).unwrap();
        assert!(!p.bounding.contains(&Capability::CAP_SYS_ADMIN));
        let u =
            Security::from_flags(&[], &[], false, &s(&["seccomp=unconfined"]), &every()).unwrap();
        assert!(!u.seccomp);
        assert!(
            Security::from_flags(&[], &[], false, &s(&["no-new-privileges"]), &every())
                .unwrap()
                .seccomp
        );
        assert!(matches!(
            Security::from_flags(&[], &[], false, &s(&["label=disable"]), &every()),
            Err(SecurityError::UnsupportedOpt(_))
        ));
    }

    #[test]
    fn filter_denies_by_capability() {
        let d = denied_syscalls(DEFAULT_CAPS.into_iter().collect());
        for s in [Sysno::keyctl, Sysno::kexec_load, Sysno::unshare, Sysno::bpf] {
            assert!(d.contains(&s), "{s}");
        }
        assert!(!d.contains(&Sysno::execve) && !d.contains(&Sysno::chown));
        let admin: CapMask = [Capability::CAP_SYS_ADMIN].into_iter().collect();
        let d = denied_syscalls(admin);
        assert!(!d.contains(&Sysno::unshare) && d.contains(&Sysno::keyctl));
        assert_eq!(
            default_filters(DEFAULT_CAPS.into_iter().collect())
                .unwrap()
                .len(),
            2
        );
        assert_eq!(default_filters(admin).unwrap().len(), 1);
    }
}
