//! OCI whiteout naming, the one place that knows it.
//!
//! Layers are stored as the image spec writes them: a deleted `NAME` is an empty regular file
//! `.wh.NAME` in the same directory, and a directory whose lower contents are hidden holds an
//! opaque marker `.wh..wh..opq`. Other names starting with `.wh..wh.` are AUFS metadata
//! (e.g. `.wh..wh.plnk`): neither whiteouts nor visible files. The overlay hides every name
//! that starts with `.wh.` from the container.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Prefix of every whiteout name.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The opaque-directory marker.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Prefix of AUFS metadata names (the opaque marker among them).
pub const META_PREFIX: &str = ".wh..wh.";

/// Whether `name` (one path component) whites out a lower entry.
pub fn is_whiteout(name: &OsStr) -> bool {
    whiteout_target(name).is_some()
}

/// The name a whiteout hides, or `None` if `name` is not a whiteout.
pub fn whiteout_target(name: &OsStr) -> Option<&OsStr> {
    let b = name.as_bytes();
    if b.starts_with(META_PREFIX.as_bytes()) {
        return None;
    }
    let target = b.strip_prefix(WHITEOUT_PREFIX.as_bytes())?;
    if target.is_empty() || target == b"." || target == b".." || target.contains(&b'/') {
        return None;
    }
    Some(OsStr::from_bytes(target))
}

/// Whether `name` is the opaque-directory marker.
pub fn is_opaque_marker(name: &OsStr) -> bool {
    name.as_bytes() == OPAQUE_MARKER.as_bytes()
}

/// Whether `name` belongs to the whiteout namespace (whiteout, marker or AUFS metadata) and
/// is therefore never shown in a merged view nor creatable by a container.
pub fn is_reserved(name: &OsStr) -> bool {
    name.as_bytes().starts_with(WHITEOUT_PREFIX.as_bytes())
}

/// The whiteout name that hides `target`.
pub fn whiteout_name(target: &OsStr) -> OsString {
    let mut v = WHITEOUT_PREFIX.as_bytes().to_vec();
    v.extend_from_slice(target.as_bytes());
    OsString::from_vec(v)
}

/// The opaque marker's name.
pub fn opaque_marker_name() -> &'static OsStr {
    OsStr::new(OPAQUE_MARKER)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn naming_rules() {
        // (name, is_whiteout, target, is_opaque, is_reserved)
        let cases: &[(&str, bool, Option<&str>, bool, bool)] = &[
            (".wh.foo", true, Some("foo"), false, true),
            (".wh..bashrc", true, Some(".bashrc"), false, true),
            (".wh..wh..opq", false, None, true, true),
            (".wh..wh.plnk", false, None, false, true),
            (".wh.", false, None, false, true),
            (".wh..", false, None, false, true),
            (".wh...", false, None, false, true),
            ("foo", false, None, false, false),
            ("wh.foo", false, None, false, false),
            (".whfoo", false, None, false, false),
            ("a.wh.foo", false, None, false, false),
        ];
        for &(name, wh, target, opq, reserved) in cases {
            assert_eq!(is_whiteout(os(name)), wh, "{name}");
            assert_eq!(whiteout_target(os(name)), target.map(os), "{name}");
            assert_eq!(is_opaque_marker(os(name)), opq, "{name}");
            assert_eq!(is_reserved(os(name)), reserved, "{name}");
        }
    }

    #[test]
    fn names_round_trip() {
        for t in ["foo", ".bashrc", "with space", "ünï"] {
            let w = whiteout_name(os(t));
            assert_eq!(whiteout_target(&w), Some(os(t)));
        }
        assert!(is_opaque_marker(opaque_marker_name()));
        assert!(!is_whiteout(opaque_marker_name()));
    }
}
