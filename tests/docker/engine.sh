#!/usr/bin/env bash
# Make sure a Docker engine is usable: install docker.io if needed, start dockerd
# if it is not answering, and wait for it. Safe to run repeatedly; never hangs.
set -euo pipefail

LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
WAIT=${DOCKERD_WAIT:-60}

# Bound every probe: a wedged daemon socket can make `docker info` block forever.
engine_up() { timeout 10 docker info >/dev/null 2>&1; }

if engine_up; then
    echo "engine.sh: docker engine already running"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    echo "engine.sh: docker is not running and starting it needs root" >&2
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    echo "engine.sh: installing docker.io via apt"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io </dev/null >/dev/null
fi

# No bridge/iptables: the sandbox has no NAT and containers use --network host.
# setsid + nohup detach it from this script so it outlives the CI step.
echo "engine.sh: starting dockerd (log: $LOG)"
setsid nohup dockerd --bridge=none --iptables=false >"$LOG" 2>&1 </dev/null &

# Deadline, not iteration count: each probe may itself take up to 10 s.
deadline=$((SECONDS + WAIT))
while [ "$SECONDS" -lt "$deadline" ]; do
    if engine_up; then
        echo "engine.sh: docker engine ready"
        exit 0
    fi
    sleep 1
done

echo "engine.sh: docker engine did not come up within ${WAIT}s; last log lines:" >&2
tail -n 20 "$LOG" >&2 || true
exit 1
