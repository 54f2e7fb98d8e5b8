//! The build context: the directory COPY and ADD read from, its ignore patterns, and the
//! Containerfile.
//!
//! A context is a directory; a tar archive (plain, gzip, zstd, bzip2, xz) unpacked to a
//! temporary directory; `-`: a tar on stdin, or a Containerfile alone (an empty context) as
//! Podman does; an http(s) URL of a tar archive (or of a Containerfile alone); a git
//! repository (`https://host/repo.git`, `git@host:repo`, `git://...`, with a `#ref:subdir`
//! fragment) cloned with the `git` command. Unpacked and cloned trees live as long as the
//! [`BuildContext`].
//!
//! The ignore file: `--ignorefile`, else `<Containerfile>.containerignore` or
//! `<Containerfile>.dockerignore` beside the Containerfile (as buildah), else
//! `.containerignore`, else `.dockerignore` in the context.

pub(crate) mod remote;

use std::io::Read;
use std::path::{Path, PathBuf};

use super::ignore::{Ignore, PatternError};
use super::scratch::Scratch;

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
    #[error("the build context {0} does not exist")]
    Missing(String),
    #[error("unpacking the build context {path}: {reason}")]
    Unpack { path: String, reason: String },
    #[error("downloading the build context {url}: {reason}")]
    Download { url: String, reason: String },
    #[error("cloning {url}: {reason}")]
    Git { url: String, reason: String },
    #[error("the ignore file {path}")]
    Ignore {
        path: String,
        #[source]
        source: PatternError,
    },
    #[error("stdin holds the build context: the Containerfile cannot come from it too")]
    StdinTwice,
}

/// An opened build context.
#[derive(Debug)]
pub struct BuildContext {
    /// The directory the context's files are in.
    pub root: PathBuf,
    /// The ignore patterns: what COPY and ADD cannot see.
    pub ignore: Ignore,
    /// A Containerfile that came without a context (stdin or a URL of a plain file).
    pub containerfile_text: Option<String>,
    /// Whether the context itself came from stdin.
    pub from_stdin: bool,
    /// Whether the context is a tree made here (tar, URL, git): `-f` is then relative to it.
    pub unpacked: bool,
    _scratch: Option<Scratch>,
}

/// The Containerfile to build: its name for messages and its text.
#[derive(Debug, Clone)]
pub struct Containerfile {
    pub name: String,
    pub text: String,
    /// Where it is, when it is a file (its ignore file is looked for beside it).
    pub path: Option<PathBuf>,
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl BuildContext {
    /// Opens the context the user named (`None`: the current directory), with the ignore
    /// file of its root.
    pub fn open(spec: Option<&str>) -> Result<BuildContext, ContextError> {
        let mut ctx = match spec {
            None => BuildContext::dir(PathBuf::from(".")),
            Some("-") => BuildContext::stdin()?,
            Some(s) if remote::is_git(s) => remote::git(s)?,
            Some(s) if super::fetch::is_url(s) => remote::url(s)?,
            Some(s) => {
                let path = PathBuf::from(s);
                let md = std::fs::metadata(&path).map_err(|e| {
                    if e.kind() == std::io::ErrorKind::NotFound {
                        ContextError::Missing(s.to_string())
                    } else {
                        io_err(&path)(e)
                    }
                })?;
                if md.is_dir() {
                    BuildContext::dir(path)
                } else {
                    let file = std::fs::File::open(&path).map_err(io_err(&path))?;
                    remote::unpack(file, s)?
                        .ok_or_else(|| ContextError::NotADirectory(s.to_string()))?
                }
            }
        };
        ctx.ignore = ctx.default_ignore(None)?;
        Ok(ctx)
    }

    /// The whole setup of `build`: the context, its Containerfile (`-f`) and ignore file
    /// (`--ignorefile`).
    pub fn open_build(
        spec: Option<&str>,
        file: Option<&str>,
        ignorefile: Option<&Path>,
    ) -> Result<(BuildContext, Containerfile), ContextError> {
        if spec == Some("-") && file == Some("-") {
            return Err(ContextError::StdinTwice);
        }
        let mut ctx = BuildContext::open(spec)?;
        let containerfile = ctx.containerfile(file)?;
        ctx.ignore = match ignorefile {
            Some(p) => read_ignore(p)?.ok_or_else(|| ContextError::Io {
                path: p.display().to_string(),
                source: std::io::ErrorKind::NotFound.into(),
            })?,
            None => ctx.default_ignore(containerfile.path.as_deref())?,
        };
        Ok((ctx, containerfile))
    }

    fn dir(root: PathBuf) -> BuildContext {
        BuildContext {
            root,
            ignore: Ignore::default(),
            containerfile_text: None,
            from_stdin: false,
            unpacked: false,
            _scratch: None,
        }
    }

    /// An empty context for a Containerfile that came alone.
    pub(crate) fn empty(text: String) -> Result<BuildContext, ContextError> {
        let scratch = Scratch::new("context").map_err(io_err(&std::env::temp_dir()))?;
        let mut ctx = BuildContext::dir(scratch.path().to_path_buf());
        ctx.containerfile_text = Some(text);
        ctx.unpacked = true;
        ctx._scratch = Some(scratch);
        Ok(ctx)
    }

    pub(crate) fn unpacked(root: PathBuf, scratch: Scratch) -> BuildContext {
        let mut ctx = BuildContext::dir(root);
        ctx.unpacked = true;
        ctx._scratch = Some(scratch);
        ctx
    }

    /// `-`: a tar archive, or a Containerfile alone.
    fn stdin() -> Result<BuildContext, ContextError> {
        let mut data = Vec::new();
        std::io::stdin()
            .read_to_end(&mut data)
            .map_err(io_err(Path::new("stdin")))?;
        let mut ctx = match remote::unpack(std::io::Cursor::new(&data), "stdin")? {
            Some(ctx) => ctx,
            None => BuildContext::empty(String::from_utf8_lossy(&data).into_owned())?,
        };
        ctx.from_stdin = true;
        Ok(ctx)
    }

    /// The Containerfile: `-f FILE` (relative to the current directory, as Podman, or to the
    /// context when the context is an archive or URL; `-` reads stdin), else `Containerfile`,
    /// else `Dockerfile` in the context (or the one that came without a context).
    pub fn containerfile(&self, file: Option<&str>) -> Result<Containerfile, ContextError> {
        let path = match file {
            Some("-") => {
                if self.from_stdin {
                    return Err(ContextError::StdinTwice);
                }
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(io_err(Path::new("stdin")))?;
                return Ok(Containerfile {
                    name: "stdin".into(),
                    text,
                    path: None,
                });
            }
            Some(f) if self.unpacked && !Path::new(f).is_absolute() => self.root.join(f),
            Some(f) => PathBuf::from(f),
            None => {
                if let Some(text) = &self.containerfile_text {
                    return Ok(Containerfile {
                        name: "Containerfile".into(),
                        text: text.clone(),
                        path: None,
                    });
                }
                ["Containerfile", "Dockerfile"]
                    .iter()
                    .map(|n| self.root.join(n))
                    .find(|p| p.is_file())
                    .ok_or_else(|| ContextError::NoContainerfile(self.root.display().to_string()))?
            }
        };
        let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
        Ok(Containerfile {
            name: display_name(&path),
            text,
            path: Some(path),
        })
    }

    /// `<containerfile>.containerignore` / `.dockerignore` beside it, else
    /// `.containerignore` / `.dockerignore` at the root; none: nothing ignored.
    fn default_ignore(&self, containerfile: Option<&Path>) -> Result<Ignore, ContextError> {
        let mut candidates = Vec::new();
        if let Some(cf) = containerfile {
            for ext in ["containerignore", "dockerignore"] {
                let mut name = cf.as_os_str().to_os_string();
                name.push(".");
                name.push(ext);
                candidates.push(PathBuf::from(name));
            }
        }
        candidates.push(self.root.join(".containerignore"));
        candidates.push(self.root.join(".dockerignore"));
        for c in candidates {
            if let Some(ignore) = read_ignore(&c)? {
                return Ok(ignore);
            }
        }
        Ok(Ignore::default())
    }
}

/// The patterns of the ignore file at `path`; `None` when there is no such file.
fn read_ignore(path: &Path) -> Result<Option<Ignore>, ContextError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(path)(e)),
    };
    Ignore::parse(&text)
        .map(Some)
        .map_err(|source| ContextError::Ignore {
            path: path.display().to_string(),
            source,
        })
}

fn display_name(path: &Path) -> String {
    path.display().to_string()
}

#[cfg(test)]
mod tests;
