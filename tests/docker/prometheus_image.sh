#!/usr/bin/env bash
# Build the Prometheus image the deploy tests use in place of the upstream prom/prometheus image,
# without pulling from any registry: Debian's prometheus binary (installed on this machine; .ci/run
# installs it) on the debootstrapped base (base_image.sh), laid out like the official image
# (/bin/prometheus as the entrypoint, /prometheus owned by nobody, run as nobody).
# Usage: prometheus_image.sh [NAME] [BASE]   (needs a running engine and the base image)
set -euo pipefail

NAME=${1:-mlops-template/prometheus:bookworm}
BASE=${2:-mlops-template/python-base:bookworm}
BINARY=${PROMETHEUS_BINARY:-/usr/bin/prometheus}

if docker image inspect "$NAME" >/dev/null 2>&1; then
    echo "prometheus_image.sh: $NAME already exists"
    exit 0
fi
[ -x "$BINARY" ] || { echo "prometheus_image.sh: no $BINARY (apt-get install prometheus)" >&2; exit 1; }

CONTEXT=$(mktemp -d /tmp/prometheus_image.XXXXXX)
trap 'rm -rf "$CONTEXT"' EXIT
cp "$BINARY" "$CONTEXT/prometheus"
cat >"$CONTEXT/Dockerfile" <<'DOCKERFILE'
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
COPY prometheus /bin/prometheus
RUN mkdir -p /prometheus /etc/prometheus && chown 65534:65534 /prometheus
USER 65534:65534
WORKDIR /prometheus
ENTRYPOINT ["/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
DOCKERFILE
docker build --quiet --force-rm --network host --build-arg BASE_IMAGE="$BASE" -t "$NAME" "$CONTEXT" >/dev/null
docker run --rm --network none "$NAME" --version 2>&1 | head -n 1 | sed 's/^/prometheus_image.sh: /'
echo "prometheus_image.sh: built $NAME"
