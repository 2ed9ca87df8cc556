#!/usr/bin/env bash
# End-to-end check of this folder: engine -> base image -> wheelhouse -> build
# Dockerfile.example for a throwaway FastAPI project -> run it -> probe it.
# Everything stays on loopback; the container and image are removed afterwards.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BASE=${BASE_IMAGE:-mlops-template/python-base:bookworm}
TAG=mlops-template/docker-selftest:latest
NAME=mlops-template-docker-selftest
WORK=$(mktemp -d /tmp/docker-selftest.XXXXXX)
cleanup() {
    docker rm -f "$NAME" >/dev/null 2>&1 || true
    docker rmi "$TAG" >/dev/null 2>&1 || true
    # The legacy builder keeps each builder stage as a dangling image (~50 MB new per run).
    docker image prune -f >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '%s [%3ss] %s\n' "selftest:" "$SECONDS" "$*"; }

step "engine";     "$HERE/engine.sh"
step "base image"; "$HERE/base_image.sh" "$BASE"

mkdir -p "$WORK/src/demo_app"
cat >"$WORK/pyproject.toml" <<'TOML'
[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "demo-app"
version = "0.1.0"
requires-python = ">=3.11"
dependencies = ["fastapi", "uvicorn"]
TOML
cat >"$WORK/src/demo_app/__init__.py" <<'PY'
from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}
PY

step "wheelhouse"; "$HERE/wheelhouse.sh" "$WORK" "$WORK/wheels"
cp "$HERE/Dockerfile.example" "$WORK/Dockerfile"

step "build"
# --network host: with --bridge=none there is no other network for RUN steps.
docker build --quiet --network host --build-arg BASE_IMAGE="$BASE" \
    --build-arg PACKAGE=demo-app --build-arg VERSION=0.1.0 -t "$TAG" "$WORK" >/dev/null

# A free loopback port chosen by the kernel; bind to 127.0.0.1 only.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "run on 127.0.0.1:$PORT"
docker run -d --name "$NAME" --network host --health-interval 1s \
    -e UVICORN_HOST=127.0.0.1 -e UVICORN_PORT="$PORT" "$TAG" >/dev/null

healthy() {
    local _
    for _ in $(seq 60); do
        [ "$(docker inspect -f '{{.State.Health.Status}}' "$NAME")" = healthy ] && return 0
        sleep 1
    done
    return 1
}
if ! healthy; then
    echo "selftest: container never became healthy" >&2
    docker logs "$NAME" >&2 || true
    exit 1
fi
step "healthy: $(curl -fsS --max-time 5 "http://127.0.0.1:$PORT/health")"
[ "$(docker exec "$NAME" id -u)" = 10001 ] || { echo "selftest: not running as uid 10001" >&2; exit 1; }
docker stop -t 10 "$NAME" >/dev/null
step "OK"
