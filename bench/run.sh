#!/usr/bin/env bash
# Side-by-side timings of coracle and rootless Podman on the image-store workloads, printed as
# ratios (coracle / podman) with the load average. Run as the unprivileged benchmark user after
# ../shared/bench/setup.sh (as root) prepared the images and the user's Podman config:
#
#   sudo setpriv --reuid=tester --regid=tester --init-groups env -i HOME=/home/tester \
#       PATH=/usr/bin:/bin XDG_RUNTIME_DIR=/tmp/xdg-run-$(id -u tester) \
#       CORACLE=/usr/local/bin/coracle bash bench/run.sh
#
# Knobs: RUNS [5], ONLY [load|pull|push|images|save|start|exec|build|monitor-rss|fs|completion regex], BUILD_VFS [0], REGISTRY [localhost:5000], WARMUP [1] (fs), FS_KINDS
# ['coracle fuse-overlayfs kernel'; coracle-wb: coracle with CORACLE_OVERLAY_WRITEBACK=1], FS_THREADS [coracle's default], SETTLE [36 s], BENCH_DATA [/var/tmp/bench-data],
# WORK [/var/tmp/coracle-bench-$UID], PODMAN_DRIVERS ['fuse overlay'], PODMAN_RUNTIME [runc], CTR_DRIVERS ['overlay vfs'],
# COMPLETION_COUNT [500], COMPLETION_PODMAN_RUNS [RUNS] (runs of Podman's image completions, ~1.5 min each).
set -uo pipefail
export LC_ALL=C
CORACLE=${CORACLE:-coracle}
RUNS=${RUNS:-5}
ONLY=${ONLY:-.}
BENCH_DATA=${BENCH_DATA:-/var/tmp/bench-data}
IMAGES=$BENCH_DATA/images
WORK=${WORK:-/var/tmp/coracle-bench-$(id -u)}
PODMAN_DRIVERS=${PODMAN_DRIVERS:-fuse overlay}
REGISTRY=${REGISTRY:-localhost:5000}
# where each tool remembers which repositories of a registry hold a blob (cold pushes forget it)
PODMAN_BLOB_CACHE=${PODMAN_BLOB_CACHE:-${XDG_DATA_HOME:-$HOME/.local/share}/containers/cache/blob-info-cache-v1.boltdb}
CORACLE_BLOB_LOCATIONS=${CORACLE_BLOB_LOCATIONS:-registry-blobs.json}
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

# bench NAME TOOL-LABEL CMD-TEMPLATE : RUNS runs; {S} in the command is a fresh store per run,
# {N} a number unique to the run; $PREP, when set, is run (untimed) before each run
declare -A RESULT
bench() {
    local name=$1 label=$2 tmpl=$3 i s cmd walls="" rsss=""
    for ((i = 0; i < RUNS; i++)); do
        N=$((N + 1)); s=$WORK/s$N
        cmd=${tmpl//\{S\}/$s}
        cmd=${cmd//\{N\}/$N}
        if [ -n "${PREP:-}" ]; then local prep=${PREP//\{S\}/$s}; eval "${prep//\{N\}/$N}"; fi
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
echo "# coracle: $("$CORACLE" --version)  podman: $(podman --version)  fuse-overlayfs: $(fuse-overlayfs --version 2>&1 | sed -n 's/^fuse-overlayfs: //p')"

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

# ---- pull / push against the registry ../shared/bench/setup.sh runs ($REGISTRY) ------------------
if [[ pull =~ $ONLY ]]; then
    DEB_REF=$REGISTRY/bench/deb:latest
    bench pull.cold coracle "$CORACLE \$(coracle_flags {S}) pull -q --tls-verify=false $DEB_REF"
    for d in $PODMAN_DRIVERS; do
        bench pull.cold "podman-$d" "podman \$(podman_flags $d {S}) pull -q --tls-verify=false $DEB_REF"
    done
    ratio pull.cold
    cw=$WORK/pull-warm-coracle; "$CORACLE" $(coracle_flags "$cw") pull -q --tls-verify=false "$DEB_REF" >/dev/null
    bench pull.warm coracle "$CORACLE \$(coracle_flags $cw) pull -q --tls-verify=false $DEB_REF"
    for d in $PODMAN_DRIVERS; do
        pw=$WORK/pull-warm-podman-$d; eval "podman $(podman_flags "$d" "$pw") pull -q --tls-verify=false $DEB_REF" >/dev/null
        bench pull.warm "podman-$d" "podman \$(podman_flags $d $pw) pull -q --tls-verify=false $DEB_REF"
    done
    ratio pull.warm
fi

if [[ push =~ $ONLY ]]; then
    # push.cold: a store that just loaded the image (untimed) pushes it to a new repository,
    # with each tool's memory of blob locations forgotten, so every layer is compressed and
    # uploaded. push.new-repo (coracle only): the same from a store that pushed before, where
    # coracle kept each layer's compressed form. push.warm: again to a repository that has
    # every blob.
    stamp=$(date +%s)
    PREP="$CORACLE \$(coracle_flags {S}) load -q -i $IMAGES/deb.docker.tar >/dev/null; rm -f {S}/root/$CORACLE_BLOB_LOCATIONS" \
        bench push.cold coracle \
        "$CORACLE \$(coracle_flags {S}) push -q --tls-verify=false localhost/bench/deb:latest $REGISTRY/bench/cpush-$stamp-{N}:latest"
    cs=$WORK/push-coracle; "$CORACLE" $(coracle_flags "$cs") load -q -i "$IMAGES/deb.docker.tar" >/dev/null
    "$CORACLE" $(coracle_flags "$cs") push -q --tls-verify=false localhost/bench/deb:latest "$REGISTRY/bench/cpush-$stamp-warm:latest" >/dev/null
    PREP="rm -f $cs/root/$CORACLE_BLOB_LOCATIONS" bench push.new-repo coracle \
        "$CORACLE \$(coracle_flags $cs) push -q --tls-verify=false localhost/bench/deb:latest $REGISTRY/bench/cpush-$stamp-n{N}:latest"
    bench push.warm coracle "$CORACLE \$(coracle_flags $cs) push -q --tls-verify=false localhost/bench/deb:latest $REGISTRY/bench/cpush-$stamp-warm:latest"
    for d in $PODMAN_DRIVERS; do
        PREP="podman \$(podman_flags $d {S}) load -q -i $IMAGES/deb.docker.tar >/dev/null; rm -f $PODMAN_BLOB_CACHE" \
            bench push.cold "podman-$d" \
            "podman \$(podman_flags $d {S}) push -q --tls-verify=false localhost/bench/deb:latest $REGISTRY/bench/ppush-$d-$stamp-{N}:latest"
        ps=$WORK/push-podman-$d; eval "podman $(podman_flags "$d" "$ps") load -q -i $IMAGES/deb.docker.tar" >/dev/null
        eval "podman $(podman_flags "$d" "$ps") push -q --tls-verify=false localhost/bench/deb:latest $REGISTRY/bench/ppush-$d-$stamp-warm:latest" >/dev/null
        bench push.warm "podman-$d" "podman \$(podman_flags $d $ps) push -q --tls-verify=false localhost/bench/deb:latest $REGISTRY/bench/ppush-$d-$stamp-warm:latest"
    done
    ratio push.cold
    ratio push.warm
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

# ---- fs: the overlay itself, mounted directly (no containers yet) -----------------------------
# Each run: a fresh mount of deb with its own upper+work directory, inside a new user+mount
# namespace (`coracle unshare`), the workload timed by bash in the mount's root, then the FUSE
# server's CPU seconds (utime+stime from /proc/PID/stat, delta over the workload plus a 0.3 s
# pause) and its peak RSS (VmHWM). Three filesystems over the same extracted layer dirs:
# coracle's overlay (`overlay-mount --image`), fuse-overlayfs, kernel overlay (userxattr).
# Nothing is deleted between the runs of one measurement; before create-10k the script waits
# SETTLE seconds after deletions (ext4 without a journal, see ../shared/bench/README.md).
FS_WORKLOADS=(
    "read-200M|cat data/random.bin"
    "write-500M|dd if=/dev/zero of=root/big bs=1M count=500 status=none"
    "copyup-append-1B|echo x >>data/random.bin"
    "find-xdev|find . -xdev | wc -l"
    "tar-usr|tar cf - usr | wc -c"
    "create-10k|mkdir root/many && cd root/many && for i in \$(seq 10000); do : >f\$i; done"
    "ls-lR-usr|ls -lR usr"
)
FS_KINDS=${FS_KINDS:-coracle fuse-overlayfs kernel}
FS_THREADS=${FS_THREADS:-}
SETTLE=${SETTLE:-$(($(cat /proc/sys/vm/dirty_expire_centisecs 2>/dev/null || echo 3000) / 100 + 6))}
WARMUP=${WARMUP:-1}
# the script run in the namespace: mount (KIND), wait for it, time WCMD in it, report, unmount
FS_INNER='
set -u
d=$RUNDIR; mkdir -p "$d/mnt" "$d/upper" "$d/work"; srv=
case $KIND in
coracle|coracle-wb)
    [ "$KIND" = coracle-wb ] && export CORACLE_OVERLAY_WRITEBACK=1
    "$CORACLE" --root "$STORE" --runroot "$RUNROOT" overlay-mount --image "$IMAGE" \
        --upper "$d/upper" --work "$d/work" $THREADS_ARG "$d/mnt" 2>"$d/server.err" &
    srv=$! ;;
fuse-overlayfs)
    fuse-overlayfs -f -o "lowerdir=$LOWER,upperdir=$d/upper,workdir=$d/work" "$d/mnt" 2>"$d/server.err" &
    srv=$! ;;
kernel)
    mount -t overlay overlay -o "userxattr,lowerdir=$LOWER,upperdir=$d/upper,workdir=$d/work" "$d/mnt" || exit 91 ;;
esac
i=0
until mountpoint -q "$d/mnt"; do
    i=$((i + 1))
    if [ $i -gt 400 ] || { [ -n "$srv" ] && ! kill -0 $srv 2>/dev/null; }; then
        echo "no mount"; cat "$d/server.err"; exit 90
    fi
    sleep 0.02
done
cpu() { local st; read -r st <"/proc/$srv/stat"; set -- ${st##*) }; echo $((${12} + ${13})); }
sync
cd "$d/mnt"
[ -n "$srv" ] && c0=$(cpu)
TIMEFORMAT="BENCHTIME %3R %3U %3S"
rc=0
{ time { eval "$WCMD"; } >/dev/null 2>"$d/werr"; } 2>"$d/time" || rc=1
cat "$d/time"
[ $rc = 0 ] || { echo "workload failed:"; cat "$d/werr"; }
if [ -n "$srv" ]; then
    sleep 0.3
    c1=$(cpu)
    hwm=$(awk "/^VmHWM:/ { print \$2 }" "/proc/$srv/status")
    echo "FUSESTAT $(((c1 - c0))) $hwm"
fi
cd /
umount "$d/mnt" || umount -l "$d/mnt"
[ -z "$srv" ] || wait $srv
exit $rc
'
fs_section() {
    local fsw=$WORK/fs store image lower d kind w wname i n line
    store=$fsw/store
    image=localhost/bench/deb:latest
    mkdir -p "$fsw"
    "$CORACLE" --root "$store/root" --runroot "$store/run" load -q -i "$IMAGES/deb.docker.tar" >/dev/null ||
        { echo "fs: cannot load deb" >&2; return 1; }
    # the same extracted layer dirs for the other two, top-most first
    lower=
    for d in $("$CORACLE" --root "$store/root" --runroot "$store/run" inspect \
        --format '{{range .RootFS.Layers}}{{.}} {{end}}' "$image"); do
        lower=$store/root/layers/${d#sha256:}/diff${lower:+:$lower}
    done
    local deleted=0
    for w in "${FS_WORKLOADS[@]}"; do
        wname=${w%%|*}
        for kind in $FS_KINDS; do
            if [ "$wname" = create-10k ] && [ "$deleted" = 1 ] && [ "$SETTLE" -gt 0 ]; then
                sync; sleep "$SETTLE"; deleted=0
            fi
            local walls="" cpus="" fcpus="" hwms="" fails=0
            for ((i = -WARMUP; i < RUNS; i++)); do
                N=$((N + 1))
                d=$fsw/r$N
                mkdir -p "$d"
                out=$(RUNDIR=$d KIND=$kind WCMD=${w#*|} CORACLE=$CORACLE STORE=$store/root \
                    RUNROOT=$store/run IMAGE=$image LOWER=$lower \
                    THREADS_ARG=${FS_THREADS:+--threads $FS_THREADS} \
                    "$CORACLE" unshare bash -c "$FS_INNER" 2>&1)
                if [ $? -ne 0 ] || ! grep -q '^BENCHTIME ' <<<"$out"; then
                    fails=$((fails + 1))
                    echo "  [fs.$wname.$kind] run failed: $(tail -n3 <<<"$out" | tr '\n' ' ')" >&2
                    continue
                fi
                ((i < 0)) && continue
                line=$(grep '^BENCHTIME ' <<<"$out" | tail -n1)
                set -- $line
                walls+="$2"$'\n'
                cpus+=$(awk -v u="$3" -v s="$4" 'BEGIN { printf "%.3f", u + s }')$'\n'
                line=$(grep '^FUSESTAT ' <<<"$out" | tail -n1)
                if [ -n "$line" ]; then
                    set -- $line
                    fcpus+=$(awk -v t="$2" 'BEGIN { printf "%.2f", t / 100 }')$'\n'
                    hwms+=$(awk -v k="$3" 'BEGIN { printf "%.1f", k / 1024 }')$'\n'
                fi
            done
            RESULT[fs.$wname.$kind]=$(printf '%s' "$walls" | median)
            RESULT[fs.$wname.$kind.fcpu]=$(printf '%s' "$fcpus" | median)
            printf '%-24s %-15s wall=%ss cpu=%ss fuse_cpu=%ss fuse_rss=%sMiB%s\n' "fs.$wname" "$kind" \
                "${RESULT[fs.$wname.$kind]}" "$(printf '%s' "$cpus" | median)" \
                "${RESULT[fs.$wname.$kind.fcpu]}" "$(printf '%s' "$hwms" | median | awk '$1 != "-" { printf "%.1f", $1; next } { print }')" \
                "$( ((fails)) && echo " failed_runs=$fails")"
            # this workload's mounts are done: their upper dirs go before the next one
            "$CORACLE" unshare rm -rf "$fsw"/r* 2>/dev/null || rm -rf "$fsw"/r*
            deleted=1
        done
        fs_ratio "fs.$wname"
    done
}
fs_ratio() { # NAME
    local c=${RESULT[$1.coracle]:-} f=${RESULT[$1.fuse-overlayfs]:-} k=${RESULT[$1.kernel]:-}
    local cf=${RESULT[$1.coracle.fcpu]:-} ff=${RESULT[$1.fuse-overlayfs.fcpu]:-}
    [ -n "$c" ] && [ "$c" != - ] || return 0
    awk -v n="$1" -v c="$c" -v f="${f:--}" -v k="${k:--}" -v cf="${cf:--}" -v ff="${ff:--}" 'BEGIN {
        s = "  ratio " sprintf("%-24s", n)
        s = s sprintf(" coracle/fuse-overlayfs = %s", (f + 0 > 0) ? sprintf("%.2f", c / f) : "-")
        s = s sprintf("  coracle/kernel = %s", (k + 0 > 0) ? sprintf("%.2f", c / k) : "-")
        s = s sprintf("  fuse_cpu coracle/fuse-overlayfs = %s", (ff + 0 > 0) ? sprintf("%.2f", cf / ff) : "-")
        print s }'
}
if [[ fs =~ $ONLY ]]; then
    fs_section
fi

# ---- start, exec, monitor-rss: containers (issue 5) ------------------------------------------
# Podman runs with $PODMAN_RUNTIME (runc: crun 1.8 refuses this machine's hybrid cgroup layout
# unless ../shared/bench/crun-hybrid-fix.sh was applied; then PODMAN_RUNTIME=crun). Each tool
# and driver gets its own store holding bb. Stores: coracle's FUSE overlay against Podman's
# fuse-overlayfs and kernel overlay, and vfs against vfs.
PODMAN_RUNTIME=${PODMAN_RUNTIME:-runc}
BB=localhost/bench/bb:latest
# ctr_store TOOL DRIVER : a store holding bb (made once), its flags on stdout
ctr_store() {
    local s=$WORK/ctr-$1-$2 f
    case $1/$2 in
    coracle/overlay) f="$(coracle_flags "$s")" ;;
    coracle/vfs) f="$(coracle_flags "$s") --storage-driver vfs" ;;
    podman/vfs) f="--root $s/root --runroot $XDG_RUNTIME_DIR/cb-$(basename "$s") --storage-driver vfs" ;;
    podman/*) f="$(podman_flags "$2" "$s")" ;;
    esac
    if [ ! -e "$s/.loaded" ]; then
        mkdir -p "$s"
        if [ "$1" = coracle ]; then
            "$CORACLE" $f load -q -i "$IMAGES/bb.docker.tar" >/dev/null
        else
            eval "podman $f load -q -i $IMAGES/bb.docker.tar" >/dev/null
        fi && : >"$s/.loaded"
    fi
    echo "$f"
}
ratio2() { # NAME CORACLE-LABEL PODMAN-LABEL
    local c=${RESULT[$1.$2]:-} p=${RESULT[$1.$3]:-}
    [ -n "$c" ] && [ -n "$p" ] && [ "$c" != - ] && [ "$p" != - ] &&
        awk -v n="$1" -v a="$2" -v b="$3" -v c="$c" -v p="$p" 'BEGIN { printf "  ratio %-22s %s/%s = %.2f\n", n, a, b, c / p }'
}
CTR_DRIVERS=${CTR_DRIVERS:-overlay vfs}
if [[ start =~ $ONLY ]]; then
    # `run --rm --network none bb true`, the reference scenarios' start line.
    for d in $CTR_DRIVERS; do
        cf=$(ctr_store coracle "$d")
        bench "start.net-none.$d" coracle "$CORACLE $cf run --rm --network none $BB true"
        pds=$d; [ "$d" = overlay ] && pds=$PODMAN_DRIVERS
        for pd in $pds; do
            pf=$(ctr_store podman "$pd")
            bench "start.net-none.$d" "podman-$pd" "podman $pf run --runtime $PODMAN_RUNTIME --rm --network none $BB true"
            ratio2 "start.net-none.$d" coracle "podman-$pd"
        done
    done
    # The default network (pasta for coracle once it has it; Podman 4.3: slirp4netns).
    cf=$(ctr_store coracle overlay)
    if "$CORACLE" $cf run --rm "$BB" true >/dev/null 2>&1; then
        bench start.net-default coracle "$CORACLE $cf run --rm $BB true"
    else
        echo "start.net-default            coracle        skipped: run --rm (default network) fails: $("$CORACLE" $cf run --rm "$BB" true 2>&1 | tail -n1)"
    fi
    for pd in $PODMAN_DRIVERS; do
        pf=$(ctr_store podman "$pd")
        bench start.net-default "podman-$pd" "podman $pf run --runtime $PODMAN_RUNTIME --rm $BB true"
        ratio2 start.net-default coracle "podman-$pd"
    done
fi

if [[ exec =~ $ONLY ]]; then
    # `exec CONTAINER true` in a detached `sleep` container (overlay stores).
    cf=$(ctr_store coracle overlay)
    cid=$("$CORACLE" $cf run -d --network none "$BB" sleep 1000)
    bench exec coracle "$CORACLE $cf exec $cid true"
    "$CORACLE" $cf rm -f -t 0 "$cid" >/dev/null 2>&1 || "$CORACLE" $cf rm -f "$cid" >/dev/null 2>&1
    for pd in $PODMAN_DRIVERS; do
        pf=$(ctr_store podman "$pd")
        pid=$(eval "podman $pf run --runtime $PODMAN_RUNTIME -d --network none $BB sleep 1000")
        bench exec "podman-$pd" "podman $pf exec $pid true"
        eval "podman $pf rm -f -t 0 $pid" >/dev/null
        ratio2 exec coracle "podman-$pd"
    done
fi

# ---- build: issue 7's Speed section -----------------------------------------------------------
# The reference scenarios' Containerfile (../shared/bench/scenarios.sh, build.*): FROM bb, RUN,
# COPY of 50 small files, ENV, RUN. Per tool and store: `build --no-cache`, a fully cached
# rebuild, and a rebuild after one file under the COPY source changed (the change made untimed
# before each run). coracle's overlay store against Podman's fuse-overlayfs and kernel overlay;
# BUILD_VFS=1 adds coracle on vfs against Podman on vfs.
if [[ build =~ $ONLY ]]; then
    bctx=$WORK/build-ctx
    if [ ! -e "$bctx/Containerfile" ]; then
        mkdir -p "$bctx/payload"
        for i in $(seq 50); do head -c 2048 /dev/urandom | base64 >"$bctx/payload/file$i.txt"; done
        echo initial >"$bctx/payload/changing.txt"
        cat >"$bctx/Containerfile" <<EOF
FROM $BB
RUN mkdir -p /app && echo built >/app/stamp && ls -R /bin >/app/bin-list
COPY payload/ /app/payload/
ENV APP_MODE=bench
RUN cat /app/stamp /app/payload/* | wc -c >/app/size
EOF
    fi
    change_copy_source() { echo "change $RANDOM $N" >"$bctx/payload/changing.txt"; }
    build_tools="coracle:overlay"
    for pd in $PODMAN_DRIVERS; do build_tools+=" podman:$pd"; done
    [ "${BUILD_VFS:-0}" = 1 ] && build_tools+=" coracle:vfs podman:vfs"
    for td in $build_tools; do
        t=${td%%:*} d=${td#*:} label=$t-$d
        [ "$td" = coracle:overlay ] && label=coracle
        f=$(ctr_store "$t" "$d")
        if [ "$t" = coracle ]; then cmd="$CORACLE $f build -q"; else cmd="podman $f build -q --runtime $PODMAN_RUNTIME"; fi
        bench build.nocache "$label" "$cmd --no-cache -t bench-build $bctx"
        eval "$cmd -t bench-build $bctx" >/dev/null 2>&1
        bench build.cached "$label" "$cmd -t bench-build $bctx"
        PREP=change_copy_source bench build.copy-changed "$label" "$cmd -t bench-build $bctx"
    done
    for m in nocache cached copy-changed; do
        for pd in $PODMAN_DRIVERS; do ratio2 "build.$m" coracle "podman-$pd"; done
        [ "${BUILD_VFS:-0}" = 1 ] && ratio2 "build.$m" coracle-vfs podman-vfs
    done
    echo "# load after build: $(cut -d' ' -f1-3 /proc/loadavg)"
fi

# rss_kib PID... : the sum of the processes' VmRSS, KiB
rss_kib() { local p t=0 r; for p in "$@"; do r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null); t=$((t + ${r:-0})); done; echo $t; }
if [[ monitor-rss =~ $ONLY ]]; then
    # What stays behind a detached, idle container (`run -d bb sleep`), 2 s after the start:
    # coracle's monitor (it serves the FUSE overlay too); Podman's conmon, its fuse-overlayfs
    # (fuse store) and the rootless pause process.
    cf=$(ctr_store coracle overlay)
    cid=$("$CORACLE" $cf run -d --network none "$BB" sleep 1000)
    sleep 2
    mon=$(pgrep -u "$(id -u)" -n -x coracle:monitor)
    kib=$(rss_kib $mon)
    RESULT[monitor-rss.coracle]=$kib
    printf '%-28s %-14s rss=%sMiB (monitor %s, threads %s)\n' monitor-rss coracle "$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')" "$mon" "$(awk '/^Threads:/ { print $2 }' /proc/$mon/status)"
    "$CORACLE" $cf rm -f -t 0 "$cid" >/dev/null 2>&1 || "$CORACLE" $cf rm -f "$cid" >/dev/null 2>&1
    for pd in $PODMAN_DRIVERS; do
        pf=$(ctr_store podman "$pd")
        pid=$(eval "podman $pf run --runtime $PODMAN_RUNTIME -d --network none $BB sleep 1000")
        sleep 2
        conmon=$(eval "podman $pf inspect --format '{{.State.ConmonPid}}' $pid")
        fuse=; [ "$pd" = fuse ] && fuse=$(pgrep -u "$(id -u)" -n -x fuse-overlayfs)
        pause=$(pgrep -u "$(id -u)" -o -f 'catatonit -P')
        kib=$(rss_kib $conmon $fuse $pause)
        RESULT[monitor-rss.podman-$pd]=$kib
        printf '%-28s %-14s rss=%sMiB (conmon %s KiB, fuse-overlayfs %s KiB, pause %s KiB)\n' monitor-rss "podman-$pd" \
            "$(awk -v k="$kib" 'BEGIN { printf "%.1f", k / 1024 }')" "$(rss_kib $conmon)" "$(rss_kib $fuse)" "$(rss_kib $pause)"
        eval "podman $pf rm -f -t 0 $pid" >/dev/null
        ratio2 monitor-rss coracle "podman-$pd"
    done
fi

# ---- completion: dynamic completion of names with many images and containers (issue 8) ------
# COMPLETION_COUNT distinct images (an import of an empty tar each, with its own label, so its
# own config and ID, as in `images`) and as many created containers, in one store per tool;
# then what the shell asks on TAB: coracle through clap_complete's protocol (`COMPLETE=fish
# coracle -- coracle WORDS...`, what completions/fish/coracle.fish runs), Podman through
# cobra's (`podman __complete WORDS...`, what its bash/zsh/fish scripts run). Podman names are
# read from its JSON records whatever the driver, so one Podman store (the first of
# PODMAN_DRIVERS) is enough. Stores are kept between runs of run.sh with KEEP=1.
COMPLETION_COUNT=${COMPLETION_COUNT:-500}
# fill_store TOOL FLAGS : COMPLETION_COUNT images and containers (once per store)
fill_store() {
    local tool=$1 flags=$2 dir=$3 i
    [ -e "$dir/.filled-$COMPLETION_COUNT" ] && return 0
    mkdir -p "$dir"
    tar -cf "$WORK/empty.tar" --files-from /dev/null
    if [ "$tool" = coracle ]; then
        "$CORACLE" $flags load -q -i "$IMAGES/bb.docker.tar" >/dev/null || return 1
        for i in $(seq "$COMPLETION_COUNT"); do
            "$CORACLE" $flags import -q --change "LABEL=n=$i" "$WORK/empty.tar" "localhost/many/i$i" >/dev/null || return 1
            "$CORACLE" $flags create -q --name "c$i" "$BB" true >/dev/null || return 1
        done
    else
        eval "podman $flags load -q -i $IMAGES/bb.docker.tar" >/dev/null || return 1
        for i in $(seq "$COMPLETION_COUNT"); do
            eval "podman $flags import -q --change LABEL=n=$i $WORK/empty.tar localhost/many/i$i" >/dev/null || return 1
            eval "podman $flags create -q --name c$i $BB true" >/dev/null || return 1
        done
    fi
    : >"$dir/.filled-$COMPLETION_COUNT"
}
if [[ completion =~ $ONLY ]]; then
    BB=${BB:-localhost/bench/bb:latest}
    n=$COMPLETION_COUNT
    cs=$WORK/completion-coracle
    cf=$(coracle_flags "$cs")
    pd=${PODMAN_DRIVERS%% *}
    ps=$WORK/completion-podman-$pd
    pf=$(podman_flags "$pd" "$ps")
    # The runroot holds the completion name index; it exists once a container has run.
    mkdir -p "$XDG_RUNTIME_DIR/cb-$(basename "$cs")"
    if fill_store coracle "$cf" "$cs" && fill_store podman "$pf" "$ps"; then
        # sanity: both answer with every name (a completer that answers nothing is fast too)
        got_c=$(COMPLETE=fish "$CORACLE" -- coracle $cf start '' | grep -c '^c[0-9]')
        got_p=$(eval "podman __complete $pf start ''" 2>/dev/null | grep -c '^c[0-9]')
        echo "# completion: $n images, $n containers; start '' offers coracle $got_c, podman $got_p containers"
        for what in "start|containers" "rmi|images" "inspect|both"; do
            cmd=${what%%|*}; name=completion.${what#*|}
            bench "$name" coracle "env COMPLETE=fish $CORACLE -- coracle $cf $cmd ''"
            # Podman lists images with their container counts: minutes with 500 of each.
            r=$RUNS; [ "$cmd" = start ] || r=${COMPLETION_PODMAN_RUNS:-$RUNS}
            RUNS=$r bench "$name" "podman-$pd" "podman __complete $pf $cmd ''"
            ratio2 "$name" coracle "podman-$pd"
        done
    else
        echo "completion: filling the stores failed" >&2
    fi
fi

echo "# load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
# Podman's overlay stores stay mounted in its rootless namespace: unmount them there first.
[ "${KEEP:-0}" = 1 ] || { rm -rf "$WORK" 2>/dev/null || podman unshare sh -c \
    'awk -v w="$1/" "index(\$2, w) == 1 { print \$2 }" /proc/self/mounts | sort -r | xargs -r -n1 umount; rm -rf "$1"' sh "$WORK"; }
