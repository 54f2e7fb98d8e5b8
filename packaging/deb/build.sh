#!/usr/bin/env bash
# Builds coracle's Debian package with dpkg-deb (no cargo-deb, no debian/ directory needed).
#
#   packaging/deb/build.sh [--binary PATH] [--out DIR] [--compression xz|gzip|zstd|none]
#
# --binary   the coracle binary to package (default: `cargo build --release --locked`, then
#            target/release/coracle); it is copied and stripped, never changed in place
# --out      where coracle_VERSION_ARCH.deb is written (default: the current directory)
# --compression  dpkg-deb's -Z (default xz, as Debian's own packages)
#
# The package installs /usr/bin/coracle, the man pages from man/ (gzipped), the bash, zsh and
# fish completions from completions/, the example systemd user units from packaging/systemd/
# (to /usr/lib/systemd/user/, not enabled), the Quadlet example (to
# /usr/share/doc/coracle/examples/) and README.md. The version is Cargo.toml's, the
# architecture dpkg's. It prints the path of the package.
#
# Depends: the shared libraries the binary links (dpkg-shlibdeps), and what coracle runs:
#   uidmap                 newuidmap/newgidmap, for the /etc/subuid and /etc/subgid ranges
#   passt | slirp4netns    the user-mode network of rootless containers
# Not fuse3: coracle's overlay is its own FUSE file system (the fuser crate, no libfuse) and
# mounts itself inside its user namespace, so neither libfuse3 nor fusermount3 is used; only
# the kernel's /dev/fuse is, which udev makes mode 0666 by default.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
binary=""
out="."
compression="xz"

die() { echo "build.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=${2:?--binary needs a path}; shift 2 ;;
    --binary=*) binary=${1#*=}; shift ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --out=*) out=${1#*=}; shift ;;
    --compression) compression=${2:?--compression needs a type}; shift 2 ;;
    --compression=*) compression=${1#*=}; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

for tool in dpkg-deb dpkg gzip; do
  command -v "$tool" >/dev/null || die "$tool is needed (apt-get install dpkg-dev)"
done

if [ -z "$binary" ]; then
  (cd "$repo" && cargo build --release --locked)
  binary="${CARGO_TARGET_DIR:-$repo/target}/release/coracle"
fi
[ -x "$binary" ] || die "$binary is not an executable file"

version=$(sed -n 's/^version *= *"\([^"]*\)".*/\1/p' "$repo/Cargo.toml" | head -n1)
[ -n "$version" ] || die "no version in $repo/Cargo.toml"
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
pkg="$stage/coracle"

install -D -m 0755 "$binary" "$pkg/usr/bin/coracle"
if command -v strip >/dev/null; then
  strip --strip-unneeded "$pkg/usr/bin/coracle"
fi

for page in "$repo"/man/*.[1-8]; do
  [ -e "$page" ] || continue
  name=$(basename "$page")
  section=${name##*.}
  install -d "$pkg/usr/share/man/man$section"
  gzip -9n -c "$page" >"$pkg/usr/share/man/man$section/$name.gz"
  chmod 0644 "$pkg/usr/share/man/man$section/$name.gz"
done

install -D -m 0644 "$repo/completions/bash/coracle" "$pkg/usr/share/bash-completion/completions/coracle"
install -D -m 0644 "$repo/completions/zsh/_coracle" "$pkg/usr/share/zsh/vendor-completions/_coracle"
install -D -m 0644 "$repo/completions/fish/coracle.fish" "$pkg/usr/share/fish/vendor_completions.d/coracle.fish"

for unit in "$repo"/packaging/systemd/*.service; do
  [ -e "$unit" ] || continue
  install -D -m 0644 "$unit" "$pkg/usr/lib/systemd/user/$(basename "$unit")"
done
# Quadlet files are read from the user's own directories (coracle quadlet), not from
# systemd's: the example goes with the documentation.
for example in "$repo"/packaging/systemd/*.container; do
  [ -e "$example" ] || continue
  install -D -m 0644 "$example" "$pkg/usr/share/doc/coracle/examples/$(basename "$example")"
done

doc="$pkg/usr/share/doc/coracle"
install -D -m 0644 "$repo/README.md" "$doc/README.md"
cat >"$doc/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: coracle

Files: *
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
COPYRIGHT
chmod 0644 "$doc/copyright"

# The shared libraries the binary needs, as dpkg-shlibdeps finds them (it wants a
# debian/control to read, even an almost empty one).
shlibs=""
if command -v dpkg-shlibdeps >/dev/null; then
  mkdir -p "$stage/shlibs/debian"
  printf 'Source: coracle\n\nPackage: coracle\nArchitecture: any\n' >"$stage/shlibs/debian/control"
  shlibs=$(cd "$stage/shlibs" && dpkg-shlibdeps -O "$pkg/usr/bin/coracle" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
fi
depends="${shlibs:+$shlibs, }uidmap, passt | slirp4netns"

installed_size=$(du -sk --apparent-size "$pkg" | cut -f1)
install -d "$pkg/DEBIAN"
cat >"$pkg/DEBIAN/control" <<CONTROL
Package: coracle
Version: $version
Architecture: $arch
Maintainer: coracle developers <coracle@localhost>
Installed-Size: $installed_size
Depends: $depends
Section: admin
Priority: optional
Description: daemonless, rootless containers with a Podman-compatible command line
 coracle loads, pulls, pushes and saves OCI and Docker images in a per-user store
 and runs containers from them as an ordinary user, on its own FUSE overlay, in
 user, mount, PID, UTS, IPC and network namespaces. Its commands and flags are
 spelled as Podman's; "coracle system doctor" checks what the machine needs.
CONTROL

mkdir -p "$out"
deb="$(cd "$out" && pwd)/coracle_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compression" --build "$pkg" "$deb" >/dev/null
echo "$deb"
