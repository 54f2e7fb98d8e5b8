//! POSIX ACLs: the kernel enforces them (`FUSE_POSIX_ACL`, with `default_permissions`) from
//! `system.posix_acl_access`/`system.posix_acl_default`, which are stored like every attribute
//! the user cannot set on the backing file (`user.coracle.xattr.<name>`); setting an access
//! ACL makes the kernel send the matching mode. What the filesystem does itself is the
//! inheritance of a directory's default ACL by new entries (acl(5), "OBJECT CREATION AND
//! DEFAULT ACLs"), here on the xattr form (`posix_acl_xattr_header` + entries).

pub(crate) const ACCESS: &str = "system.posix_acl_access";
pub(crate) const DEFAULT: &str = "system.posix_acl_default";

const HEADER: usize = 4;
const ENTRY: usize = 8;
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;

/// The access ACL of a new entry made with `mode` under a directory whose default ACL is
/// `default` (posix_acl_create's masking): the ACL to store (`None` when the mode says it
/// all) and the mode. `None` for a malformed ACL.
pub(crate) fn inherit(default: &[u8], mode: u32) -> Option<(Option<Vec<u8>>, u32)> {
    if default.len() < HEADER || !(default.len() - HEADER).is_multiple_of(ENTRY) {
        return None;
    }
    let mut acl = default.to_vec();
    let mut mode = mode;
    let mut extended = false;
    let (mut group_obj, mut mask) = (None, None);
    for off in (HEADER..acl.len()).step_by(ENTRY) {
        let tag = u16::from_le_bytes([acl[off], acl[off + 1]]);
        let perm = u16::from_le_bytes([acl[off + 2], acl[off + 3]]) as u32;
        let set = |acl: &mut Vec<u8>, p: u32| {
            acl[off + 2..off + 4].copy_from_slice(&(p as u16).to_le_bytes());
        };
        match tag {
            USER_OBJ => {
                let p = perm & ((mode >> 6) | !7);
                set(&mut acl, p);
                mode &= (p << 6) | !0o700;
            }
            USER | GROUP => extended = true,
            OTHER => {
                let p = perm & (mode | !7);
                set(&mut acl, p);
                mode &= p | !0o7;
            }
            GROUP_OBJ => group_obj = Some((off, perm)),
            MASK => {
                mask = Some((off, perm));
                extended = true;
            }
            _ => return None,
        }
    }
    let (off, perm) = mask.or(group_obj)?;
    let p = perm & ((mode >> 3) | !7);
    acl[off + 2..off + 4].copy_from_slice(&(p as u16).to_le_bytes());
    mode &= (p << 3) | !0o070;
    Some((extended.then_some(acl), mode))
}

/// The permission bits an access ACL implies (owner from `USER_OBJ`, group from `MASK` or
/// else `GROUP_OBJ`, other from `OTHER`), and whether it says more than they do (named
/// entries or a mask). `None` for a malformed ACL.
pub(crate) fn mode_of(acl: &[u8]) -> Option<(u32, bool)> {
    if acl.len() < HEADER || !(acl.len() - HEADER).is_multiple_of(ENTRY) {
        return None;
    }
    let (mut user, mut group, mut mask, mut other) = (None, None, None, None);
    let mut extended = false;
    for e in acl[HEADER..].chunks_exact(ENTRY) {
        let tag = u16::from_le_bytes([e[0], e[1]]);
        let perm = u32::from(u16::from_le_bytes([e[2], e[3]]) & 7);
        match tag {
            USER_OBJ => user = Some(perm),
            GROUP_OBJ => group = Some(perm),
            OTHER => other = Some(perm),
            MASK => {
                mask = Some(perm);
                extended = true;
            }
            USER | GROUP => extended = true,
            _ => return None,
        }
    }
    Some(((user? << 6) | (mask.or(group)? << 3) | other?, extended))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    const ANY: u32 = u32::MAX;

    #[test]
    fn a_minimal_default_acl_only_masks_the_mode() {
        let d = acl(&[(USER_OBJ, 7, ANY), (GROUP_OBJ, 5, ANY), (OTHER, 0, ANY)]);
        assert_eq!(inherit(&d, 0o666), Some((None, 0o640)));
    }

    #[test]
    fn named_entries_make_an_access_acl_whose_mask_follows_the_mode() {
        let d = acl(&[
            (USER_OBJ, 7, ANY),
            (USER, 7, 1000),
            (GROUP_OBJ, 5, ANY),
            (MASK, 7, ANY),
            (OTHER, 0, ANY),
        ]);
        let (a, mode) = inherit(&d, 0o644).unwrap_or_default();
        assert_eq!(mode, 0o640);
        let want = acl(&[
            (USER_OBJ, 6, ANY),
            (USER, 7, 1000),
            (GROUP_OBJ, 5, ANY),
            (MASK, 4, ANY),
            (OTHER, 0, ANY),
        ]);
        assert_eq!(a, Some(want));
    }

    #[test]
    fn the_mode_an_acl_implies() {
        let minimal = acl(&[(USER_OBJ, 6, ANY), (GROUP_OBJ, 4, ANY), (OTHER, 0, ANY)]);
        assert_eq!(mode_of(&minimal), Some((0o640, false)));
        let named = acl(&[
            (USER_OBJ, 6, ANY),
            (USER, 6, 1000),
            (GROUP_OBJ, 4, ANY),
            (MASK, 6, ANY),
            (OTHER, 0, ANY),
        ]);
        assert_eq!(mode_of(&named), Some((0o660, true)));
        assert_eq!(mode_of(&acl(&[(USER_OBJ, 6, ANY)])), None);
    }

    #[test]
    fn malformed() {
        assert_eq!(inherit(&[2, 0, 0], 0o644), None);
        assert_eq!(inherit(&acl(&[(USER_OBJ, 7, ANY)]), 0o644), None);
    }
}
