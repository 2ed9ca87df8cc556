"""The capture volumes of an environment's Docker hosts, copied here for `collect`.

Over the same SSH access and Docker transport as the deploys (deploy.Host, the DEPLOY_* settings), each
host that runs the app streams its capture volume as a tar from a short-lived container that mounts it
read-only (the app's own image: nothing is pulled). With Swarm, `docker node ls` on the manager names
the other hosts, reached with the same user, key and port. Only the standard library and the docker CLI.
"""

from __future__ import annotations

import dataclasses
import io
import os
import tarfile
from pathlib import Path

from ..errors import PipelineError
from . import deploy

VOLUME = "capture"  # the named volume the deploys mount at /var/lib/capture (a stack prefixes it: <stack>_capture)
MOUNT = "/var/lib/capture"


def _volumes(host: deploy.Host) -> list[str]:
    names = host.docker("volume", "ls", "--format", "{" "{.Name}" "}").stdout.split()
    return [n for n in names if n == VOLUME or n.endswith(f"_{VOLUME}")]


def _image(host: deploy.Host, volume: str) -> str | None:
    """The image of a container that mounts the volume: the app's, present on the host."""
    found = host.docker("ps", "-a", "--filter", f"volume={volume}", "--format", "{" "{.Image}" "}").stdout.split()
    return found[0] if found else None


def _nodes(host: deploy.Host) -> list[str]:
    """The addresses of the swarm's other nodes, or [] when the host is not a swarm manager."""
    state = host.docker("info", "--format", "{" "{.Swarm.LocalNodeState}} {" "{.Swarm.ControlAvailable}" "}").stdout
    if state.split() != ["active", "true"]:
        return []
    ids = host.docker("node", "ls", "--format", "{" "{.ID}" "}").stdout.split()
    addresses = host.docker("node", "inspect", "--format", "{" "{.Status.Addr}" "}", *ids).stdout.split()
    return [a for a in addresses if a and a != host.settings.host]


def _fetch_one(host: deploy.Host, into: Path) -> list[str]:
    copied = []
    for volume in _volumes(host):
        image = _image(host, volume)
        if image is None:
            continue
        result = host.docker("run", "--rm", "--network", "none", "--user", "0", "-v", f"{volume}:{MOUNT}:ro",
                             "--entrypoint", "tar", image, "-C", MOUNT, "-cf", "-", ".", binary=True, timeout=600)
        target = into / f"{host.settings.host}-{volume}"
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
            archive.extractall(target, filter="data")  # no links or paths out of the folder
        copied.append(f"{host.where}:{volume}")
    return copied


def fetch(environment: str, into: Path, env: dict | None = None, compose_file: str = deploy.COMPOSE_FILE) -> list[str]:
    """Copy every capture volume of the environment's hosts under `into` (one folder per host and volume)."""
    env = dict(os.environ if env is None else env)
    missing = deploy.missing(env)
    if missing:
        raise PipelineError(f"collect --environment {environment}: {', '.join(missing)} not set "
                            "(the environment's deploy settings, docs/deploy.md)")
    settings = deploy.read_settings(environment, env)
    copied = []
    with deploy.Host(settings, compose_file) as manager:
        copied += _fetch_one(manager, into)
        others = _nodes(manager)
    for address in others:
        with deploy.Host(dataclasses.replace(settings, host=address), compose_file) as host:
            copied += _fetch_one(host, into)
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
