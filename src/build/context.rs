//! The build context: the directory COPY and ADD read from, and the Containerfile.
//!
//! For now only a local directory; tar archives, `-`, URLs, git repositories and the
//! `.containerignore`/`.dockerignore` file are to come (each unpacked to a temporary
//! directory that lives as long as the [`BuildContext`]).

use std::path::{Path, PathBuf};

/// Why the context or its Containerfile cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("the build context {0} is not a directory")]
    NotADirectory(String),
    #[error("no Containerfile or Dockerfile in {0}")]
    NoContainerfile(String),
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// An opened build context.
#[derive(Debug)]
pub struct BuildContext {
    /// The directory the context's files are in.
    pub root: PathBuf,
}

/// The Containerfile to build: its name for messages and its text.
#[derive(Debug, Clone)]
pub struct Containerfile {
    pub name: String,
    pub text: String,
}

impl BuildContext {
    /// Opens the context the user named (`None`: the current directory).
    pub fn open(spec: Option<&str>) -> Result<BuildContext, ContextError> {
        let root = PathBuf::from(spec.unwrap_or("."));
        if !root.is_dir() {
            return Err(ContextError::NotADirectory(root.display().to_string()));
        }
        Ok(BuildContext { root })
    }

    /// The Containerfile: `-f FILE` (relative to the current directory, as Podman), else
    /// `Containerfile`, else `Dockerfile` in the context.
    pub fn containerfile(&self, file: Option<&str>) -> Result<Containerfile, ContextError> {
        let path = match file {
            Some(f) => PathBuf::from(f),
            None => ["Containerfile", "Dockerfile"]
                .iter()
                .map(|n| self.root.join(n))
                .find(|p| p.is_file())
                .ok_or_else(|| ContextError::NoContainerfile(self.root.display().to_string()))?,
        };
        let text = std::fs::read_to_string(&path).map_err(|source| ContextError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Containerfile {
            name: display_name(&path),
            text,
        })
    }
}

fn display_name(path: &Path) -> String {
    path.display().to_string()
}
