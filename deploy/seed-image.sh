#!/bin/sh
# Build a small real image from Debian's busybox-static with umoci and push it
# to a registry with skopeo, so a fresh host has something to pull and run.
#
#   deploy/seed-image.sh REGISTRY_HOST[:PORT] [REPO:TAG]   build and push
#                                                           (default library/busybox:latest)
#   deploy/seed-image.sh --layout DIR [TAG]                 only build an OCI layout at DIR
#                                                           (tag default latest); the tests use this
#
# Needs: busybox-static, umoci, skopeo. Runs as root (file owners in the layer
# are taken from the staged rootfs). Idempotent: every run rebuilds from
# scratch in a temp dir and overwrites the tag; with fixed mtimes and
# timestamps the image digest is the same on every run with the same busybox.
#
# The rootfs holds /bin/busybox, one absolute symlink to it per applet at the
# path `busybox --list-full` gives, and /etc/passwd + /etc/group with root,
# nobody, app (1000:1000) and group staff (50) containing app, which the
# runtime tests resolve users against.
set -eu

usage() {
	echo "usage: $0 REGISTRY_HOST[:PORT] [REPO:TAG] | $0 --layout DIR [TAG]" >&2
	exit 2
}

BUSYBOX=/bin/busybox
# A fixed instant (2000-01-01T00:00:00Z) for every mtime and config timestamp.
EPOCH=946684800
CREATED=2000-01-01T00:00:00Z

[ $# -ge 1 ] || usage
for tool in umoci skopeo; do
	command -v "$tool" >/dev/null 2>&1 || { echo "seed-image: $tool not found (apt-get install $tool)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "seed-image: must run as root (umoci unpack/repack keep file owners)" >&2; exit 1; }
[ -x "$BUSYBOX" ] || { echo "seed-image: $BUSYBOX not found (apt-get install busybox-static)" >&2; exit 1; }

LAYOUT_OUT=""
if [ "$1" = "--layout" ]; then
	[ $# -ge 2 ] && [ $# -le 3 ] || usage
	LAYOUT_OUT=$2
	TAG=${3:-latest}
	REPO=""
	HOST=""
else
	[ $# -le 2 ] || usage
	HOST=$1
	REF=${2:-library/busybox:latest}
	case "$REF" in
		*:*) REPO=${REF%:*}; TAG=${REF##*:} ;;
		*) REPO=$REF; TAG=latest ;;
	esac
	[ -n "$HOST" ] && [ -n "$REPO" ] && [ -n "$TAG" ] || usage
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/barque-seed.XXXXXX")
trap 'rm -rf "$WORK"' EXIT INT TERM
BUNDLE=$WORK/bundle
ROOTFS=$BUNDLE/rootfs
LAYOUT=$WORK/layout

# An empty image unpacked to a bundle: the rootfs is staged there and repacked
# as one layer whose member names are plain relative paths (bin/, etc/...).
umoci init --layout "$LAYOUT"
umoci new --image "$LAYOUT:$TAG"
umoci unpack --image "$LAYOUT:$TAG" "$BUNDLE"

# --- rootfs -----------------------------------------------------------------
for d in bin sbin usr/bin usr/sbin etc dev proc sys tmp var/tmp root home/app; do
	mkdir -p "$ROOTFS/$d"
done
chmod 0755 "$ROOTFS"
chmod 1777 "$ROOTFS/tmp" "$ROOTFS/var/tmp"
chmod 0700 "$ROOTFS/root"
cp "$BUSYBOX" "$ROOTFS/bin/busybox"
chmod 0755 "$ROOTFS/bin/busybox"
"$BUSYBOX" --list-full | while read -r applet; do
	[ "$applet" = bin/busybox ] && continue
	mkdir -p "$ROOTFS/$(dirname "$applet")"
	ln -sfn /bin/busybox "$ROOTFS/$applet"
done

cat >"$ROOTFS/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:app:/home/app:/bin/sh
PASSWD
cat >"$ROOTFS/etc/group" <<'GROUP'
root:x:0:
staff:x:50:app
app:x:1000:
nogroup:x:65534:
GROUP
echo "barque-seed" >"$ROOTFS/etc/hostname"
chmod 0644 "$ROOTFS/etc/passwd" "$ROOTFS/etc/group" "$ROOTFS/etc/hostname"
chown -R 0:0 "$ROOTFS"
chown 1000:1000 "$ROOTFS/home/app"
find "$ROOTFS" -exec touch -h -d "@$EPOCH" {} +

# --- image ------------------------------------------------------------------
umoci repack --image "$LAYOUT:$TAG" --history.created "$CREATED" \
	--history.created_by "barque seed-image.sh: busybox-static rootfs" "$BUNDLE"
umoci config --image "$LAYOUT:$TAG" --created "$CREATED" --history.created "$CREATED" \
	--architecture amd64 --os linux \
	--config.cmd sh \
	--config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	--config.workingdir / \
	--config.label org.opencontainers.image.title=barque-busybox
umoci gc --layout "$LAYOUT"

if [ -n "$LAYOUT_OUT" ]; then
	rm -rf "$LAYOUT_OUT"
	mkdir -p "$(dirname "$LAYOUT_OUT")"
	cp -a "$LAYOUT" "$LAYOUT_OUT"
	echo "seed-image: built $LAYOUT_OUT:$TAG"
	exit 0
fi

skopeo copy --quiet --dest-tls-verify=false "oci:$LAYOUT:$TAG" "docker://$HOST/$REPO:$TAG"
echo "seed-image: pushed $HOST/$REPO:$TAG"
