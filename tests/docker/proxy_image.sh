#!/usr/bin/env bash
# Build the reverse proxy image the deploy tests use in place of the upstream nginx image, without
# pulling from any registry: Debian's nginx-light on the debootstrapped base (base_image.sh), laid out
# like the official image (user nginx, /etc/nginx/nginx.conf, `nginx -g 'daemon off;'`).
# Usage: proxy_image.sh [NAME] [BASE]   (needs a running engine and the base image)
set -euo pipefail

NAME=${1:-mlops-template/proxy:bookworm}
BASE=${2:-mlops-template/python-base:bookworm}

if docker image inspect "$NAME" >/dev/null 2>&1; then
    echo "proxy_image.sh: $NAME already exists"
    exit 0
fi

LOG=$(mktemp /tmp/proxy_image.XXXXXX.log)
trap 'rm -f "$LOG"' EXIT
# apt needs the Debian mirror (a package registry); the index and caches are removed in the same layer.
docker build --force-rm --network host --build-arg BASE_IMAGE="$BASE" -t "$NAME" - <<'DOCKERFILE' >"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; exit 1; }
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light \
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /etc/nginx/sites-enabled/* \
    && useradd --system --no-create-home --shell /usr/sbin/nologin nginx
CMD ["nginx", "-g", "daemon off;"]
DOCKERFILE
docker run --rm --network none --entrypoint nginx "$NAME" -v 2>&1 | sed 's/^/proxy_image.sh: /'
echo "proxy_image.sh: built $NAME"
