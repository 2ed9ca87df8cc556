"""The gate: absolute thresholds, no regression against the champion, a verdict file and an exit code."""

from __future__ import annotations

import json

import pytest
from conftest import git, run_cli, store

from {{ cookiecutter.package_name }} import contract
from {{ cookiecutter.package_name }}.config import DIRECTION
from {{ cookiecutter.package_name }}.errors import CheckFailed
from {{ cookiecutter.package_name }}.stages import evaluate, gate, prepare, register, train

GATE = {"thresholds": {"f1_macro": {"min": 0.8}, "rmse": {"max": 10}}, "max_drop": 0.02}


@pytest.mark.parametrize(
    ("candidate", "champions", "expected"),
    [
        ({"f1_macro": 0.9, "rmse": 5}, [], []),
        ({"f1_macro": 0.7, "rmse": 5}, [], ["f1_macro 0.7000 is below the minimum 0.8"]),
        ({"f1_macro": 0.9, "rmse": 12}, [], ["rmse 12.0000 is above the maximum 10"]),
        ({"f1_macro": 0.89, "rmse": 5}, [("git main", {"f1_macro": 0.90, "rmse": 5})], []),
        ({"f1_macro": 0.85, "rmse": 5}, [("git main", {"f1_macro": 0.90})], ["f1_macro 0.8500 regresses"]),
        ({"f1_macro": 0.9, "rmse": 6}, [("registry", {"f1_macro": 0.9, "rmse": 5})], ["rmse 6.0000 regresses"]),
        ({"f1_macro": 0.9, "rmse": 4}, [("registry", {"f1_macro": 0.9, "rmse": 5})], []),
    ],
)
def test_decide(candidate, champions, expected):
    reasons = gate.decide(candidate, GATE, champions)
    assert len(reasons) == len(expected)
    for reason, start in zip(reasons, expected, strict=True):
        assert reason.startswith(start)


def test_unknown_metric_is_a_reason():
    assert gate.decide({"accuracy": 1.0}, {"thresholds": {"f1": {"min": 0.5}}}, []) == [
        "f1: no such metric in metrics/metrics.json (have accuracy)"
    ]


def train_candidate(params):
    prepare.run(params)
    train.run(params)
    return evaluate.run(params)


def test_worse_than_champion_fails_and_registers_nothing(params, project):
    candidate = train_candidate(params)
    # The champion's metrics, committed on the base branch, are better than this candidate's.
    better = {k: (v + 0.5 if DIRECTION[k] > 0 else v / 2) for k, v in candidate.items()}
    (project / "metrics/metrics.json").write_text(json.dumps(better))
    git("add", "metrics/metrics.json", cwd=project)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "champion", cwd=project)
    (project / "metrics/metrics.json").write_text(json.dumps(candidate))

    result = run_cli("gate")
    assert result.returncode == 1
    assert "regresses against the champion (git main" in result.stderr
    verdict = json.loads((project / "reports/gate.json").read_text())
    assert verdict["passed"] is False and verdict["champions"][0]["metrics"] == better

    with pytest.raises(CheckFailed, match="not registering: the gate failed"):
        register.register(params)
    assert store(project).search_registered_models() == []


def test_impossible_threshold_fails(params, project):
    train_candidate(params)
    metric = next(iter(params["gate"]["thresholds"]))
    params["gate"]["thresholds"] = {metric: {"min": 1.01}}
    with pytest.raises(CheckFailed, match=f"{metric} .* is below the minimum 1.01"):
        gate.run(params)
    assert json.loads((project / "reports/gate.json").read_text())["passed"] is False


def test_missing_base_ref_is_an_error_not_a_pass(params, project):
    train_candidate(params)
    result = run_cli("gate", "--base-ref", "nosuchbranch")
    assert result.returncode == 2
    assert "git ref 'nosuchbranch' (gate.base_ref in params.yaml, or --base-ref) does not exist" in result.stderr
    assert "main" in result.stderr  # the refs that do exist
    assert not (project / "reports/gate.json").exists()


def test_champion_for_another_target_is_not_compared(params, project):
    """After a switch to another data set, the demo's champion says nothing about the new model."""
    candidate = train_candidate(params)
    (project / "champion.json").write_text(json.dumps({
        "model_name": "demo", "version": 3, "metrics": {k: v + 1 for k, v in candidate.items()},
        "task": params["task"], "target": "some_other_target", "features": {"x": "float64"}}))
    git("add", "champion.json", cwd=project)
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "foreign champion", cwd=project)
    verdict = gate.run(params)
    assert verdict["passed"] and verdict["champions"] == []
    (skipped,) = verdict["incomparable"]
    assert skipped["source"] == "git main:champion.json (v3)"
    assert f"trained on target 'some_other_target', this candidate on '{params['data']['target']}'" in skipped["reason"]
    assert verdict["reasons"][0].startswith("all thresholds met; no comparable champion")
    # The same champion with this project's target and columns is compared, and this candidate regresses.
    record = json.loads((project / "champion.json").read_text())
    record.update(target=params["data"]["target"], features=contract.features_of(
        (project / "schema.yaml").read_text(), params["data"]["target"]))
    (project / "champion.json").write_text(json.dumps(record))
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "comparable champion", cwd=project)
    with pytest.raises(CheckFailed, match=r"regresses against the champion \(git main:champion.json \(v3\)"):
        gate.run(params)
