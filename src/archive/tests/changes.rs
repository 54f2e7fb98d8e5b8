//! `layer_changes` on layers extracted here: Podman's A/C/D rules and order.

use super::*;

fn lines(changes: &[Change]) -> Vec<String> {
    changes.iter().map(ToString::to_string).collect()
}

#[test]
fn changes_of_a_layer_against_merged_lowers() {
    let mut base = Tar::new();
    base.dir("etc/")
        .file("etc/passwd", b"root\n")
        .file("etc/group", b"root\n")
        .dir("usr/")
        .dir("usr/bin/")
        .file("usr/bin/a", b"a")
        .dir("opq/")
        .file("opq/x", b"x")
        .dir("gone/")
        .file("gone/f", b"f")
        .dir("keep/")
        .file("keep/f", b"f")
        .file("file-then-dir", b"");
    let base = extract(&base.finish());
    let mut middle = Tar::new();
    middle.file(".wh.keep", b"").file("only-middle", b"");
    let middle = extract(&middle.finish());
    let mut top = Tar::new();
    top.dir("etc/")
        .file("etc/passwd", b"root\nme\n")
        .file("etc/.wh.group", b"")
        .dir_owned("usr/", 0o700, 0, 0)
        .dir("usr/bin/")
        .file("usr/bin/new", b"n")
        .dir("opq/")
        .file("opq/.wh..wh..opq", b"")
        .file("opq/y", b"y")
        .file(".wh.gone", b"")
        .dir("keep/")
        .file("keep/f", b"again")
        .dir("newdir/")
        .file("newdir/f", b"")
        .file(".wh.file-then-dir", b"")
        .dir("file-then-dir/")
        .file("only-middle", b"changed");
    let top = extract(&top.finish());
    let lowers = [middle.layer.join(DIFF_DIR), base.layer.join(DIFF_DIR)];
    let changes = layer_changes(&top.layer.join(DIFF_DIR), &lowers).unwrap();
    assert_eq!(
        lines(&changes),
        [
            "C /etc",
            "D /etc/group",
            "C /etc/passwd",
            // replaced by a directory: opaque over a lower entry
            "D /file-then-dir",
            "D /gone",
            // the middle layer deleted it: new again
            "A /keep",
            "A /keep/f",
            "A /newdir",
            "A /newdir/f",
            "C /only-middle",
            "D /opq",
            "A /opq/y",
            "C /usr",
            "C /usr/bin",
            "A /usr/bin/new",
        ]
    );
    // With no lower layer everything is new and whiteouts are still deletions.
    let alone = layer_changes(&middle.layer.join(DIFF_DIR), &[]).unwrap();
    assert_eq!(lines(&alone), ["D /keep", "A /only-middle"]);
}
