//! What `system reset` may remove: only what coracle itself puts in its store directories.
//!
//! A store directory carries a marker file ([`MARKER`]) written when coracle finds the
//! directory empty or holding only names coracle makes ([`OWN_ENTRIES`]); a directory given
//! with `--root` that already held other things (a home directory, `/`) never gets one. A
//! reset removes, in a directory with the marker, the entries coracle makes and nothing else,
//! then the marker and the directory when it is empty. None of this opens the store, so a
//! store too broken to open is reset all the same.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The marker file in a directory coracle created for its store or run state.
pub const MARKER: &str = ".coracle-store";

/// The top-level names coracle makes in its graph root and run root.
pub const OWN_ENTRIES: &[&str] = &[
    MARKER,
    "blobs",
    "layers",
    "images",
    "lists",
    "containers",
    "volumes",
    "tmp",
    "storage.lock",
    "gc.pending",
    "registry-blobs.json",
    "events",
    "build",
];

/// Writes the marker into `dir` when everything in it is coracle's own (an existing store
/// from before markers existed, or a fresh directory). Errors are ignored: a store without
/// a marker works, it only cannot be reset by `system reset`.
pub fn mark_if_own(dir: &Path) {
    if dir.join(MARKER).exists() {
        return;
    }
    let Ok(names) = crate::store::entry_names(dir) else {
        return;
    };
    if names.iter().all(is_own) && !is_protected(dir) {
        let _ = fs::write(
            dir.join(MARKER),
            b"coracle store: `coracle system reset` may remove what coracle made here\n",
        );
    }
}

fn is_own(name: &OsString) -> bool {
    name.to_str().is_some_and(|n| OWN_ENTRIES.contains(&n))
}

/// `/` and the user's home directory are never a store to remove, marker or not.
fn is_protected(dir: &Path) -> bool {
    let canonical = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    if canonical.parent().is_none() {
        return true;
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .or_else(|| crate::paths::home_from_passwd(rustix::process::geteuid().as_raw()));
    home.and_then(|h| fs::canonicalize(h).ok())
        .is_some_and(|h| h == canonical)
}

/// What a reset of one directory will do.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Nothing there.
    Absent,
    /// Remove these entries (paths), then the directory if nothing else is left.
    Remove {
        entries: Vec<PathBuf>,
        others: Vec<OsString>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    #[error(
        "{path} has no {MARKER} marker: coracle did not create it as a store, so \
         `system reset` leaves it alone (remove what you no longer need by hand)"
    )]
    NotMarked { path: PathBuf },
    #[error("{path} is / or the home directory: `system reset` never removes it")]
    Protected { path: PathBuf },
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What resetting `dir` removes.
pub fn plan(dir: &Path) -> Result<Plan, ResetError> {
    let names = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|source| ResetError::Read {
                path: dir.to_path_buf(),
                source,
            })?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Plan::Absent),
        Err(source) => {
            return Err(ResetError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    if is_protected(dir) {
        return Err(ResetError::Protected {
            path: dir.to_path_buf(),
        });
    }
    if names.is_empty() {
        return Ok(Plan::Remove {
            entries: Vec::new(),
            others: Vec::new(),
        });
    }
    if !names.iter().any(|n| n == MARKER) {
        return Err(ResetError::NotMarked {
            path: dir.to_path_buf(),
        });
    }
    let (own, others): (Vec<OsString>, Vec<OsString>) = names.into_iter().partition(is_own);
    // The marker goes last: a reset interrupted halfway can be run again.
    let mut entries: Vec<PathBuf> = own
        .iter()
        .filter(|n| *n != MARKER)
        .map(|n| dir.join(n))
        .collect();
    entries.sort();
    entries.push(dir.join(MARKER));
    Ok(Plan::Remove { entries, others })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_with_foreign_files_is_never_marked_nor_reset() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("store");
        fs::create_dir(&d).unwrap();
        fs::write(d.join("notes.txt"), b"mine").unwrap();
        fs::create_dir(d.join("blobs")).unwrap();
        mark_if_own(&d);
        assert!(!d.join(MARKER).exists());
        assert!(matches!(plan(&d), Err(ResetError::NotMarked { .. })));
    }

    #[test]
    fn a_marked_store_removes_its_own_entries_and_keeps_others() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("store");
        fs::create_dir_all(d.join("blobs/sha256")).unwrap();
        fs::write(d.join("storage.lock"), b"").unwrap();
        mark_if_own(&d);
        assert!(d.join(MARKER).exists());
        fs::write(d.join("later.txt"), b"user's").unwrap();
        let Plan::Remove { entries, others } = plan(&d).unwrap() else {
            panic!("expected a removal plan");
        };
        assert_eq!(
            entries,
            vec![d.join("blobs"), d.join("storage.lock"), d.join(MARKER)]
        );
        assert_eq!(others, vec![OsString::from("later.txt")]);
    }

    #[test]
    fn missing_and_empty_directories() {
        let tmp = tempfile::tempdir().unwrap();
        assert_eq!(plan(&tmp.path().join("nope")).unwrap(), Plan::Absent);
        let e = tmp.path().join("empty");
        fs::create_dir(&e).unwrap();
        assert_eq!(
            plan(&e).unwrap(),
            Plan::Remove {
                entries: vec![],
                others: vec![]
            }
        );
    }

    #[test]
    fn root_is_protected() {
        assert!(matches!(
            plan(Path::new("/")),
            Err(ResetError::Protected { .. })
        ));
    }
}
