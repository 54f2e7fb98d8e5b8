#!/usr/bin/env bash
# Side-by-side timings of coracle and rootless Podman on the image-store workloads, printed as
# ratios (coracle / podman) with the load average. Run as the unprivileged benchmark user after
# ../shared/bench/setup.sh (as root) prepared the images and the user's Podman config:
#
#   sudo setpriv --reuid=tester --regid=tester --init-groups env -i HOME=/home/tester \
#       PATH=/usr/bin:/bin XDG_RUNTIME_DIR=/tmp/xdg-run-$(id -u tester) \
#       CORACLE=/usr/local/bin/coracle bash bench/run.sh
#
# Knobs: RUNS [5], ONLY [load|images|save regex], BENCH_DATA [/var/tmp/bench-data],
# WORK [/var/tmp/coracle-bench-$UID], PODMAN_DRIVERS ['fuse overlay'].
set -uo pipefail
export LC_ALL=C
CORACLE=${CORACLE:-coracle}
RUNS=${RUNS:-5}
ONLY=${ONLY:-.}
BENCH_DATA=${BENCH_DATA:-/var/tmp/bench-data}
IMAGES=$BENCH_DATA/images
WORK=${WORK:-/var/tmp/coracle-bench-$(id -u)}
PODMAN_DRIVERS=${PODMAN_DRIVERS:-fuse overlay}
export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg-run-$(id -u)}
mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
[ "$(id -u)" -ne 0 ] || { echo "run as the unprivileged benchmark user" >&2; exit 1; }
[ -s "$IMAGES/deb.docker.tar" ] || { echo "no $IMAGES/deb.docker.tar: run ../shared/bench/setup.sh first" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)" >&2; exit 1; }
mkdir -p "$WORK"
N=0

podman_flags() { # LABEL STORE
    case $1 in
    fuse) echo "--root $2/root --runroot $XDG_RUNTIME_DIR/cb-$(basename "$2") --storage-driver overlay --storage-opt overlay.mount_program=/usr/bin/fuse-overlayfs" ;;
    overlay) echo "--root $2/root --runroot $XDG_RUNTIME_DIR/cb-$(basename "$2") --storage-driver overlay --storage-opt=" ;;
    esac
}
coracle_flags() { echo "--root $1/root --runroot $XDG_RUNTIME_DIR/cb-$(basename "$1")"; }

# timed CMD... : one run, sets WALL (s) and RSS (MiB)
timed() {
    local t0 t1
    t0=$EPOCHREALTIME
    /usr/bin/time -f '%M' -o "$WORK/time" "$@" >/dev/null 2>"$WORK/err" </dev/null || { echo "  failed: $* ($(tail -n2 "$WORK/err"))" >&2; }
    t1=$EPOCHREALTIME
    WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }')
    RSS=$(awk '{ printf "%.1f", $1 / 1024 }' "$WORK/time" | tail -n1)
}
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) { print "-"; exit } m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.3f\n", m }'; }

# bench NAME TOOL-LABEL CMD-TEMPLATE : RUNS runs; {S} in the command is a fresh store per run
declare -A RESULT
bench() {
    local name=$1 label=$2 tmpl=$3 i s cmd walls="" rsss=""
    for ((i = 0; i < RUNS; i++)); do
        N=$((N + 1)); s=$WORK/s$N
        cmd=${tmpl//\{S\}/$s}
        eval "timed $cmd"
        walls+="$WALL"$'\n'; rsss+="$RSS"$'\n'
    done
    RESULT[$name.$label]=$(printf '%s' "$walls" | median)
    printf '%-28s %-14s wall=%ss rss=%sMiB\n' "$name" "$label" "${RESULT[$name.$label]}" "$(printf '%s' "$rsss" | median)"
}

ratio() { # NAME
    local d c
    c=${RESULT[$1.coracle]:-}
    for d in $PODMAN_DRIVERS; do
        local p=${RESULT[$1.podman-$d]:-}
        [ -n "$c" ] && [ -n "$p" ] && awk -v n="$1" -v d="$d" -v c="$c" -v p="$p" 'BEGIN { printf "  ratio %-22s coracle/podman-%s = %.2f\n", n, d, c / p }'
    done
}

echo "# coracle bench $(date -u +%FT%TZ) $(uname -r) $(nproc) cpus load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# coracle: $("$CORACLE" --version)  podman: $(podman --version)"

if [[ load =~ $ONLY ]]; then
    for fmt in docker oci; do
        bench "load.$fmt" coracle "$CORACLE \$(coracle_flags {S}) load -q -i $IMAGES/deb.$fmt.tar"
        for d in $PODMAN_DRIVERS; do
            bench "load.$fmt" "podman-$d" "podman \$(podman_flags $d {S}) load -q -i $IMAGES/deb.$fmt.tar"
        done
        ratio "load.$fmt"
    done
fi

if [[ save =~ $ONLY ]]; then
    cs=$WORK/save-coracle; "$CORACLE" $(coracle_flags "$cs") load -q -i "$IMAGES/deb.docker.tar"
    bench save.docker coracle "$CORACLE \$(coracle_flags $cs) save -o {S}.tar localhost/bench/deb:latest"
    for d in $PODMAN_DRIVERS; do
        ps=$WORK/save-podman-$d; eval "podman $(podman_flags "$d" "$ps") load -q -i $IMAGES/deb.docker.tar" >/dev/null
        bench save.docker "podman-$d" "podman \$(podman_flags $d $ps) save -o {S}.tar localhost/bench/deb:latest"
    done
    ratio save.docker
fi

if [[ images =~ $ONLY ]]; then
    # 100 distinct one-layer images (different labels, so different configs and IDs)
    tar -C "$IMAGES/.." -cf "$WORK/tiny.tar" --files-from /dev/null
    ci=$WORK/images-coracle
    for i in $(seq 100); do "$CORACLE" $(coracle_flags "$ci") import -q --change "LABEL=n=$i" "$WORK/tiny.tar" "localhost/many/i$i" >/dev/null; done
    bench images.100 coracle "$CORACLE \$(coracle_flags $ci) images"
    for d in $PODMAN_DRIVERS; do
        pi=$WORK/images-podman-$d
        for i in $(seq 100); do eval "podman $(podman_flags "$d" "$pi") import -q --change LABEL=n=$i $WORK/tiny.tar localhost/many/i$i" >/dev/null; done
        bench images.100 "podman-$d" "podman \$(podman_flags $d $pi) images"
    done
    ratio images.100
fi

echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "${KEEP:-0}" = 1 ] || { rm -rf "$WORK" 2>/dev/null || podman unshare rm -rf "$WORK"; }
