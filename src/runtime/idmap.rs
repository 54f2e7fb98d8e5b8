//! The id mapping of coracle's user namespaces, from `/etc/subuid` and `/etc/subgid`.
//!
//! Podman's default rootless mapping: container id 0 is the user's own id, and container ids
//! 1, 2, ... are the user's subordinate ranges, one after the other in file order. A user with
//! no ranges gets the single mapping (container 0 = the user, nothing else). Root needs no
//! user namespace: its mapping is the identity (`0 0 4294967295`, as `/proc/1/uid_map`).
//!
//! subuid(5)/subgid(5): one `owner:start:count` per line, where owner is a login name or a
//! numeric uid (both files are keyed by *user*, subgid too); blank lines and `#` comments are
//! skipped. Every other line must parse, whoever it belongs to, and an error names the file
//! and the line (newuidmap would refuse the file later with a vaguer message).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub const SUBUID: &str = "/etc/subuid";
pub const SUBGID: &str = "/etc/subgid";

/// One line of a `uid_map`/`gid_map`: `size` ids from `host` appear as ids from `container`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapEntry {
    pub container: u32,
    pub host: u32,
    pub size: u32,
}

impl fmt::Display for IdMapEntry {
    /// The `container host size` triple, as written to `uid_map` and passed to newuidmap.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.container, self.host, self.size)
    }
}

/// One kind of ids (uids or gids) of a mapping, with where its ranges came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    pub entries: Vec<IdMapEntry>,
    /// The subordinate id file the ranges beyond the user's own id come from, if any.
    pub source: Option<PathBuf>,
}

impl IdMap {
    /// The identity: every id is itself (the initial user namespace's map).
    pub fn identity() -> IdMap {
        IdMap {
            entries: vec![IdMapEntry {
                container: 0,
                host: 0,
                size: u32::MAX,
            }],
            source: None,
        }
    }

    /// Container root is `id`, and nothing else is mapped.
    pub fn single(id: u32) -> IdMap {
        IdMap {
            entries: vec![IdMapEntry {
                container: 0,
                host: id,
                size: 1,
            }],
            source: None,
        }
    }

    pub fn is_identity(&self) -> bool {
        *self == IdMap::identity()
    }

    /// The map's text as the kernel takes it in `/proc/PID/uid_map`: one entry per line.
    pub fn to_proc_text(&self) -> String {
        self.entries.iter().map(|e| format!("{e}\n")).collect()
    }

    /// The map as `/proc/PID/uid_map` (or `gid_map`) shows it; lines that are not three
    /// numbers are left out.
    pub fn from_proc_text(text: &str) -> IdMap {
        let entries = text
            .lines()
            .filter_map(|l| {
                let mut n = l.split_whitespace().map(|v| v.parse::<u32>().ok());
                Some(IdMapEntry {
                    container: n.next()??,
                    host: n.next()??,
                    size: n.next()??,
                })
            })
            .collect();
        IdMap {
            entries,
            source: None,
        }
    }

    /// The container id that host id `id` is, if it is mapped.
    pub fn to_container(&self, id: u32) -> Option<u32> {
        self.entries.iter().find_map(|e| {
            let off = id.checked_sub(e.host)?;
            (off < e.size).then(|| e.container + off)
        })
    }

    /// The host id that container id `id` is, if it is mapped.
    pub fn to_host(&self, id: u32) -> Option<u32> {
        self.entries.iter().find_map(|e| {
            let off = id.checked_sub(e.container)?;
            (off < e.size).then(|| e.host + off)
        })
    }

    /// The number of container ids mapped.
    pub fn len(&self) -> u64 {
        self.entries.iter().map(|e| u64::from(e.size)).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The user and group mappings of coracle's containers (and `coracle unshare`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserMapping {
    /// Who the mapping is for, for messages: the login name, else the uid.
    pub user: String,
    pub uid: IdMap,
    pub gid: IdMap,
}

impl UserMapping {
    /// Root's mapping: the identity, so no user namespace is needed.
    pub fn identity() -> UserMapping {
        UserMapping {
            user: "root".into(),
            uid: IdMap::identity(),
            gid: IdMap::identity(),
        }
    }

    /// Whether processes with this mapping can stay in the initial user namespace.
    pub fn is_identity(&self) -> bool {
        self.uid.is_identity() && self.gid.is_identity()
    }

    /// The mapping for the calling process's effective user: identity for root, else the
    /// user's ranges from `/etc/subuid` and `/etc/subgid` (a missing file means no ranges).
    pub fn current() -> Result<UserMapping, IdMapError> {
        let uid = nix::unistd::geteuid().as_raw();
        if uid == 0 {
            return Ok(UserMapping::identity());
        }
        let gid = nix::unistd::getegid().as_raw();
        // A user without a passwd entry can still have ranges under its numeric uid.
        let name = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
            .ok()
            .flatten()
            .map(|u| u.name);
        let account = Account { uid, gid, name };
        let subuid = SubidFile::read(Path::new(SUBUID))?;
        let subgid = SubidFile::read(Path::new(SUBGID))?;
        UserMapping::for_account(&account, &subuid, &subgid)
    }

    /// The mapping for `account` (not root) with the ranges the two files give it.
    pub fn for_account(
        account: &Account,
        subuid: &SubidFile,
        subgid: &SubidFile,
    ) -> Result<UserMapping, IdMapError> {
        Ok(UserMapping {
            user: account.display_name(),
            uid: build_map(account, account.uid, subuid)?,
            gid: build_map(account, account.gid, subgid)?,
        })
    }
}

/// The user a mapping is computed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    /// The primary group, which becomes container gid 0.
    pub gid: u32,
    /// The login name, if the user has a passwd entry.
    pub name: Option<String>,
}

impl Account {
    fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.uid.to_string())
    }

    /// Whether a subid file's owner field means this user (its name or its numeric uid).
    fn owns(&self, owner: &str) -> bool {
        self.name.as_deref() == Some(owner) || owner == self.uid.to_string()
    }
}

/// One `owner:start:count` entry of a subordinate id file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubidRange {
    pub owner: String,
    pub start: u32,
    pub count: u32,
    /// 1-based line number, for messages.
    pub line: usize,
}

/// A parsed `/etc/subuid` or `/etc/subgid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubidFile {
    pub path: PathBuf,
    pub ranges: Vec<SubidRange>,
}

#[derive(Debug, thiserror::Error)]
pub enum IdMapError {
    #[error("reading {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}:{line}: malformed entry {text:?}: {reason}")]
    Malformed {
        path: PathBuf,
        line: usize,
        text: String,
        reason: String,
    },
    #[error(
        "{path}: the ranges of {user} overlap ({first} and {second}); \
         a user namespace cannot map one host id twice"
    )]
    Overlap {
        path: PathBuf,
        user: String,
        first: String,
        second: String,
    },
}

impl SubidFile {
    /// Reads and parses `path`; a missing file has no ranges.
    pub fn read(path: &Path) -> Result<SubidFile, IdMapError> {
        match std::fs::read_to_string(path) {
            Ok(text) => SubidFile::parse(path, &text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(SubidFile {
                path: path.to_path_buf(),
                ranges: Vec::new(),
            }),
            Err(source) => Err(IdMapError::Read {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// Parses the text of the file at `path` (the path is for messages).
    pub fn parse(path: &Path, text: &str) -> Result<SubidFile, IdMapError> {
        let mut ranges = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |reason: &str| IdMapError::Malformed {
                path: path.to_path_buf(),
                line: i + 1,
                text: raw.to_string(),
                reason: reason.to_string(),
            };
            let fields: Vec<&str> = line.split(':').collect();
            let [owner, start, count] = fields[..] else {
                return Err(bad("expected owner:start:count"));
            };
            if owner.is_empty() {
                return Err(bad("the owner is empty"));
            }
            let number = |s: &str, what: &str| -> Result<u32, IdMapError> {
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad(&format!("the {what} is not a decimal number")));
                }
                s.parse::<u32>()
                    .map_err(|_| bad(&format!("the {what} is larger than {}", u32::MAX)))
            };
            let start = number(start, "start")?;
            let count = number(count, "count")?;
            if u64::from(start) + u64::from(count) > u64::from(u32::MAX) {
                return Err(bad("the range ends beyond the largest id"));
            }
            ranges.push(SubidRange {
                owner: owner.to_string(),
                start,
                count,
                line: i + 1,
            });
        }
        Ok(SubidFile {
            path: path.to_path_buf(),
            ranges,
        })
    }

    /// The ranges of `account`, in file order (empty ranges dropped: they map nothing).
    pub fn ranges_of<'a>(&'a self, account: &'a Account) -> impl Iterator<Item = &'a SubidRange> {
        self.ranges
            .iter()
            .filter(|r| r.count > 0 && account.owns(&r.owner))
    }
}

/// Container 0 = `own`, then the account's ranges of `file` from container id 1 on.
fn build_map(account: &Account, own: u32, file: &SubidFile) -> Result<IdMap, IdMapError> {
    let ranges: Vec<&SubidRange> = file.ranges_of(account).collect();
    if ranges.is_empty() {
        return Ok(IdMap::single(own));
    }
    // Host intervals with a label each, to name the two culprits of an overlap.
    let mut spans: Vec<(u64, u64, String)> = vec![(
        u64::from(own),
        u64::from(own) + 1,
        format!("the user's own id {own}"),
    )];
    spans.extend(ranges.iter().map(|r| {
        (
            u64::from(r.start),
            u64::from(r.start) + u64::from(r.count),
            format!("line {}: {}:{}", r.line, r.start, r.count),
        )
    }));
    spans.sort();
    for pair in spans.windows(2) {
        if pair[1].0 < pair[0].1 {
            return Err(IdMapError::Overlap {
                path: file.path.clone(),
                user: account.display_name(),
                first: pair[0].2.clone(),
                second: pair[1].2.clone(),
            });
        }
    }
    let mut entries = vec![IdMapEntry {
        container: 0,
        host: own,
        size: 1,
    }];
    // The host ranges are disjoint and end at u32::MAX at most (the parser checks), so the
    // container ids, one per host id, never pass u32::MAX - 1 ((uid_t)-1 is never an id).
    let mut next: u32 = 1;
    for r in ranges {
        entries.push(IdMapEntry {
            container: next,
            host: r.start,
            size: r.count,
        });
        next = next.saturating_add(r.count);
    }
    Ok(IdMap {
        entries,
        source: Some(file.path.clone()),
    })
}

/// `--userns`, as Podman spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsernsMode {
    /// Podman's default: container root is the user (root: no user namespace).
    #[default]
    Default,
    /// `host`: for root the host's ids; for a user, the user's own namespace (Podman's rootless
    /// namespace), which is the default mapping.
    Host,
    /// `keep-id[:uid=U,gid=G]`: the user's own ids appear as `U`/`G` (default: the same ids),
    /// with the subordinate ranges around them.
    KeepId { uid: Option<u32>, gid: Option<u32> },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsernsError {
    #[error(
        "invalid --userns {0:?}: supported are host, keep-id[:uid=UID,gid=GID] and the default \
         (none given)"
    )]
    Mode(String),
    #[error("--userns=keep-id is only supported in rootless mode")]
    KeepIdAsRoot,
    #[error("invalid --{flag} {value:?}: expected CONTAINER:HOST:SIZE (numbers, SIZE > 0)")]
    Syntax { flag: &'static str, value: String },
    #[error("--userns={0} cannot be combined with --uidmap or --gidmap")]
    Conflict(String),
    #[error(
        "--{flag} {value}: the ids {first} to {last} are not all in {whose} user namespace \
         ({size} ids: {what})"
    )]
    OutOfRange {
        flag: &'static str,
        value: String,
        first: u64,
        last: u64,
        whose: String,
        size: u64,
        what: String,
    },
    #[error("--{flag}: container id {id} is mapped twice")]
    Overlap { flag: &'static str, id: u32 },
    #[error(
        "{what}: the container's {kind} map must map {need} (coracle's monitor runs in the \
         container's user namespace and owns its storage as you, and the image's files belong \
         to container root){hint}"
    )]
    Unusable {
        what: String,
        kind: &'static str,
        need: &'static str,
        hint: String,
    },
}

impl UsernsMode {
    pub fn parse(s: &str) -> Result<UsernsMode, UsernsError> {
        let bad = || UsernsError::Mode(s.to_string());
        match s {
            "" => Ok(UsernsMode::Default),
            "host" => Ok(UsernsMode::Host),
            "keep-id" => Ok(UsernsMode::KeepId {
                uid: None,
                gid: None,
            }),
            _ => {
                let opts = s.strip_prefix("keep-id:").ok_or_else(bad)?;
                let (mut uid, mut gid) = (None, None);
                for o in opts.split(',') {
                    match o.split_once('=') {
                        Some(("uid", v)) => uid = Some(v.parse().map_err(|_| bad())?),
                        Some(("gid", v)) => gid = Some(v.parse().map_err(|_| bad())?),
                        _ => return Err(bad()),
                    }
                }
                Ok(UsernsMode::KeepId { uid, gid })
            }
        }
    }
}

/// One `--uidmap`/`--gidmap` value `CONTAINER:HOST:SIZE`.
pub fn parse_map_flag(flag: &'static str, value: &str) -> Result<IdMapEntry, UsernsError> {
    let bad = || UsernsError::Syntax {
        flag,
        value: value.to_string(),
    };
    let n: Vec<u32> = value
        .split(':')
        .map(|p| p.parse().map_err(|_| bad()))
        .collect::<Result<_, _>>()?;
    match n[..] {
        [container, host, size] if size > 0 => Ok(IdMapEntry {
            container,
            host,
            size,
        }),
        _ => Err(bad()),
    }
}

/// The container's map from `entries` whose `host` side is an id of the namespace `base`
/// maps (for a user, Podman's rootless namespace: 0 is the user, then the ranges; for root
/// the host itself), split where `base`'s entries do.
fn compose(
    base: &IdMap,
    entries: &[IdMapEntry],
    flag: &'static str,
    whose: &str,
) -> Result<IdMap, UsernsError> {
    let mut out = Vec::new();
    let mut seen: Vec<(u64, u64)> = Vec::new();
    for e in entries {
        let (c0, c1) = (
            u64::from(e.container),
            u64::from(e.container) + u64::from(e.size),
        );
        if let Some((a, _)) = seen.iter().find(|(a, b)| c0 < *b && *a < c1) {
            return Err(UsernsError::Overlap {
                flag,
                id: (*a).max(c0) as u32,
            });
        }
        seen.push((c0, c1));
        let mut done = 0u64;
        while done < u64::from(e.size) {
            let inter = u64::from(e.host) + done;
            // The base entry holding intermediate id `inter`.
            let hit = u32::try_from(inter).ok().and_then(|i| {
                base.entries
                    .iter()
                    .find(|b| i >= b.container && u64::from(i - b.container) < u64::from(b.size))
            });
            let Some(b) = hit else {
                let what = base
                    .entries
                    .iter()
                    .map(|b| {
                        let end = u64::from(b.container) + u64::from(b.size) - 1;
                        format!("{}-{end} are host ids {}-", b.container, b.host)
                            + &(u64::from(b.host) + u64::from(b.size) - 1).to_string()
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                return Err(UsernsError::OutOfRange {
                    flag,
                    value: format!("{}:{}:{}", e.container, e.host, e.size),
                    first: u64::from(e.host),
                    last: u64::from(e.host) + u64::from(e.size) - 1,
                    whose: whose.to_string(),
                    size: base.len(),
                    what,
                });
            };
            let off = inter - u64::from(b.container);
            let run = (u64::from(b.size) - off).min(u64::from(e.size) - done);
            out.push(IdMapEntry {
                container: (c0 + done) as u32,
                host: (u64::from(b.host) + off) as u32,
                size: run as u32,
            });
            done += run;
        }
    }
    Ok(IdMap {
        entries: out,
        source: base.source.clone(),
    })
}

/// keep-id's entries on the intermediate namespace of `size` ids: the user (intermediate 0)
/// at `id`, the ranges (intermediate 1...) filling the container ids below and above it.
fn keep_id_entries(id: u32, size: u64) -> Vec<IdMapEntry> {
    let subs = size.saturating_sub(1);
    let below = subs.min(u64::from(id)) as u32;
    let mut v = Vec::new();
    if below > 0 {
        v.push(IdMapEntry {
            container: 0,
            host: 1,
            size: below,
        });
    }
    v.push(IdMapEntry {
        container: id,
        host: 0,
        size: 1,
    });
    let above = (subs - u64::from(below)).min(u64::from(u32::MAX - 1 - id)) as u32;
    if above > 0 {
        v.push(IdMapEntry {
            container: id + 1,
            host: below + 1,
            size: above,
        });
    }
    v
}

/// Refuses a container map the monitor cannot work in: it must map container root, and the
/// id the caller has (its own, or 0 for root), which owns the container's storage.
fn check_usable(map: &IdMap, own: u32, kind: &'static str, what: &str) -> Result<(), UsernsError> {
    let unusable = |need, hint: &str| UsernsError::Unusable {
        what: what.to_string(),
        kind,
        need,
        hint: hint.to_string(),
    };
    if map.to_host(0).is_none() {
        let hint = if map.source.is_none() {
            " (there are no subordinate ids to map it to: see /etc/subuid and /etc/subgid)"
        } else {
            ""
        };
        return Err(unusable("container id 0", hint));
    }
    if !map
        .entries
        .iter()
        .any(|e| own >= e.host && u64::from(own - e.host) < u64::from(e.size))
    {
        return Err(unusable("your own id (HOST 0 of --uidmap/--gidmap)", ""));
    }
    Ok(())
}

impl UserMapping {
    /// The mapping of a container from the user's own (`self`, [`UserMapping::current`]),
    /// `--userns` and `--uidmap`/`--gidmap` (without `--gidmap`, `--uidmap` serves for both,
    /// as in Podman). `own` is the calling user's (uid, gid), for keep-id.
    pub fn for_container(
        &self,
        mode: UsernsMode,
        uidmap: &[IdMapEntry],
        gidmap: &[IdMapEntry],
        own: (u32, u32),
    ) -> Result<UserMapping, UsernsError> {
        let root = self.is_identity();
        let whose = if root {
            "the host's".to_string()
        } else {
            format!("{}'s", self.user)
        };
        if !uidmap.is_empty() || !gidmap.is_empty() {
            if let UsernsMode::KeepId { .. } = mode {
                return Err(UsernsError::Conflict("keep-id".into()));
            }
            let gidmap = if gidmap.is_empty() { uidmap } else { gidmap };
            let uidmap = if uidmap.is_empty() { gidmap } else { uidmap };
            let m = UserMapping {
                user: self.user.clone(),
                uid: compose(&self.uid, uidmap, "uidmap", &whose)?,
                gid: compose(&self.gid, gidmap, "gidmap", &whose)?,
            };
            check_usable(&m.uid, own.0, "uid", "--uidmap")?;
            check_usable(&m.gid, own.1, "gid", "--gidmap")?;
            return Ok(m);
        }
        match mode {
            UsernsMode::Default | UsernsMode::Host => Ok(self.clone()),
            UsernsMode::KeepId { .. } if root => Err(UsernsError::KeepIdAsRoot),
            UsernsMode::KeepId { uid, gid } => {
                let uid = uid.unwrap_or(own.0);
                let gid = gid.unwrap_or(own.1);
                let m = UserMapping {
                    user: self.user.clone(),
                    uid: compose(
                        &self.uid,
                        &keep_id_entries(uid, self.uid.len()),
                        "uidmap",
                        &whose,
                    )?,
                    gid: compose(
                        &self.gid,
                        &keep_id_entries(gid, self.gid.len()),
                        "gidmap",
                        &whose,
                    )?,
                };
                check_usable(&m.uid, own.0, "uid", "--userns=keep-id")?;
                check_usable(&m.gid, own.1, "gid", "--userns=keep-id")?;
                Ok(m)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(container: u32, host: u32, size: u32) -> IdMapEntry {
        IdMapEntry {
            container,
            host,
            size,
        }
    }

    #[test]
    fn proc_maps_read_back_both_ways() {
        let map = IdMap::from_proc_text(
            "         0       1000          1\n         1     100000      65536\nbroken\n",
        );
        assert_eq!(map.entries, vec![e(0, 1000, 1), e(1, 100000, 65536)]);
        // host ids into the container (top's names)...
        assert_eq!(map.to_container(1000), Some(0));
        assert_eq!(map.to_container(100999), Some(1000));
        assert_eq!(map.to_container(5), None);
        // ...and which container ids are mapped at all (the overlay's CAP_FSETID rule)
        assert!(map.to_host(0).is_some() && map.to_host(65536).is_some());
        assert_eq!(map.to_host(65537), None);
    }

    fn alice() -> Account {
        Account {
            uid: 1000,
            gid: 1001,
            name: Some("alice".into()),
        }
    }

    fn file(path: &str, text: &str) -> SubidFile {
        SubidFile::parse(Path::new(path), text).unwrap()
    }

    #[test]
    fn maps_from_file_contents() {
        // (what, /etc/subuid text, expected uid map entries)
        let cases: &[(&str, &str, &[IdMapEntry])] = &[
            ("no file contents", "", &[e(0, 1000, 1)]),
            (
                "other users only",
                "bob:100000:65536\n1002:200000:10\n",
                &[e(0, 1000, 1)],
            ),
            (
                "one range by name",
                "alice:100000:65536\n",
                &[e(0, 1000, 1), e(1, 100000, 65536)],
            ),
            (
                "one range by uid",
                "1000:300000:5000\n",
                &[e(0, 1000, 1), e(1, 300000, 5000)],
            ),
            (
                "several ranges in file order, comments and blanks",
                "# subordinate ids\n\nalice:500000:10\n  \nbob:1:2\n   # indented comment\n\
                 1000:100000:65536\nalice:20000:5\n",
                &[
                    e(0, 1000, 1),
                    e(1, 500000, 10),
                    e(11, 100000, 65536),
                    e(65547, 20000, 5),
                ],
            ),
            (
                "empty ranges map nothing",
                "alice:100000:0\n",
                &[e(0, 1000, 1)],
            ),
            (
                "surrounding whitespace and CRLF",
                "  alice:100000:65536  \r\n",
                &[e(0, 1000, 1), e(1, 100000, 65536)],
            ),
        ];
        for (what, text, want) in cases {
            let subuid = file("/etc/subuid", text);
            let subgid = file("/etc/subgid", "");
            let m = UserMapping::for_account(&alice(), &subuid, &subgid).unwrap();
            assert_eq!(m.uid.entries, *want, "{what}");
            assert_eq!(m.gid, IdMap::single(1001), "{what}");
            let has_ranges = want.len() > 1;
            assert_eq!(m.uid.source.is_some(), has_ranges, "{what}");
            assert_eq!(m.user, "alice");
        }
    }

    #[test]
    fn gid_ranges_are_keyed_by_user_and_map_the_primary_group() {
        let subgid = file("/etc/subgid", "alice:165536:65536\n");
        let m = UserMapping::for_account(&alice(), &file("/etc/subuid", ""), &subgid).unwrap();
        assert_eq!(m.gid.entries, [e(0, 1001, 1), e(1, 165536, 65536)]);
        assert_eq!(m.gid.source.as_deref(), Some(Path::new("/etc/subgid")));
        assert_eq!(m.uid, IdMap::single(1000));
    }

    #[test]
    fn a_user_without_passwd_entry_matches_by_uid_only() {
        let anon = Account {
            uid: 4242,
            gid: 4242,
            name: None,
        };
        let subuid = file("/etc/subuid", "4242:100000:10\nalice:200000:10\n");
        let m = UserMapping::for_account(&anon, &subuid, &file("/etc/subgid", "")).unwrap();
        assert_eq!(m.uid.entries, [e(0, 4242, 1), e(1, 100000, 10)]);
        assert_eq!(m.user, "4242");
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        // (text, line number reported, words the reason must contain)
        let cases: &[(&str, usize, &str)] = &[
            ("alice:100000\n", 1, "owner:start:count"),
            ("# ok\nalice:1:2:3\n", 2, "owner:start:count"),
            ("alice\n", 1, "owner:start:count"),
            (":100000:65536\n", 1, "owner is empty"),
            ("alice:x:65536\n", 1, "start is not a decimal"),
            ("alice:-1:65536\n", 1, "start is not a decimal"),
            ("alice:100000:\n", 1, "count is not a decimal"),
            ("alice: 100000:65536\n", 1, "start is not a decimal"),
            ("alice:0x10:5\n", 1, "start is not a decimal"),
            ("alice:4294967296:1\n", 1, "larger than"),
            ("alice:4294967290:10\n", 1, "beyond the largest id"),
            // Another user's broken line is still a broken file.
            (
                "alice:100000:65536\n\nbob:1:two\n",
                3,
                "count is not a decimal",
            ),
        ];
        for (text, line, reason) in cases {
            let err = SubidFile::parse(Path::new("/etc/subuid"), text).unwrap_err();
            let msg = err.to_string();
            assert!(
                matches!(&err, IdMapError::Malformed { line: l, .. } if l == line),
                "{text:?}: {msg}"
            );
            assert!(msg.starts_with(&format!("/etc/subuid:{line}: ")), "{msg}");
            assert!(msg.contains(reason), "{text:?}: {msg}");
        }
    }

    #[test]
    fn overlapping_ranges_are_refused_with_both_named() {
        let cases: &[(&str, &str)] = &[
            ("alice:100000:100\nalice:100050:100\n", "line 1: 100000:100"),
            ("alice:999:10\n", "own id 1000"),
            ("alice:100000:10\nalice:100000:10\n", "line 2"),
        ];
        for (text, named) in cases {
            let err = UserMapping::for_account(
                &alice(),
                &file("/etc/subuid", text),
                &file("/etc/subgid", ""),
            )
            .unwrap_err();
            let msg = err.to_string();
            assert!(matches!(err, IdMapError::Overlap { .. }), "{msg}");
            assert!(
                msg.starts_with("/etc/subuid: the ranges of alice overlap"),
                "{msg}"
            );
            assert!(msg.contains(named), "{text:?}: {msg}");
        }
        // Adjacent ranges are fine.
        let m = UserMapping::for_account(
            &alice(),
            &file(
                "/etc/subuid",
                "alice:100000:10\nalice:100010:10\nalice:1001:5\n",
            ),
            &file("/etc/subgid", ""),
        )
        .unwrap();
        assert_eq!(m.uid.len(), 26);
    }

    #[test]
    fn the_largest_mapping_fits() {
        // Every host id but (uid_t)-1: the user's own, and everything else as ranges.
        let text = "alice:0:1000\nalice:1001:4294966294\n";
        let m = UserMapping::for_account(
            &alice(),
            &file("/etc/subuid", text),
            &file("/etc/subgid", ""),
        )
        .unwrap();
        assert_eq!(
            m.uid.entries,
            [e(0, 1000, 1), e(1, 0, 1000), e(1001, 1001, 4294966294)]
        );
        assert_eq!(m.uid.len(), u64::from(u32::MAX));
        assert_eq!(m.uid.to_host(4294967294), Some(4294967294));
    }

    #[test]
    fn identity_and_lookups() {
        let id = UserMapping::identity();
        assert!(id.is_identity());
        assert_eq!(id.uid.to_proc_text(), "0 0 4294967295\n");
        assert_eq!(id.uid.to_host(12345), Some(12345));

        let m = UserMapping::for_account(
            &alice(),
            &file("/etc/subuid", "alice:100000:65536\n"),
            &file("/etc/subgid", ""),
        )
        .unwrap();
        assert!(!m.is_identity());
        assert_eq!(m.uid.to_proc_text(), "0 1000 1\n1 100000 65536\n");
        assert_eq!(m.uid.to_host(0), Some(1000));
        assert_eq!(m.uid.to_host(1), Some(100000));
        assert_eq!(m.uid.to_host(65536), Some(165535));
        assert_eq!(m.uid.to_host(65537), None);
        assert_eq!(m.gid.to_host(1), None);
        assert_eq!(m.uid.len(), 65537);
    }

    #[test]
    fn a_missing_file_has_no_ranges() {
        let f = SubidFile::read(Path::new("/nonexistent/subuid")).unwrap();
        assert!(f.ranges.is_empty());
    }

    #[test]
    fn userns_modes_and_maps_parse_as_podman() {
        assert_eq!(UsernsMode::parse("").unwrap(), UsernsMode::Default);
        assert_eq!(UsernsMode::parse("host").unwrap(), UsernsMode::Host);
        assert_eq!(
            UsernsMode::parse("keep-id").unwrap(),
            UsernsMode::KeepId {
                uid: None,
                gid: None
            }
        );
        assert_eq!(
            UsernsMode::parse("keep-id:uid=200,gid=210").unwrap(),
            UsernsMode::KeepId {
                uid: Some(200),
                gid: Some(210)
            }
        );
        for bad in ["auto", "keep-id:uid=x", "keep-id:size=3", "nomap2"] {
            assert!(UsernsMode::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_map_flag("uidmap", "0:1:500").unwrap(), e(0, 1, 500));
        for bad in ["0:1", "0:1:0", "a:1:2", "0:1:2:3", "-1:0:1"] {
            assert!(parse_map_flag("uidmap", bad).is_err(), "{bad}");
        }
    }

    fn sub_user() -> UserMapping {
        UserMapping::for_account(
            &alice(),
            &file("/etc/subuid", "alice:100000:65536\n"),
            &file("/etc/subgid", "alice:200000:65536\n"),
        )
        .unwrap()
    }

    #[test]
    fn keep_id_puts_the_user_at_its_own_id_with_the_ranges_around() {
        let m = sub_user()
            .for_container(
                UsernsMode::KeepId {
                    uid: None,
                    gid: None,
                },
                &[],
                &[],
                (1000, 1001),
            )
            .unwrap();
        assert_eq!(
            m.uid.entries,
            [e(0, 100000, 1000), e(1000, 1000, 1), e(1001, 101000, 64536)]
        );
        assert_eq!(
            m.gid.entries,
            [e(0, 200000, 1001), e(1001, 1001, 1), e(1002, 201001, 64535)]
        );
        assert_eq!(m.uid.len(), 65537);
        // Another id for the user, and a user without ranges (only its own id).
        let m = sub_user()
            .for_container(
                UsernsMode::KeepId {
                    uid: Some(0),
                    gid: Some(5),
                },
                &[],
                &[],
                (1000, 1001),
            )
            .unwrap();
        assert_eq!(m.uid.entries, [e(0, 1000, 1), e(1, 100000, 65536)]);
        assert_eq!(m.gid.entries[1], e(5, 1001, 1));
        let lone =
            UserMapping::for_account(&alice(), &file("/etc/subuid", ""), &file("/etc/subgid", ""))
                .unwrap();
        let err = lone
            .for_container(
                UsernsMode::KeepId {
                    uid: None,
                    gid: None,
                },
                &[],
                &[],
                (1000, 1001),
            )
            .unwrap_err();
        assert!(err.to_string().contains("must map container id 0"), "{err}");
        assert_eq!(
            UserMapping::identity().for_container(
                UsernsMode::KeepId {
                    uid: None,
                    gid: None
                },
                &[],
                &[],
                (0, 0)
            ),
            Err(UsernsError::KeepIdAsRoot)
        );
    }

    #[test]
    fn uidmaps_are_relative_to_the_users_namespace() {
        let m = sub_user()
            .for_container(
                UsernsMode::Default,
                &[e(0, 1, 100), e(100, 0, 1)],
                &[],
                (1000, 1001),
            )
            .unwrap();
        assert_eq!(m.uid.entries, [e(0, 100000, 100), e(100, 1000, 1)]);
        // Without --gidmap the uid map serves for gids too.
        assert_eq!(m.gid.entries, [e(0, 200000, 100), e(100, 1001, 1)]);
        // A range across the user's own id and its ranges is split.
        let m = sub_user()
            .for_container(
                UsernsMode::Default,
                &[e(0, 0, 3)],
                &[e(0, 0, 1)],
                (1000, 1001),
            )
            .unwrap();
        assert_eq!(m.uid.entries, [e(0, 1000, 1), e(1, 100000, 2)]);
        assert_eq!(m.gid.entries, [e(0, 1001, 1)]);
        let err = sub_user()
            .for_container(UsernsMode::Default, &[e(0, 1, 70000)], &[], (1000, 1001))
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--uidmap 0:1:70000"), "{msg}");
        assert!(msg.contains("alice's user namespace (65537 ids"), "{msg}");
        assert!(msg.contains("1-65536 are host ids 100000-165535"), "{msg}");
        assert!(matches!(
            sub_user().for_container(
                UsernsMode::Default,
                &[e(0, 1, 10), e(5, 20, 10)],
                &[],
                (1000, 1001)
            ),
            Err(UsernsError::Overlap { .. })
        ));
        // Root maps host ids directly; the caller's own id must be among them.
        let m = UserMapping::identity()
            .for_container(UsernsMode::Default, &[e(0, 0, 65536)], &[], (0, 0))
            .unwrap();
        assert_eq!(m.uid.entries, [e(0, 0, 65536)]);
        assert!(!m.is_identity());
        let err = UserMapping::identity()
            .for_container(UsernsMode::Default, &[e(0, 100000, 65536)], &[], (0, 0))
            .unwrap_err();
        assert!(err.to_string().contains("must map your own id"), "{err}");
        assert!(matches!(
            sub_user().for_container(UsernsMode::Default, &[e(0, 1, 100)], &[], (1000, 1001)),
            Err(UsernsError::Unusable { .. })
        ));
    }
}
