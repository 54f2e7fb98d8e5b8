#!/usr/bin/env bash
# Sets up a Debian 12 machine for coracle's tests and runs them all.
#
# Run as root on a machine that has only Rust: installs the Debian packages the tests use,
# creates the test users (coracle-sub with /etc/subuid and /etc/subgid ranges, coracle-nosub
# without), opens /dev/fuse and /dev/net/tun to everyone, builds with the crash-test kill points
# (`--features failpoints`) and runs `cargo test`. Idempotent. Prints how many tests skipped and
# exits non-zero when anything failed.
set -euo pipefail

cd "$(dirname "$0")/.."
[ -d "$HOME/.cargo/bin" ] && PATH="$HOME/.cargo/bin:$PATH"

say() { printf '==> %s\n' "$*"; }

PACKAGES=(
  busybox-static # the small images the tests make
  uidmap         # newuidmap/newgidmap
  podman skopeo umoci # interop
  attr           # getfattr/setfattr
  fuse3          # fusermount3 for the FUSE overlay
  fuse-overlayfs # the anchor tests/pjdfstest/run.sh compares coracle's overlay with
  util-linux     # setpriv
  passt slirp4netns # the container network helpers (pasta, slirp4netns)
  man-db         # man -l renders the generated pages
  zsh fish       # shell completion driven in the real shells (tests/it/completion.rs)
  dpkg-dev       # dpkg-shlibdeps for packaging/deb/build.sh (tests/it/package.rs)
  systemd        # systemd-analyze verifies the example units (not started as init)
  gcc libc6-dev pkg-config # C parts of crates (zstd)
  docker-registry apache2-utils openssl python3 curl # the test registry (tests/it/harness/registry.rs)
)

setup_packages() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "packages: all installed"
    return
  fi
  say "packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# kubernetes-validate (PyPI): the offline schema check of `kube generate` (tests/it/kube.rs).
setup_kube_validate() {
  command -v kubernetes-validate >/dev/null && return
  say "pip: installing kubernetes-validate"
  python3 -m pip install -q kubernetes-validate || say "pip: kubernetes-validate not installed (kube tests skip the check)"
}

# The first id after every range in /etc/subuid and /etc/subgid (at least 200000).
next_free_subid() {
  local max=200000
  for f in /etc/subuid /etc/subgid; do
    [ -f "$f" ] || continue
    while IFS=: read -r _ start count; do
      [[ "$start" =~ ^[0-9]+$ && "$count" =~ ^[0-9]+$ ]] || continue
      (( start + count > max )) && max=$(( start + count ))
    done < "$f"
  done
  echo "$max"
}

setup_users() {
  touch /etc/subuid /etc/subgid
  for u in coracle-sub coracle-nosub; do
    if ! getent passwd "$u" >/dev/null; then
      say "users: creating $u"
      useradd --create-home --shell /bin/bash "$u"
    fi
  done
  # useradd may have given coracle-nosub ranges (SUB_UID_COUNT): it must have none
  sed -i '/^coracle-nosub:/d' /etc/subuid /etc/subgid
  if ! grep -q '^coracle-sub:' /etc/subuid || ! grep -q '^coracle-sub:' /etc/subgid; then
    sed -i '/^coracle-sub:/d' /etc/subuid /etc/subgid
    local start
    start=$(next_free_subid)
    say "users: coracle-sub gets ids $start-$(( start + 65535 ))"
    echo "coracle-sub:$start:65536" >> /etc/subuid
    echo "coracle-sub:$start:65536" >> /etc/subgid
  fi
  say "users: $(grep '^coracle-sub:' /etc/subuid | tr '\n' ' ')(subuid), coracle-nosub has none"
}

setup_devices() {
  for d in /dev/fuse /dev/net/tun; do
    if [ -e "$d" ]; then chmod 0666 "$d"; fi
  done
}

# pjdfstest (the Rust port) for tests/it/pjdfstest.rs, built once per machine into a
# directory outside the clone; a fresh machine spends about two minutes building it.
TOOLS=/var/cache/coracle-tools
PJDFSTEST_VERSION=0.2.2
setup_pjdfstest() {
  if [ -x "$TOOLS/bin/pjdfstest" ] && [ -f "$TOOLS/pjdfstest-$PJDFSTEST_VERSION" ]; then
    say "pjdfstest: $PJDFSTEST_VERSION installed"
    return
  fi
  say "pjdfstest: building $PJDFSTEST_VERSION into $TOOLS"
  if cargo install --quiet --locked --root "$TOOLS" --version "$PJDFSTEST_VERSION" pjdfstest; then
    touch "$TOOLS/pjdfstest-$PJDFSTEST_VERSION"
  else
    say "pjdfstest: install failed; its test will skip"
  fi
}

if [ "$(id -u)" -eq 0 ]; then
  setup_packages
  setup_kube_validate
  setup_users
  setup_devices
  setup_pjdfstest
  PATH="$TOOLS/bin:$PATH"
else
  say "not root: no setup; tests that need root or the test users will skip"
fi

# The fuzz targets (fuzz/: the Containerfile parser, the image reference parser, the ownership
# xattr codec, manifest/index/config JSON, the tar extractor) share FUZZ_SECONDS between them
# after one instrumented build: a crash, a hang (-timeout) or a memory blow-up (-rss_limit_mb)
# fails the run. Needs the nightly toolchain and cargo-fuzz, installed when missing; new
# inputs go to fuzz/corpus/<target>/ (not committed), fuzz/seeds/<target>/ starts each.
FUZZ_SECONDS="${FUZZ_SECONDS:-100}"
FUZZ_TARGETS=(containerfile reference ownership manifest tar)
run_fuzz() {
  if ! cargo +nightly --version >/dev/null 2>&1; then
    say "fuzz: installing the nightly toolchain"
    rustup toolchain install nightly --profile minimal || return 1
  fi
  if ! cargo fuzz --version >/dev/null 2>&1; then
    say "fuzz: installing cargo-fuzz"
    cargo install --quiet --locked cargo-fuzz || return 1
  fi
  mkdir -p fuzz/target
  say "fuzz: building the targets (log: fuzz/target/fuzz-build.log)"
  if ! (cd fuzz && cargo +nightly fuzz build) >fuzz/target/fuzz-build.log 2>&1; then
    tail -40 fuzz/target/fuzz-build.log
    return 1
  fi
  local each=$((FUZZ_SECONDS / ${#FUZZ_TARGETS[@]}))
  [ "$each" -ge 5 ] || each=5
  local t failed=0
  for t in "${FUZZ_TARGETS[@]}"; do
    mkdir -p "fuzz/corpus/$t"
    if ! (cd fuzz && cargo +nightly fuzz run "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$each" -timeout=20 -rss_limit_mb=1024) >"fuzz/target/fuzz-$t.log" 2>&1; then
      say "fuzz: $t FAILED (the input is in fuzz/artifacts/$t/)"
      tail -40 "fuzz/target/fuzz-$t.log"
      failed=1
      continue
    fi
    say "fuzz: $t for ${each}s: $(grep -o 'Done [0-9]* runs.*' "fuzz/target/fuzz-$t.log" || echo 'no summary')"
  done
  return "$failed"
}

target="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target"
log="$target/run-all.log"

say "building (features: failpoints)"
cargo build --tests --features failpoints

say "testing (log: $log)"
status=0
cargo test --features failpoints 2>&1 | tee "$log" || status=$?

run_fuzz || { say "fuzz: FAILED"; status=1; }

skips=$(grep -c 'SKIP .* as .*: ' "$log" || true)
say "skipped: $skips"
if [ "$skips" -gt 0 ]; then
  grep -o 'SKIP .* as .*: .*' "$log" | sort | uniq -c | sort -rn | head -20
fi
# The figures issue 9 asks for (tests/it/harness/figures.rs): each test prints
# `FIGURE <name> <count> <test@user>` once its checks passed; the totals go into README.md.
if grep -q '^FIGURE ' "$log"; then
  say "figures (nothing lost in any of them):"
  grep -o '^FIGURE [a-z-]* [0-9]*' "$log" |
    awk '{ total[$2] += $3; tests[$2]++ } END { for (n in total) printf "  %-26s %6d  (%d test runs)\n", n, total[n], tests[n] }' |
    sort
fi
if [ "$status" -ne 0 ]; then
  say "FAILED (cargo test exit status $status)"
else
  say "all tests passed"
fi
exit "$status"
