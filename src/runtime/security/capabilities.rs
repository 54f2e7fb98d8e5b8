//! Capabilities: Podman's default set, `--cap-add`/`--cap-drop` names, the sets of the
//! container's process and the calls that set them (capabilities(7)).

use std::fmt;
use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use serde::{Deserialize, Serialize};

use super::SecurityError;

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
pub fn kernel_caps() -> CapMask {
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
pub fn parse_caps(values: &[String]) -> Result<(bool, CapMask), SecurityError> {
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
