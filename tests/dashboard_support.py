"""The Grafana dashboard the monitoring component ships, and the metric names its queries use."""

from __future__ import annotations

import json
import re
from pathlib import Path

DASHBOARD = Path(__file__).resolve().parents[1] / "k8s" / "components" / "monitoring" / "dashboards" / "sglang.json"
_METRIC = re.compile(r"\bsglang:[A-Za-z_][A-Za-z0-9_:]*")


def expressions(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["query"] for v in dashboard.get("templating", {}).get("list", []) if v.get("type") == "query"]
    return exprs


def metric_names(dashboard: dict | None = None) -> set[str]:
    """Every sglang:* series name a query of the dashboard reads (histograms by their _bucket series)."""
    dashboard = dashboard or json.loads(DASHBOARD.read_text())
    return {name for expr in expressions(dashboard) for name in _METRIC.findall(expr)}


def exported(metrics_text: str) -> set[str]:
    """Series names present with at least one sample in a Prometheus text exposition."""
    return {line.split("{", 1)[0].split(" ", 1)[0] for line in metrics_text.splitlines() if line and not line.startswith("#")}
