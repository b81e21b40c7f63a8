"""The monitoring component's Grafana dashboard: a ConfigMap Grafana's sidecar picks up, rendered by the
real kustomize, with the five panels an operator opens first. That every metric it queries exists on real
0.5.9 and 0.5.23 servers is checked in the real-server tier (tests/e2e/test_tiny_server.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from dashboard_support import DASHBOARD, expressions, metric_names
from k8s_support import find, render

K8S = Path(__file__).resolve().parents[1] / "k8s"


def test_the_dashboard_is_a_configmap_the_grafana_sidecar_loads(tmp_path):
    rel = lambda p: os.path.relpath(p, tmp_path)  # noqa: E731
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{rel(K8S)}]\ncomponents: [{rel(K8S / 'components' / 'monitoring')}]\n")
    objects = render(tmp_path)
    config = find(objects, "ConfigMap", "sglang-dashboard")
    assert config["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config["metadata"]["namespace"] == find(objects, "Deployment", "sglang")["metadata"]["namespace"]
    assert json.loads(config["data"]["sglang.json"]) == json.loads(DASHBOARD.read_text())


def test_the_panels_an_operator_opens_first_each_with_queries():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = [p["title"] for p in dashboard["panels"]]
    assert titles == ["Queue length", "Running requests", "Token throughput", "Time to first token", "Prefix cache hit rate"]
    assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in dashboard["panels"])
    assert len({p["id"] for p in dashboard["panels"]}) == len(titles)
    assert metric_names(dashboard) == {"sglang:num_queue_reqs", "sglang:num_running_reqs", "sglang:prompt_tokens_total",
                                       "sglang:generation_tokens_total", "sglang:time_to_first_token_seconds_bucket",
                                       "sglang:cache_hit_rate"}
    assert all(expr.count("(") == expr.count(")") for expr in expressions(dashboard))
