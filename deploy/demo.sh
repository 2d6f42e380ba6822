#!/bin/sh
# The main job on the embedded default. With no internet Docker Hub is out of
# reach, so this starts a local registry (Debian's docker-registry) on
# 127.0.0.1:5000, seeds it with a busybox image built by umoci/skopeo from
# Debian's busybox-static, then pulls and lists it with barque and runs a
# container from it.
# Idempotent: a registry already answering on the port is reused.
set -eu
cd "$(dirname "$0")/.."
PORT=${BARQUE_DEMO_PORT:-5000}
DIR=/var/lib/barque-demo-registry
RUN=/run/barque-demo
IMAGE=127.0.0.1:$PORT/library/busybox:latest

mkdir -p "$DIR/storage" "$RUN"
if ! curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1; then
	cat >"$DIR/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $DIR/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
YML
	setsid docker-registry serve "$DIR/config.yml" >"$DIR/registry.log" 2>&1 </dev/null &
	echo $! >"$RUN/registry.pid"
	i=0
	until curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 200 ] || { echo "demo registry did not start; see $DIR/registry.log" >&2; exit 1; }
		sleep 0.05
	done
	echo "demo registry: serving on 127.0.0.1:$PORT (pid $(cat "$RUN/registry.pid"))"
fi
deploy/seed-image.sh "127.0.0.1:$PORT" library/busybox:latest
set -x
barque pull "$IMAGE"
barque images
barque run --rm "$IMAGE" sh -c 'echo "hello from a barque container: $(hostname), pid $$, $(id -un)"'
