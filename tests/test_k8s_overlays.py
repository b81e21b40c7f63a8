"""Beyond one node: k8s/multinode (LeaderWorkerSet), k8s/multinode/gateway, k8s/pd (prefill/decode behind the
Model Gateway in PD mode) and the autoscaling (KEDA) and monitoring (Prometheus operator) components.

Rendered by the real kubectl kustomize; core objects checked strictly against the Kubernetes schemas
(kubernetes-validate), custom resources against the CRDs of LeaderWorkerSet v0.9.0, KEDA v2.20.2 and
prometheus-operator v0.93.0 (shared/k8s-crds, closed so a misspelt field fails); every SGLang argv the
pods would run parsed by the real SGLang parsers of 0.5.9 and 0.5.23, every gateway argv by the real
sglang-router 0.3.2, which also runs live against stand-in servers and a stand-in Kubernetes API
(no cluster and no GPU here)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import kubernetes_validate
import pytest

import sglang_support
from k8s_support import (
    K8S, SGLANG_HEALTH_TIMEOUT_S, SGLANG_ROUTES, FakeKubeAPI, StandInServer, compose, container, containers, crd_validator,
    downward_env, env_values, expand, find, flox_service_command, flox_vars, is_custom, pod_specs, port_number,
    ready_pod, render, strings, wait_for_status,
)
from sglang_peer import free_port
from sglang_runtime.launch import plan as launch, nodes
from sglang_runtime.config import settings

K8S_VERSION = "1.37.0"
NAMESPACE = "sglang"
LWS = "sglang-multinode"
LWS_NAME, LWS_INDEX, LWS_GROUP = ("leaderworkerset.sigs.k8s.io/name", "leaderworkerset.sigs.k8s.io/worker-index",
                                  "leaderworkerset.sigs.k8s.io/group-index")
MONITORING, AUTOSCALING, API_KEY = (K8S / "components" / n for n in ("monitoring", "autoscaling", "api-key"))
VERSIONS = ("0.5.9", "0.5.23")



@pytest.fixture(scope="module")
def renders(tmp_path_factory) -> dict[str, list[dict]]:
    out = {"multinode": render(K8S / "multinode"), "multinode/gateway": render(K8S / "multinode" / "gateway"),
           "pd": render(K8S / "pd"), "pd/multinode": render(K8S / "pd" / "multinode")}
    combos = {
        "gateway+monitoring+autoscaling": (K8S / "gateway", MONITORING, AUTOSCALING),
        "multinode/gateway+monitoring+api-key": (K8S / "multinode" / "gateway", MONITORING, API_KEY),
        "pd+monitoring+api-key": (K8S / "pd", MONITORING, API_KEY),
        "pd/multinode+monitoring+api-key": (K8S / "pd" / "multinode", MONITORING, API_KEY),
        "base+monitoring": (K8S, MONITORING),
    }
    for name, (resource, *components) in combos.items():
        out[name] = compose(tmp_path_factory.mktemp("overlay"), resource, *components)
    return out


@pytest.fixture(scope="module", params=["multinode", "multinode/gateway", "pd", "pd/multinode",
                                        "gateway+monitoring+autoscaling", "multinode/gateway+monitoring+api-key",
                                        "pd+monitoring+api-key", "pd/multinode+monitoring+api-key", "base+monitoring"])
def rendered(request, renders) -> list[dict]:
    return renders[request.param]


def servers(objects: list[dict]) -> list[tuple[dict, dict, dict]]:
    """(workload, pod template, sglang container) of every SGLang server in a render."""
    return [(o, t, container(t, "sglang")) for o, t in pod_specs(objects)
            if t["metadata"]["labels"].get("app.kubernetes.io/name") == "sglang"]


def lws_labels(template: dict, index: int, name: str = LWS) -> dict[str, str]:
    """A LeaderWorkerSet pod's labels: its template's plus what the controller adds (group 0)."""
    return {**template["metadata"]["labels"], LWS_NAME: name, LWS_INDEX: str(index), LWS_GROUP: "0"}


def gateway_argv(objects: list[dict]) -> list[str]:
    deployment = find(objects, "Deployment", "sglang-gateway")
    c = container(deployment["spec"]["template"], "gateway")
    return [expand(a, downward_env(c, deployment)) for a in c["args"]]


def parse_gateway(objects: list[dict]):
    from sglang_router.launch_router import parse_router_args
    return parse_router_args(gateway_argv(objects))


def http_port(c: dict) -> int:
    return port_number(c, "http")


# --- rendering and schemas ------------------------------------------------------------------

def test_overlays_render_the_objects_they_promise(renders):
    kinds = lambda name: sorted((o["kind"], o["metadata"]["name"]) for o in renders[name])  # noqa: E731
    gateway = [("Deployment", "sglang-gateway"), ("Role", "sglang-gateway-pod-reader"),
               ("RoleBinding", "sglang-gateway-pod-reader"), ("Service", "sglang-gateway"),
               ("ServiceAccount", "sglang-gateway")]
    assert kinds("multinode") == [("LeaderWorkerSet", LWS), ("Namespace", NAMESPACE), ("Service", "sglang")]
    assert kinds("multinode/gateway") == sorted([("LeaderWorkerSet", LWS), ("Namespace", NAMESPACE),
                                                 ("Service", "sglang"), *gateway])
    assert kinds("pd") == sorted([("Deployment", "sglang-decode"), ("Deployment", "sglang-prefill"),
                                  ("Namespace", NAMESPACE), *gateway])
    assert kinds("pd/multinode") == sorted([("LeaderWorkerSet", "sglang-decode"), ("LeaderWorkerSet", "sglang-prefill"),
                                            ("Namespace", NAMESPACE), *gateway])
    assert ("ScaledObject", "sglang") in kinds("gateway+monitoring+autoscaling")
    assert {("PodMonitor", "sglang-servers"), ("PodMonitor", "sglang-gateway")} <= set(kinds("pd+monitoring+api-key"))
    for objects in renders.values():
        assert all(o["metadata"].get("namespace") == NAMESPACE for o in objects if o["kind"] != "Namespace")


def test_every_object_validates_strictly(rendered):
    for obj in rendered:
        if is_custom(obj):
            errors = sorted(crd_validator(obj["apiVersion"], obj["kind"]).iter_errors(obj), key=str)
            assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors[0].message} at {list(errors[0].absolute_path)}"
        else:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    # The LeaderWorkerSet's templates are core objects too: as strict as a Deployment's.
    for obj in rendered:
        if obj["kind"] == "LeaderWorkerSet":
            lwt = obj["spec"]["leaderWorkerTemplate"]
            for template in filter(None, (lwt["workerTemplate"], lwt.get("leaderTemplate"))):
                kubernetes_validate.validate({"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "t"},
                                              "template": template}, K8S_VERSION, strict=True)
            for claim in lwt.get("volumeClaimTemplates", []):
                kubernetes_validate.validate({"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim},
                                             K8S_VERSION, strict=True)


@pytest.mark.parametrize("render_name,kind,breakage", [
    ("multinode", "LeaderWorkerSet", lambda o: o["spec"]["leaderWorkerTemplate"].update(restartPolicyy="None")),
    ("multinode", "LeaderWorkerSet", lambda o: o["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]
     .update(imagePullPolicyy="Always")),
    ("multinode", "LeaderWorkerSet", lambda o: o["spec"].update(startupPolicy="LeaderStarted")),
    ("gateway+monitoring+autoscaling", "ScaledObject", lambda o: o["spec"].update(cooldownPeriodd=60)),
    ("gateway+monitoring+autoscaling", "ScaledObject", lambda o: o["spec"].update(minReplicaCount="one")),
    ("pd+monitoring+api-key", "PodMonitor", lambda o: o["spec"]["podMetricsEndpoints"][0].update(portt="http")),
])
def test_crd_schemas_reject_a_misspelt_or_wrong_field(renders, render_name, kind, breakage):
    obj = copy.deepcopy(next(o for o in renders[render_name] if o["kind"] == kind))
    validator = crd_validator(obj["apiVersion"], kind)
    assert not list(validator.iter_errors(obj))
    breakage(obj)
    assert list(validator.iter_errors(obj))


# --- the same pod everywhere: policies as for the base ------------------------------------------

def test_every_server_runs_the_flox_service_command_in_dev_mode(rendered):
    base = render(K8S)
    base_template = find(base, "Deployment", "sglang")["spec"]["template"]
    for _, template, c in servers(rendered):
        assert c["command"] == ["bash", "-c", flox_service_command()] and "args" not in c
        assert template["metadata"]["annotations"]["flox.dev/activate-mode"] == "dev"
        assert template["metadata"]["annotations"]["flox.dev/environment"] == \
            base_template["metadata"]["annotations"]["flox.dev/environment"]
        assert template["spec"]["runtimeClassName"] == "flox"
        assert c["securityContext"] == container(base_template, "sglang")["securityContext"]


def test_containers_cannot_escalate_and_no_secret_is_written(rendered):
    secret_settings = {s.env for s in settings.TABLE if s.secret}
    assert not [o for o in rendered if o["kind"] == "Secret"]
    for _, template in pod_specs(rendered):
        assert template["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert template["spec"]["enableServiceLinks"] is False
        for c in containers(template):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False and not sc.get("privileged")
            assert sc["capabilities"]["drop"] == ["ALL"] and not sc["capabilities"].get("add")
            literal = env_values(c)
            assert not secret_settings & set(literal)
            assert not {n for n in literal if re.search(r"TOKEN|PASSWORD|(^|_)KEY$", n)}
    for text in (s for o in rendered for s in strings(o)):
        assert not re.search(r"\b(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{16,})", text), text


def test_every_sglang_variable_is_a_setting_and_agrees_with_flox_vars(rendered):
    manifest = flox_vars()
    for _, template in pod_specs(rendered):
        for c in containers(template):
            names = {e["name"] for e in c.get("env", [])}
            assert not {n for n in names if n.startswith(("SGLANG_", "SGL_"))} - settings.NAMES, c["name"]
            pod = env_values(c)
            shared = pod.keys() & manifest.keys()
            assert {n: pod[n] for n in shared} == {n: manifest[n] for n in shared}


def test_probes_use_sglang_routes_and_outwait_its_health_generation(rendered):
    for _, _, c in servers(rendered):
        for name in ("startupProbe", "readinessProbe", "livenessProbe"):
            probe = c[name]
            assert probe["httpGet"]["path"] in SGLANG_ROUTES, name
            assert port_number(c, probe["httpGet"]["port"]) == http_port(c) == int(env_values(c)["SGLANG_PORT"])
            assert probe["timeoutSeconds"] > SGLANG_HEALTH_TIMEOUT_S, name
        start = c["startupProbe"]
        assert start["periodSeconds"] * start["failureThreshold"] >= 20 * 60


def test_gateway_role_reads_pods_only(rendered):
    assert not [o for o in rendered if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    for role in (o for o in rendered if o["kind"] == "Role"):
        assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]


def test_api_key_component_reaches_every_server_of_every_overlay(renders):
    for name in ("multinode/gateway+monitoring+api-key", "pd+monitoring+api-key", "pd/multinode+monitoring+api-key"):
        found = servers(renders[name])
        assert found
        for _, template, c in found:
            path = Path(env_values(c)["SGLANG_API_KEY_FILE"])
            mount = next(m for m in c["volumeMounts"] if m["mountPath"] == str(path.parent))
            (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == mount["name"]]
            assert volume["secret"]["secretName"] == "sglang-secrets" and not volume["secret"].get("optional")


# --- multi-node: the LeaderWorkerSet ----------------------------------------------------------

def lws_parts(objects: list[dict]) -> tuple[dict, dict, dict]:
    lws = find(objects, "LeaderWorkerSet", LWS)
    template = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    return lws, template, container(template, "sglang")


def test_group_size_is_written_once_and_groups_restart_together(renders):
    lws, template, c = lws_parts(renders["multinode"])
    lwt = lws["spec"]["leaderWorkerTemplate"]
    assert lwt["size"] >= 2
    assert lwt["restartPolicy"] == "RecreateGroupOnPodRestart"
    # Workers come up with the leader: the leader cannot become Ready without them.
    assert lws["spec"]["startupPolicy"] == "LeaderCreated"
    # One template for every pod: the same command, nodes/rank/leader from the controller's variables.
    assert "leaderTemplate" not in lwt
    env = env_values(c)
    assert {env[n] for n in ("SGLANG_NNODES", "SGLANG_NODE_RANK", "SGLANG_DIST_INIT_ADDR")} == {"auto"}
    assert not {"LWS_GROUP_SIZE", "LWS_WORKER_INDEX", "LWS_LEADER_ADDRESS"} & env.keys()
    assert str(lwt["size"]) not in {v for k, v in env.items() if k != "SGLANG_DIST_INIT_PORT"}
    assert renders["multinode/gateway"] and find(renders["multinode/gateway"], "LeaderWorkerSet", LWS)["spec"]["replicas"] >= 2


def test_leader_service_selects_rank_0_only_and_leaves_the_headless_name_free(renders):
    for name in ("multinode", "multinode/gateway"):
        objects = renders[name]
        _, template, c = lws_parts(objects)
        service = find(objects, "Service", "sglang")
        selector = service["spec"]["selector"].items()
        assert selector <= lws_labels(template, 0).items()
        assert not selector <= lws_labels(template, 1).items()
        (sp,) = service["spec"]["ports"]
        assert port_number(c, sp["targetPort"]) == sp["port"] == http_port(c)
        # The controller creates a headless Service named after the LeaderWorkerSet for the pods' DNS.
        assert not [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == LWS]


def test_multinode_pod_has_its_ports_volumes_and_network_settings(renders):
    lws, template, c = lws_parts(renders["multinode"])
    env = env_values(c)
    assert int(env["SGLANG_DIST_INIT_PORT"]) == port_number(c, "dist-init") != http_port(c)
    assert env["NCCL_SOCKET_IFNAME"] and env["GLOO_SOCKET_IFNAME"] == env["NCCL_SOCKET_IFNAME"]
    claims = {t["metadata"]["name"] for t in lws["spec"]["leaderWorkerTemplate"]["volumeClaimTemplates"]}
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    for mount in c["volumeMounts"]:
        assert mount["name"] in volumes or mount["name"] in claims, mount
    assert "cache" in claims and "cache" not in volumes
    assert volumes["dshm"]["emptyDir"]["medium"] == "Memory"
    assert c["resources"]["limits"]["nvidia.com/gpu"] > 1
    # A group restart redoes the load: the startup probe allows a first download of a huge checkpoint.
    start = c["startupProbe"]
    assert start["periodSeconds"] * start["failureThreshold"] >= 2 * 3600


def pod_env(c: dict, version: str, extra: dict[str, str]) -> dict[str, str]:
    """What the runtime sees in the pod: the manifest's env, Flox's [vars] over it, the model the hook sets."""
    return {**env_values(c), **flox_vars(), "SGLANG_MODEL": "deepseek-ai/DeepSeek-V3", "SGLANG_VERSION": version,
            "SGLANG_PYTHON": "python3", **extra}


def planned_argv(env: dict[str, str]) -> list[str]:
    return launch.plan(env, settings.load(env), dry_run=True).argv[3:]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_pod_of_a_group_runs_an_argv_the_real_sglang_parses(renders, version):
    lws, _, c = lws_parts(renders["multinode"])
    size = lws["spec"]["leaderWorkerTemplate"]["size"]
    gpus = c["resources"]["limits"]["nvidia.com/gpu"]
    leader = f"{LWS}-0.{LWS}.{NAMESPACE}"
    argvs = []
    for index in range(size):
        injected = {"LWS_LEADER_ADDRESS": leader, "LWS_GROUP_SIZE": str(size), "LWS_WORKER_INDEX": str(index),
                    # Stand-in for the GPUs the device plugin hands the pod (no GPU here).
                    "CUDA_VISIBLE_DEVICES": ",".join(map(str, range(gpus)))}
        argvs.append(planned_argv(pod_env(c, version, injected)))
    for index, (argv, result) in enumerate(zip(argvs, sglang_support.parse_argvs(version, argvs))):
        assert result.ok, (argv, result.error)
        ns = result.namespace
        assert (ns["nnodes"], ns["node_rank"]) == (size, index)
        assert ns["dist_init_addr"] == f"{leader}:{env_values(c)['SGLANG_DIST_INIT_PORT']}"
        assert ns.get("tp_size", ns.get("tensor_parallel_size")) == gpus * size
        assert (ns["host"], ns["port"]) == ("0.0.0.0", http_port(c))


# --- prefill/decode ---------------------------------------------------------------------------

PD = ("pd", "pd/multinode")


def pd_parts(objects: list[dict], role: str) -> tuple[dict, dict, dict]:
    """(workload, pod template, container) of the prefill or decode servers: a Deployment, or a LeaderWorkerSet."""
    (workload,) = [o for o in objects if o["metadata"]["name"] == f"sglang-{role}" and o["kind"] != "Service"]
    (template,) = [t for o, t in pod_specs([workload])]
    return workload, template, container(template, "sglang")


def pd_pod_labels(workload: dict, template: dict, index: int = 0) -> dict[str, str]:
    """A prefill/decode pod's labels: a Deployment's template, or the template plus LeaderWorkerSet's."""
    if workload["kind"] == "LeaderWorkerSet":
        return lws_labels(template, index, workload["metadata"]["name"])
    return template["metadata"]["labels"]


@pytest.mark.parametrize("name", PD)
def test_prefill_and_decode_servers_and_the_bootstrap_port(renders, name):
    objects = renders[name]
    _, prefill, pc = pd_parts(objects, "prefill")
    _, decode, dc = pd_parts(objects, "decode")
    assert env_values(pc)["SGLANG_DISAGGREGATION_MODE"] == "prefill"
    assert env_values(dc)["SGLANG_DISAGGREGATION_MODE"] == "decode"
    bootstrap = port_number(pc, "bootstrap")
    assert int(env_values(pc)["SGLANG_DISAGGREGATION_BOOTSTRAP_PORT"]) == bootstrap
    assert int(prefill["metadata"]["annotations"]["sglang.ai/bootstrap-port"]) == bootstrap
    assert bootstrap != http_port(pc) and http_port(pc) == http_port(dc)
    for workload, template, c in (pd_parts(objects, "prefill"), pd_parts(objects, "decode")):
        if workload["kind"] == "Deployment":
            assert workload["spec"]["selector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
            assert "persistentVolumeClaim" not in next(v for v in template["spec"]["volumes"] if v["name"] == "cache")
        else:  # the multi-node server's group, per-pod claims and all
            multinode, _, _ = lws_parts(renders["multinode"])
            lwt, ref = workload["spec"]["leaderWorkerTemplate"], multinode["spec"]["leaderWorkerTemplate"]
            assert {k: v for k, v in lwt.items() if k != "workerTemplate"} == {k: v for k, v in ref.items() if k != "workerTemplate"}
            assert env_values(c).items() >= env_values(container(ref["workerTemplate"], "sglang")).items()
    # Clients go through the gateway only.
    assert [o["metadata"]["name"] for o in objects if o["kind"] == "Service"] == ["sglang-gateway"]


@pytest.mark.parametrize("version", VERSIONS)
def test_prefill_and_decode_argvs_parse_with_the_real_sglang(renders, version):
    cases = []
    for name in PD:
        for role in ("prefill", "decode"):
            workload, _, c = pd_parts(renders[name], role)
            if workload["kind"] == "Deployment":
                cases.append((role, c, 0, {}))
                continue
            size = workload["spec"]["leaderWorkerTemplate"]["size"]
            gpus = c["resources"]["limits"]["nvidia.com/gpu"]
            for index in range(size):
                cases.append((role, c, index, {
                    "LWS_LEADER_ADDRESS": f"sglang-{role}-0.sglang-{role}.{NAMESPACE}", "LWS_GROUP_SIZE": str(size),
                    "LWS_WORKER_INDEX": str(index), "CUDA_VISIBLE_DEVICES": ",".join(map(str, range(gpus)))}))
    argvs = [planned_argv(pod_env(c, version, injected)) for _, c, _, injected in cases]
    for (role, c, index, injected), argv, result in zip(cases, argvs, sglang_support.parse_argvs(version, argvs)):
        assert result.ok, (argv, result.error)
        ns = result.namespace
        assert ns["disaggregation_mode"] == role
        assert ns["disaggregation_transfer_backend"] == env_values(c)["SGLANG_DISAGGREGATION_TRANSFER_BACKEND"]
        if role == "prefill":
            assert ns["disaggregation_bootstrap_port"] == port_number(c, "bootstrap")
        if injected:
            assert (ns["nnodes"], ns["node_rank"]) == (int(injected["LWS_GROUP_SIZE"]), index)
            assert ns["dist_init_addr"].startswith(injected["LWS_LEADER_ADDRESS"] + ":")


@pytest.mark.parametrize("name", PD)
def test_pd_gateway_args_parse_with_the_real_gateway_parser(renders, name):
    objects = renders[name]
    args = parse_gateway(objects)
    p_workload, prefill, pc = pd_parts(objects, "prefill")
    d_workload, decode, _ = pd_parts(objects, "decode")
    gateway = find(objects, "Deployment", "sglang-gateway")["spec"]["template"]
    assert args.pd_disaggregation is True and args.service_discovery is True
    assert args.service_discovery_namespace == NAMESPACE and args.service_discovery_port == http_port(pc)
    p_leader, d_leader = pd_pod_labels(p_workload, prefill), pd_pod_labels(d_workload, decode)
    for selector, mine, other in ((args.prefill_selector, p_leader, d_leader), (args.decode_selector, d_leader, p_leader)):
        assert selector and selector.items() <= mine.items()
        assert not selector.items() <= other.items()
        assert not selector.items() <= gateway["metadata"]["labels"].items()
    # Multi-node groups: the leaders only (the pods of rank > 0 serve no API and no bootstrap server).
    for workload, template, selector in ((p_workload, prefill, args.prefill_selector),
                                         (d_workload, decode, args.decode_selector)):
        if workload["kind"] == "LeaderWorkerSet":
            assert not selector.items() <= pd_pod_labels(workload, template, 1).items()
    # The router reads the bootstrap port from this annotation (fixed in sglang-router 0.3.2).
    assert args.bootstrap_port_annotation in prefill["metadata"]["annotations"]
    assert (args.prefill_policy, args.decode_policy) == ("cache_aware", "power_of_two")
    assert args.health_check_endpoint in SGLANG_ROUTES and args.health_check_timeout_secs > SGLANG_HEALTH_TIMEOUT_S
    gw = container(gateway, "gateway")
    assert args.port == port_number(gw, "http") and args.prometheus_port == port_number(gw, "metrics")
    assert args.api_key is None


def test_multinode_gateway_registers_leaders_only(renders):
    objects = renders["multinode/gateway"]
    args = parse_gateway(objects)
    _, template, c = lws_parts(objects)
    assert args.service_discovery and not args.pd_disaggregation and args.policy == "cache_aware"
    assert args.selector.items() <= lws_labels(template, 0).items()
    assert not args.selector.items() <= lws_labels(template, 1).items()
    assert args.service_discovery_port == http_port(c) and args.service_discovery_namespace == NAMESPACE


# --- autoscaling and monitoring ---------------------------------------------------------------

# The trigger parameters of KEDA's prometheus scaler (pkg/scalers/prometheus_scaler.go, prometheusMetadata);
# the CRD leaves trigger metadata free-form, so a misspelt key would pass it.
KEDA_PROMETHEUS_PARAMS = {"serverAddress", "query", "queryParameters", "threshold", "activationThreshold", "namespace",
                          "customHeaders", "ignoreNullValues", "unsafeSsl", "awsRegion", "timeout", "identityOwner",
                          "authModes"}


def sanitized(label: str) -> str:
    """A pod label as a Prometheus label name (the operator's podTargetLabels)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", label)


def test_scaled_object_scales_the_gateway_workers_on_sglang_metrics(renders):
    objects = renders["gateway+monitoring+autoscaling"]
    scaled = find(objects, "ScaledObject", "sglang")
    spec = scaled["spec"]
    target = find(objects, spec["scaleTargetRef"]["kind"], spec["scaleTargetRef"]["name"])
    assert target["apiVersion"] == spec["scaleTargetRef"]["apiVersion"]
    template = target["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/component"] == "server"
    # The HPA owns the count: a count in the manifest would reset it on every apply.
    assert "replicas" not in target["spec"]
    # Scale-to-zero off: at zero workers the queue metric itself disappears.
    assert spec["minReplicaCount"] >= 1 and "idleReplicaCount" not in spec and spec["maxReplicaCount"] > spec["minReplicaCount"]
    start = container(template, "sglang")["startupProbe"]
    cold_start = start["periodSeconds"] * start["failureThreshold"]
    down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert down["stabilizationWindowSeconds"] > cold_start and spec["cooldownPeriod"] > cold_start
    monitor = find(objects, "PodMonitor", "sglang-servers")
    target_labels = {"namespace", *map(sanitized, monitor["spec"]["podTargetLabels"])}
    queried = set()
    for trigger in spec["triggers"]:
        assert trigger["type"] == "prometheus" and trigger.get("metricType", "AverageValue") == "AverageValue"
        meta = trigger["metadata"]
        assert set(meta) <= KEDA_PROMETHEUS_PARAMS and {"serverAddress", "query", "threshold"} <= set(meta)
        assert float(meta["threshold"]) > 0
        # One number (KEDA refuses a query that returns several series).
        m = re.fullmatch(r"sum\((sglang:[a-z_]+)\{(.*)\}\)", meta["query"])
        assert m, meta["query"]
        queried.add(m.group(1))
        matchers = dict(re.findall(r'([a-zA-Z_]+)="([^"]*)"', m.group(2)))
        assert set(matchers) <= target_labels
        assert matchers["namespace"] == NAMESPACE
        assert matchers["app_kubernetes_io_component"] == template["metadata"]["labels"]["app.kubernetes.io/component"]
    assert "sglang:num_queue_reqs" in queried
    for version in VERSIONS:  # the metrics exist in both releases
        sources = "".join(p.read_text(errors="replace") for p in (sglang_support.sglang_dir(version) / "sglang" / "srt").rglob("*collector.py"))
        for metric in queried:
            assert f'name="{metric}"' in sources, (version, metric)


def test_readme_recipe_scales_multinode_groups(tmp_path):
    """k8s/README.md's patch for multi-node groups, taken from that page itself, renders and validates."""
    readme = (K8S / "README.md").read_text()
    recipe = re.search(r"```yaml\n(  patches:\n(?:.*\n)*?.*LeaderWorkerSet, name: sglang-multinode\}\n(?:.*\n)*?)  ```",
                       readme.split("For multi-node groups (`k8s/multinode/gateway`)", 1)[1]).group(1)
    rel = lambda p: os.path.relpath(p, tmp_path)  # noqa: E731
    (tmp_path / "kustomization.yaml").write_text(
        f"resources: [{rel(K8S / 'multinode' / 'gateway')}]\ncomponents: [{rel(MONITORING)}, {rel(AUTOSCALING)}]\n"
        + "\n".join(line[2:] for line in recipe.splitlines()) + "\n")
    objects = render(tmp_path)
    scaled = find(objects, "ScaledObject", "sglang")
    assert not list(crd_validator(scaled["apiVersion"], "ScaledObject").iter_errors(scaled))
    ref = scaled["spec"]["scaleTargetRef"]
    lws = find(objects, ref["kind"], ref["name"])
    assert lws["apiVersion"] == ref["apiVersion"] and "replicas" not in lws["spec"]
    assert not list(crd_validator(lws["apiVersion"], "LeaderWorkerSet").iter_errors(lws))


def test_autoscaling_refuses_the_single_server(tmp_path):
    with pytest.raises(subprocess.CalledProcessError) as failed:
        compose(tmp_path, K8S, AUTOSCALING)
    assert "test failed" in failed.value.stderr


def test_pod_monitors_scrape_every_server_and_the_gateway_metrics_port(renders):
    for name in ("base+monitoring", "gateway+monitoring+autoscaling", "multinode/gateway+monitoring+api-key",
                 "pd+monitoring+api-key", "pd/multinode+monitoring+api-key"):
        objects = renders[name]
        monitor = find(objects, "PodMonitor", "sglang-servers")["spec"]
        selector = monitor["selector"]["matchLabels"].items()
        (endpoint,) = monitor["podMetricsEndpoints"]
        found = servers(objects)
        assert found
        for _, template, c in found:
            assert selector <= template["metadata"]["labels"].items()
            assert endpoint["port"] in {p["name"] for p in c["ports"]} and endpoint["path"] == "/metrics"
            assert env_values(c)["SGLANG_ENABLE_METRICS"] == "1"
        (drop,) = endpoint["relabelings"]
        assert drop["action"] == "drop" and drop["sourceLabels"] == ["__meta_kubernetes_pod_label_" + sanitized(LWS_INDEX)]
        # Prometheus anchors its regexes: the leader (0) and pods outside a LeaderWorkerSet ("") stay.
        assert [v for v in ("", "0", "1", "7", "12") if re.fullmatch(drop["regex"], v)] == ["1", "7", "12"]
        if any(o["kind"] == "Deployment" and o["metadata"]["name"] == "sglang-gateway" for o in objects):
            gw = find(objects, "Deployment", "sglang-gateway")["spec"]["template"]
            assert not selector <= gw["metadata"]["labels"].items()
            g_monitor = find(objects, "PodMonitor", "sglang-gateway")["spec"]
            assert g_monitor["selector"]["matchLabels"].items() <= gw["metadata"]["labels"].items()
            (g_endpoint,) = g_monitor["podMetricsEndpoints"]
            assert port_number(container(gw, "gateway"), g_endpoint["port"]) == parse_gateway(objects).prometheus_port


# --- the real gateway, live, against stand-ins -----------------------------------------------------

def run_gateway(objects: list[dict], tmp_path: Path, api: FakeKubeAPI, worker_port: int):
    deployment = find(objects, "Deployment", "sglang-gateway")
    c = container(deployment["spec"]["template"], "gateway")
    http, metrics = free_port(), free_port()
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "KUBECONFIG": str(api.kubeconfig(tmp_path, NAMESPACE)), **downward_env(c, deployment),
           "GATEWAY_API_KEY_FILE": str(tmp_path / "no-key")}
    # The manifest's command and arguments, then (argparse: the last wins) local addresses for this machine.
    argv = c["command"] + gateway_argv(objects) + [
        "--host=127.0.0.1", f"--port={http}", "--prometheus-host=127.0.0.1", f"--prometheus-port={metrics}",
        f"--service-discovery-port={worker_port}"]
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
    return proc, f"http://127.0.0.1:{http}", f"http://127.0.0.1:{metrics}"


def chat(base_url: str, model: str) -> dict:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "hello there"}]}).encode()
    request = urllib.request.Request(base_url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=20) as r:
        return json.load(r)


def stop(proc: subprocess.Popen) -> str:
    proc.terminate()
    return proc.communicate(timeout=30)[0].decode(errors="replace")


@pytest.mark.parametrize("name", PD)
def test_real_gateway_in_pd_mode_routes_through_one_prefill_and_one_decode(renders, tmp_path, name):
    """The rendered PD gateway (its shell wrapper and the real sglang-router) against a stand-in Kubernetes API
    listing one Ready prefill and one Ready decode pod, labelled and annotated as the manifests render them, and
    stand-in SGLang servers for both (tests/k8s_support.StandInServer: no GPU here). The stand-in decode server
    answers only with the KV cache it fetched from the bootstrap address the gateway gave it. With multi-node
    groups the API also lists each group's pod of rank 1, whose stand-in is SGLang's health stub."""
    objects = renders[name]
    p_workload, prefill_t, _ = pd_parts(objects, "prefill")
    d_workload, decode_t, _ = pd_parts(objects, "decode")
    port = free_port()
    with StandInServer("prefill", "127.0.0.2", port, bootstrap_port=0) as prefill, \
            StandInServer("decode", "127.0.0.3", port) as decode, \
            StandInServer("stub", "127.0.0.4", port) as p_rank1, StandInServer("stub", "127.0.0.5", port) as d_rank1:
        prefill_pod = ready_pod("sglang-prefill-0", NAMESPACE, pd_pod_labels(p_workload, prefill_t), prefill.host)
        # The rendered annotations, with the stand-in's bootstrap port (as the gateway's ports are made local).
        prefill_pod["metadata"]["annotations"] = {**prefill_t["metadata"]["annotations"],
                                                  "sglang.ai/bootstrap-port": str(prefill.bootstrap_port)}
        pods = [prefill_pod, ready_pod("sglang-decode-0", NAMESPACE, pd_pod_labels(d_workload, decode_t), decode.host)]
        if p_workload["kind"] == "LeaderWorkerSet":
            pods += [ready_pod("sglang-prefill-0-1", NAMESPACE, pd_pod_labels(p_workload, prefill_t, 1), p_rank1.host),
                     ready_pod("sglang-decode-0-1", NAMESPACE, pd_pod_labels(d_workload, decode_t, 1), d_rank1.host)]
            pods[2]["metadata"]["annotations"] = dict(prefill_pod["metadata"]["annotations"])
        with FakeKubeAPI(pods) as api:
            proc, base_url, metrics_url = run_gateway(objects, tmp_path, api, port)
            try:
                assert wait_for_status(base_url + "/readiness", 200) == 200, "the gateway never saw both roles healthy"
                answer = chat(base_url, prefill.model)
                with urllib.request.urlopen(metrics_url + "/metrics", timeout=5) as r:
                    metrics = r.read().decode()
            finally:
                out = stop(proc)
    content = answer["choices"][0]["message"]["content"]
    assert content == f"answered by the decode stand-in at 127.0.0.3 with kv of 'hello there' from 127.0.0.2", out[-3000:]
    (p_body,) = [b for m, p, b in prefill.requests if m == "POST"]
    (d_body,) = [b for m, p, b in decode.requests if m == "POST"]
    assert p_body["bootstrap_room"] == d_body["bootstrap_room"]
    assert (d_body["bootstrap_host"], d_body["bootstrap_port"]) == ("127.0.0.2", prefill.bootstrap_port)
    assert "/health" in prefill.paths("GET") and "/health" in decode.paths("GET")
    assert p_rank1.requests == [] and d_rank1.requests == [], "the gateway talked to a pod of rank > 0"
    assert "smg_" in metrics or "sgl_router" in metrics
    for method, path in api.requests:
        assert method == "GET" and re.fullmatch(rf"/api/v1/namespaces/{NAMESPACE}/pods(\?.*)?", path), (method, path)


def test_real_gateway_routes_to_group_leaders_never_to_a_rank_above_0(renders, tmp_path):
    """The rendered multi-node gateway against a stand-in Kubernetes API listing a group's leader and worker pods
    (labels as LeaderWorkerSet gives them) and stand-ins for SGLang: an API server on the leader, the health stub
    that SGLang runs on a node of rank > 0 on the worker."""
    objects = renders["multinode/gateway"]
    _, template, _ = lws_parts(objects)
    port = free_port()
    with StandInServer("api", "127.0.0.2", port) as leader, StandInServer("stub", "127.0.0.3", port) as worker:
        pods = [ready_pod(f"{LWS}-0", NAMESPACE, lws_labels(template, 0), leader.host),
                ready_pod(f"{LWS}-0-1", NAMESPACE, lws_labels(template, 1), worker.host)]
        with FakeKubeAPI(pods) as api:
            proc, base_url, _ = run_gateway(objects, tmp_path, api, port)
            try:
                assert wait_for_status(base_url + "/readiness", 200) == 200
                answers = [chat(base_url, leader.model)["choices"][0]["message"]["content"] for _ in range(4)]
            finally:
                out = stop(proc)
    assert answers == ["answered by the api stand-in at 127.0.0.2"] * 4, out[-3000:]
    assert worker.requests == [], "the gateway talked to a rank > 0 pod"
    assert len(leader.paths("POST")) == 4
