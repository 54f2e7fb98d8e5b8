#!/bin/sh
# Builds a small busybox image as a docker-archive, offline, from Debian's busybox-static:
#   packaging/example-image.sh /tmp/busybox.tar   then   coracle load -i /tmp/busybox.tar
set -eu
out=${1:?usage: example-image.sh OUTPUT.tar}
busybox=$(command -v busybox || true)
[ -n "$busybox" ] && file -L "$busybox" 2>/dev/null | grep -q static || busybox=/bin/busybox
[ -x "$busybox" ] || { echo "example-image.sh: /bin/busybox is missing (apt-get install busybox-static)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/etc" "$work/rootfs/tmp" "$work/rootfs/root" "$work/archive"
cp "$busybox" "$work/rootfs/bin/busybox"
for applet in sh ls cat echo id env true false sleep ps mkdir rm mv cp ln chmod chown stat find grep sed wc head tail tar hostname uname whoami date touch; do
    ln -s busybox "$work/rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$work/rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$work/rootfs/etc/group"
chmod 1777 "$work/rootfs/tmp"
tar -C "$work/rootfs" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf "$work/layer.tar" .
diff_id=$(sha256sum "$work/layer.tar" | cut -d' ' -f1)
mv "$work/layer.tar" "$work/archive/$diff_id.tar"
cat >"$work/config.json" <<JSON
{"architecture":"amd64","os":"linux","created":"2026-01-01T00:00:00Z","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:$diff_id"]},"history":[{"created":"2026-01-01T00:00:00Z","created_by":"packaging/example-image.sh: busybox-static with applet links"},{"created":"2026-01-01T00:00:00Z","created_by":"/bin/sh -c #(nop) CMD [\"sh\"]","empty_layer":true}]}
JSON
config_id=$(sha256sum "$work/config.json" | cut -d' ' -f1)
mv "$work/config.json" "$work/archive/$config_id.json"
printf '[{"Config":"%s.json","RepoTags":["busybox:latest"],"Layers":["%s.tar"]}]' "$config_id" "$diff_id" >"$work/archive/manifest.json"
tar -C "$work/archive" --owner=0 --group=0 --numeric-owner -cf "$out" manifest.json "$config_id.json" "$diff_id.tar"
echo "wrote $out (image ID ${config_id%"${config_id#????????????}"})"
