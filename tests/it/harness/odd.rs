//! The "odd" image: three layers full of what an unprivileged extractor finds hard — owners it
//! cannot chown to, devices it cannot create, setuid bits, `chmod 000`, xattrs it may not set,
//! hardlinks, long PAX names, and in the upper layers whiteouts, opaque directories and type
//! changes. Loading it and saving it again must give back byte-identical layers (same diff IDs).

use serde_json::json;
use std::sync::OnceLock;

use super::images::{History, Image, busybox_layer, busybox_run_config};
use super::layer::{Entry, Layer, LayerBuilder};

/// A `security.capability` value (vfs_cap_data revision 2) granting `cap_net_raw` permitted and
/// effective, as Debian's `ping` carries.
pub const CAP_NET_RAW: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, // magic: revision 2, effective
    0x00, 0x20, 0x00, 0x00, // permitted (low): bit 13 = CAP_NET_RAW
    0x00, 0x00, 0x00, 0x00, // inheritable (low)
    0x00, 0x00, 0x00, 0x00, // permitted (high)
    0x00, 0x00, 0x00, 0x00, // inheritable (high)
];

/// A path segment long enough to need a PAX `path` record.
pub fn long_name() -> String {
    format!("long-{}", "n".repeat(140))
}

/// The second layer: odd files of every kind.
pub fn odd_layer() -> Layer {
    let long = long_name();
    LayerBuilder::new()
        .extend([
            Entry::dir("odd"),
            // owners the user cannot chown to
            Entry::file("odd/uid1000", "owned by 1000\n").owner(1000, 1000),
            Entry::file("odd/nobody", "owned by nobody\n").owner(65534, 65534),
            Entry::file("odd/big-uid", "owned by 123456\n").owner(123_456, 123_457),
            Entry::dir("odd/dir-1000").owner(1000, 100).mode(0o750),
            Entry::file("odd/dir-1000/inside", "x\n").owner(1000, 100),
            // set-id bits and sticky
            Entry::file("odd/setuid", "#!/bin/sh\n").mode(0o4755),
            Entry::file("odd/setgid", "#!/bin/sh\n")
                .mode(0o2755)
                .owner(0, 50),
            Entry::file("odd/setuid-1000", "#!/bin/sh\n")
                .mode(0o4750)
                .owner(1000, 1000),
            Entry::dir("odd/sticky").mode(0o1777),
            Entry::dir("odd/setgid-dir").mode(0o2775).owner(0, 50),
            // modes nobody can read
            Entry::file("odd/mode000", "secret\n").mode(0o000),
            Entry::dir("odd/dir000").mode(0o000),
            Entry::file("odd/dir000/hidden", "in a 000 dir\n").mode(0o600),
            Entry::dir("odd/dir000/sub").mode(0o000),
            Entry::file("odd/readonly", "ro\n").mode(0o444),
            // devices and fifos
            Entry::dir("odd/dev"),
            Entry::char_dev("odd/dev/null", 1, 3),
            Entry::char_dev("odd/dev/tty", 5, 0).owner(0, 5).mode(0o620),
            Entry::block_dev("odd/dev/loop0", 7, 0).owner(0, 6),
            Entry::block_dev("odd/dev/big", 259, 65_537),
            Entry::fifo("odd/dev/fifo").mode(0o600).owner(1000, 1000),
            // links
            Entry::file("odd/target", "hardlinked\n")
                .owner(1000, 1000)
                .mode(0o640),
            Entry::hardlink("odd/hardlink", "odd/target")
                .owner(1000, 1000)
                .mode(0o640),
            Entry::hardlink("odd/hardlink2", "odd/target")
                .owner(1000, 1000)
                .mode(0o640),
            Entry::symlink("odd/symlink", "target"),
            Entry::symlink("odd/abs-symlink", "/etc/passwd"),
            Entry::symlink("odd/dangling", "../does/not/exist"),
            Entry::symlink("odd/symlink-1000", "target").owner(1000, 1000),
            // xattrs: one the user cannot set, some it can
            Entry::file("odd/ping", "not really ping\n")
                .mode(0o755)
                .xattr("security.capability", CAP_NET_RAW.to_vec()),
            Entry::file("odd/user-xattr", "x\n")
                .xattr("user.coracle-test", "hello")
                .xattr("user.empty", ""),
            Entry::dir("odd/xattr-dir").xattr("user.dir", "on a directory"),
            // long names (PAX path and linkpath)
            Entry::dir(&format!("odd/{long}")),
            Entry::file(&format!("odd/{long}/{long}"), "deep and long\n").owner(1000, 1000),
            Entry::symlink("odd/long-link", &format!("{long}/{long}")),
            Entry::hardlink("odd/long-hardlink", &format!("odd/{long}/{long}")).owner(1000, 1000),
            // what the next layer deletes or replaces
            Entry::dir("odd/gone-dir"),
            Entry::file("odd/gone-dir/a", "a\n"),
            Entry::file("odd/gone-file", "bye\n"),
            Entry::dir("odd/opaque"),
            Entry::file("odd/opaque/old", "hidden by the opaque marker\n"),
            Entry::dir("odd/opaque/old-dir"),
            Entry::file("odd/file-becomes-dir", "I was a file\n"),
            Entry::dir("odd/dir-becomes-symlink"),
            Entry::file("odd/dir-becomes-symlink/x", "x\n"),
            // an odd mtime
            Entry::file("odd/epoch", "1970\n").mtime(0),
        ])
        .finish()
}

/// The third layer: whiteouts, an opaque directory, type changes.
pub fn odd_upper_layer() -> Layer {
    LayerBuilder::new()
        .extend([
            Entry::dir("odd"),
            Entry::whiteout("odd/gone-dir"),
            Entry::whiteout("odd/gone-file"),
            Entry::dir("odd/opaque"),
            Entry::opaque("odd/opaque"),
            Entry::file("odd/opaque/new", "only this is visible\n"),
            Entry::whiteout("odd/file-becomes-dir"),
            Entry::dir("odd/file-becomes-dir"),
            Entry::file("odd/file-becomes-dir/now", "a dir now\n"),
            Entry::whiteout("odd/dir-becomes-symlink"),
            Entry::symlink("odd/dir-becomes-symlink", "opaque"),
            Entry::file("odd/uid1000", "rewritten, new owner\n").owner(2000, 2000),
            Entry::whiteout("bin/rm"),
        ])
        .finish()
}

/// `odd:latest`: busybox base + the odd layer + the upper layer, with empty-layer history
/// entries between them.
pub fn odd() -> &'static Image {
    static I: OnceLock<Image> = OnceLock::new();
    I.get_or_init(|| {
        let mut run = busybox_run_config();
        run["Labels"] = json!({"org.example.odd": "yes"});
        run["User"] = json!("1000:1000");
        run["WorkingDir"] = json!("/odd");
        Image::new(
            vec![busybox_layer().clone(), odd_layer(), odd_upper_layer()],
            vec![
                History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
                History::empty("/bin/sh -c #(nop)  LABEL org.example.odd=yes"),
                History::layer("/bin/sh -c #(nop) COPY dir:odd in /odd ")
                    .comment("odd owners, devices, xattrs"),
                History::empty("/bin/sh -c #(nop) WORKDIR /odd"),
                History::layer("/bin/sh -c rm -rf odd/gone-dir odd/gone-file"),
                History::empty("/bin/sh -c #(nop)  USER 1000:1000"),
            ],
            run,
            &["odd:latest"],
        )
    })
}
