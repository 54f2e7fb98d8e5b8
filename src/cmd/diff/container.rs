//! `diff CONTAINER`: the changes of a container's writable layer, created, running or
//! stopped, read as the container's root user (in a user namespace of the container's
//! mapping: the files belong to its ids).
//!
//! - overlay: the upper directory against the image's layers, as an image's top layer
//!   (`archive::layer_changes`: whiteouts and opaque directories);
//! - vfs: the copied root against the image's layers merged (`archive::vfs_changes`): the
//!   lines the layer `commit` would write gives, so both drivers list the same changes.
//!
//! Podman's container-only paths (mount points of the files it generates, `/proc`, `/sys`,
//! `/dev`, `/run/.containerenv`...) are left out, as Podman leaves them out (`initInodes`).

use std::collections::{BTreeMap, HashMap};
use std::io::{Read as _, Write as _};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::archive::{
    Change, ChangeKind, DIFF_DIR, FileKind, SymlinkTable, layer_changes, layer_stack, read_stat,
};
use crate::runtime::SignalRelay;
use crate::runtime::spec::{ContainerSpec, RootFs};
use crate::runtime::userns;

/// The paths Podman never lists for a container (libpod `initInodes`).
const HIDDEN: [&str; 12] = [
    "/dev",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/proc",
    "/run",
    "/run/notify",
    "/run/.containerenv",
    "/run/secrets",
    "/run/podman-init",
    "/sys",
    "/etc/mtab",
];

/// The changes of the container `spec` describes, in Podman's order.
pub fn changes(spec: &ContainerSpec) -> anyhow::Result<Vec<Change>> {
    let bytes = in_userns(spec, |spec| compute(spec).map(|c| encode(&c)))?;
    Ok(decode(&bytes)?
        .into_iter()
        .filter(|c| !HIDDEN.contains(&c.path_display().as_str()))
        .collect())
}

/// The true owners (uid, gid) of the container's files, by path (no leading `/`), where its
/// root file system cannot show them: the overlay's layers and upper directory keep them
/// in coracle's metadata, which the mounted overlay shows through the user namespace (an
/// id it does not map shows as the overflow id); a vfs copy keeps them as real owners,
/// except those the mapping cannot represent, which only the image's layers know.
pub fn true_owners(spec: &ContainerSpec) -> anyhow::Result<HashMap<Vec<u8>, (u32, u32)>> {
    let bytes = in_userns(spec, |spec| {
        let mut tree = merged(&spec.layers)?;
        let mut out = Vec::new();
        match &spec.root_kind {
            RootFs::Overlay { upper, .. } => {
                if upper.is_dir() {
                    let dir = upper.parent().unwrap_or(upper);
                    let symlinks = SymlinkTable::load(dir).with_context(|| {
                        format!("reading the symlink table of {}", dir.display())
                    })?;
                    layer_stack::apply_dir(&mut tree, &symlinks, upper, &mut read_meta)?;
                }
            }
            RootFs::Vfs => tree.retain(|_, m| {
                spec.mapping.uid.to_host(m.uid).is_none()
                    || spec.mapping.gid.to_host(m.gid).is_none()
            }),
        }
        for (path, m) in &tree {
            out.extend_from_slice(&m.uid.to_le_bytes());
            out.extend_from_slice(&m.gid.to_le_bytes());
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path);
        }
        Ok(out)
    })?;
    let mut owners = HashMap::new();
    let mut rest = bytes.as_slice();
    while rest.len() >= 12 {
        let word = |i: usize| u32::from_le_bytes([rest[i], rest[i + 1], rest[i + 2], rest[i + 3]]);
        let (uid, gid, len) = (word(0), word(4), word(8) as usize);
        let path = rest
            .get(12..12 + len)
            .context("a truncated list of owners")?;
        owners.insert(path.to_vec(), (uid, gid));
        rest = &rest[12 + len..];
    }
    Ok(owners)
}

/// `work` run as the container's root user (a user namespace of its mapping, where its
/// files are readable whoever owns them); what it returns.
fn in_userns(
    spec: &ContainerSpec,
    work: fn(&ContainerSpec) -> anyhow::Result<Vec<u8>>,
) -> anyhow::Result<Vec<u8>> {
    let (mut rx, tx) = std::io::pipe().context("creating a pipe")?;
    let relay = SignalRelay::block()?;
    let spec_in = spec.clone();
    let mut child = userns::spawn_process(&spec.mapping, move || {
        let mut tx = tx;
        let (code, bytes) = match work(&spec_in) {
            Ok(bytes) => (0, bytes),
            Err(e) => (125, format!("{e:#}").into_bytes()),
        };
        let _ = tx.write_all(&bytes);
        code
    })
    .context("reading the container's root file system in its user namespace")?;
    let mut bytes = Vec::new();
    let read = rx.read_to_end(&mut bytes);
    let exit = child.wait(&relay)?;
    read.context("reading from the container's user namespace")?;
    match exit {
        crate::runtime::ChildExit::Exited(0) => Ok(bytes),
        _ => bail!("{}", String::from_utf8_lossy(&bytes)),
    }
}

fn compute(spec: &ContainerSpec) -> anyhow::Result<Vec<Change>> {
    match &spec.root_kind {
        RootFs::Overlay { upper, .. } => {
            if !upper.is_dir() {
                return Ok(Vec::new());
            }
            let lowers: Vec<PathBuf> = spec.layers.iter().rev().map(|l| l.join(DIFF_DIR)).collect();
            Ok(layer_changes(upper, &lowers)?)
        }
        RootFs::Vfs => {
            if !spec.rootfs.is_dir() {
                return Ok(Vec::new());
            }
            let m = &spec.mapping;
            let uid_mapped = |id: u32| m.uid.to_host(id).is_some();
            let gid_mapped = |id: u32| m.gid.to_host(id).is_some();
            Ok(crate::archive::vfs_changes(&crate::archive::VfsRoot {
                rootfs: &spec.rootfs,
                layers: &spec.layers,
                uid_mapped: &uid_mapped,
                gid_mapped: &gid_mapped,
                exclude: &[],
            })?)
        }
    }
}

/// What is compared of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Meta {
    kind: FileKind,
    uid: u32,
    gid: u32,
    perms: u32,
    size: u64,
    mtime: (i64, i64),
    target: Option<Vec<u8>>,
}

impl layer_stack::StackEntry for Meta {
    fn is_dir(&self) -> bool {
        self.kind == FileKind::Dir
    }
}

fn on_disk(path: &Path, md: &std::fs::Metadata) -> anyhow::Result<Meta> {
    let kind = FileKind::from_file_type(rustix::fs::FileType::from_raw_mode(md.mode()));
    let target = if kind == FileKind::Symlink {
        Some(
            std::fs::read_link(path)
                .with_context(|| format!("reading {}", path.display()))?
                .as_os_str()
                .as_bytes()
                .to_vec(),
        )
    } else {
        None
    };
    Ok(Meta {
        kind,
        uid: md.uid(),
        gid: md.gid(),
        perms: md.mode() & 0o7777,
        size: md.size(),
        mtime: (md.mtime(), md.mtime_nsec()),
        target,
    })
}

fn merged(layers: &[PathBuf]) -> anyhow::Result<BTreeMap<Vec<u8>, Meta>> {
    layer_stack::merged(layers, &mut read_meta)
}

/// An entry of a layer or upper directory with its true owner and type (from coracle's
/// metadata; a symlink's from the table).
fn read_meta(
    path: &Path,
    child: &[u8],
    md: &std::fs::Metadata,
    symlinks: &SymlinkTable,
) -> anyhow::Result<Meta> {
    let mut meta = on_disk(path, md)?;
    let stat = if md.file_type().is_symlink() {
        symlinks.stat(child)
    } else {
        read_stat(path).with_context(|| format!("reading the owner of {}", path.display()))?
    };
    meta.kind = stat.kind;
    meta.perms = stat.mode & 0o7777;
    (meta.uid, meta.gid) = (stat.uid, stat.gid);
    Ok(meta)
}

/// Changes on the pipe: a letter, a 4-byte length, the path.
fn encode(changes: &[Change]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in changes {
        out.push(c.kind.letter() as u8);
        out.extend_from_slice(&(c.path.len() as u32).to_le_bytes());
        out.extend_from_slice(&c.path);
    }
    out
}

fn decode(mut bytes: &[u8]) -> anyhow::Result<Vec<Change>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        if bytes.len() < 5 {
            bail!("a truncated list of changes");
        }
        let kind = match bytes[0] {
            b'A' => ChangeKind::Added,
            b'C' => ChangeKind::Changed,
            b'D' => ChangeKind::Deleted,
            other => bail!("an unknown change {other}"),
        };
        let len = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        let path = bytes
            .get(5..5 + len)
            .context("a truncated list of changes")?
            .to_vec();
        out.push(Change { kind, path });
        bytes = &bytes[5 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(kind: ChangeKind, rel: &[u8]) -> Change {
        let mut path = b"/".to_vec();
        path.extend_from_slice(rel);
        Change { kind, path }
    }

    #[test]
    fn changes_cross_the_pipe() {
        let cs = vec![
            change(ChangeKind::Changed, b"etc"),
            change(ChangeKind::Added, b"etc/new"),
            change(ChangeKind::Deleted, b"bin/\xffls"),
        ];
        assert_eq!(decode(&encode(&cs)).unwrap(), cs);
        assert!(decode(b"A\x09\0\0\0/x").is_err());
    }
}
