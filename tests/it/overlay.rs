//! coracle's FUSE overlay, mounted with the hidden `overlay-mount` on the odd image (three
//! layers with whiteouts, an opaque directory, odd owners, devices, hardlinks, xattrs) plus an
//! upper and a work directory.
//!
//! Root mounts inside `unshare --mount`; the test users inside `unshare --user
//! --map-root-user --mount` (a single mapping, no subordinate ids needed): there every owner
//! but root shows as 65534 (`nobody`). Each test is one shell script run in the namespace:
//! it starts the server, waits for the mount, runs the checks (printing `key=value` lines),
//! unmounts and waits for the server, which must exit 0.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::cmd::Output;
use crate::harness::odd::odd;
use crate::harness::users::binary;
use crate::harness::{TestEnv, for_each_user, skip};

/// Why the overlay cannot be mounted here by this user, if it cannot.
pub(crate) fn unavailable(env: &TestEnv) -> Option<String> {
    let mode = fs::metadata("/dev/fuse").ok()?.permissions().mode() & 0o777;
    (!env.user.is_root() && mode & 0o006 != 0o006)
        .then(|| format!("/dev/fuse is mode {mode:o}, not 0666 (tests/run-all.sh sets it)"))
}

/// Shell that mounts the odd image at `mnt` (upper layer `up`, work dir `work`) in the
/// background as `$server` and waits for the mount to appear.
/// `$EXTRA` (optional) adds arguments, e.g. `--lower DIR` above the image's layers.
const START_MOUNT: &str = r#""$CORACLE" --root "$ROOT" --runroot "$RUNROOT" overlay-mount ${EXTRA-} --image odd:latest \
    --upper up --work work mnt 2>server.err &
server=$!
i=0
until mountpoint -q mnt; do
    i=$((i + 1))
    if [ $i -gt 200 ] || ! kill -0 $server 2>/dev/null; then
        echo "the mount did not appear"; cat server.err; exit 90
    fi
    sleep 0.05
done
"#;

/// Loads the odd image and makes the directories `START_MOUNT` uses; false (after one SKIP
/// line) where FUSE cannot be used.
fn prepare_mount(env: &TestEnv) -> bool {
    if let Some(reason) = unavailable(env) {
        skip(&env.test, env.user.name(), &reason);
        return false;
    }
    env.load_image(odd());
    for d in ["mnt", "up", "work"] {
        env.mkdir(d);
    }
    true
}

/// Loads the odd image, mounts it with an upper layer, runs `checks` in the mount (as the
/// current directory) and returns what they printed.
pub(crate) fn with_mount(env: &TestEnv, checks: &str) -> Option<String> {
    with_mount_setup(env, "", checks)
}

/// As [`with_mount`], with `setup` run first in the namespace (it may make a lower
/// directory and set `EXTRA`, the mount's extra arguments).
pub(crate) fn with_mount_setup(env: &TestEnv, setup: &str, checks: &str) -> Option<String> {
    with_mount_mapped(env, setup, checks, false)
}

/// As [`with_mount_setup`]; with `containers_mapping` the script runs in `coracle unshare`
/// (the containers' mapping: every subordinate id of a user with ranges) instead of a
/// single mapping.
pub(crate) fn with_mount_mapped(
    env: &TestEnv,
    setup: &str,
    checks: &str,
    containers_mapping: bool,
) -> Option<String> {
    if !prepare_mount(env) {
        return None;
    }
    let script = format!(
        "\nset -u\n{setup}\n{}",
        mount_round(checks, "checks", "server")
    );
    let out = run_mount_script(env, &script, containers_mapping);
    let text = out.stdout();
    if !text.contains("server_rc=0") || !text.contains("checks_rc=0") {
        out.fail("the overlay script failed");
    }
    Some(text)
}

/// The script that mounts the layers, runs `checks` in the mount, unmounts and prints what
/// they printed, then `{checks_label}_rc=` and `{server_label}_rc=` (the server's status).
fn mount_round(checks: &str, checks_label: &str, server_label: &str) -> String {
    format!(
        r#"{START_MOUNT}(cd mnt && {checks}
) >{checks_label}.out 2>&1
rc=$?
umount mnt
wait $server
server_rc=$?
cat {checks_label}.out
echo "{checks_label}_rc=$rc"
echo "{server_label}_rc=$server_rc"
cat server.err >&2
"#
    )
}

/// Runs `script` in a new mount namespace as the test's user: in `coracle unshare` (the
/// containers' mapping) with `containers_mapping`, else under a single mapping.
fn run_mount_script(env: &TestEnv, script: &str, containers_mapping: bool) -> Output {
    let mut cmd = if containers_mapping {
        let mut c = env.run_as(binary(), "coracle");
        c.arg("--root")
            .arg(env.root())
            .arg("--runroot")
            .arg(env.runroot());
        c.args(["unshare", "sh", "-c", script]);
        c
    } else {
        let mut c = env.run_as("/usr/bin/unshare", "unshare");
        if !env.user.is_root() {
            c.args(["--user", "--map-root-user"]);
        }
        c.args(["--mount", "sh", "-c", script]);
        c
    };
    cmd.env("CORACLE", binary())
        .env("ROOT", env.root())
        .env("RUNROOT", env.runroot());
    cmd.output()
}

/// As [`with_mount_setup`], then unmounts, mounts the same layers (the upper and work
/// directories kept) again and runs `again` in the new mount; what both printed.
pub(crate) fn with_remount(
    env: &TestEnv,
    setup: &str,
    checks: &str,
    again: &str,
) -> Option<String> {
    if !prepare_mount(env) {
        return None;
    }
    let script = format!(
        "\nset -u\n{setup}\n{}{}",
        mount_round(checks, "checks", "server"),
        mount_round(again, "again", "again_server")
    );
    let out = run_mount_script(env, &script, false);
    let text = out.stdout();
    for ok in [
        "server_rc=0",
        "checks_rc=0",
        "again_rc=0",
        "again_server_rc=0",
    ] {
        if !text.lines().any(|l| l == ok) {
            out.fail("the overlay script failed");
        }
    }
    Some(text)
}

/// Asserts that `out` has the line `line`.
fn expect(out: &str, line: &str) {
    assert!(
        out.lines().any(|l| l == line),
        "expected the line {line:?} in:\n{out}"
    );
}

/// Owners as the mount's user namespace shows them.
fn owner(env: &TestEnv, id: u32) -> u32 {
    if env.user.is_root() || id == 0 {
        id
    } else {
        65534
    }
}

#[test]
fn overlay_shows_the_merged_image() {
    for_each_user(|env| {
        let Some(out) = with_mount(
            env,
            r#"
echo "opaque=$(ls -A odd/opaque | tr '\n' ' ')"
echo "new=$(cat odd/opaque/new)"
test -e odd/gone-file || echo "gone-file=absent"
test -e odd/gone-dir || echo "gone-dir=absent"
test -e bin/rm || echo "rm=absent"
echo "sh=$(readlink bin/sh)"
echo "now=$(cat odd/file-becomes-dir/now)"
echo "dir-becomes-symlink=$(readlink odd/dir-becomes-symlink)"
echo "whiteouts_listed=$(ls -A odd bin | grep -c '^\.wh\.')"
ls odd/.wh.gone-file >/dev/null 2>&1 || echo "wh_lookup=refused"
echo "uid1000=$(stat -c %u:%g:%a odd/uid1000) $(cat odd/uid1000)"
echo "setuid=$(stat -c %u:%g:%a odd/setuid)"
echo "mode000=$(stat -c %a odd/mode000)"
echo "dir000=$(stat -c %a odd/dir000)"
echo "null=$(stat -c %F:%t:%T odd/dev/null)"
echo "fifo=$(stat -c %F:%u odd/dev/fifo)"
echo "big=$(stat -c %t:%T odd/dev/big)"
[ "$(stat -c %i odd/target)" = "$(stat -c %i odd/hardlink)" ] && echo "hardlink_ino=same"
echo "links=$(stat -c %h odd/hardlink2)"
echo "symlink=$(readlink odd/symlink)"
echo "follow=$(ls odd/dir-becomes-symlink/)"
echo "symlink-1000=$(stat -c %u odd/symlink-1000)"
echo "xattr=$(getfattr -n user.coracle-test --only-values odd/user-xattr)"
echo "xattrs=$(getfattr -d -m - odd/user-xattr 2>/dev/null | grep -c 'user\.coracle\.')"
echo "dir_xattr=$(getfattr -n user.dir --only-values odd/xattr-dir)"
echo "cap_listed=$(getfattr -m - odd/ping 2>/dev/null | grep -c security.capability)"
echo "namelen=$(( $(stat -f -c %l .) + 4 - $(stat -f -c %l ..) ))"
"#,
        ) else {
            return;
        };
        expect(&out, "opaque=new ");
        expect(&out, "new=only this is visible");
        expect(&out, "gone-file=absent");
        expect(&out, "gone-dir=absent");
        expect(&out, "rm=absent");
        expect(&out, "sh=busybox");
        expect(&out, "now=a dir now");
        expect(&out, "dir-becomes-symlink=opaque");
        expect(&out, "whiteouts_listed=0");
        expect(&out, "wh_lookup=refused");
        let o = owner(env, 2000);
        expect(&out, &format!("uid1000={o}:{o}:644 rewritten, new owner"));
        expect(&out, "setuid=0:0:4755");
        expect(&out, "mode000=0");
        expect(&out, "dir000=0");
        expect(&out, "null=character special file:1:3");
        expect(&out, &format!("fifo=fifo:{}", owner(env, 1000)));
        // 259:65537 in hex, as stat prints major and minor
        expect(&out, "big=103:10001");
        expect(&out, "hardlink_ino=same");
        expect(&out, "links=3");
        expect(&out, "symlink=target");
        expect(&out, "follow=new");
        expect(&out, &format!("symlink-1000={}", owner(env, 1000)));
        expect(&out, "xattr=hello");
        expect(&out, "xattrs=0");
        expect(&out, "dir_xattr=on a directory");
        expect(&out, "cap_listed=1");
        expect(&out, "namelen=0");
    });
}

#[test]
fn overlay_writes_go_to_the_upper_layer() {
    for_each_user(|env| {
        let Some(out) = with_mount(
            env,
            r#"
up=../up
i1=$(stat -c %i odd/setuid)
echo more >> odd/setuid
echo "append=$(cat odd/setuid | tr '\n' ' ')$(stat -c %u:%a odd/setuid)"
[ "$(stat -c %i odd/setuid)" = "$i1" ] && echo "ino_after_copy_up=same"
echo "upper_stat=$(getfattr -n user.coracle.stat --only-values $up/odd/setuid)"
: > odd/epoch && echo "truncated=$(stat -c %s odd/epoch)"
chmod 600 odd/readonly && echo "chmod=$(stat -c %a odd/readonly) $(cat odd/readonly)"
echo "chmod_upper=$(getfattr -n user.coracle.stat --only-values $up/odd/readonly)"
echo hello > newfile && echo "new=$(cat newfile) $(stat -c %u:%g newfile)"
rm etc/group && { test -e etc/group || echo "group=absent"; }
test -f $up/etc/.wh.group && echo "group_whiteout=yes"
rm -r etc && mkdir etc && echo "recreated=$(ls -A etc | wc -l)"
test -f $up/etc/.wh..wh..opq && echo "opaque_marker=yes"
mv odd/setuid odd/setuid2 && echo "renamed=$(stat -c %a odd/setuid2) $(head -1 odd/setuid2)"
test -e odd/setuid || echo "old_name=absent"
test -f $up/odd/.wh.setuid && echo "rename_whiteout=yes"
mv odd/epoch odd/epoch2 && echo "renamed_copy=$(stat -c %s odd/epoch2)"
echo "rename_dir=$(perl -e 'rename("odd/xattr-dir", "odd/xd") ? print "ok" : print "$!"')"
mv odd/xattr-dir odd/xd && echo "mv_dir=$(getfattr -n user.dir --only-values odd/xd)"
ln newfile newlink && echo "link=$(stat -c %h newlink)"
[ "$(stat -c %i newfile)" = "$(stat -c %i newlink)" ] && echo "link_ino=same"
ln -s newfile newsym && echo "newsym=$(readlink newsym) $(cat newsym)"
mkfifo ff && echo "mkfifo=$(stat -c %F ff)"
setfattr -n user.mine -v v1 odd/readonly && echo "setfattr=$(getfattr -n user.mine --only-values odd/readonly)"
setfattr -n user.coracle.stat -v 0:0:4755:file newfile 2>/dev/null || echo "forge=refused"
touch .wh.x 2>/dev/null || echo "wh_create=refused"
mkdir -p a/b/c && echo deep > a/b/c/f && echo "deep=$(cat a/b/c/f)"
touch -d '2001-02-03 04:05:06 UTC' newfile && echo "mtime=$(stat -c %Y newfile)"
"#,
        ) else {
            return;
        };
        if env.user.is_root() {
            expect(&out, "append=#!/bin/sh more 0:4755");
            expect(&out, "upper_stat=0:0:4755:file");
        } else {
            // A write by a caller without CAP_FSETID in the initial namespace drops set-id
            // bits (the kernel asks with a setattr); the upper copy has the default mode.
            expect(&out, "append=#!/bin/sh more 0:755");
            expect(&out, "upper_stat=");
        }
        expect(&out, "ino_after_copy_up=same");
        expect(&out, "truncated=0");
        expect(&out, "chmod=600 ro");
        // 0600 is what an attribute-less copy has on disk: the attribute goes.
        expect(&out, "chmod_upper=");
        expect(&out, "new=hello 0:0");
        expect(&out, "group=absent");
        expect(&out, "group_whiteout=yes");
        expect(&out, "recreated=0");
        expect(&out, "opaque_marker=yes");
        let m = if env.user.is_root() { "4755" } else { "755" };
        expect(&out, &format!("renamed={m} #!/bin/sh"));
        expect(&out, "renamed_copy=0");
        expect(&out, "old_name=absent");
        expect(&out, "rename_whiteout=yes");
        expect(&out, "rename_dir=Invalid cross-device link");
        expect(&out, "mv_dir=on a directory");
        expect(&out, "link=2");
        expect(&out, "link_ino=same");
        expect(&out, "newsym=newfile hello");
        expect(&out, "mkfifo=fifo");
        expect(&out, "setfattr=v1");
        expect(&out, "forge=refused");
        expect(&out, "wh_create=refused");
        expect(&out, "deep=deep");
        expect(&out, "mtime=981173106");
    });
}

#[test]
fn overlay_chown_writes_the_true_owner() {
    for_each_user(|env| {
        let Some(out) = with_mount(
            env,
            r#"
echo x > f
if chown 1234:5678 f 2>/dev/null; then
    echo "chown=$(stat -c %u:%g f)"
    echo "upper=$(getfattr -n user.coracle.stat --only-values ../up/f)"
else
    echo "chown=refused"
fi
if echo more >> odd/target 2>/dev/null; then
    echo "append_1000=$(tail -1 odd/target) $(stat -c %u:%g:%a odd/target)"
    echo "upper=$(getfattr -n user.coracle.stat --only-values ../up/odd/target)"
    echo "other_names=$(stat -c %h:%s odd/hardlink)"
else
    echo "append_1000=refused"
fi
chown 0:0 odd/uid1000 2>/dev/null && echo "chown_root=$(stat -c %u:%g odd/uid1000)"
"#,
        ) else {
            return;
        };
        if env.user.is_root() {
            expect(&out, "chown=1234:5678");
            expect(&out, "upper=1234:5678:0644:file");
        } else {
            // A single mapping has no id 1234 to give away.
            expect(&out, "chown=refused");
        }
        if env.user.is_root() {
            expect(&out, "append_1000=more 1000:1000:640");
            expect(&out, "upper=1000:1000:0640:file");
        } else {
            // The kernel lets nobody write a file whose owner the namespace does not map,
            // root of the namespace included (no DAC override for unmapped owners).
            expect(&out, "append_1000=refused");
        }
        // Root of the namespace may take a file over.
        expect(&out, "chown_root=0:0");
    });
}

/// If the server dies, the mount answers ENOTCONN at once: a container never hangs on it.
#[test]
fn a_dead_server_leaves_no_hanging_mount() {
    for_each_user(|env| {
        if !prepare_mount(env) {
            return;
        }
        let script = format!(
            r#"
set -u
{START_MOUNT}ls mnt >/dev/null || exit 91
kill -9 $server
wait $server
timeout 10 stat mnt/etc >/dev/null 2>stat.err
echo "stat_rc=$?"
cat stat.err
umount -l mnt
"#
        );
        let mut cmd = env.run_as("/usr/bin/unshare", "unshare");
        if !env.user.is_root() {
            cmd.args(["--user", "--map-root-user"]);
        }
        cmd.args(["--mount", "sh", "-c", &script])
            .env("CORACLE", binary())
            .env("ROOT", env.root())
            .env("RUNROOT", env.runroot());
        let out = cmd.output();
        let text = out.stdout();
        // 124 would be timeout's: the stat hung.
        assert!(text.contains("stat_rc=1"), "{out}");
        assert!(text.contains("not connected"), "{out}");
    });
}

/// Under the mapping containers get (`coracle unshare`): with subordinate ids the image's
/// owners are visible and settable; with the single mapping they show as nobody and chown to
/// them fails, while the true owners stay in the layer.
#[test]
fn owners_follow_the_containers_mapping() {
    for_each_user(|env| {
        if !prepare_mount(env) {
            return;
        }
        let script = format!(
            r#"
set -u
{START_MOUNT}echo "inside=$(stat -c %u:%g mnt/odd/dir-1000/inside 2>&1)"
echo "big=$(stat -c %u mnt/odd/big-uid)"
if chown 3000:3000 mnt/odd/big-uid 2>chown.err; then
    echo "chown=ok $(stat -c %u:%g mnt/odd/big-uid)"
else
    echo "chown=failed $(cat chown.err)"
fi
umount mnt
wait $server
echo "server_rc=$?"
"#
        );
        let out = env
            .coracle()
            .args(["unshare", "sh", "-c", &script])
            .env("CORACLE", binary())
            .env("ROOT", env.root())
            .env("RUNROOT", env.runroot())
            .output();
        let text = out.stdout();
        assert!(text.contains("server_rc=0"), "{out}");
        let subids = env.user.name() != "coracle-nosub";
        if subids {
            expect(&text, "inside=1000:100");
            expect(&text, "chown=ok 3000:3000");
        } else {
            // a 0750 directory of an unmapped owner cannot be entered, even by root of the
            // namespace (capabilities only cover mapped owners)
            assert!(
                text.contains("inside=stat: cannot statx") && text.contains("Permission denied"),
                "{out}"
            );
            assert!(
                text.contains("chown=failed") && text.contains("Invalid argument"),
                "{out}"
            );
        }
        // 123456 is beyond the 65536 subordinate ids: unmapped unless real root
        let big = if env.user.is_root() { 123_456 } else { 65534 };
        expect(&text, &format!("big={big}"));
        // whatever the mapping, the layer keeps the true owner
        let o = env.ok(&["image", "inspect", "--format", "{{.Id}}", "odd:latest"]);
        assert!(!o.trim().is_empty());
    });
}
