"""The optional NetworkPolicy component (issue 22, class 8): /health, /health_generate and /metrics answer
without the key (measured in tests/e2e/test_tiny_server.py), so k8s/components/network-policy fences the
servers' HTTP port to the Model Gateway and the monitoring namespace, and keeps the servers reachable by
each other. Rendered by the real kubectl kustomize, validated strictly against the Kubernetes 1.37
schemas (kubernetes-validate); no cluster here, so the policy's selection is checked against the
rendered pods' labels and named ports (a stand-in for a CNI's evaluation)."""

from __future__ import annotations

import kubernetes_validate
import pytest

from k8s_support import K8S, compose, find, pod_specs

K8S_VERSION = "1.37.0"
POLICY = K8S / "components" / "network-policy"
MONITORING = K8S / "components" / "monitoring"
OVERLAYS = {"gateway": K8S / "gateway", "multinode/gateway": K8S / "multinode" / "gateway", "pd": K8S / "pd",
            "pd/multinode": K8S / "pd" / "multinode", "base": K8S}



@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, list[dict]]:
    return {name: compose(tmp_path_factory.mktemp("np"), path, MONITORING, POLICY) for name, path in OVERLAYS.items()}


def selects(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()) and not selector.get("matchExpressions")


def pod_labels(objects: list[dict]) -> list[tuple[str, dict, dict]]:
    """(name, labels, pod spec) of every pod template a render would run (LeaderWorkerSet templates included)."""
    out = []
    for workload, template in pod_specs(objects):
        out.append((workload["metadata"]["name"], template["metadata"]["labels"], template["spec"]))
    return out


@pytest.mark.parametrize("name", sorted(OVERLAYS))
def test_the_policy_validates_and_fences_every_server_of_every_overlay(renders, name):
    objects = renders[name]
    policy = find(objects, "NetworkPolicy", "sglang-servers")
    kubernetes_validate.validate(policy, K8S_VERSION, strict=True)
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    gateway_rule, monitoring_rule, peer_rule = policy["spec"]["ingress"]
    pods = pod_labels(objects)
    servers = [(n, labels, spec) for n, labels, spec in pods if labels.get("app.kubernetes.io/name") == "sglang"]
    assert servers
    for pod_name, labels, spec in servers:
        assert selects(policy["spec"]["podSelector"], labels), pod_name
        # The named port the rules admit is the server container's HTTP port, in every server pod.
        ports = {p.get("name") for c in spec["containers"] for p in c.get("ports", [])}
        assert "http" in ports, pod_name
        assert selects(peer_rule["from"][0]["podSelector"], labels), "servers must reach each other (multi-node, PD)"
    # Only the gateway's pods and the monitoring namespace reach the HTTP port; nothing else is admitted.
    assert [r["port"] for r in gateway_rule["ports"]] == ["http"] == [r["port"] for r in monitoring_rule["ports"]]
    assert monitoring_rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    for pod_name, labels, _ in pods:
        if labels.get("app.kubernetes.io/name") == "sglang-gateway":
            assert selects(gateway_rule["from"][0]["podSelector"], labels)
            assert not selects(policy["spec"]["podSelector"], labels), "the gateway itself stays reachable"
    if name != "base":
        assert any(labels.get("app.kubernetes.io/name") == "sglang-gateway" for _, labels, _ in pods)
    # The monitoring component's PodMonitor scrapes the port the policy admits.
    monitor = find(objects, "PodMonitor", "sglang-servers")
    assert {e["port"] for e in monitor["spec"]["podMetricsEndpoints"]} == {"http"}
    assert policy["metadata"]["namespace"] == "sglang"


def test_a_policy_that_admits_anyone_would_fail_here(renders):
    """The check above could fail: a rule with an empty `from` admits every pod in the cluster."""
    policy = find(renders["gateway"], "NetworkPolicy", "sglang-servers")
    for rule in policy["spec"]["ingress"]:
        assert rule.get("from"), "an ingress rule without `from` admits everyone"
        for peer in rule["from"]:
            assert any(peer.get(k, {}).get("matchLabels") for k in ("podSelector", "namespaceSelector"))
