#!/usr/bin/env bash
# POSIX conformance of coracle's FUSE overlay with pjdfstest (the Rust port), side by side with
# fuse-overlayfs and kernel overlayfs on the same lower layers, in the same kind of namespace.
#
#   tests/pjdfstest/run.sh [--user USER]... [--fs coracle|fuse-overlayfs|kernel]...
#                          [--dir DIR] [--coracle BIN] [--pjdfstest BIN]
#
# Run as root. Defaults: users coracle-sub (subordinate ids: the namespace maps 0 to the user
# and 1..65536 to its ranges) and coracle-nosub (a single mapping), all three filesystems,
# DIR=/var/tmp/coracle-pjdfstest, BIN=target/debug/coracle and pjdfstest from PATH (or where
# tests/run-all.sh installs it, /var/cache/coracle-tools/bin, or ~/.cargo/bin). For each user it makes a three-layer image (busybox, a whiteout, an opaque
# directory), loads it into a store of the user's, and for each filesystem, inside
# `coracle unshare` as that user (so as uid 0 of a user namespace with coracle's mapping):
# mounts the image's layers with an empty upper directory, runs pjdfstest in the lower
# directory /tmp of the mount, unmounts. Prints one line per run:
#
#   RESULT <fs> <user> passed=N failed=N skipped=N total=N
#
# and leaves pjdfstest's full output in DIR/<user>/<fs>.log. Exits non-zero only when a run
# could not be made (a mount failed, pjdfstest did not print its summary).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
users=()
filesystems=()
dir=/var/tmp/coracle-pjdfstest
coracle=$repo/target/debug/coracle
pjdfstest=""

while [ $# -gt 0 ]; do
  case "$1" in
    --user) users+=("$2"); shift 2 ;;
    --fs) filesystems+=("$2"); shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --coracle) coracle=$2; shift 2 ;;
    --pjdfstest) pjdfstest=$2; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ ${#users[@]} -gt 0 ] || users=(coracle-sub coracle-nosub)
[ ${#filesystems[@]} -gt 0 ] || filesystems=(coracle fuse-overlayfs kernel)
if [ -z "$pjdfstest" ]; then
  pjdfstest=$(command -v pjdfstest || true)
  [ -n "$pjdfstest" ] || [ ! -x /var/cache/coracle-tools/bin/pjdfstest ] ||
    pjdfstest=/var/cache/coracle-tools/bin/pjdfstest
  [ -n "$pjdfstest" ] || pjdfstest=$HOME/.cargo/bin/pjdfstest
fi
for f in "$coracle" "$pjdfstest"; do
  [ -x "$f" ] || { echo "run.sh: $f is not an executable" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "run.sh: run as root" >&2; exit 2; }

mkdir -p "$dir"
chmod 0755 "$dir"
# The binaries where every user can run them.
install -d -m 0755 "$dir/bin"
install -m 0755 "$coracle" "$dir/bin/coracle"
install -m 0755 "$pjdfstest" "$dir/bin/pjdfstest"
install -m 0644 "$here/pjdfstest.toml" "$dir/pjdfstest.toml"
# pjdfstest's EROFS tests run `mount -o remount,ro|rw MOUNTPOINT`; for a FUSE mount, mount(8)
# would hand that to mount.fuse, which starts a second server instead. `-i` makes it the
# plain remount(2) the kernel does for any filesystem.
install -d -m 0755 "$dir/wrap"
printf '#!/bin/sh\nexec /usr/bin/mount -i "$@"\n' >"$dir/wrap/mount"
chmod 0755 "$dir/wrap/mount"

# --- the image: a docker archive of three layers -------------------------------------------
make_image() {
  local out=$1 b
  b=$(mktemp -d)
  mkdir -p "$b/l1/bin" "$b/l1/tmp" "$b/l1/etc" "$b/l1/var/lib" "$b/l1/opaque" \
    "$b/l2/etc" "$b/l2/tmp" "$b/l2/data" "$b/l3/opaque" "$b/arch"
  cp /bin/busybox "$b/l1/bin/busybox"
  ln -s busybox "$b/l1/bin/sh"
  chmod 1777 "$b/l1/tmp" "$b/l2/tmp"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$b/l1/etc/passwd"
  printf 'root:x:0:\n' >"$b/l1/etc/group"
  echo below >"$b/l1/opaque/below"
  echo a >"$b/l1/var/lib/a"
  : >"$b/l2/etc/.wh.group"
  echo l2 >"$b/l2/tmp/from-l2"
  echo data >"$b/l2/data/file"
  : >"$b/l3/opaque/.wh..wh..opq"
  echo new >"$b/l3/opaque/new"
  local diff_ids=() layers=() i sum
  for i in 1 2 3; do
    tar --numeric-owner --owner=0 --group=0 --sort=name --mtime=@0 -C "$b/l$i" \
      -cf "$b/arch/l$i.tar" .
    sum=$(sha256sum "$b/arch/l$i.tar" | cut -d' ' -f1)
    diff_ids+=("\"sha256:$sum\"")
    layers+=("\"l$i.tar\"")
  done
  local ids
  ids=$(IFS=,; echo "${diff_ids[*]}")
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":[%s]}}' \
    "$ids" >"$b/arch/config.json"
  sum=$(sha256sum "$b/arch/config.json" | cut -d' ' -f1)
  mv "$b/arch/config.json" "$b/arch/$sum.json"
  printf '[{"Config":"%s.json","RepoTags":["localhost/pjdfstest:latest"],"Layers":[%s]}]' \
    "$sum" "$(IFS=,; echo "${layers[*]}")" >"$b/arch/manifest.json"
  tar -C "$b/arch" -cf "$out" .
  chmod 0644 "$out"
  # The lower directories, top-most first, as the store names them.
  local lowers=""
  for ((i = ${#diff_ids[@]} - 1; i >= 0; i--)); do
    lowers+="${diff_ids[$i]//\"/} "
  done
  echo "$lowers" | sed 's/sha256://g' >"$out.layers"
  rm -rf "$b"
}
make_image "$dir/image.tar"

# --- what runs in the namespace, as its uid 0 ----------------------------------------------
cat >"$dir/inner.sh" <<'EOF'
set -u
fs=$1 d=$2
cd "$d"
lowers=""
for id in $(cat "$DIR/image.tar.layers"); do
  lowers="${lowers:+$lowers:}$d/root/layers/$id/diff"
done
rm -rf "up-$fs" "work-$fs"
mkdir "up-$fs" "work-$fs"
# A short mount point: pjdfstest binds unix sockets at paths ~60 bytes below it, and a
# socket path has 108 at most.
mnt=$(mktemp -d /tmp/pjd.XXXXXX)
server=""
case "$fs" in
  coracle)
    "$DIR/bin/coracle" --root "$d/root" --runroot "$d/runroot" overlay-mount \
      --image localhost/pjdfstest:latest --upper "up-$fs" --work "work-$fs" "$mnt" \
      2>"server-$fs.err" &
    server=$!
    ;;
  fuse-overlayfs)
    fuse-overlayfs -f -o "lowerdir=$lowers,upperdir=$d/up-$fs,workdir=$d/work-$fs" \
      "$mnt" 2>"server-$fs.err" &
    server=$!
    ;;
  kernel)
    mount -t overlay overlay \
      -o "userxattr,lowerdir=$lowers,upperdir=$d/up-$fs,workdir=$d/work-$fs" "$mnt" \
      2>"server-$fs.err" || { cat "server-$fs.err"; exit 90; }
    ;;
  *) echo "unknown filesystem $fs"; exit 2 ;;
esac
i=0
until mountpoint -q "$mnt"; do
  i=$((i + 1))
  if [ $i -gt 200 ] || { [ -n "$server" ] && ! kill -0 "$server" 2>/dev/null; }; then
    echo "the $fs mount did not appear"; cat "server-$fs.err"; exit 90
  fi
  sleep 0.05
done
# The EXDEV tests need a second filesystem: the test directory's own.
rm -rf "second-$fs"
mkdir "second-$fs"
PATH="$DIR/wrap:$PATH" "$DIR/bin/pjdfstest" -c "$DIR/pjdfstest.toml" -p "$mnt/tmp" -s "$d/second-$fs" >"$fs.log" 2>&1
umount "$mnt" || umount -l "$mnt"
rmdir "$mnt"
rc=0
if [ -n "$server" ]; then wait "$server" || rc=$?; fi
echo "server_rc=$rc"
EOF

status=0
for user in "${users[@]}"; do
  uid=$(id -u "$user") gid=$(id -g "$user")
  d=$dir/$user
  rm -rf "$d"
  install -d -m 0755 -o "$uid" -g "$gid" "$d" "$d/home" "$d/root" "$d/runroot"
  install -d -m 0700 -o "$uid" -g "$gid" "$d/xdg-run"
  as_user() {
    setpriv --reuid="$uid" --regid="$gid" --init-groups -- \
      env -i HOME="$d/home" USER="$user" LOGNAME="$user" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
      XDG_RUNTIME_DIR="$d/xdg-run" LANG=C.UTF-8 DIR="$dir" "$@"
  }
  as_user "$dir/bin/coracle" --root "$d/root" --runroot "$d/runroot" load -q -i "$dir/image.tar" \
    >/dev/null
  for fs in "${filesystems[@]}"; do
    out=$(cd "$d" && as_user "$dir/bin/coracle" --root "$d/root" --runroot "$d/runroot" \
      unshare bash "$dir/inner.sh" "$fs" "$d" 2>&1) || true
    summary=$(grep -a 'Summary' "$d/$fs.log" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' || true)
    if [ -z "$summary" ] || ! grep -q 'server_rc=0' <<<"$out"; then
      echo "run.sh: the $fs run as $user failed:" >&2
      echo "$out" >&2
      status=1
      continue
    fi
    # "Summary: F failed, S skipped, P passed, E expected failures, T total"
    read -r failed skipped passed total < <(sed -E \
      's/.*: ([0-9]+) failed, ([0-9]+) skipped, ([0-9]+) passed, [0-9]+ expected failures, ([0-9]+) total.*/\1 \2 \3 \4/' \
      <<<"$summary")
    echo "RESULT $fs $user passed=$passed failed=$failed skipped=$skipped total=$total"
  done
done
exit $status
