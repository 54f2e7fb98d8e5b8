//! The entries a COPY or ADD writes, in order, decided before anything is written.
//!
//! Destination rules (Docker's): a relative destination is under WORKDIR; it is a directory
//! when it ends in `/`, when there are several sources, when a source is a directory (its
//! contents go in) or when the base image has a directory there (symlinks in the base are
//! followed). Parents the base lacks are made (`0:0 0755`); the ones it has are not written
//! again, so their owner and mode in the image stay.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use crate::archive::ownership::{FileKind, Stat};
use crate::build::ignore::{self, Ignore};
use crate::build::scratch::Scratch;

use super::chmod::Chmod;
use super::tree::{self, DirTree, LayerTree, Node, Tree};
use super::{CopyError, CopyRequest, Source, add, users};

/// What an entry holds.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    /// Directories, fifos, devices.
    Empty,
    /// A regular file whose content is on this host.
    File {
        host: PathBuf,
        size: u64,
    },
    /// A regular file's content in memory (heredocs).
    Bytes(Vec<u8>),
    Symlink(Vec<u8>),
    /// Another name of an entry written before (its name).
    Hardlink(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Item {
    /// The path in the image, relative to `/`.
    pub name: String,
    pub stat: Stat,
    pub mtime: i64,
    pub body: Body,
}

/// The layer to write, and the temporary files its entries may point into.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub items: Vec<Item>,
    pub _scratch: Vec<Scratch>,
}

/// `--chown` and `--chmod` and `--timestamp`, applied to every copied entry.
struct Options {
    owner: Option<(u32, u32)>,
    chmod: Option<Chmod>,
    timestamp: Option<i64>,
}

struct Emitter<'a> {
    base: &'a LayerTree,
    opts: Options,
    plan: Plan,
    /// Directories already in the plan.
    dirs: HashSet<String>,
    /// (device, inode) of a copied file with several names -> its first name.
    links: HashMap<(u64, u64), String>,
}

/// One thing to copy.
enum Src {
    /// A path of the source tree (symlinks already resolved), the name the source gave it
    /// and its entry; with `--parents`, the path below the destination it keeps.
    Path {
        path: String,
        name: String,
        node: Node,
        keep: Option<String>,
    },
    /// A directory of this host whose contents are copied: ADD's clone of a git
    /// repository.
    HostDir { root: PathBuf },
    /// A file made here: a heredoc or a download.
    Made {
        name: String,
        body: Body,
        mode: u32,
        mtime: i64,
    },
}

pub(crate) fn plan(req: &CopyRequest<'_>) -> Result<Plan, CopyError> {
    let copy = req.copy;
    let base = LayerTree::new(req.base);
    // --link: the layer is made as if on an empty base (every parent written, the
    // destination a directory only when the instruction says so), so that it is the same on
    // any base. `--chown` names still come from the base's files.
    let shape = if copy.link {
        LayerTree::new(&[])
    } else {
        LayerTree::new(req.base)
    };
    let opts = Options {
        owner: copy
            .chown
            .as_deref()
            .map(|spec| users::resolve(spec, &base))
            .transpose()?,
        chmod: copy.chmod.as_deref().map(Chmod::parse).transpose()?,
        timestamp: req.timestamp,
    };
    let exclude = Ignore::from_patterns(copy.exclude.iter().map(String::as_str))
        .map_err(CopyError::Exclude)?;
    if copy.checksum.is_some() && !copy.sources.iter().any(|s| add::is_url(s)) {
        return Err(CopyError::ChecksumWithoutUrl);
    }

    let (tree, context_tree): (Box<dyn Tree>, bool) = match &req.source {
        Source::Context(ctx) => (
            Box::new(DirTree {
                root: &ctx.root,
                ignore: &ctx.ignore,
            }),
            true,
        ),
        Source::Layers(dirs) => (Box::new(LayerTree::new(dirs)), false),
    };

    let mut scratch = Vec::new();
    let mut srcs = Vec::new();
    for raw in &copy.sources {
        if raw.starts_with("<<") && !copy.heredocs.is_empty() {
            continue;
        }
        if req.add && context_tree && crate::build::context::remote::is_git(raw) {
            let (root, dir) = crate::build::context::remote::clone(raw, copy.keep_git_dir)
                .map_err(|e| CopyError::Git(e.to_string()))?;
            srcs.push(Src::HostDir { root });
            scratch.push(dir);
            continue;
        }
        if req.add && add::is_url(raw) && context_tree {
            let (file, dir) = add::download(raw, copy.checksum.as_deref())?;
            srcs.push(Src::Made {
                name: file.name,
                body: Body::File {
                    host: file.path,
                    size: file.size,
                },
                mode: 0o600,
                mtime: file.mtime,
            });
            scratch.push(dir);
            continue;
        }
        let found = expand_source(tree.as_ref(), raw)?;
        let pivot = copy.parents.then(|| parents_pivot(raw));
        for path in found {
            let resolved = tree::resolve(tree.as_ref(), &path, true)?;
            let node = tree
                .node(&resolved)?
                .ok_or_else(|| CopyError::NoSuchSource(path.clone()))?;
            // A source keeps its own name, not its symlink target's.
            let keep = pivot.as_ref().map(|p| kept_path(&path, p));
            srcs.push(Src::Path {
                name: tree::split(&path).1.to_string(),
                path: resolved,
                node,
                keep,
            });
        }
    }
    for doc in &copy.heredocs {
        let content = if doc.strip_tabs {
            doc.content
                .split_inclusive('\n')
                .map(|l| l.trim_start_matches('\t'))
                .collect()
        } else {
            doc.content.clone()
        };
        srcs.push(Src::Made {
            name: doc.name.clone(),
            body: Body::Bytes(content.into_bytes()),
            mode: 0o644,
            mtime: 0,
        });
    }
    if srcs.is_empty() {
        return Err(CopyError::NoSources);
    }

    // The destination, and whether it names a directory.
    let raw_dest = copy.dest.as_str();
    let absolute = if raw_dest.starts_with('/') {
        raw_dest.to_string()
    } else {
        format!("{}/{raw_dest}", req.workdir)
    };
    let cleaned = ignore::clean(&absolute);
    let dest = tree::resolve(&shape, cleaned.trim_start_matches('/'), true)?;
    let base_dir = shape
        .node(&dest)?
        .is_some_and(|n| n.stat.kind == FileKind::Dir);
    let named_dir = raw_dest.ends_with('/')
        || raw_dest.ends_with("/.")
        || raw_dest == "."
        || dest.is_empty()
        || srcs.len() > 1
        || named_sources(copy) > 1
        || copy.parents
        || base_dir;

    let mut e = Emitter {
        base: &shape,
        opts,
        plan: Plan::default(),
        dirs: HashSet::new(),
        links: HashMap::new(),
    };
    for src in srcs {
        match src {
            Src::Made {
                name,
                body,
                mode,
                mtime,
            } => {
                let target = if named_dir {
                    tree::join(&dest, &name)
                } else {
                    dest.clone()
                };
                e.parents(&target)?;
                // --chown and --chmod apply to heredocs and downloads too, as BuildKit does.
                let (uid, gid) = e.opts.owner.unwrap_or((0, 0));
                let mode = e.opts.chmod.as_ref().map_or(mode, |c| c.apply(mode, false));
                let stat = Stat {
                    uid,
                    gid,
                    mode,
                    kind: FileKind::File,
                };
                e.push(target, stat, mtime, body);
            }
            Src::HostDir { root } => {
                e.parents(&dest)?;
                if !e.base_has_dir(&dest)? {
                    e.dir(&dest, 0o755, e.opts.timestamp.unwrap_or(0));
                }
                let none = Ignore::default();
                let tree = DirTree {
                    root: &root,
                    ignore: &none,
                };
                // A clone's files carry the time of the clone: they get the epoch (or
                // --timestamp) instead, so the same commit gives the same layer and key.
                let own = e.opts.timestamp;
                e.opts.timestamp = Some(own.unwrap_or(0));
                let walked = e.walk(&tree, "", &dest, "", &exclude);
                e.opts.timestamp = own;
                walked?;
            }
            Src::Path {
                path,
                name: base_name,
                node,
                keep: Some(rel),
            } => {
                // --parents: the source's path below the context (or the pivot) is kept.
                let target = tree::join(&dest, &rel);
                if node.stat.kind == FileKind::Dir {
                    e.parents(&target)?;
                    e.entry(&target, &node)?;
                    e.walk(tree.as_ref(), &path, &target, "", &exclude)?;
                } else {
                    e.file(false, &target, &base_name, &node, &exclude)?;
                }
            }
            Src::Path {
                path,
                name: base_name,
                node,
                keep: None,
            } => {
                if node.stat.kind == FileKind::Dir {
                    e.parents(&dest)?;
                    e.entry(&dest, &node)?;
                    e.walk(tree.as_ref(), &path, &dest, "", &exclude)?;
                } else if req.add && context_tree && node.stat.kind == FileKind::File {
                    match add::unpack(&node.host)? {
                        Some(unpacked) => {
                            e.parents(&dest)?;
                            if !e.base_has_dir(&dest)? {
                                e.dir(&dest, 0o755, e.opts.timestamp.unwrap_or(0));
                            }
                            let tree = LayerTree::new(std::slice::from_ref(&unpacked.layer));
                            e.walk(&tree, "", &dest, "", &Ignore::default())?;
                            scratch.push(unpacked.scratch);
                        }
                        None => e.file(named_dir, &dest, &base_name, &node, &exclude)?,
                    }
                } else {
                    e.file(named_dir, &dest, &base_name, &node, &exclude)?;
                }
            }
        }
    }
    let mut plan = e.plan;
    plan._scratch = scratch;
    Ok(plan)
}

impl Emitter<'_> {
    fn base_has_dir(&self, path: &str) -> Result<bool, CopyError> {
        Ok(self
            .base
            .node(path)?
            .is_some_and(|n| n.stat.kind == FileKind::Dir))
    }

    /// Makes the parents of `path` the base lacks.
    fn parents(&mut self, path: &str) -> Result<(), CopyError> {
        let mut prefix = String::new();
        let comps: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
        for comp in comps.iter().take(comps.len().saturating_sub(1)) {
            prefix = tree::join(&prefix, comp);
            if self.dirs.contains(&prefix) || self.base_has_dir(&prefix)? {
                continue;
            }
            let mtime = self.opts.timestamp.unwrap_or(0);
            self.dir(&prefix.clone(), 0o755, mtime);
        }
        Ok(())
    }

    fn dir(&mut self, path: &str, mode: u32, mtime: i64) {
        let stat = Stat {
            uid: 0,
            gid: 0,
            mode,
            kind: FileKind::Dir,
        };
        self.dirs.insert(path.to_string());
        self.plan.items.push(Item {
            name: path.to_string(),
            stat,
            mtime,
            body: Body::Empty,
        });
    }

    /// A non-directory source: to `dest/<name>` when the destination is a directory.
    fn file(
        &mut self,
        named_dir: bool,
        dest: &str,
        name: &str,
        node: &Node,
        exclude: &Ignore,
    ) -> Result<(), CopyError> {
        if exclude.excludes(name) {
            return Ok(());
        }
        let target = if named_dir {
            tree::join(dest, name)
        } else {
            dest.to_string()
        };
        if target.is_empty() {
            return Err(CopyError::Escapes(name.to_string()));
        }
        self.parents(&target)?;
        self.entry(&target, node)
    }

    /// The contents of the directory `src` of `tree` under `dest`; `rel` is the path below
    /// the copied source, which `--exclude` patterns match.
    fn walk(
        &mut self,
        tree: &dyn Tree,
        src: &str,
        dest: &str,
        rel: &str,
        exclude: &Ignore,
    ) -> Result<(), CopyError> {
        for name in tree.children(src)? {
            let child_rel = tree::join(rel, &name);
            let Some(node) = tree.node(&tree::join(src, &name))? else {
                continue;
            };
            let is_dir = node.stat.kind == FileKind::Dir;
            if exclude.excludes(&child_rel) && !(is_dir && exclude.has_exceptions()) {
                continue;
            }
            let target = tree::join(dest, &name);
            self.entry(&target, &node)?;
            if is_dir {
                self.walk(tree, &tree::join(src, &name), &target, &child_rel, exclude)?;
            }
        }
        Ok(())
    }

    /// One copied entry at `target`, with `--chown`, `--chmod` and `--timestamp` applied.
    /// The root and a directory the base already has as the destination are not written.
    fn entry(&mut self, target: &str, node: &Node) -> Result<(), CopyError> {
        let mut stat = node.stat;
        if let Some((uid, gid)) = self.opts.owner {
            stat.uid = uid;
            stat.gid = gid;
        }
        if let Some(chmod) = &self.opts.chmod
            && stat.kind != FileKind::Symlink
        {
            stat.mode = chmod.apply(stat.mode, stat.kind == FileKind::Dir);
        }
        let mtime = self.opts.timestamp.unwrap_or(node.mtime);
        let body = match stat.kind {
            FileKind::Dir => {
                if target.is_empty() || self.dirs.contains(target) {
                    return Ok(());
                }
                self.dirs.insert(target.to_string());
                Body::Empty
            }
            FileKind::Socket => return Ok(()),
            FileKind::Symlink => Body::Symlink(node.target.clone().unwrap_or_default()),
            _ => match node.link_key {
                Some(key) if self.links.contains_key(&key) => {
                    Body::Hardlink(self.links[&key].clone())
                }
                Some(key) => {
                    self.links.insert(key, target.to_string());
                    file_body(node)
                }
                None => file_body(node),
            },
        };
        self.push(target.to_string(), stat, mtime, body);
        Ok(())
    }

    fn push(&mut self, name: String, stat: Stat, mtime: i64, body: Body) {
        self.plan.items.push(Item {
            name,
            stat,
            mtime,
            body,
        });
    }
}

/// How many sources the instruction names (a heredoc's marker among the sources counts once).
fn named_sources(copy: &crate::build::syntax::Copy) -> usize {
    let plain = copy
        .sources
        .iter()
        .filter(|s| copy.heredocs.is_empty() || !s.starts_with("<<"))
        .count();
    plain + copy.heredocs.len()
}

fn file_body(node: &Node) -> Body {
    if node.stat.kind == FileKind::File {
        Body::File {
            host: node.host.clone(),
            size: node.size,
        }
    } else {
        Body::Empty
    }
}

/// The leading part of a `--parents` source that is not kept: what comes before a `/./`
/// in it (BuildKit's pivot, `a/./b/c` keeps `b/c`), else nothing.
fn parents_pivot(raw: &str) -> String {
    let raw = raw.trim_start_matches('/');
    match raw.find("/./").map(|i| ignore::clean(&raw[..i])) {
        Some(p) if p != "." => p,
        _ => String::new(),
    }
}

/// The part of `path` (a matched source, relative to the tree's root) a `--parents` copy
/// keeps below the destination.
fn kept_path(path: &str, pivot: &str) -> String {
    if pivot.is_empty() {
        return path.to_string();
    }
    match path.strip_prefix(pivot) {
        Some("") => String::new(),
        Some(rest) if rest.starts_with('/') => rest[1..].to_string(),
        _ => path.to_string(),
    }
}

fn has_meta(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// The paths a source names: itself, or what its glob matches (sorted), relative to the
/// tree's root. `..` that would leave the root is refused.
fn expand_source(tree: &dyn Tree, raw: &str) -> Result<Vec<String>, CopyError> {
    let cleaned = ignore::clean(raw.trim_start_matches('/'));
    if cleaned == ".." || cleaned.starts_with("../") {
        return Err(CopyError::Escapes(raw.to_string()));
    }
    let cleaned = if cleaned == "." {
        String::new()
    } else {
        cleaned
    };
    if !has_meta(&cleaned) {
        if tree.node(&tree::resolve(tree, &cleaned, true)?)?.is_none() {
            return Err(CopyError::NoSuchSource(cleaned));
        }
        return Ok(vec![cleaned]);
    }
    let mut found = vec![String::new()];
    for comp in cleaned.split('/') {
        let mut next = Vec::new();
        for path in &found {
            if !has_meta(comp) {
                let p = tree::join(path, comp);
                if tree.node(&tree::resolve(tree, &p, false)?)?.is_some() {
                    next.push(p);
                }
                continue;
            }
            let dir = tree::resolve(tree, path, true)?;
            if !tree
                .node(&dir)?
                .is_some_and(|n| n.stat.kind == FileKind::Dir)
            {
                continue;
            }
            for name in tree.children(&dir)? {
                if ignore::glob_match(comp, &name) {
                    next.push(tree::join(path, &name));
                }
            }
        }
        found = next;
    }
    if found.is_empty() {
        return Err(CopyError::NoMatch(raw.to_string()));
    }
    Ok(found)
}
