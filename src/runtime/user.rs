//! `-u user[:group]` resolved against the container's own `/etc/passwd` and `/etc/group`, as
//! runc's and Podman's `GetExecUser` do:
//!
//! - a name must be in the file; a number need not be (it is used as it is, group 0 and home
//!   `/` unless the file knows it);
//! - without a group, the user's primary group from `/etc/passwd` (0 for an unknown number);
//! - supplementary groups: the primary group and every group of `/etc/group` that lists the
//!   user's name as a member, then `--group-add`'s (names from `/etc/group`, or numbers).
//!
//! The messages for unknown names are Podman's (runc's `user` package).

use std::fmt;

use super::idmap::UserMapping;
use super::security;

/// One side of `user[:group]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdSpec {
    Id(u32),
    Name(String),
}

impl IdSpec {
    fn parse(s: &str) -> IdSpec {
        match s.parse() {
            Ok(n) => IdSpec::Id(n),
            Err(_) => IdSpec::Name(s.to_string()),
        }
    }
}

impl fmt::Display for IdSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdSpec::Id(n) => write!(f, "{n}"),
            IdSpec::Name(s) => f.write_str(s),
        }
    }
}

/// `user[:group]` as given (`-u`, the image's `User`); empty means root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSpec {
    pub user: IdSpec,
    pub group: Option<IdSpec>,
}

impl UserSpec {
    pub fn parse(s: &str) -> Result<UserSpec, UserError> {
        if s.is_empty() {
            return Ok(UserSpec {
                user: IdSpec::Id(0),
                group: None,
            });
        }
        let (user, group) = match s.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (s, None),
        };
        if user.is_empty() || group.is_some_and(str::is_empty) {
            return Err(UserError::Syntax(s.to_string()));
        }
        Ok(UserSpec {
            user: IdSpec::parse(user),
            group: group.map(IdSpec::parse),
        })
    }
}

/// Who the container's process runs as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecUser {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups, the primary one first.
    pub groups: Vec<u32>,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    #[error("invalid user {0:?} (expected user[:group], names or numbers)")]
    Syntax(String),
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
    #[error("--group-add: group {0} is not mapped in the container's user namespace")]
    UnmappedGroup(u32),
}

struct PasswdLine<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

fn passwd_lines(text: &str) -> impl Iterator<Item = PasswdLine<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 6 || l.starts_with('#') {
            return None;
        }
        Some(PasswdLine {
            name: f[0],
            uid: f[2].parse().ok()?,
            gid: f[3].parse().ok()?,
            home: f[5],
        })
    })
}

struct GroupLine<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn group_lines(text: &str) -> impl Iterator<Item = GroupLine<'_>> {
    text.lines().filter_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() < 3 || l.starts_with('#') {
            return None;
        }
        Some(GroupLine {
            name: f[0],
            gid: f[2].parse().ok()?,
            members: f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

/// Resolves `spec` with the container's `/etc/passwd` and `/etc/group` texts (empty when the
/// image has none).
pub fn resolve(spec: &UserSpec, passwd: &str, group: &str) -> Result<ExecUser, UserError> {
    let entry = match &spec.user {
        IdSpec::Name(n) => Some(
            passwd_lines(passwd)
                .find(|p| p.name == n)
                .ok_or_else(|| UserError::NoUser(n.clone()))?,
        ),
        IdSpec::Id(id) => passwd_lines(passwd).find(|p| p.uid == *id),
    };
    let uid = match (&spec.user, &entry) {
        (IdSpec::Id(id), _) => *id,
        (_, Some(p)) => p.uid,
        (IdSpec::Name(n), None) => return Err(UserError::NoUser(n.clone())),
    };
    let gid = match &spec.group {
        Some(IdSpec::Id(g)) => *g,
        Some(IdSpec::Name(n)) => group_lines(group)
            .find(|g| g.name == n)
            .map(|g| g.gid)
            .ok_or_else(|| UserError::NoGroup(n.clone()))?,
        None => entry.as_ref().map(|p| p.gid).unwrap_or(0),
    };
    let mut groups = vec![gid];
    // An explicit group replaces the supplementary groups, as in Podman.
    if spec.group.is_none()
        && let Some(p) = &entry
    {
        for g in group_lines(group) {
            if g.members.contains(&p.name) && !groups.contains(&g.gid) {
                groups.push(g.gid);
            }
        }
    }
    let home = entry
        .as_ref()
        .map(|p| p.home)
        .filter(|h| !h.is_empty())
        .unwrap_or("/")
        .to_string();
    Ok(ExecUser {
        uid,
        gid,
        groups,
        home,
    })
}

/// `--group-add`'s values as group ids (names from the container's `/etc/group` text);
/// `keep-groups` is the caller's business and is skipped here.
pub fn group_add(values: &[String], group: &str) -> Result<Vec<u32>, UserError> {
    values
        .iter()
        .filter(|v| *v != KEEP_GROUPS)
        .map(|v| match IdSpec::parse(v) {
            IdSpec::Id(g) => Ok(g),
            IdSpec::Name(n) => group_lines(group)
                .find(|g| g.name == n)
                .map(|g| g.gid)
                .ok_or(UserError::NoGroup(n)),
        })
        .collect()
}

/// `--group-add keep-groups`: the process keeps the supplementary groups it has (the user's
/// own, outside), as crun's `keep_original_groups`.
pub const KEEP_GROUPS: &str = "keep-groups";

/// Who the process becomes ([`security::Identity`]): `user` with `--group-add`'s groups.
/// Where `setgroups(2)` is denied (`setgroups_allowed` false: a single-mapping namespace),
/// or with `keep-groups`, the process keeps the groups it has; groups of `/etc/group` the
/// namespace does not map are left out, but a `--group-add` group it does not map is an
/// error.
pub fn identity(
    user: &ExecUser,
    added: &[String],
    group: &str,
    setgroups_allowed: bool,
    mapping: &UserMapping,
) -> Result<security::Identity, UserError> {
    let extra = group_add(added, group)?;
    let keep = added.iter().any(|g| g == KEEP_GROUPS);
    if let Some(g) = extra.iter().find(|g| mapping.gid.to_host(**g).is_none()) {
        return Err(UserError::UnmappedGroup(*g));
    }
    let groups = (setgroups_allowed && !keep).then(|| {
        let mut groups: Vec<u32> = user
            .groups
            .iter()
            .copied()
            .filter(|g| mapping.gid.to_host(*g).is_some())
            .collect();
        for g in extra {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
        groups
    });
    Ok(security::Identity {
        uid: user.uid,
        gid: user.gid,
        groups,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        web:x:1000:1001:web:/home/web:/bin/sh\n\
        nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwebgrp:x:1001:\naudio:x:29:web,other\nstaff:x:50:\n";

    fn r(spec: &str) -> Result<ExecUser, UserError> {
        resolve(&UserSpec::parse(spec).unwrap(), PASSWD, GROUP)
    }

    #[test]
    fn users_resolve_as_podman() {
        let u = |uid, gid, groups: &[u32], home: &str| ExecUser {
            uid,
            gid,
            groups: groups.to_vec(),
            home: home.into(),
        };
        assert_eq!(r("").unwrap(), u(0, 0, &[0], "/root"));
        assert_eq!(r("root").unwrap(), u(0, 0, &[0], "/root"));
        assert_eq!(r("web").unwrap(), u(1000, 1001, &[1001, 29], "/home/web"));
        assert_eq!(r("1000").unwrap(), u(1000, 1001, &[1001, 29], "/home/web"));
        assert_eq!(r("1234").unwrap(), u(1234, 0, &[0], "/"));
        assert_eq!(r("1234:5").unwrap(), u(1234, 5, &[5], "/"));
        assert_eq!(r("web:staff").unwrap(), u(1000, 50, &[50], "/home/web"));
        assert_eq!(r("web:7").unwrap(), u(1000, 7, &[7], "/home/web"));
    }

    #[test]
    fn unknown_names_and_bad_syntax_are_errors() {
        assert_eq!(r("nosuch"), Err(UserError::NoUser("nosuch".into())));
        assert_eq!(r("web:nogrp"), Err(UserError::NoGroup("nogrp".into())));
        assert!(matches!(UserSpec::parse(":5"), Err(UserError::Syntax(_))));
        assert!(matches!(UserSpec::parse("web:"), Err(UserError::Syntax(_))));
        // No passwd at all: numbers still work.
        let spec = UserSpec::parse("42").unwrap();
        assert_eq!(resolve(&spec, "", "").unwrap().uid, 42);
    }

    #[test]
    fn group_add_resolves_names_and_numbers() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            group_add(&v(&["staff", "4242"]), GROUP).unwrap(),
            [50, 4242]
        );
        assert_eq!(
            group_add(&v(&["keep-groups"]), GROUP).unwrap(),
            Vec::<u32>::new()
        );
        let e = group_add(&v(&["nosuch"]), GROUP).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to find group nosuch: no matching entries in group file"
        );
        assert_eq!(
            r("nosuch").unwrap_err().to_string(),
            "unable to find user nosuch: no matching entries in passwd file"
        );
    }
}
