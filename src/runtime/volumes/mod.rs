//! Storage inside containers, as Podman has it: `-v/--volume`, `--mount`, `--tmpfs`,
//! `--device`, `--read-only` (with `--read-only-tmpfs`) and `--ulimit`.
//!
//! - `parse`: the flags' text → [`parse::Request`]s (pure; Podman's syntax and messages);
//! - (`cmd::volume::attach`, on the command's side: requests → the [`Storage`] the init
//!   mounts: host paths made absolute and checked, named volumes created on first use,
//!   anonymous volumes for `-v /dir` and the image's `VOLUME`s, devices checked to be
//!   openable, limits checked against the user's hard limits;)
//! - `setup`: in the init, after `/proc`, `/dev`, `/sys` and before `pivot_root`: each mount
//!   (shallowest destination first) on its destination resolved *inside* the root (an image's
//!   symlink never leads a mount outside it), missing destinations created (in the overlay's
//!   upper layer, or the `vfs` copy), then the read-only root and the limits;
//! - `copy`: the owner-preserving copy for a volume's first use and `tmpcopyup`, and `:U`'s
//!   recursive chown.

pub mod copy;
pub mod parse;
pub mod setup;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Mount propagation (`shared`, `rslave`...), as mount(2)'s `MS_*` flags take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    Shared,
    Slave,
    Private,
    Unbindable,
    Rshared,
    Rslave,
    Rprivate,
    Runbindable,
}

impl Propagation {
    pub fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "shared" => Propagation::Shared,
            "slave" => Propagation::Slave,
            "private" => Propagation::Private,
            "unbindable" => Propagation::Unbindable,
            "rshared" => Propagation::Rshared,
            "rslave" => Propagation::Rslave,
            "rprivate" => Propagation::Rprivate,
            "runbindable" => Propagation::Runbindable,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Propagation::Shared => "shared",
            Propagation::Slave => "slave",
            Propagation::Private => "private",
            Propagation::Unbindable => "unbindable",
            Propagation::Rshared => "rshared",
            Propagation::Rslave => "rslave",
            Propagation::Rprivate => "rprivate",
            Propagation::Runbindable => "runbindable",
        }
    }
}

/// The per-mount flags of mount(2) a user may ask for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountFlags {
    pub read_only: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

/// What is mounted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MountKind {
    /// A host file or directory (absolute, checked to exist when the container was created).
    Bind { source: PathBuf, recursive: bool },
    /// A named or anonymous volume's `_data`; `copy_up`: filled from the image's directory at
    /// the destination when the volume is empty (its first use).
    Volume {
        name: String,
        source: PathBuf,
        copy_up: bool,
    },
    /// A host directory under a kernel overlay whose upper layer is a throwaway tmpfs (`:O`).
    Overlay { lower: PathBuf },
    /// A new tmpfs with mount(2)'s `data` (`size=`, `mode=`...); `copy_up` (`tmpcopyup`):
    /// filled with the image's content at the destination.
    Tmpfs { data: String, copy_up: bool },
    /// A new devpts instance.
    Devpts { data: String },
    /// A host device node bound onto a file of the container's `/dev`.
    Device { source: PathBuf },
}

/// One mount the init makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// Absolute, cleaned, in the container.
    pub destination: String,
    pub kind: MountKind,
    pub flags: MountFlags,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagation: Option<Propagation>,
    /// `:U`: the source is chowned (recursively) to the container's user and group.
    #[serde(default)]
    pub chown: bool,
}

/// One `--ulimit`: a resource and its soft and hard limits (`None`: unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    pub resource: parse::Resource,
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

/// Everything of this module the init needs (a field of the container's spec).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// Shallowest destination first.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// `--read-only`: the root file system is remounted read-only once everything is mounted.
    #[serde(default)]
    pub read_only: bool,
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// A directory outside the container's root where the init mounts the scratch tmpfs of
    /// `:O` upper layers and `tmpcopyup` (only in its own mount namespace).
    #[serde(default)]
    pub scratch: PathBuf,
}
