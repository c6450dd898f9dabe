#!/usr/bin/env bash
# Builds the hutch guest kernel (an uncompressed ELF vmlinux with a PVH entry
# point) from a kernel source tree plus hutch.config, and caches it outside the
# repo keyed by the source and the config. Prints the path of the vmlinux.
#
#   HUTCH_KERNEL_SOURCE  a kernel.org tarball (.tar.xz/.tar.gz) or an unpacked
#                        tree; default: Debian's linux-source-6.1 tarball
#   HUTCH_CACHE          cache root; default: ${XDG_CACHE_HOME:-~/.cache}/hutch
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
fragment="$here/hutch.config"
source="${HUTCH_KERNEL_SOURCE:-/usr/src/linux-source-6.1.tar.xz}"
cache="${HUTCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hutch}"
jobs="$(nproc)"

say() { echo "[guest-kernel] $*" >&2; }

if [ ! -e "$source" ]; then
    say "kernel source '$source' not found."
    say "install it with 'apt-get install linux-source-6.1', or point HUTCH_KERNEL_SOURCE at a kernel.org tarball or tree."
    exit 1
fi

# The key covers the source identity, the fragment and this script, so a
# change to any of them rebuilds while an unchanged rerun takes seconds.
if [ -d "$source" ]; then
    source_id="dir:$(cd "$source" && pwd):$(find "$source" -name Makefile -maxdepth 1 -printf '%T@')"
else
    source_id="file:$(sha256sum "$source" | cut -d' ' -f1)"
fi
key="$( { echo "$source_id"; cat "$fragment" "$0"; } | sha256sum | cut -c1-16)"
out="$cache/kernel/$key"

if [ -f "$out/vmlinux" ]; then
    say "cached: $out/vmlinux"
    echo "$out/vmlinux"
    exit 0
fi

work="$cache/kernel/build-$key"
rm -rf "$work"
mkdir -p "$work"
if [ -d "$source" ]; then
    tree="$source"
    objdir="$work/obj"
    mkdir -p "$objdir"
    make_args=(-C "$tree" O="$objdir")
else
    say "unpacking $source"
    tar -C "$work" -xf "$source"
    tree="$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n1)"
    objdir="$tree"
    make_args=(-C "$tree")
fi

say "configuring (allnoconfig + hutch.config)"
make "${make_args[@]}" ARCH=x86_64 allnoconfig >"$work/config.log" 2>&1
"$tree/scripts/kconfig/merge_config.sh" -m -O "$objdir" "$objdir/.config" "$fragment" >>"$work/config.log" 2>&1
make "${make_args[@]}" ARCH=x86_64 olddefconfig >>"$work/config.log" 2>&1

# Every requested option must have survived dependency resolution.
missing=0
while IFS= read -r line; do
    case "$line" in
    CONFIG_*=n)
        name="${line%%=*}"
        if grep -q "^$name=" "$objdir/.config"; then
            say "option $name is set but hutch.config asks for it off"
            missing=1
        fi
        ;;
    CONFIG_*)
        if ! grep -qx "$line" "$objdir/.config"; then
            say "option $line did not survive the kernel's dependency resolution"
            missing=1
        fi
        ;;
    esac
done <"$fragment"
if [ "$missing" -ne 0 ]; then
    say "fix hutch.config (see $work/config.log)"
    exit 1
fi

say "compiling with $jobs jobs (log: $work/build.log)"
set +e
make "${make_args[@]}" ARCH=x86_64 -j"$jobs" vmlinux 2>&1 | tee "$work/build.log" |
    awk '/^  (CC|AS|LD|AR)/ { n++; if (n % 250 == 0) { printf "[guest-kernel] %d objects built\n", n > "/dev/stderr" } }'
status="${PIPESTATUS[0]}"
set -e
if [ "$status" -ne 0 ]; then
    tail -n 30 "$work/build.log" >&2
    say "kernel build failed (full log: $work/build.log)"
    exit 1
fi

mkdir -p "$out"
cp "$objdir/vmlinux" "$out/vmlinux.tmp"
cp "$objdir/.config" "$out/config"
make "${make_args[@]}" -s kernelrelease >"$out/release" 2>/dev/null || true
mv "$out/vmlinux.tmp" "$out/vmlinux"
rm -rf "$work"
say "built $out/vmlinux ($(du -h "$out/vmlinux" | cut -f1))"
echo "$out/vmlinux"
