//! The trees a `RUN --mount=type=bind` mounts when it is not the context itself, read-only:
//! a path of a stage's or an image's root (`from=`), or a writable (`rw`) copy of a
//! context path. Each is a private copy made for the one step and removed after it, so what
//! the step writes there is gone (and never in its layer, whose mount points are left out).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::build::scratch::Scratch;
use crate::build::syntax::Copy;

use super::{CopyError, CopyRequest, Source, write_layer};

/// A tree made for one RUN's bind mount; removed when dropped.
#[derive(Debug)]
pub struct BindTree {
    /// What to mount.
    pub path: PathBuf,
    _scratch: Scratch,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CopyError + '_ {
    move |source| CopyError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// `source` (a path in the tree, `/` for all of it; symlinks resolved inside the tree) of
/// the layer stack `layers` (base first, in the store's form), copied out with its owners
/// and modes.
pub fn from_layers(layers: &[PathBuf], source: &str) -> Result<BindTree, CopyError> {
    let scratch = Scratch::new("bind").map_err(io(Path::new("$TMPDIR")))?;
    // The copy a `COPY --from=<layers> <source> /m` would write, on an empty base: a
    // directory's contents go into `m`, a file becomes `m`.
    let copy = Copy {
        sources: vec![if source.is_empty() { "/" } else { source }.to_string()],
        dest: "/m".into(),
        ..Copy::default()
    };
    let req = CopyRequest {
        copy: &copy,
        add: false,
        source: Source::Layers(layers),
        base: &[],
        workdir: "/",
        timestamp: None,
    };
    let tar_path = scratch.path().join("tree.tar");
    let mut tar = BufWriter::new(File::create(&tar_path).map_err(io(&tar_path))?);
    write_layer(&req, &mut tar)?;
    tar.flush().map_err(io(&tar_path))?;
    drop(tar);
    let layer = scratch.path().join("layer");
    std::fs::create_dir(&layer).map_err(io(&layer))?;
    let reader = BufReader::new(File::open(&tar_path).map_err(io(&tar_path))?);
    crate::archive::extract_layer(reader, &layer).map_err(|e| CopyError::Layer(Box::new(e)))?;
    std::fs::remove_file(&tar_path).map_err(io(&tar_path))?;
    let path = layer.join(crate::archive::DIFF_DIR).join("m");
    if std::fs::symlink_metadata(&path).is_err() {
        // An empty directory writes no entry of its own.
        std::fs::create_dir(&path).map_err(io(&path))?;
    }
    Ok(BindTree {
        path,
        _scratch: scratch,
    })
}

/// A copy of the context path `src` (a file or a directory, symlinks already resolved) that
/// the step may change.
pub fn writable_copy(src: &Path) -> Result<BindTree, CopyError> {
    let scratch = Scratch::new("bind").map_err(io(Path::new("$TMPDIR")))?;
    let path = scratch.path().join("m");
    let meta = std::fs::metadata(src).map_err(io(src))?;
    if meta.is_dir() {
        std::fs::create_dir(&path).map_err(io(&path))?;
        crate::runtime::volumes::copy::copy_tree(src, &path).map_err(|e| CopyError::Io {
            path: src.display().to_string(),
            source: std::io::Error::other(e),
        })?;
    } else {
        std::fs::copy(src, &path).map_err(io(src))?;
    }
    Ok(BindTree {
        path,
        _scratch: scratch,
    })
}
