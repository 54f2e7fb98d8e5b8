//! The user's subordinate id ranges in `/etc/subuid` and `/etc/subgid` (subuid(5)): present,
//! large enough for ordinary images (65536 ids: files owned by `nobody`, 65534), and not
//! shared with another user (whose containers could then reach this user's files).

use std::path::Path;

use super::{Finding, Fix, Host};
use crate::runtime::idmap::{SUBGID, SUBUID, SubidFile, SubidRange};

/// Ids an ordinary image needs: up to `nobody` (65534).
const ENOUGH: u64 = 65536;
/// Where suggested ranges start (useradd's SUB_UID_MIN).
const FIRST_SUGGESTED: u64 = 100_000;

pub fn check_subuid(host: &Host) -> Finding {
    check(host, "subuid", SUBUID)
}

pub fn check_subgid(host: &Host) -> Finding {
    check(host, "subgid", SUBGID)
}

fn read(host: &Host, file: &str) -> Result<SubidFile, String> {
    SubidFile::read(&host.sys(file)).map_err(|e| format!("{file}: {}", error_text(&e)))
}

fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

fn span(r: &SubidRange) -> String {
    format!(
        "{}-{}",
        r.start,
        u64::from(r.start) + u64::from(r.count) - 1
    )
}

fn overlaps(a: &SubidRange, b: &SubidRange) -> bool {
    let (a0, a1) = (u64::from(a.start), u64::from(a.start) + u64::from(a.count));
    let (b0, b1) = (u64::from(b.start), u64::from(b.start) + u64::from(b.count));
    a0 < b1 && b0 < a1
}

/// A block of 65536 ids no range in either file uses, as `FIRST-LAST`.
pub fn free_range(files: &[&SubidFile]) -> String {
    let mut start = FIRST_SUGGESTED;
    loop {
        let end = start + ENOUGH;
        let clash = files
            .iter()
            .flat_map(|f| &f.ranges)
            .map(|r| (u64::from(r.start), u64::from(r.start) + u64::from(r.count)))
            .filter(|&(r_start, r_end)| r_start < r_end && r_start < end && start < r_end)
            .map(|(_, r_end)| r_end)
            .max();
        match clash {
            // Right after the highest clashing range, as useradd does.
            Some(r_end) => start = r_end,
            None => return format!("{start}-{}", end - 1),
        }
    }
}

/// The `usermod` fix that gives the user a free range in the files missing one.
fn add_fix(host: &Host, files: &[&SubidFile], uid: bool, gid: bool, del: Option<&str>) -> Fix {
    let range = free_range(files);
    let mut cmd = String::from("usermod");
    if let Some(d) = del {
        cmd += d;
    }
    if uid {
        cmd += &format!(" --add-subuids {range}");
    }
    if gid {
        cmd += &format!(" --add-subgids {range}");
    }
    Fix::root(format!("{cmd} {}", host.user_name()))
}

fn check(host: &Host, name: &'static str, file: &str) -> Finding {
    if host.is_root() {
        return Finding::ok(name, "not needed as root");
    }
    let (this, other_file) = if file == SUBUID {
        (read(host, SUBUID), read(host, SUBGID))
    } else {
        (read(host, SUBGID), read(host, SUBUID))
    };
    let this = match this {
        Ok(f) => f,
        Err(e) => return Finding::fail(name, e, None),
    };
    let other = other_file.unwrap_or_else(|_| SubidFile {
        path: Path::new(file).to_path_buf(),
        ranges: Vec::new(),
    });
    let both = [&this, &other];
    let is_uid = file == SUBUID;
    let user = host.user_name();
    let mine: Vec<&SubidRange> = this.ranges_of(&host.account).collect();
    if mine.is_empty() {
        let other_missing = other.ranges_of(&host.account).next().is_none();
        let (uid, gid) = if is_uid {
            (true, other_missing)
        } else {
            (other_missing, true)
        };
        return Finding::fail(
            name,
            format!("{user} has no range in {file}: containers get only root (the user's own id)"),
            Some(add_fix(host, &both, uid, gid, None)),
        );
    }
    let flag = if is_uid { "subuids" } else { "subgids" };
    // Another user's range, or one of the user's own, sharing ids with one of the user's.
    for r in &mine {
        let clash = this
            .ranges
            .iter()
            .filter(|o| o.count > 0 && o.line != r.line)
            .find(|o| overlaps(r, o));
        if let Some(o) = clash {
            let whose = if mine.iter().any(|m| m.line == o.line) {
                "another range of its own".to_string()
            } else {
                format!("{}'s range {} (line {})", o.owner, span(o), o.line)
            };
            let del = format!(" --del-{flag} {}", span(r));
            return Finding::fail(
                name,
                format!(
                    "{file}: {user}'s range {} (line {}) overlaps {whose}: each user's \
                     containers must have ids of their own",
                    span(r),
                    r.line
                ),
                Some(add_fix(host, &both, is_uid, !is_uid, Some(&del))),
            );
        }
    }
    let total: u64 = mine.iter().map(|r| u64::from(r.count)).sum();
    let spans: Vec<String> = mine.iter().map(|r| span(r)).collect();
    if total + 1 < ENOUGH {
        return Finding::warn(
            name,
            format!(
                "{user} has only {total} ids in {file} ({}): images with files owned by ids \
                 up to 65534 (nobody) need 65536",
                spans.join(", ")
            ),
            Some(add_fix(host, &both, is_uid, !is_uid, None)),
        );
    }
    Finding::ok(name, format!("{user}: {} ({total} ids)", spans.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> SubidFile {
        SubidFile::parse(Path::new("/etc/subuid"), text).unwrap()
    }

    #[test]
    fn free_range_skips_every_used_block() {
        assert_eq!(free_range(&[&file("")]), "100000-165535");
        let a = file("tester:100000:65536\ncoracle-sub:165536:65536\n");
        assert_eq!(free_range(&[&a]), "231072-296607");
        // A range in the other file counts too.
        let b = file("x:250000:10\n");
        assert_eq!(free_range(&[&a, &b]), "250010-315545");
        // Empty ranges map nothing.
        assert_eq!(free_range(&[&file("x:100000:0\n")]), "100000-165535");
    }

    #[test]
    fn overlap_is_symmetric_and_exclusive_at_the_end() {
        let r = |start, count| SubidRange {
            owner: "u".into(),
            start,
            count,
            line: 1,
        };
        assert!(overlaps(&r(100, 10), &r(105, 10)));
        assert!(overlaps(&r(105, 10), &r(100, 10)));
        assert!(!overlaps(&r(100, 10), &r(110, 10)));
    }
}
