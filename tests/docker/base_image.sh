#!/usr/bin/env bash
# Build a tiny Debian bookworm + python3 base image without pulling from any
# registry (none is reachable): debootstrap a minbase rootfs and `docker import` it.
# Usage: base_image.sh [NAME]   (needs root and a running engine, see engine.sh)
set -euo pipefail

NAME=${1:-mlops-template/python-base:bookworm}
SUITE=bookworm

if docker image inspect "$NAME" >/dev/null 2>&1; then
    echo "base_image.sh: $NAME already exists"
    exit 0
fi

# debootstrap needs a mirror URL; reuse the Debian archive the host's apt uses
# (deb822 *.sources or one-line sources.list), skipping security and 3rd-party repos.
find_mirror() {
    local f
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        grep -hoE '(URIs:|^deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+' "$f" |
            grep -oE 'https?://[^[:space:]]+' | sed 's:/*$::' |
            grep -E '/debian$' | grep -v security || true
    done | head -n 1
}
MIRROR=${DEBIAN_MIRROR:-$(find_mirror)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}

if ! command -v debootstrap >/dev/null 2>&1; then
    echo "base_image.sh: installing debootstrap via apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends debootstrap </dev/null >/dev/null
fi

ROOTFS=$(mktemp -d /tmp/python-base.XXXXXX)
cleanup() {
    # debootstrap mounts proc/sys inside the target; never rm -rf through a mount.
    findmnt -rno TARGET | grep "^$ROOTFS/" | sort -r | xargs -r -n1 umount -l || true
    rm -rf "$ROOTFS"
}
trap cleanup EXIT

echo "base_image.sh: debootstrap $SUITE from $MIRROR into $ROOTFS"
debootstrap --variant=minbase --include=python3,python3-venv "$SUITE" "$ROOTFS" "$MIRROR" \
    >/tmp/debootstrap.log 2>&1 || { tail -n 30 /tmp/debootstrap.log >&2; exit 1; }

# Keep the image small: apt indexes, caches, docs and logs are not needed at run time.
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/* "$ROOTFS"/var/cache/debconf/*-old \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
    "$ROOTFS"/var/log/* "$ROOTFS"/tmp/*
# Translations are a third of the rootfs; keep only locale.alias.
find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
find "$ROOTFS"/usr/lib/python3* -name __pycache__ -type d -prune -exec rm -rf {} +

# An imported image has no config at all: set PATH and locale explicitly.
tar -C "$ROOTFS" --numeric-owner -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$NAME" >/dev/null

docker run --rm --network none "$NAME" python3 -c 'import sys, venv; print("base python", sys.version.split()[0])'
echo "base_image.sh: built $NAME, size $(docker image inspect -f '{{.Size}}' "$NAME" | awk '{printf "%.0f MB", $1/1e6}')"
