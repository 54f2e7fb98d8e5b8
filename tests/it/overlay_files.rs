//! coracle's FUSE overlay, file semantics: hardlinks across copy-up, rename flags, large and
//! sparse files, `fallocate`, shared writable `mmap`, `O_APPEND`/`O_TRUNC`. Mounted as in
//! `overlay` (the odd image), some with a hand-made lower directory `low` on top of it.
//! File capabilities on exec, in a container. Small programs are Python (`/usr/bin/python3` of the host, readable by the test users).

use std::sync::OnceLock;

use crate::harness::images::{History, Image, busybox_binary, busybox_layer, busybox_run_config};
use crate::harness::layer::{Entry, LayerBuilder};
use crate::harness::{for_each_user, skip};
use crate::overlay::{with_mount_mapped, with_mount_setup, with_remount};

fn expect(out: &str, line: &str) {
    assert!(
        out.lines().any(|l| l == line),
        "expected the line {line:?} in:\n{out}"
    );
}

#[test]
fn overlay_hardlinks_stay_linked_across_copy_up() {
    for_each_user(|env| {
        let Some(out) = with_mount_setup(
            env,
            r#"
mkdir -p low/h low/h2
echo linked > low/h/a
ln low/h/a low/h/b
ln low/h/a low/h2/c
echo solo > low/h/s
EXTRA="--lower low"
"#,
            r#"
ia=$(stat -c %i h/a)
[ "$(stat -c %i h/b)" = "$ia" ] && [ "$(stat -c %i h2/c)" = "$ia" ] && echo "lower_ino=same"
echo "lower_nlink=$(stat -c %h h/a)"
is=$(stat -c %i h/s)
echo more >> h/b
echo "through_a=$(tr '\n' ' ' < h/a)"
echo "through_c=$(tr '\n' ' ' < h2/c)"
[ "$(stat -c %i h/a)" = "$ia" ] && [ "$(stat -c %i h/b)" = "$ia" ] \
    && [ "$(stat -c %i h2/c)" = "$ia" ] && echo "ino_after=same"
echo "nlink_after=$(stat -c %h h/b)"
echo x >> h/s
[ "$(stat -c %i h/s)" = "$is" ] && echo "solo_ino=same"
[ "$(stat -c %i ../up/h/a)" = "$(stat -c %i ../up/h2/c)" ] && echo "upper_linked=$(stat -c %h ../up/h/b)"
rm h/a
echo "after_rm=$(stat -c %h h/b) $(tr '\n' ' ' < h2/c)"
test -f ../up/h/.wh.a && echo "whiteout=yes"
# A name hidden by a whiteout is not linked up again.
echo again >> h/b
test -e h/a || echo "a=absent"
"#,
        ) else {
            return;
        };
        expect(&out, "lower_ino=same");
        expect(&out, "lower_nlink=3");
        expect(&out, "through_a=linked more ");
        expect(&out, "through_c=linked more ");
        expect(&out, "ino_after=same");
        expect(&out, "nlink_after=3");
        expect(&out, "solo_ino=same");
        expect(&out, "upper_linked=3");
        expect(&out, "after_rm=2 linked more ");
        expect(&out, "whiteout=yes");
        expect(&out, "a=absent");
    });
}

/// The paths whose inode numbers must survive a remount: lower files (one copied up before
/// the stop), hardlinks copied up through one name, a directory copied up by a creation in
/// it, a renamed lower file, files created in the upper layer and their hardlinks.
const STABLE_PATHS: &str = "f copied h/a h/b d d/x d/new r2 n n2 m/deep";

#[test]
fn overlay_inode_numbers_survive_a_remount() {
    for_each_user(|env| {
        let Some(out) = with_remount(
            env,
            r#"
mkdir -p low/h low/d low/many
for i in $(seq 1500); do : > low/many/f$i; done
echo f > low/f
echo c > low/copied
echo a > low/h/a
ln low/h/a low/h/b
echo x > low/d/x
echo r > low/r
EXTRA="--lower low"
"#,
            &format!(
                r#"
before="$(stat -c %i f copied h/a d r | tr '\n' ' ')"
echo more >> copied
touch many/*
echo more >> h/b
touch d/new
mv r r2
echo n > n
ln n n2
mkdir m && echo deep > m/deep
after="$(stat -c %i f copied h/a d r2 | tr '\n' ' ')"
[ "$before" = "$after" ] && echo "copy_up_kept=yes"
[ "$(stat -c %i h/a)" = "$(stat -c %i h/b)" ] && echo "links_share=yes"
[ "$(stat -c %i n)" = "$(stat -c %i n2)" ] && echo "upper_links_share=yes"
for p in {STABLE_PATHS}; do echo "$p $(stat -c %i $p)"; done > ../ino.first
"#
            ),
            &format!(
                r#"
for p in {STABLE_PATHS}; do echo "$p $(stat -c %i $p)"; done > ../ino.again
if cmp -s ../ino.first ../ino.again; then echo "remount_kept=yes"
else echo "first:"; cat ../ino.first; echo "again:"; cat ../ino.again; fi
[ "$(stat -c %i h/a)" = "$(stat -c %i h/b)" ] && echo "links_share_again=yes"
[ "$(stat -c %h h/a)" = 2 ] && echo "nlink_again=2"
# A listing shows the numbers stat does (plain READDIR after the first READDIRPLUS chunk).
/usr/bin/python3 -c 'import os; [print(e.name, e.inode()) for e in os.scandir("many")]' | sort > ../many.ls
(cd many && stat -c '%n %i' *) | sort > ../many.stat
cmp -s ../many.ls ../many.stat && echo "listing_matches=yes"
# A change after the remount keeps the number too.
i=$(stat -c %i f); echo again >> f
[ "$(stat -c %i f)" = "$i" ] && echo "late_copy_up_kept=yes"
# coracle's attribute is not visible inside.
getfattr -d -m - copied 2>&1 | grep -c coracle | sed 's/^/own_attr_listed=/'
"#
            ),
        ) else {
            return;
        };
        for line in [
            "copy_up_kept=yes",
            "links_share=yes",
            "upper_links_share=yes",
            "remount_kept=yes",
            "links_share_again=yes",
            "nlink_again=2",
            "listing_matches=yes",
            "late_copy_up_kept=yes",
            "own_attr_listed=0",
        ] {
            expect(&out, line);
        }
    });
}

/// Setting an access ACL clears the set-gid bit unless the caller is in the file's group or
/// holds `CAP_FSETID` for it, as the kernel's posix_acl_update_mode does.
#[test]
fn overlay_acl_clears_setgid_like_the_kernel() {
    for_each_user(|env| {
        let Some(out) = with_mount_mapped(
            env,
            r#"
mkdir -p low
for f in other capable; do
    : > low/$f
    chmod 2755 low/$f
    setfattr -n user.coracle.stat -v "0:1000:2755:file" low/$f
done
EXTRA="--lower low"
"#,
            r#"
acl() {
    "$@" /usr/bin/python3 -c '
import os, struct, sys
a = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, 0xffffffff)
    for t, p in [(1, 7), (4, 5), (0x20, 5)])
os.setxattr(sys.argv[1], "system.posix_acl_access", a)
print("%s=%o" % (sys.argv[1], os.stat(sys.argv[1]).st_mode & 0o7777))
' "$f"
}
NOFSETID="setpriv --inh-caps=-fsetid --bounding-set=-fsetid"
: > own; chmod 2755 own
f=own acl $NOFSETID
f=other acl $NOFSETID
f=capable acl
if setpriv --reuid 1001 --regid 1001 --clear-groups true 2>/dev/null; then
    for f in sup nosup; do : > $f; chown 1001:1000 $f; chmod 2755 $f; done
    f=sup acl setpriv --reuid 1001 --regid 1001 --groups 1000
    f=nosup acl setpriv --reuid 1001 --regid 1001 --clear-groups
fi
"#,
            true,
        ) else {
            return;
        };
        // The caller's own group: kept without CAP_FSETID.
        expect(&out, "own=2755");
        if env.user.name() == "coracle-nosub" {
            // A single mapping: group 1000 shows as nobody, and the kernel refuses to set
            // attributes of a file whose owner is not mapped.
            assert_eq!(out.matches("Operation not permitted").count(), 2, "{out}");
        } else {
            // Another group, no CAP_FSETID: cleared; with it: kept; a supplementary group
            // counts.
            expect(&out, "other=755");
            expect(&out, "capable=2755");
            expect(&out, "sup=2755");
            expect(&out, "nosup=755");
        }
    });
}

/// `renameat2` by ctypes: `r2 FROM TO FLAGS` prints `ok` or the error.
const RENAME2: &str = r#"
r2() {
    /usr/bin/python3 -c '
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
rc = libc.renameat2(-100, sys.argv[1].encode(), -100, sys.argv[2].encode(), int(sys.argv[3]))
print("ok" if rc == 0 else os.strerror(ctypes.get_errno()))
' "$@"
}
NOREPLACE=1 EXCHANGE=2 WHITEOUT=4
"#;

#[test]
fn overlay_rename_flags() {
    for_each_user(|env| {
        let checks = format!(
            r#"{RENAME2}
echo new > newf
echo "x_up_low=$(r2 newf odd/readonly $EXCHANGE) $(cat newf) $(cat odd/readonly)"
# (both owned by root: the kernel refuses to move a file whose owner the namespace does not
# map, EOVERFLOW)
echo "x_low_low=$(r2 odd/epoch odd/setuid $EXCHANGE) $(head -1 odd/epoch) $(cat odd/setuid)"
ls -A ../up/odd | grep -q '^\.wh\.' && echo "x_whiteouts=some"
echo "x_missing=$(r2 newf nosuch $EXCHANGE)"
mkdir d1 d2 && touch d1/in1 && touch d2/in2
echo "x_dirs=$(r2 d1 d2 $EXCHANGE) $(ls d1) $(ls d2)"
echo "x_dir_file=$(r2 d1 newf $EXCHANGE) $(test -d newf && ls newf) $(cat d1)"
echo "x_lower_dir=$(r2 newf odd/sticky $EXCHANGE)"
echo "noreplace_exists=$(r2 odd/epoch odd/setuid $NOREPLACE)"
echo "noreplace_lower=$(r2 odd/epoch odd/epoch2 $NOREPLACE) $(head -1 odd/epoch2)"
test -e odd/epoch || echo "noreplace_src=absent"
echo "whiteout_flag=$(r2 odd/epoch2 odd/epoch3 $WHITEOUT)"
busybox mv odd/file-becomes-dir odd/moved && echo "busybox_mv_dir=$(cat odd/moved/now)"
test -e odd/file-becomes-dir || echo "moved_src=absent"
# the server keeps directories it created in open: a renamed or removed one is not reused
mkdir ra && touch ra/f1 && busybox mv ra rb && touch rb/f2 && mkdir ra && touch ra/f3
echo "dir_cache=$(ls rb | tr '\n' ,)/$(ls ra | tr '\n' ,)/$(ls ../up/rb | tr '\n' ,)"
rm ra/f3 && rmdir ra && mkdir ra && touch ra/f4 && echo "recreated=$(ls ra)/$(ls ../up/ra)"
"#
        );
        let Some(out) = with_mount_setup(env, "", &checks) else {
            return;
        };
        expect(&out, "x_up_low=ok ro new");
        expect(&out, "x_low_low=ok #!/bin/sh 1970");
        assert!(!out.contains("x_whiteouts=some"), "{out}");
        expect(&out, "x_missing=No such file or directory");
        expect(&out, "x_dirs=ok in2 in1");
        expect(&out, "x_dir_file=ok in2 ro");
        expect(&out, "x_lower_dir=Invalid cross-device link");
        expect(&out, "noreplace_exists=File exists");
        expect(&out, "noreplace_lower=ok #!/bin/sh");
        expect(&out, "noreplace_src=absent");
        expect(&out, "whiteout_flag=Invalid argument");
        expect(&out, "busybox_mv_dir=a dir now");
        expect(&out, "moved_src=absent");
        expect(&out, "dir_cache=f1,f2,/f3,/f1,f2,");
        expect(&out, "recreated=f4/f4");
    });
}

#[test]
fn overlay_large_sparse_and_mapped_files() {
    for_each_user(|env| {
        let Some(out) = with_mount_setup(
            env,
            r#"
mkdir -p low
truncate -s 1G low/sparse
printf tail >> low/sparse
echo lowerdata > low/mm
seq 3000000 > low/data
EXTRA="--lower low"
"#,
            r#"
truncate -s 5G big && printf end >> big
cmp data ../low/data && echo "lower_read=same $(stat -c %s data)"
tail -c 100000 data > /tmp/lt.$$ && tail -c 100000 ../low/data | cmp - /tmp/lt.$$ && echo "lower_tail=same"; rm -f /tmp/lt.$$
echo "big=$(stat -c %s big) $(tail -c 3 big)"
[ "$(stat -c %b big)" -lt 1024 ] && echo "big_sparse=yes"
printf x >> sparse
echo "sparse=$(stat -c %s sparse) $(tail -c 5 sparse)"
b=$(stat -c %b ../up/sparse)
[ "$b" -lt 1024 ] && echo "copy_sparse=yes" || echo "copy_blocks=$b"
dd if=sparse bs=1M count=1 2>/dev/null | tr -d '\0' | wc -c | sed 's/^/hole_zeros=/'
fallocate -l 1M fa && echo "fa=$(stat -c %s fa) $([ "$(stat -c %b fa)" -ge 2048 ] && echo allocated)"
fallocate -p -o 0 -l 1M fa && [ "$(stat -c %b fa)" -lt 2048 ] && echo "punched=$(stat -c %s fa)"
/usr/bin/python3 -c '
import mmap, os
with open("m", "w+b") as f:
    f.truncate(8192)
    m = mmap.mmap(f.fileno(), 8192)
    m[4096:4101] = b"hello"
    m.flush(); m.close()
with open("mm", "r+b") as f:
    m = mmap.mmap(f.fileno(), 0)
    m[0:5] = b"LOWER"
    m.flush(); m.close()
a = os.open("ap", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
b = os.open("ap", os.O_WRONLY | os.O_APPEND)
for fd, s in ((a, b"1"), (b, b"2"), (a, b"3")):
    os.write(fd, s)
os.close(a); os.close(b)
fd = os.open("ap", os.O_WRONLY | os.O_APPEND)
os.lseek(fd, 0, os.SEEK_SET)
os.write(fd, b"4")
os.close(fd)
with open("t", "wb") as f:
    f.write(b"long contents")
fd = os.open("t", os.O_WRONLY | os.O_TRUNC)
os.write(fd, b"s")
os.close(fd)
'
echo "mmap_new=$(tail -c +4097 m | head -c 5) $(stat -c %s m)"
echo "mmap_lower=$(cat mm) $(cat ../up/mm)"
echo "append=$(cat ap)"
echo "trunc=$(cat t) $(stat -c %s t)"
echo hi > odd/readonly 2>/dev/null; chmod 644 odd/readonly; echo hi > odd/readonly && echo "trunc_lower=$(cat odd/readonly)"
"#,
        ) else {
            return;
        };
        // a lower file of 22 MiB is read through spliced replies (overlay/splice.rs)
        expect(&out, "lower_read=same 22888896");
        expect(&out, "lower_tail=same");
        expect(&out, "big=5368709123 end");
        expect(&out, "big_sparse=yes");
        expect(&out, "sparse=1073741829 tailx");
        expect(&out, "copy_sparse=yes");
        expect(&out, "hole_zeros=0");
        expect(&out, "fa=1048576 allocated");
        expect(&out, "punched=1048576");
        expect(&out, "mmap_new=hello 8192");
        expect(&out, "mmap_lower=LOWERdata LOWERdata");
        expect(&out, "append=1234");
        expect(&out, "trunc=s 1");
        expect(&out, "trunc_lower=hi");
    });
}

/// `security.capability` (vfs_cap_data revision 2) granting `cap_net_bind_service` permitted
/// and effective (`setcap cap_net_bind_service=ep`).
const CAP_NET_BIND_SERVICE: [u8; 20] = [
    0x01, 0x00, 0x00, 0x02, // magic: revision 2, effective
    0x00, 0x04, 0x00, 0x00, // permitted (low): bit 10 = CAP_NET_BIND_SERVICE
    0x00, 0x00, 0x00, 0x00, // inheritable (low)
    0x00, 0x00, 0x00, 0x00, // permitted (high)
    0x00, 0x00, 0x00, 0x00, // inheritable (high)
];

/// busybox, and a copy of it carrying `cap_net_bind_service=ep` at `/opt/bbcap`.
fn cap_image() -> &'static Image {
    static I: OnceLock<Image> = OnceLock::new();
    I.get_or_init(|| {
        let layer = LayerBuilder::new()
            .extend([
                Entry::dir("opt"),
                Entry::file("opt/bbcap", busybox_binary())
                    .mode(0o755)
                    .xattr("security.capability", CAP_NET_BIND_SERVICE.to_vec()),
            ])
            .finish();
        Image::new(
            vec![busybox_layer().clone(), layer],
            vec![
                History::layer("/bin/sh -c #(nop) ADD file:busybox in / "),
                History::layer("/bin/sh -c setcap cap_net_bind_service=ep /opt/bbcap"),
            ],
            busybox_run_config(),
            &["capped:latest"],
        )
    })
}

/// A file capability works on the overlay as on a real root filesystem: a non-root container
/// user binds port 80 with the capable copy of busybox, and not with the plain one (where
/// there is a non-root container user: not with a single mapping).
#[test]
fn overlay_file_capabilities_are_honoured_on_exec() {
    for_each_user(|env| {
        if let Some(reason) = crate::overlay::unavailable(env) {
            skip(&env.test, env.user.name(), &reason);
            return;
        }
        env.load_image(cap_image());
        let out = env
            .coracle()
            .args([
                "run",
                "--rm",
                "--user",
                "1000:1000",
                "--network",
                "none",
                "capped",
                "sh",
                "-c",
                "grep CapEff /proc/self/status; \
                 timeout 1 /opt/bbcap nc -l -p 80 2>&1; echo capped_rc=$?; \
                 timeout 1 /bin/busybox nc -l -p 80 2>&1; echo plain_rc=$?",
            ])
            .output();
        if env.user.name() == "coracle-nosub" {
            // A single mapping has no container user but root, who needs no capability.
            out.assert_error()
                .assert_stderr_contains("user 1000 is not mapped");
            return;
        }
        let text = out.stdout();
        // Still listening when `timeout` ended it: the bind worked.
        assert!(
            text.lines()
                .any(|l| l.starts_with("capped_rc=") && l != "capped_rc=1"),
            "{out}"
        );
        assert!(text.contains("plain_rc=1"), "{out}");
        assert!(text.contains("Permission denied"), "{out}");
    });
}

/// POSIX ACLs: an access ACL is stored, read back, sets the mode it implies and (as real root,
/// where another user exists to try it) grants what it names; a directory's default ACL is
/// inherited by new entries instead of the umask; `user.*` attributes are visible and
/// coracle's own are neither listed nor settable.
#[test]
fn overlay_posix_acls_and_xattrs() {
    for_each_user(|env| {
        // The named user: one the mount's namespace maps (a single mapping has only 0).
        let named: u32 = if env.user.is_root() { 1000 } else { 0 };
        let named_hex: String = named
            .to_le_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let Some(out) = with_mount_setup(
            env,
            "",
            &format!(
                r#"
umask 022
NAMED={named} /usr/bin/python3 - <<'PY'
import os, struct
def acl(entries):
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, p, i) for t, p, i in entries)
ANY = 0xffffffff
ID = int(os.environ["NAMED"])
with open("f", "w") as fh:
    fh.write("secret\n")
os.chmod("f", 0o600)
a = acl([(1, 6, ANY), (2, 6, ID), (4, 4, ANY), (0x10, 6, ANY), (0x20, 0, ANY)])
os.setxattr("f", "system.posix_acl_access", a)
print("access_back=%s" % (os.getxattr("f", "system.posix_acl_access") == a))
print("mode=%o" % (os.stat("f").st_mode & 0o777))
minimal = acl([(1, 6, ANY), (4, 0, ANY), (0x20, 4, ANY)])
os.setxattr("f", "system.posix_acl_access", minimal)
print("minimal_mode=%o" % (os.stat("f").st_mode & 0o777))
try:
    os.getxattr("f", "system.posix_acl_access")
    print("minimal_kept=yes")
except OSError as e:
    print("minimal_kept=%s" % e.strerror)
os.setxattr("f", "system.posix_acl_access", a)
os.mkdir("d", 0o755)
d = acl([(1, 7, ANY), (2, 7, ID), (4, 5, ANY), (0x10, 7, ANY), (0x20, 0, ANY)])
os.setxattr("d", "system.posix_acl_default", d)
with open("d/child", "w"):
    pass
os.mkdir("d/sub", 0o777)
print("child_mode=%o" % (os.stat("d/child").st_mode & 0o777))
print("child_acl=%s" % os.getxattr("d/child", "system.posix_acl_access").hex())
print("sub_mode=%o sub_default=%s" % (os.stat("d/sub").st_mode & 0o777,
      os.getxattr("d/sub", "system.posix_acl_default") == d))
with open("plain", "w"):
    pass
print("plain_mode=%o" % (os.stat("plain").st_mode & 0o777))
# what a directory passes on is cached by the server: a new default ACL must still count
os.mkdir("e", 0o755)
with open("e/before", "w"):
    pass
os.setxattr("e", "system.posix_acl_default", d)
with open("e/after", "w"):
    pass
print("after_default=%s %o" % (
    os.getxattr("e/after", "system.posix_acl_access")
    == os.getxattr("d/child", "system.posix_acl_access"),
    os.stat("e/after").st_mode & 0o777))
os.removexattr("e", "system.posix_acl_default")
with open("e/plain", "w"):
    pass
print("after_removed=%o" % (os.stat("e/plain").st_mode & 0o777))
os.setxattr("f", "user.note", b"visible")
print("xattrs=%s" % ",".join(sorted(os.listxattr("f"))))
try:
    os.setxattr("f", "user.coracle.stat", b"0:0:4755:file")
    print("forge=accepted")
except OSError as e:
    print("forge=%s" % e.strerror)
try:
    os.setxattr("f", "system.other", b"x")
except OSError as e:
    print("system_other=%s" % e.strerror)
PY
if setpriv --reuid 1000 --regid 1000 --clear-groups true 2>/dev/null; then
    echo "as_1000=$(setpriv --reuid 1000 --regid 1000 --clear-groups cat f 2>&1)"
    echo "as_1001=$(setpriv --reuid 1001 --regid 1001 --clear-groups cat f 2>&1 | grep -c 'Permission denied')"
fi
"#
            ),
        ) else {
            return;
        };
        expect(&out, "access_back=True");
        expect(&out, "mode=660");
        expect(&out, "minimal_mode=604");
        expect(&out, "minimal_kept=No data available");
        // open(..., 0o666) under USER_OBJ rwx, USER rwx, GROUP_OBJ r-x, MASK rwx, OTHER ---:
        // owner rw-, mask rw- (the mode's group bits), other ---; the umask does not count.
        expect(&out, "child_mode=660");
        expect(
            &out,
            &format!(
                "child_acl=0200000001000600ffffffff02000700{named_hex}04000500ffffffff10000600ffffffff20000000ffffffff"
            ),
        );
        expect(&out, "sub_mode=770 sub_default=True");
        expect(&out, "plain_mode=644");
        expect(&out, "after_default=True 660");
        expect(&out, "after_removed=644");
        expect(&out, "xattrs=system.posix_acl_access,user.note");
        expect(&out, "forge=Operation not permitted");
        expect(&out, "system_other=Operation not supported");
        if env.user.is_root() {
            expect(&out, "as_1000=secret");
            expect(&out, "as_1001=1");
        }
    });
}
