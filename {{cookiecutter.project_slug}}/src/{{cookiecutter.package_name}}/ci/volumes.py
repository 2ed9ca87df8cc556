"""The capture volumes of an environment's Swarm nodes, copied here for `collect`.

Over the same SSH access and Docker context as the deploys (swarm.Swarm, the DEPLOY_* settings), every
node of the environment's swarm streams its capture volume as a tar from a short-lived container that
mounts it read-only (the app's own image, already on the node: nothing is pulled). `docker node ls` on
the manager names the other nodes, reached with the same user, key and port. Only the standard library
and the docker CLI.
"""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import tarfile
from pathlib import Path

from ..errors import PipelineError
from ..paths import CAPTURE_MOUNT
from . import deploy, swarm

VOLUME = "capture"  # the named volume deploy/stack.yml mounts at /var/lib/capture (as <stack>_capture)
MOUNT = CAPTURE_MOUNT.as_posix()
TIMEOUT = 600  # seconds for one volume's tar


def _volumes(node: swarm.Swarm) -> list[str]:
    """The environment's own capture volume on the node (its stack's: <stack>_capture), if there is one."""
    wanted = f"{node.settings.stack}_{VOLUME}"
    return [n for n in node.docker("volume", "ls", "--format", "{" "{.Name}" "}").stdout.split() if n == wanted]


def _image(node: swarm.Swarm, volume: str) -> str | None:
    """The image of a container that mounts the volume: the app's, present on the node."""
    found = node.docker("ps", "-a", "--filter", f"volume={volume}", "--format", "{" "{.Image}" "}").stdout.split()
    return found[0] if found else None


def _nodes(manager: swarm.Swarm) -> list[str]:
    """The addresses of the swarm's other nodes."""
    ids = manager.docker("node", "ls", "--format", "{" "{.ID}" "}").stdout.split()
    addresses = manager.docker("node", "inspect", "--format", "{" "{.Status.Addr}" "}", *ids).stdout.split()
    return [a for a in addresses if a and a not in (manager.settings.host, "127.0.0.1", "0.0.0.0")]


def _tar(node: swarm.Swarm, volume: str, image: str) -> bytes:
    args = ["docker", "run", "--rm", "--network", "none", "--user", "0", "-v", f"{volume}:{MOUNT}:ro",
            "--entrypoint", "tar", image, "-C", MOUNT, "-cf", "-", "."]
    try:
        result = subprocess.run(args, env=node.env, capture_output=True, timeout=TIMEOUT)  # bytes: a tar stream
    except subprocess.TimeoutExpired:
        raise PipelineError(f"copying volume {volume} on {node.where}: no answer in {TIMEOUT} s") from None
    if result.returncode:
        text = " ".join(result.stderr.decode(errors="replace").split())[-600:] or "no output"
        raise PipelineError(f"copying volume {volume} on {node.where} failed: {text}")
    return result.stdout


def _fetch_one(node: swarm.Swarm, into: Path) -> list[str]:
    copied = []
    for volume in _volumes(node):
        image = _image(node, volume)
        if image is None:
            continue
        target = into / f"{node.settings.host}-{volume}"
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(_tar(node, volume, image))) as archive:
            archive.extractall(target, filter="data")  # no links or paths out of the folder
        copied.append(f"{node.where}:{volume}")
    return copied


def fetch(environment: str, into: Path, env: dict | None = None) -> list[str]:
    """Copy every capture volume of the environment's nodes under `into` (one folder per node and volume)."""
    env = dict(os.environ if env is None else env)
    missing = [key for key in deploy.REQUIRED["swarm"] if not (env.get(key) or "").strip()]
    if missing:
        raise PipelineError(f"collect --environment {environment}: {', '.join(missing)} not set "
                            "(the environment's deploy settings, docs/deploy.md)")
    settings = swarm.read_settings(environment, env)
    copied = []
    with swarm.Swarm(settings) as manager:
        copied += _fetch_one(manager, into)
        others = _nodes(manager)
    for address in others:
        with swarm.Swarm(dataclasses.replace(settings, host=address), manager=False) as node:
            copied += _fetch_one(node, into)
    return copied


def merged_source(into: Path) -> str:
    """One folder with the day folders of every copied volume, as collect reads them (file names are unique
    per host and process, so nothing collides)."""
    merged = into / "all"
    for day in sorted(p for p in into.glob("*/*") if p.is_dir() and p.parent != merged):
        target = merged / day.name
        target.mkdir(parents=True, exist_ok=True)
        for file in day.iterdir():
            os.replace(file, target / file.name)
    merged.mkdir(parents=True, exist_ok=True)
    return str(merged)
