//! The ownership attribute codec (`user.coracle.stat`) and the names extended attributes are
//! kept under: any value decodes or is refused, never a panic; what decodes encodes to a value
//! that decodes to the same metadata; any metadata survives encode and decode; and an image's
//! attribute name comes back from the name it is stored under.
#![no_main]

use coracle_fuzz::archive::ownership::{self, FileKind, Stat, XattrName};
use libfuzzer_sys::fuzz_target;

fn kind(selector: u8, major: u32, minor: u32) -> FileKind {
    match selector % 7 {
        0 => FileKind::File,
        1 => FileKind::Dir,
        2 => FileKind::Symlink,
        3 => FileKind::Pipe,
        4 => FileKind::Socket,
        5 => FileKind::Block { major, minor },
        _ => FileKind::Char { major, minor },
    }
}

fn word(data: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    for (i, x) in b.iter_mut().enumerate() {
        *x = data.get(at + i).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    // Any bytes as an attribute value.
    if let Ok(value) = std::str::from_utf8(data) {
        let disk = kind(data.len() as u8, 1, 2);
        if let Ok(stat) = Stat::decode(value, disk) {
            assert!(stat.mode <= 0o7777, "{value:?}");
            let again = Stat::decode(&stat.encode(), FileKind::File);
            assert_eq!(again, Ok(stat), "{value:?} -> {:?}", stat.encode());
            let _ = (
                stat.disk_mode(),
                stat.disk_kind(),
                stat.needs_xattr(),
                stat.st_mode(),
            );
        }
    }
    // Any bytes as metadata.
    let stat = Stat {
        uid: word(data, 0),
        gid: word(data, 4),
        mode: word(data, 8) & 0o7777,
        kind: kind(
            data.get(12).copied().unwrap_or(0),
            word(data, 13),
            word(data, 17),
        ),
    };
    assert_eq!(Stat::decode(&stat.encode(), FileKind::Dir), Ok(stat));
    // Any bytes as an image's attribute name.
    if let Some(stored) = ownership::stored_xattr_name(data) {
        let bytes = stored.as_bytes().to_vec();
        assert!(bytes.starts_with(b"user."), "{data:?} stored as {bytes:?}");
        if matches!(stored, XattrName::Kept(_)) {
            assert!(bytes.starts_with(ownership::KEPT_XATTR_PREFIX.as_bytes()));
        }
        assert_eq!(
            ownership::image_xattr_name(&bytes).as_deref(),
            Some(data),
            "{data:?} stored as {bytes:?}"
        );
    } else {
        assert!(
            data.is_empty()
                || data.contains(&0)
                || data.starts_with(ownership::RESERVED_PREFIX.as_bytes()),
            "{data:?} refused"
        );
    }
    // Any bytes as an on-disk name: coracle's own metadata is never an image attribute.
    if let Some(name) = ownership::image_xattr_name(data) {
        assert!(
            !name.starts_with(ownership::RESERVED_PREFIX.as_bytes())
                || data.starts_with(ownership::KEPT_XATTR_PREFIX.as_bytes())
        );
        if !data.starts_with(ownership::KEPT_XATTR_PREFIX.as_bytes()) {
            assert!(data.starts_with(b"user."));
        }
    }
});
