//! The image a stack of extracted layers makes: each layer's `diff/` applied over the ones
//! below it, whiteouts and opaque directories honoured, as a map of paths (no leading `/`)
//! to what the caller reads of each entry. `diff` of a vfs container and the vfs driver's
//! commit both compare a copied root with it.

use std::collections::BTreeMap;
use std::fs::Metadata;
use std::os::unix::ffi::OsStrExt as _;
use std::path::{Path, PathBuf};

use super::resolve::join;
use super::symlinks::SymlinkTable;
use super::{ArchiveError, DIFF_DIR, whiteout};

/// What the map holds for each entry.
pub trait StackEntry: Clone {
    fn is_dir(&self) -> bool;
}

/// Reads one entry of a layer: its path on disk, its path in the image, its metadata and
/// the layer's symlink table.
pub type ReadEntry<'a, T, E> =
    dyn FnMut(&Path, &[u8], &Metadata, &SymlinkTable) -> Result<T, E> + 'a;

/// The image `layers` (directories holding `diff/`, base first) make.
pub fn merged<T: StackEntry, E: From<ArchiveError>>(
    layers: &[PathBuf],
    read: &mut ReadEntry<'_, T, E>,
) -> Result<BTreeMap<Vec<u8>, T>, E> {
    let mut image = BTreeMap::new();
    for layer in layers {
        let symlinks = SymlinkTable::load(layer)?;
        apply(&mut image, &symlinks, &layer.join(DIFF_DIR), b"", read)?;
    }
    Ok(image)
}

/// Applies one more layer directory (a `diff/` or a container's upper directory, whose
/// symlinks `symlinks` describes) over `image`.
pub fn apply_dir<T: StackEntry, E: From<ArchiveError>>(
    image: &mut BTreeMap<Vec<u8>, T>,
    symlinks: &SymlinkTable,
    dir: &Path,
    read: &mut ReadEntry<'_, T, E>,
) -> Result<(), E> {
    apply(image, symlinks, dir, b"", read)
}

/// Removes `path` and everything below it (the whole image for the empty path).
fn remove_tree<T>(image: &mut BTreeMap<Vec<u8>, T>, path: &[u8]) {
    if path.is_empty() {
        image.clear();
        return;
    }
    image.remove(path);
    let mut prefix = path.to_vec();
    prefix.push(b'/');
    let doomed: Vec<Vec<u8>> = image
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        image.remove(&k);
    }
}

fn apply<T: StackEntry, E: From<ArchiveError>>(
    image: &mut BTreeMap<Vec<u8>, T>,
    symlinks: &SymlinkTable,
    dir: &Path,
    rel: &[u8],
    read: &mut ReadEntry<'_, T, E>,
) -> Result<(), E> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| ArchiveError::Io { path, source }
    };
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()
        .map_err(io(dir))?;
    names.sort();
    if names.iter().any(|n| whiteout::is_opaque_marker(n)) {
        let keep = image.get(rel).cloned();
        remove_tree(image, rel);
        if let Some(m) = keep {
            image.insert(rel.to_vec(), m);
        }
    }
    for n in names.iter().filter_map(|n| whiteout::whiteout_target(n)) {
        remove_tree(image, &join(rel, n.as_bytes()));
    }
    for name in names.iter().filter(|n| !whiteout::is_reserved(n)) {
        let path = dir.join(name);
        let child = join(rel, name.as_bytes());
        let md = std::fs::symlink_metadata(&path).map_err(io(&path))?;
        let entry = read(&path, &child, &md, symlinks)?;
        if !entry.is_dir() || image.get(&child).is_some_and(|m| !m.is_dir()) {
            remove_tree(image, &child);
        }
        let is_dir = entry.is_dir();
        image.insert(child.clone(), entry);
        if is_dir {
            apply(image, symlinks, &path, &child, read)?;
        }
    }
    Ok(())
}
