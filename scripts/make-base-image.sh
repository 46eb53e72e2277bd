#!/usr/bin/env bash
# Build a local Debian bookworm base image with python3.11 for the Docker smoke test.
#
# Why: CI and this sandbox cannot pull images from a registry, but they can reach Debian's
# package mirror. debootstrap + `podman import` gives an image that plays the role of
# python:3.11-slim-bookworm (the users' default BASE_IMAGE): python3 (3.11), venv, CA certificates.
#
# Usage: scripts/make-base-image.sh [IMAGE]   (default localhost/t2i-base:bookworm)
#   T2I_BASE_REBUILD=1   rebuild even if the image exists
#   DEBIAN_MIRROR=URL    mirror for debootstrap (default http://deb.debian.org/debian)
# Exit codes: 0 image ready, 3 podman/debootstrap unavailable (caller may skip), 1 failure.
set -euo pipefail

IMAGE="${1:-localhost/t2i-base:bookworm}"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { printf '[make-base-image] %s\n' "$*" >&2; }

ensure_tools() {
    if [ "$(id -u)" -ne 0 ]; then
        log "SKIP: needs root (debootstrap, podman build --isolation chroot, buildah run)"
        return 3
    fi
    local missing=()
    for tool in podman buildah debootstrap; do
        command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        log "SKIP: ${missing[*]} missing and cannot be installed (no apt-get)"
        return 3
    fi
    log "installing ${missing[*]} with apt-get"
    if ! { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            podman buildah debootstrap; } >/tmp/t2i-apt.log 2>&1; then
        log "SKIP: apt-get could not install podman/buildah/debootstrap (see /tmp/t2i-apt.log)"
        return 3
    fi
}

ensure_tools || exit $?

if [ "${T2I_BASE_REBUILD:-0}" != 1 ] && podman image exists "$IMAGE"; then
    log "cached: $IMAGE"
    exit 0
fi

ROOTFS="$(mktemp -d /tmp/t2i-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

log "debootstrap bookworm (minbase + python3) into $ROOTFS from $MIRROR"
start=$(date +%s)
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$ROOTFS" "$MIRROR" >/tmp/t2i-debootstrap.log 2>&1 || {
    log "FAIL: debootstrap failed, last lines of /tmp/t2i-debootstrap.log:"
    tail -n 20 /tmp/t2i-debootstrap.log >&2
    exit 1
}

# Trim what a container never needs (as the official slim images do).
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/archives/*.deb \
    "$ROOTFS"/usr/share/doc/* "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/locale/* \
    "$ROOTFS"/var/log/*.log
# Keep apt usable inside the image (the Dockerfile may apt-get install).
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" \
    >"$ROOTFS/etc/apt/sources.list"

log "importing as $IMAGE"
tar -C "$ROOTFS" -c . | podman import \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["python3"]' \
    - "$IMAGE" >/dev/null
log "done in $(($(date +%s) - start)) s: $(podman image inspect --format '{{.Size}}' "$IMAGE") bytes"
