//! `--chown=user[:group]`: numeric ids as they are, names through the base image's
//! `/etc/passwd` and `/etc/group` (read from its layers, symlinks resolved inside it). A user
//! without a group gets the same number as group (Docker's rule).

use super::CopyError;
use super::tree::{self, LayerTree, Tree};

/// The (uid, gid) `spec` names in the image `base`.
pub(super) fn resolve(spec: &str, base: &LayerTree) -> Result<(u32, u32), CopyError> {
    let bad = |reason: String| CopyError::Chown {
        spec: spec.to_string(),
        reason,
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    if user.is_empty() {
        return Err(bad("no user".into()));
    }
    let uid = match user.parse::<u32>() {
        Ok(uid) => uid,
        Err(_) => lookup(base, "etc/passwd", user)?
            .ok_or_else(|| bad(format!("no user {user:?} in the image's /etc/passwd")))?,
    };
    let gid = match group {
        None | Some("") => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => lookup(base, "etc/group", g)?
                .ok_or_else(|| bad(format!("no group {g:?} in the image's /etc/group")))?,
        },
    };
    Ok((uid, gid))
}

/// The id (third field) of `name` in the passwd-style file `file` of the image.
fn lookup(base: &LayerTree, file: &str, name: &str) -> Result<Option<u32>, CopyError> {
    let path = tree::resolve(base, file, true)?;
    let Some(node) = base.node(&path)? else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(&node.host).map_err(|source| CopyError::Io {
        path: node.host.display().to_string(),
        source,
    })?;
    Ok(find_id(&text, name))
}

fn find_id(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name)
            .then(|| fields.nth(1)?.trim().parse().ok())
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwd_lines() {
        let text =
            "root:x:0:0:root:/root:/bin/sh\nwww-data:x:33:33::/var/www:/bin/false\nbad:x:y:1\n";
        assert_eq!(find_id(text, "root"), Some(0));
        assert_eq!(find_id(text, "www-data"), Some(33));
        assert_eq!(find_id(text, "bad"), None);
        assert_eq!(find_id(text, "nobody"), None);
        assert_eq!(find_id("wheel:x:10:root,adm\n", "wheel"), Some(10));
    }
}
