#!/usr/bin/env bash
# Packs the guest initramfs: the agent as /init, plus a static busybox so
# that `hutch machine exec` has a shell and the usual tools in the machine.
#
#   build-initramfs.sh AGENT BUSYBOX OUTPUT
set -euo pipefail
agent="$1"
busybox="$2"
out="$3"

for f in "$agent" "$busybox"; do
    if [ ! -x "$f" ]; then
        echo "[initramfs] $f is missing or not executable" >&2
        exit 1
    fi
done
if ! file -L "$busybox" | grep -q "statically linked"; then
    echo "[initramfs] $busybox is not statically linked (install busybox-static)" >&2
    exit 1
fi

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,etc,root}
install -m 0755 "$agent" "$stage/init"
install -m 0755 "$busybox" "$stage/bin/busybox"
# One symlink per applet, where busybox itself would install it.
"$busybox" --list-full | while read -r applet; do
    [ -e "$stage/$applet" ] || ln -s /bin/busybox "$stage/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$stage/etc/passwd"
echo "root:x:0:" >"$stage/etc/group"

(cd "$stage" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) | gzip -9 >"$out.tmp"
mv "$out.tmp" "$out"
echo "[initramfs] wrote $out ($(du -h "$out" | cut -f1))" >&2
