//! Contexts that are not a directory: tar archives (a file, stdin, a URL) and git
//! repositories.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{BuildContext, ContextError};
use crate::build::fetch;
use crate::build::scratch::Scratch;
use crate::build::unpack;

/// Whether `spec` names a git repository (Podman's rules: `git://`, `git@`, `github.com/`,
/// or a URL whose path ends in `.git`, before any `#ref:subdir` fragment).
pub(crate) fn is_git(spec: &str) -> bool {
    if spec.starts_with("git://") || spec.starts_with("git@") || spec.starts_with("github.com/") {
        return true;
    }
    let (url, _) = split_fragment(spec);
    fetch::is_url(url) && url.trim_end_matches('/').ends_with(".git")
}

fn split_fragment(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (spec, None),
    }
}

/// Unpacks the archive `r` (any compression) into a new context; `None` when it is not a
/// tar archive.
pub(super) fn unpack<R: Read>(mut r: R, name: &str) -> Result<Option<BuildContext>, ContextError> {
    let fail = |reason: String| ContextError::Unpack {
        path: name.to_string(),
        reason,
    };
    // Spooled to a file: the archive tools read it from there.
    let spool = Scratch::new("context").map_err(|e| fail(e.to_string()))?;
    let path = spool.path().join("archive");
    let mut f = std::fs::File::create(&path).map_err(|e| fail(e.to_string()))?;
    std::io::copy(&mut r, &mut f).map_err(|e| fail(e.to_string()))?;
    f.flush().map_err(|e| fail(e.to_string()))?;
    drop(f);
    unpack_path(&path, name)
}

fn unpack_path(path: &Path, name: &str) -> Result<Option<BuildContext>, ContextError> {
    let unpacked = unpack::unpack_file(path).map_err(|reason| ContextError::Unpack {
        path: name.to_string(),
        reason,
    })?;
    Ok(unpacked.map(|u| BuildContext::unpacked(u.diff(), u.scratch)))
}

/// An http(s) URL: a tar archive, else a Containerfile alone.
pub(super) fn url(url: &str) -> Result<BuildContext, ContextError> {
    let (file, _scratch) = fetch::download(url).map_err(|e| ContextError::Download {
        url: url.to_string(),
        reason: e.to_string(),
    })?;
    if let Some(ctx) = unpack_path(&file.path, url)? {
        return Ok(ctx);
    }
    let text = std::fs::read_to_string(&file.path).map_err(|source| ContextError::Io {
        path: url.to_string(),
        source,
    })?;
    BuildContext::empty(text)
}

/// A git repository, `URL#ref:subdir`, cloned with `git`; the `.git` directory is left out.
pub(super) fn git(spec: &str) -> Result<BuildContext, ContextError> {
    let (root, scratch) = clone(spec, false)?;
    Ok(BuildContext::unpacked(root, scratch))
}

/// Clones the repository of `spec` (`URL#ref:subdir`) at its ref; returns the directory
/// `subdir` names (the work tree by default) and the scratch directory holding it. `.git` is
/// removed unless `keep_git_dir`.
pub(crate) fn clone(spec: &str, keep_git_dir: bool) -> Result<(PathBuf, Scratch), ContextError> {
    let (url, fragment) = split_fragment(spec);
    let (reference, subdir) = match fragment {
        Some(f) => match f.split_once(':') {
            Some((r, s)) => (r, s),
            None => (f, ""),
        },
        None => ("", ""),
    };
    let url = if url.starts_with("github.com/") {
        format!("https://{url}")
    } else {
        url.to_string()
    };
    let fail = |reason: String| ContextError::Git {
        url: url.clone(),
        reason,
    };
    let scratch = Scratch::new("git").map_err(|e| fail(e.to_string()))?;
    let repo = scratch.path().join("repo");
    run_git(
        Command::new("git")
            .args(["clone", "--quiet", "--recurse-submodules", "--", &url])
            .arg(&repo),
    )
    .map_err(fail)?;
    if !reference.is_empty() {
        // A branch, a tag or a commit: fetch it (a commit may not be on the default branch).
        let fetched = run_git(
            Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["fetch", "--quiet", "origin", reference]),
        );
        let target = if fetched.is_ok() {
            "FETCH_HEAD"
        } else {
            reference
        };
        run_git(
            Command::new("git")
                .arg("-C")
                .arg(&repo)
                .args(["checkout", "--quiet", "--detach", target]),
        )
        .map_err(fail)?;
        run_git(Command::new("git").arg("-C").arg(&repo).args([
            "submodule",
            "--quiet",
            "update",
            "--init",
            "--recursive",
        ]))
        .map_err(fail)?;
    }
    if !keep_git_dir {
        std::fs::remove_dir_all(repo.join(".git")).map_err(|e| fail(e.to_string()))?;
    }
    let sub = crate::build::ignore::clean(subdir.trim_start_matches('/'));
    if sub == ".." || sub.starts_with("../") {
        return Err(fail(format!(
            "subdirectory {subdir:?} is outside the repository"
        )));
    }
    let root = if sub == "." { repo } else { repo.join(&sub) };
    if !root.is_dir() {
        return Err(fail(format!("no directory {subdir:?} in the repository")));
    }
    Ok((root, scratch))
}

fn run_git(cmd: &mut Command) -> Result<(), String> {
    let out = cmd
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .map_err(|e| format!("running git: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "git {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}
