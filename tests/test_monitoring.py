"""The Prometheus configuration and alert rules that level 2 ships (monitoring/, docs/monitoring.md).

Every render: `promtool check config` and `promtool check rules` pass where monitoring/ ships (level 2
with deploy_target swarm: the stack runs Prometheus), and no other render has the folder. Every alert
rule is unit-tested with `promtool test rules` on series shaped like the app's /metrics: each fires on
its condition (labels and annotations as shipped) and stays silent on healthy traffic. A real
Prometheus scraping the running app, and an alert firing there, are checked in tests/test_docker.py
(tests/serving_monitoring.py), on the image it builds.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import yaml
from conftest import COMBOS, unavailable

APP = 'job="app",instance="10.0.0.5:8000"'


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        unavailable("promtool is not installed (apt-get install prometheus; .ci/run installs it)")
    return found


def series(name: str, labels: str, values: str) -> dict:
    return {"series": f"{name}{{{APP}{',' + labels if labels else ''}}}", "values": values}


def thresholds(minutes: int) -> list[dict]:
    """The gauges the app publishes from params.yaml `monitoring:` (defaults) and the training data."""
    n = f"x{minutes}"
    return [series("model_alert_error_rate", "", f"0.05{n}"), series("model_alert_latency_p99_seconds", "", f"0.25{n}"),
            series("model_alert_prediction_shift", "", f"0.2{n}"),
            series("model_training_class_share", 'class="yes"', f"0.5{n}"),
            series("model_training_class_share", 'class="no"', f"0.5{n}"),
            series("model_training_target_mean", "", f"10{n}"), series("model_training_target_std", "", f"5{n}")]


def requests(status: str, values: str) -> dict:
    return series("http_requests_total", f'route="/predict",method="POST",status="{status}"', values)


# alert -> (series where it must fire, evaluation minute, labels beyond the rule's own, healthy series)
CASES = {
    "ServingDown": ([series("up", "", "0x10")], 5, [{"job": "app", "instance": "10.0.0.5:8000"}],
                    [series("up", "", "1x10")]),
    "ServingHighErrorRate": ([requests("500", "0+30x20"), requests("200", "0+70x20")], 15, [{"job": "app"}],
                             [requests("500", "0+1x20"), requests("200", "0+99x20")]),
    "ServingLatencyP99High": (
        [series("http_request_duration_seconds_bucket", f'route="/predict",le="{le}"', values)
         for le, values in (("0.25", "0+1x30"), ("0.5", "0+100x30"), ("+Inf", "0+100x30"))], 20, [{"job": "app"}],
        [series("http_request_duration_seconds_bucket", f'route="/predict",le="{le}"', "0+100x30")
         for le in ("0.25", "0.5", "+Inf")]),
    "ServingNoTraffic": ([requests("200", "0+10x30 300x80")], 100, [{"job": "app"}], [requests("200", "0+10x110")]),
    "CaptureDropping": ([series("capture_records_dropped_total", 'reason="write_error"', "0+5x10")], 5,
                        [{"job": "app", "reason": "write_error"}],
                        [series("capture_records_dropped_total", 'reason="write_error"', "0x10")]),
    "PredictedClassShareShift": (
        [series("model_predictions_total", 'class="yes"', "0+90x120"),
         series("model_predictions_total", 'class="no"', "0+10x120")], 100,
        [{"job": "app", "class": "yes"}, {"job": "app", "class": "no"}],
        [series("model_predictions_total", 'class="yes"', "0+55x120"),
         series("model_predictions_total", 'class="no"', "0+45x120")]),
    "PredictionMeanShift": (
        [series("model_prediction_value_sum", "", "0+300x120"), series("model_prediction_value_count", "", "0+10x120")],
        100, [{"job": "app"}],
        [series("model_prediction_value_sum", "", "0+105x120"),
         series("model_prediction_value_count", "", "0+10x120")]),
}


def unit_tests(rules: dict) -> dict:
    shipped = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    assert set(shipped) == set(CASES), "every shipped alert has a case here, and only those"
    tests = []
    for name, (firing, minute, labels, healthy) in CASES.items():
        rule = shipped[name]
        expected = [{"exp_labels": {**rule["labels"], **extra}, "exp_annotations": rule["annotations"]}
                    for extra in labels]
        tests.append({"interval": "1m", "input_series": [*firing, *thresholds(130)],
                      "alert_rule_test": [{"eval_time": f"{minute}m", "alertname": name, "exp_alerts": expected}]})
        tests.append({"interval": "1m", "input_series": [*healthy, *thresholds(130)],
                      "alert_rule_test": [{"eval_time": f"{minute}m", "alertname": name, "exp_alerts": []}]})
    return {"rule_files": ["alerts.yml"], "evaluation_interval": "1m", "tests": tests}


@pytest.mark.parametrize(("level", "task"), COMBOS)
def test_promtool_accepts_the_shipped_config_and_rules(rendered, level, task, tmp_path):
    answers, project = rendered(level, task)
    folder = project / "monitoring"
    if level != "2" or answers["deploy_target"] != "swarm":  # the Swarm stack runs Prometheus beside the app
        assert not folder.exists()
        return
    tool = promtool()
    for args in (("check", "config", "prometheus.yml"), ("check", "rules", "alerts.yml")):
        result = subprocess.run([tool, *args], cwd=folder, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((folder / "prometheus.yml").read_text())
    job = config["scrape_configs"][0]
    assert job["job_name"] == project.name and job["dns_sd_configs"][0]["names"] == ["tasks.app"]
    assert config["rule_files"] == ["alerts.yml"]


def test_every_alert_fires_on_its_condition_and_not_on_healthy_traffic(rendered, tmp_path):
    """promtool's rule unit tests, on the level-2 classification render (swarm; the rules are the same file
    for both tasks: each task's series exist only in its own app)."""
    tool = promtool()
    _, project = rendered("2", "classification")
    shutil.copy(project / "monitoring/alerts.yml", tmp_path / "alerts.yml")
    rules = yaml.safe_load((tmp_path / "alerts.yml").read_text())
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(unit_tests(rules)))
    result = subprocess.run([tool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True,
                            check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr
