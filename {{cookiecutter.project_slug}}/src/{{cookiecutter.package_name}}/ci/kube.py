"""Deploys to an environment's Kubernetes cluster: the rollout behind `deploy` (docs/deploy.md).

Kubernetes does the rolling update (deploy/k8s: readiness probes, maxUnavailable 0). This module
applies the environment's overlay with the image by digest and the environment's kubeconfig, waits
with `kubectl rollout status --timeout`, smoke-tests the Service from a pod of the new image, and runs
`kubectl rollout undo` when either fails. Only the standard library and `kubectl` (kustomize built in).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from ..errors import CheckFailed, PipelineError
from ..paths import K8S_BUILD, K8S_OVERLAYS, KUSTOMIZATION
from ..serving import smoke
from .deploy import SLUG, WAIT, name

OVERLAYS = K8S_OVERLAYS
IMAGE = re.compile(r"(?P<name>[^\s@]+?)(?::(?P<tag>[\w][\w.-]*))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?")


def kustomization(environment: str, image: str) -> str:
    """A kustomization of the environment's overlay with the image set (by digest when it has one)."""
    match = IMAGE.fullmatch(image)
    if not match or not (match["tag"] or match["digest"]):
        raise PipelineError(f"--image {image!r}: expected registry/name@sha256:<digest> (or :tag)")
    overlay = OVERLAYS / environment
    if not (overlay / KUSTOMIZATION).is_file():
        raise PipelineError(f"{overlay}/kustomization.yaml: not found; add an overlay for {environment!r} "
                            f"(copy {OVERLAYS}/staging) and run `deploy` from the project root")
    pin = f"digest: {match['digest']}" if match["digest"] else f"newTag: {match['tag']}"
    return ("apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - {Path('../../..', overlay).as_posix()}\n"
            f"images:\n  - name: app\n    newName: {match['name']}\n    {pin}\n")


class Kubectl:
    """`kubectl` with the environment's kubeconfig (a private temporary file) and namespace."""

    def __init__(self, kubeconfig: str, namespace: str, folder: Path):
        if not shutil.which("kubectl"):
            raise PipelineError("deploy needs kubectl on PATH (GitHub's ubuntu runners have it)")
        self.config = folder / "kubeconfig"
        self.config.touch(mode=0o600)
        self.config.write_text(kubeconfig)
        self.namespace = namespace

    def __call__(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
        command = ["kubectl", "--kubeconfig", str(self.config), "--namespace", self.namespace, *args]
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PipelineError(f"kubectl {' '.join(args[:2])}: no answer in {timeout:.0f} s") from None
        if check and result.returncode != 0:
            raise PipelineError(f"kubectl {' '.join(args[:2])} failed: {' '.join(result.stderr.split())[-600:]}")
        return result


def roll_out(environment: str, image: str, version: int | None, env: dict) -> dict:
    """Apply, wait, smoke-test; on failure `rollout undo` and CheckFailed saying why and what serves."""
    namespace, deployment = name(environment), f"deployment/{SLUG}"
    timeout = int(env.get("DEPLOY_TIMEOUT") or WAIT)
    with tempfile.TemporaryDirectory(prefix="deploy-") as tmp:
        kubectl = Kubectl(env["DEPLOY_KUBECONFIG"], namespace, Path(tmp))
        before = kubectl("get", deployment, "--output", "json", check=False)
        previous = None
        if before.returncode == 0:
            spec = json.loads(before.stdout)["spec"]["template"]["spec"]["containers"][0]
            previous = {"image": spec["image"], "version": json.loads(before.stdout)["metadata"].get(
                "annotations", {}).get("deploy.model-version")}
        wrapper = K8S_BUILD / environment
        wrapper.mkdir(parents=True, exist_ok=True)
        (wrapper / KUSTOMIZATION).write_text(kustomization(environment, image))
        started = time.monotonic()
        kubectl("apply", "--kustomize", str(wrapper))
        try:
            status = kubectl("rollout", "status", deployment, f"--timeout={timeout}s", check=False,
                             timeout=timeout + 60)
            if status.returncode != 0:
                raise CheckFailed(f"rollout not complete in {timeout} s: {' '.join(status.stderr.split())[-400:]}")
            seconds = time.monotonic() - started
            probe = kubectl("run", f"{SLUG}-smoke-{uuid.uuid4().hex[:6]}", "--rm", "--stdin", "--restart=Never",
                            "--quiet", f"--image={image}", "--command", "--", "python", "-m", smoke.__name__,
                            f"http://{SLUG}:80", "--wait", "60",
                            *(["--expect-version", str(version)] if version is not None else []), check=False)
            if probe.returncode != 0:
                raise CheckFailed(f"smoke test failed: {' '.join((probe.stderr or probe.stdout).split())[-400:]}")
        except CheckFailed as exc:
            if previous is None:
                raise CheckFailed(f"{exc}; first deploy: nothing to undo") from None
            kubectl("rollout", "undo", deployment)
            kubectl("rollout", "status", deployment, f"--timeout={timeout}s", timeout=timeout + 60)
            raise CheckFailed(f"{exc}; `kubectl rollout undo` brought back {previous['image']}") from None
        if version is not None:
            kubectl("annotate", deployment, "--overwrite", f"deploy.model-version={version}")
        replicas = json.loads(kubectl("get", deployment, "--output", "json").stdout)["status"].get("readyReplicas", 0)
    return {"environment": environment, "stack": namespace, "host": "the kubeconfig's cluster", "image": image,
            "version": version, "replicas": replicas, "seconds": round(seconds, 1), "previous": previous,
            "url": env.get("DEPLOY_URL") or f"http://{SLUG}.{namespace}", "checks": [
                f"`kubectl rollout status`: complete in {seconds:.0f} s", "in the cluster: /health, one prediction"]}
