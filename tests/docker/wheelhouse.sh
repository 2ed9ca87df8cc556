#!/usr/bin/env bash
# Fill OUT_DIR with a wheel of the project in PROJECT_DIR plus wheels of all its
# runtime dependencies, so a Dockerfile can install offline:
#   pip install --no-index --find-links /wheels PACKAGE
# Wheels are built by the host interpreter, which must therefore match the image
# (Linux x86_64, CPython 3.11). Pin versions by exporting PIP_CONSTRAINT=file.
# Usage: wheelhouse.sh PROJECT_DIR OUT_DIR
set -euo pipefail

if [ $# -ne 2 ]; then
    echo "usage: $0 PROJECT_DIR OUT_DIR" >&2
    exit 2
fi
PROJECT_DIR=$1
OUT_DIR=$2
PYTHON=${PYTHON:-python3}

# Wheels built here (sdist-only deps, the project itself) carry the host's tags.
tag=$("$PYTHON" -c 'import platform, sys; print(sys.implementation.name, "%d.%d" % sys.version_info[:2], platform.system(), platform.machine())')
if [ "$tag" != "cpython 3.11 Linux x86_64" ]; then
    echo "wheelhouse.sh: $PYTHON is '$tag', need 'cpython 3.11 Linux x86_64' to match the image" >&2
    exit 1
fi

mkdir -p "$OUT_DIR"
# The pip cache (default ~/.cache/pip) is kept so repeated runs download nothing;
# --find-links OUT_DIR lets a rerun reuse wheels already in the wheelhouse.
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check \
    --wheel-dir "$OUT_DIR" --find-links "$OUT_DIR" "$PROJECT_DIR"

echo "wheelhouse.sh: $(find "$OUT_DIR" -name '*.whl' | wc -l) wheels in $OUT_DIR"
