//! The file trees COPY reads and looks into: a context directory (its ignore patterns making
//! files invisible) and a stack of layer directories seen merged (whiteouts, opaque
//! directories, true owners from coracle's metadata). Paths are relative, `/`-separated, no
//! leading `/`; `""` is the root.

use std::collections::{BTreeSet, HashMap};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::archive::ownership::{self, FileKind, Stat};
use crate::archive::whiteout;
use crate::archive::{DIFF_DIR, SymlinkTable};
use crate::build::ignore::Ignore;

use super::CopyError;

/// One entry of a tree, with the metadata the image will see.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub stat: Stat,
    pub mtime: i64,
    pub size: u64,
    /// (device, inode) when the file has several names.
    pub link_key: Option<(u64, u64)>,
    /// The symlink's target.
    pub target: Option<Vec<u8>>,
    /// Where the content is on this host.
    pub host: PathBuf,
}

pub(crate) trait Tree {
    /// The entry at `path`, not following a final symlink; `None` when there is none (or it
    /// is invisible).
    fn node(&self, path: &str) -> Result<Option<Node>, CopyError>;
    /// The visible names in the directory `path`, sorted.
    fn children(&self, path: &str) -> Result<Vec<String>, CopyError>;
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> CopyError + '_ {
    move |source| CopyError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn utf8(name: std::ffi::OsString, dir: &Path) -> Result<String, CopyError> {
    name.into_string().map_err(|n| CopyError::Io {
        path: dir.join(n).display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, "name is not UTF-8"),
    })
}

fn sorted_names(dir: &Path) -> Result<Vec<String>, CopyError> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(io_err(dir))? {
        names.push(utf8(e.map_err(io_err(dir))?.file_name(), dir)?);
    }
    names.sort();
    Ok(names)
}

/// A node from `lstat`, owned by `0:0` (context files) unless `stat` is given.
fn host_node(host: PathBuf, stat: Option<Stat>) -> Result<Option<Node>, CopyError> {
    let md = match std::fs::symlink_metadata(&host) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
        Err(e) => return Err(io_err(&host)(e)),
    };
    // An unpacked tar context keeps its true modes in coracle's metadata, like a layer.
    let mut stat = match stat {
        Some(stat) => stat,
        None if md.file_type().is_symlink() => Stat::SYMLINK_DEFAULT,
        None => ownership::read_stat(&host).map_err(|e| CopyError::Layer(Box::new(e)))?,
    };
    if let FileKind::Char { .. } | FileKind::Block { .. } = stat.kind
        && !md.file_type().is_file()
    {
        let (major, minor) = (rustix::fs::major(md.rdev()), rustix::fs::minor(md.rdev()));
        stat.kind = match stat.kind {
            FileKind::Char { .. } => FileKind::Char { major, minor },
            _ => FileKind::Block { major, minor },
        };
    }
    let target = if md.file_type().is_symlink() {
        Some(std::os::unix::ffi::OsStringExt::into_vec(
            std::fs::read_link(&host)
                .map_err(io_err(&host))?
                .into_os_string(),
        ))
    } else {
        None
    };
    Ok(Some(Node {
        stat,
        mtime: md.mtime(),
        size: if stat.kind == FileKind::File {
            md.len()
        } else {
            0
        },
        link_key: (md.nlink() > 1 && !md.is_dir()).then(|| (md.dev(), md.ino())),
        target,
        host,
    }))
}

/// A directory on this host, e.g. the build context.
pub(crate) struct DirTree<'a> {
    pub root: &'a Path,
    pub ignore: &'a Ignore,
}

impl DirTree<'_> {
    fn host(&self, path: &str) -> PathBuf {
        if path.is_empty() {
            self.root.to_path_buf()
        } else {
            self.root.join(path)
        }
    }

    /// Whether `path` is visible: not excluded, or an excluded directory with an included
    /// descendant (an exception re-includes it).
    fn visible(&self, path: &str, is_dir: bool) -> Result<bool, CopyError> {
        if path.is_empty() || !self.ignore.excludes(path) {
            return Ok(true);
        }
        if !is_dir || !self.ignore.has_exceptions() {
            return Ok(false);
        }
        for name in sorted_names(&self.host(path))? {
            let child = format!("{path}/{name}");
            let child_dir = std::fs::symlink_metadata(self.host(&child))
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if self.visible(&child, child_dir)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

impl Tree for DirTree<'_> {
    fn node(&self, path: &str) -> Result<Option<Node>, CopyError> {
        let Some(mut node) = host_node(self.host(path), None)? else {
            return Ok(None);
        };
        if !self.visible(path, node.stat.kind == FileKind::Dir)? {
            return Ok(None);
        }
        // Context files belong to root in the image whoever owns them here.
        node.stat.uid = 0;
        node.stat.gid = 0;
        Ok(Some(node))
    }

    fn children(&self, path: &str) -> Result<Vec<String>, CopyError> {
        let mut out = Vec::new();
        for name in sorted_names(&self.host(path))? {
            let child = join(path, &name);
            let is_dir = std::fs::symlink_metadata(self.host(&child))
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if self.visible(&child, is_dir)? {
                out.push(name);
            }
        }
        Ok(out)
    }
}

/// A stack of layer directories (`layers/<id>/` holding `diff/` and the symlink table, or a
/// bare tree), seen merged.
pub(crate) struct LayerTree {
    /// (diff directory, layer directory with the symlink table), top-most first.
    layers: Vec<(PathBuf, Option<PathBuf>)>,
    symlinks: Mutex<HashMap<usize, SymlinkTable>>,
}

impl LayerTree {
    /// `dirs`: base first, as [`super::CopyRequest::base`] has them.
    pub fn new(dirs: &[PathBuf]) -> LayerTree {
        let layers = dirs
            .iter()
            .rev()
            .map(|d| {
                let diff = d.join(DIFF_DIR);
                if diff.is_dir() {
                    (diff, Some(d.clone()))
                } else {
                    (d.clone(), None)
                }
            })
            .collect();
        LayerTree {
            layers,
            symlinks: Mutex::new(HashMap::new()),
        }
    }

    fn at(&self, layer: usize, path: &str) -> PathBuf {
        let diff = &self.layers[layer].0;
        if path.is_empty() {
            diff.clone()
        } else {
            diff.join(path)
        }
    }

    fn lstat(&self, layer: usize, path: &str) -> Option<std::fs::Metadata> {
        std::fs::symlink_metadata(self.at(layer, path)).ok()
    }

    fn whiteout_of(&self, layer: usize, path: &str) -> bool {
        if path.is_empty() {
            return false;
        }
        let (parent, name) = split(path);
        let wh = whiteout::whiteout_name(std::ffi::OsStr::new(name));
        let wh = wh.to_string_lossy();
        self.lstat(layer, &join(parent, &wh)).is_some()
    }

    fn opaque(&self, layer: usize, path: &str) -> bool {
        self.lstat(layer, &join(path, whiteout::OPAQUE_MARKER))
            .is_some()
    }

    /// The top-most layer holding `path` in the merged view, or `None` when it is absent or
    /// hidden (a whiteout, an opaque directory or a non-directory above it).
    fn find(&self, path: &str) -> Option<usize> {
        if path.is_empty() {
            return (!self.layers.is_empty()).then_some(0);
        }
        let comps: Vec<&str> = path.split('/').collect();
        for layer in 0..self.layers.len() {
            let mut prefix = String::new();
            for (i, comp) in comps.iter().enumerate() {
                prefix = join(&prefix, comp);
                if self.whiteout_of(layer, &prefix) {
                    return None;
                }
                let Some(md) = self.lstat(layer, &prefix) else {
                    break;
                };
                if i + 1 == comps.len() {
                    return Some(layer);
                }
                if !md.is_dir() {
                    return None;
                }
            }
            // Lower layers are hidden below an opaque directory of this layer.
            let mut prefix = String::new();
            for comp in &comps[..comps.len() - 1] {
                prefix = join(&prefix, comp);
                if self.lstat(layer, &prefix).is_some_and(|m| m.is_dir())
                    && self.opaque(layer, &prefix)
                {
                    return None;
                }
            }
        }
        None
    }

    fn symlink_stat(&self, layer: usize, path: &str) -> Result<Stat, CopyError> {
        let Some(dir) = &self.layers[layer].1 else {
            return Ok(Stat::SYMLINK_DEFAULT);
        };
        let mut tables = self.symlinks.lock().unwrap_or_else(|p| p.into_inner());
        if let std::collections::hash_map::Entry::Vacant(e) = tables.entry(layer) {
            e.insert(SymlinkTable::load(dir).map_err(|e| CopyError::Layer(Box::new(e)))?);
        }
        Ok(tables[&layer].stat(path.as_bytes()))
    }
}

impl Tree for LayerTree {
    fn node(&self, path: &str) -> Result<Option<Node>, CopyError> {
        let Some(layer) = self.find(path) else {
            return Ok(None);
        };
        let host = self.at(layer, path);
        let md = std::fs::symlink_metadata(&host).map_err(io_err(&host))?;
        let stat = if md.file_type().is_symlink() {
            self.symlink_stat(layer, path)?
        } else {
            ownership::read_stat(&host).map_err(|e| CopyError::Layer(Box::new(e)))?
        };
        host_node(host, Some(stat))
    }

    fn children(&self, path: &str) -> Result<Vec<String>, CopyError> {
        let mut names = BTreeSet::new();
        for layer in 0..self.layers.len() {
            if self.lstat(layer, path).is_some_and(|m| m.is_dir()) {
                for name in sorted_names(&self.at(layer, path))? {
                    if !whiteout::is_reserved(std::ffi::OsStr::new(&name)) {
                        names.insert(name);
                    }
                }
            }
        }
        let mut out = Vec::new();
        for name in names {
            if self.find(&join(path, &name)).is_some() {
                out.push(name);
            }
        }
        Ok(out)
    }
}

/// `parent/name`, or `name` at the root.
pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_string()
    } else if name.is_empty() {
        parent.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

/// The parent and the last component of a non-root path.
pub(crate) fn split(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(i) => (&path[..i], &path[i + 1..]),
        None => ("", path),
    }
}

/// How many symlinks a resolution follows before giving up (Linux's limit).
const MAX_LINKS: usize = 40;

/// Resolves `path` inside `tree` as if the tree were the root directory: symlinks in the
/// parents (and in the last component when `follow_last`) are followed, an absolute target
/// starts again at the tree's root and `..` never goes above it. The result may not exist.
pub(crate) fn resolve(tree: &dyn Tree, path: &str, follow_last: bool) -> Result<String, CopyError> {
    let mut todo: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .rev()
        .map(str::to_string)
        .collect();
    let mut done = String::new();
    let mut links = 0;
    while let Some(comp) = todo.pop() {
        if comp == ".." {
            done = split(&done).0.to_string();
            continue;
        }
        let next = join(&done, &comp);
        let last = todo.is_empty();
        match tree.node(&next)? {
            Some(node) if node.stat.kind == FileKind::Symlink && (!last || follow_last) => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(CopyError::SymlinkLoop(path.to_string()));
                }
                let target = String::from_utf8_lossy(node.target.as_deref().unwrap_or_default())
                    .into_owned();
                if target.starts_with('/') {
                    done.clear();
                }
                todo.extend(
                    target
                        .split('/')
                        .filter(|c| !c.is_empty() && *c != ".")
                        .rev()
                        .map(str::to_string),
                );
            }
            _ => done = next,
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(join("", "a"), "a");
        assert_eq!(join("a", "b"), "a/b");
        assert_eq!(split("a/b/c"), ("a/b", "c"));
        assert_eq!(split("c"), ("", "c"));
    }
}
