#!/usr/bin/env bash
# Sets hutch up on a Debian/Ubuntu machine from nothing: system packages, the
# Rust musl target, the guest kernel (cached outside the repo), the agent and
# initramfs, and the `hutch` binary; then boots the default machine and runs
# a command in it. Pass --no-demo to skip the last step.
#
#   HUTCH_GUEST_DIR   where the guest kernel and initramfs go
#                     (default: $HUTCH_HOME/guest, i.e. ~/.local/share/hutch/guest)
#   HUTCH_BIN_DIR     where the hutch binary goes (default: /usr/local/bin as
#                     root, ~/.local/bin otherwise)
set -euo pipefail
cd "$(dirname "$0")"

demo=1
[ "${1:-}" = "--no-demo" ] && demo=0
say() { echo "[install] $*" >&2; }

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
packages=(qemu-system-x86 linux-source-6.1 build-essential bc bison flex libelf-dev libssl-dev
    cpio xz-utils file busybox-static musl-tools skopeo docker-registry curl openssl crun
    libcap-ng-dev docker-compose)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The docker CLI, a client of `hutch system service` (and of its tests). Debian
# ships it only inside docker.io, with a daemon we do not want running: take
# the client binary out of the package.
if ! command -v docker >/dev/null; then
    say "installing the docker CLI from Debian's docker.io package (client only)"
    work="$(mktemp -d)"
    (cd "$work" && apt-get download -qq docker.io >/dev/null && dpkg-deb -x docker.io_*.deb root)
    $sudo install -m 0755 "$work/root/usr/bin/docker" /usr/local/bin/docker
    rm -rf "$work"
fi

if ! command -v cargo >/dev/null; then
    say "Rust is not installed: install it with rustup (https://rustup.rs), then rerun."
    exit 1
fi
rustup target list --installed | grep -qx x86_64-unknown-linux-musl || rustup target add x86_64-unknown-linux-musl

say "building the agent (static musl) and hutch"
cargo build --release --locked -p hutch-agent --target x86_64-unknown-linux-musl
cargo build --release --locked -p hutch-cli

kernel="$(guest-kernel/build.sh)"
home="${HUTCH_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/hutch}"
guest="${HUTCH_GUEST_DIR:-$home/guest}"
mkdir -p "$guest"
cp "$kernel" "$guest/vmlinux.tmp" && mv "$guest/vmlinux.tmp" "$guest/vmlinux"
guest-kernel/build-initramfs.sh target/x86_64-unknown-linux-musl/release/hutch-agent \
    /bin/busybox "$guest/initramfs.cpio.gz"

if [ -n "${HUTCH_BIN_DIR:-}" ]; then
    bindir="$HUTCH_BIN_DIR"
elif [ "$(id -u)" -eq 0 ]; then
    bindir=/usr/local/bin
else
    bindir="$HOME/.local/bin"
fi
mkdir -p "$bindir"
install -m 0755 target/release/hutch "$bindir/hutch"
if [ "$(id -u)" -eq 0 ]; then mandir=/usr/local/share/man/man1; else mandir="$HOME/.local/share/man/man1"; fi
"$bindir/hutch" man --dir "$mandir"
say "installed $bindir/hutch (man pages in $mandir); guest files in $guest"

if [ "$demo" -eq 1 ]; then
    export HUTCH_GUEST_DIR="$guest"
    # An offline default image: Debian's busybox-static with all its applets.
    rootfs="$(mktemp -d)"
    mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
    cp /bin/busybox "$rootfs/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ -e "$rootfs/bin/$applet" ] || ln -s busybox "$rootfs/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    tar -C "$rootfs" -cf "$rootfs.tar" .
    "$bindir/hutch" import "$rootfs.tar" busybox:latest >/dev/null
    rm -rf "$rootfs" "$rootfs.tar"
    "$bindir/hutch" machine start
    "$bindir/hutch" run --rm busybox sh -c 'echo "hello from container $(hostname), PID $$"; uname -a'
    "$bindir/hutch" machine status
    say "the default machine is running; try 'hutch run --rm -i busybox sh'; 'hutch machine stop' powers it off"
fi
