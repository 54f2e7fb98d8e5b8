//! The file system the store is on (statfs(2)'s `f_type`). Network file systems break what
//! the store relies on — atomic renames seen by every client, `flock`, user extended
//! attributes, ids owned by subordinate ranges the server does not know (NFS root squash,
//! CIFS) — so a store there is a warning with the fix: a graphroot on a local disk.

use std::path::{Path, PathBuf};

use super::{Finding, Fix, Host};
#[cfg(test)]
use super::{RunAs, Status};

/// What kind of file system a statfs magic number is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsKind {
    Local(&'static str),
    Network(&'static str),
    /// A FUSE file system: local (virtiofs) or remote (sshfs), statfs cannot tell.
    Fuse,
    /// No ownership or symbolic links: a store cannot live there.
    Unsupported(&'static str),
    Unknown(u64),
}

/// Magic numbers from linux/magic.h and the file systems' own headers.
const MAGICS: &[(u64, FsKind)] = &[
    (0xEF53, FsKind::Local("ext4")),
    (0x5846_5342, FsKind::Local("xfs")),
    (0x9123_683E, FsKind::Local("btrfs")),
    (0x0102_1994, FsKind::Local("tmpfs")),
    (0x2FC1_2FC1, FsKind::Local("zfs")),
    (0x794C_7630, FsKind::Local("overlay")),
    (0xF2F5_2010, FsKind::Local("f2fs")),
    (0x3153_464A, FsKind::Local("jfs")),
    (0x5265_4973, FsKind::Local("reiserfs")),
    (0xCA45_1A4E, FsKind::Local("bcachefs")),
    (0x6969, FsKind::Network("nfs")),
    (0x517B, FsKind::Network("smb")),
    (0xFF53_4D42, FsKind::Network("cifs")),
    (0xFE53_4D42, FsKind::Network("smb2")),
    (0x00C3_6400, FsKind::Network("ceph")),
    (0x5346_414F, FsKind::Network("afs")),
    (0x6B41_4653, FsKind::Network("kafs")),
    (0x7375_7245, FsKind::Network("coda")),
    (0x0102_1997, FsKind::Network("9p")),
    (0x0BD0_0BD0, FsKind::Network("lustre")),
    (0x4750_4653, FsKind::Network("gpfs")),
    (0x0116_1970, FsKind::Network("gfs2")),
    (0x7461_636F, FsKind::Network("ocfs2")),
    (0x564C, FsKind::Network("ncp")),
    (0x6573_5546, FsKind::Fuse),
    (0x4D44, FsKind::Unsupported("vfat")),
    (0x2011_BAB0, FsKind::Unsupported("exfat")),
];

/// Classifies statfs's `f_type`.
pub fn classify(magic: u64) -> FsKind {
    MAGICS
        .iter()
        .find(|(m, _)| *m == magic)
        .map(|(_, k)| *k)
        .unwrap_or(FsKind::Unknown(magic))
}

/// The file system type of `path`, or of its nearest existing ancestor (a store not made yet
/// will be made there), with the path that was examined.
fn fs_type(path: &Path) -> Option<(u64, PathBuf)> {
    path.ancestors().find_map(|p| {
        rustix::fs::statfs(p)
            .ok()
            .map(|s| (s.f_type as u64, p.to_path_buf()))
    })
}

pub fn check(host: &Host) -> Finding {
    const NAME: &str = "store";
    let root = match &host.graphroot {
        Ok(root) => root,
        Err(e) => return Finding::fail(NAME, e.clone(), None),
    };
    let Some((magic, examined)) = fs_type(root) else {
        return Finding::fail(NAME, format!("cannot examine {}", root.display()), None);
    };
    let finding = judge(host, root, magic, &examined);
    if finding.status == super::Status::Fail {
        return finding;
    }
    // Where the store is (or will be made) must take new files: a store on a read-only
    // mount, or one left owned by root by a `sudo coracle`, fails every pull and run.
    let refused = rustix::fs::access(
        &examined,
        rustix::fs::Access::WRITE_OK | rustix::fs::Access::EXEC_OK,
    );
    let Err(e) = refused else {
        return finding;
    };
    let owner = std::fs::metadata(&examined).ok().map(|m| {
        use std::os::unix::fs::MetadataExt as _;
        m.uid()
    });
    let mut details = format!(
        "{} is not writable by {}: {e}",
        examined.display(),
        host.user_name()
    );
    let fix = match owner {
        Some(uid) if uid != host.account.uid => {
            details.push_str(&format!(" (it belongs to uid {uid})"));
            Some(Fix::root(format!(
                "chown -R {}: {}",
                host.user_name(),
                examined.display()
            )))
        }
        _ => graphroot_fix(host),
    };
    if finding.status == super::Status::Warn {
        details.push_str(&format!("; also: {}", finding.details));
    }
    Finding::fail(NAME, details, fix)
}

/// The finding for a store at `root` whose nearest existing ancestor `examined` is on a file
/// system with statfs magic `magic`.
fn judge(host: &Host, root: &Path, magic: u64, examined: &Path) -> Finding {
    const NAME: &str = "store";
    let at = if examined == root {
        root.display().to_string()
    } else {
        format!(
            "{} (not made yet; {} is)",
            root.display(),
            examined.display()
        )
    };
    let (bad, what) = match classify(magic) {
        FsKind::Local(name) => return Finding::ok(NAME, format!("{at} is on {name}")),
        FsKind::Unknown(m) => {
            return Finding::ok(NAME, format!("{at} is on a file system of type {m:#x}"));
        }
        FsKind::Network(name) => (
            false,
            format!(
                "{at} is on {name}, a network file system: locks, renames, extended \
                 attributes and subordinate ids break there"
            ),
        ),
        FsKind::Fuse => (
            false,
            format!(
                "{at} is on a FUSE file system: fine if local (virtiofs), not if remote (sshfs)"
            ),
        ),
        FsKind::Unsupported(name) => (
            true,
            format!("{at} is on {name}, which has no file ownership or symbolic links"),
        ),
    };
    let fix = graphroot_fix(host);
    let what = if host.graphroot_from_flag {
        format!("{what} (from --root: give a local directory instead)")
    } else {
        what
    };
    if bad {
        Finding::fail(NAME, what, fix)
    } else {
        Finding::warn(NAME, what, fix)
    }
}

/// The command that points the graphroot at a local directory in coracle's storage.conf.
fn graphroot_fix(host: &Host) -> Option<Fix> {
    let conf = host.storage_conf.as_ref()?;
    let conf_shown = conf.display();
    let dir = if host.is_root() {
        "/var/lib/coracle".to_string()
    } else {
        format!("/var/tmp/coracle-{}/storage", host.user_name())
    };
    let line = format!("graphroot = \"{dir}\"");
    let text = std::fs::read_to_string(conf).ok();
    let command = match text {
        None => format!(
            "mkdir -p {} && printf '[storage]\\n{line}\\n' > {conf_shown}",
            conf.parent().unwrap_or(Path::new("/")).display()
        ),
        Some(t) if t.lines().any(|l| l.trim_start().starts_with("graphroot")) => {
            format!("sed -i 's|^[[:space:]]*graphroot[[:space:]]*=.*|{line}|' {conf_shown}")
        }
        Some(t) if t.lines().any(|l| l.trim() == "[storage]") => {
            format!("sed -i '/^\\[storage\\]/a {line}' {conf_shown}")
        }
        Some(_) => format!("printf '\\n[storage]\\n{line}\\n' >> {conf_shown}"),
    };
    Some(if host.is_root() {
        Fix::root(command)
    } else {
        Fix::user(command)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_numbers_classify() {
        assert_eq!(classify(0x6969), FsKind::Network("nfs"));
        assert_eq!(classify(0xFF53_4D42), FsKind::Network("cifs"));
        assert_eq!(classify(0xFE53_4D42), FsKind::Network("smb2"));
        assert_eq!(classify(0x00C3_6400), FsKind::Network("ceph"));
        assert_eq!(classify(0xEF53), FsKind::Local("ext4"));
        assert_eq!(classify(0x0102_1994), FsKind::Local("tmpfs"));
        assert_eq!(classify(0x6573_5546), FsKind::Fuse);
        assert_eq!(classify(0x4D44), FsKind::Unsupported("vfat"));
        assert_eq!(classify(0x1234), FsKind::Unknown(0x1234));
    }

    #[test]
    fn a_store_on_nfs_warns_with_the_storage_conf_fix() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("coracle/storage.conf");
        let mut host = crate::doctor::tests::host();
        host.storage_conf = Some(conf.clone());
        let root = Path::new("/home/alice/.local/share/coracle");
        let f = judge(&host, root, 0x6969, Path::new("/home"));
        assert_eq!(f.status, Status::Warn, "{f:?}");
        assert!(f.details.contains("on nfs, a network file system"), "{f:?}");
        let fix = f.fix.unwrap();
        assert_eq!(fix.run_as, RunAs::User);
        assert_eq!(
            fix.command,
            format!(
                "mkdir -p {} && printf '[storage]\\ngraphroot = \"/var/tmp/coracle-alice/storage\"\\n' > {}",
                conf.parent().unwrap().display(),
                conf.display()
            )
        );
        // An existing file gets its graphroot replaced, or one added to [storage].
        std::fs::create_dir_all(conf.parent().unwrap()).unwrap();
        std::fs::write(&conf, "[storage]\ngraphroot = \"/nfs/x\"\n").unwrap();
        let cifs = judge(&host, root, 0xFF53_4D42, root);
        assert!(
            cifs.fix
                .unwrap()
                .command
                .starts_with("sed -i 's|^[[:space:]]*graphroot")
        );
        std::fs::write(&conf, "[storage]\ndriver = \"vfs\"\n").unwrap();
        let fix = judge(&host, root, 0x6969, root).fix.unwrap().command;
        assert!(
            fix.starts_with("sed -i '/^\\[storage\\]/a graphroot"),
            "{fix}"
        );
        // vfat cannot hold a store at all; local file systems are fine.
        assert_eq!(judge(&host, root, 0x4D44, root).status, Status::Fail);
        assert_eq!(judge(&host, root, 0xEF53, root).status, Status::Ok);
    }

    #[test]
    fn the_store_of_this_test_is_examined_through_its_ancestors() {
        let dir = tempfile::tempdir().unwrap();
        let (magic, examined) = fs_type(&dir.path().join("not/made/yet")).unwrap();
        assert_eq!(examined, dir.path());
        assert_eq!(magic, rustix::fs::statfs(dir.path()).unwrap().f_type as u64);
    }
}
