"""The Kubernetes manifests: rendered by the real kubectl/kustomize, checked against the real
Kubernetes OpenAPI schemas (kubernetes-validate, offline), the runtime's real settings table and
the real Model Gateway (sglang-router 0.3.2, the release of the pinned image)."""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import kubernetes_validate
import pytest
from kubernetes_validate.utils import ValidationError, all_versions

from sglang_runtime.config import settings
from k8s_support import (
    K8S, SGLANG_HEALTH_TIMEOUT_S, SGLANG_ROUTES, FakeKubeAPI, container, containers, downward_env, env_values,
    expand, find, flox_service_command, flox_vars, pod_specs, port_number, ready_pod, render, strings,
    wait_for_status,
)
from sglang_peer import Peer, free_port

# The newest Kubernetes release the validator bundles schemas for.
K8S_VERSION = "1.37.0"
NAMESPACE = "sglang"
API_KEY_PATH = "/etc/sglang/secrets/api-key"


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return render(K8S)


@pytest.fixture(scope="module")
def gateway() -> list[dict]:
    return render(K8S / "gateway")


@pytest.fixture(scope="module")
def with_api_key(tmp_path_factory) -> dict[str, list[dict]]:
    """Both renders with the api-key component, through an overlay the way a user would write one."""
    out = {}
    for name, resource in (("base", K8S), ("gateway", K8S / "gateway")):
        overlay = tmp_path_factory.mktemp(f"overlay-{name}")
        # kustomize takes only relative paths to other kustomizations.
        rel = lambda p: os.path.relpath(p, overlay)  # noqa: E731
        (overlay / "kustomization.yaml").write_text(
            f"resources: [{rel(resource)}]\ncomponents: [{rel(K8S / 'components' / 'api-key')}]\n")
        out[name] = render(overlay)
    return out


@pytest.fixture(scope="module", params=["base", "gateway", "base+api-key", "gateway+api-key"])
def rendered(request, base, gateway, with_api_key) -> list[dict]:
    return {"base": base, "gateway": gateway, "base+api-key": with_api_key["base"],
            "gateway+api-key": with_api_key["gateway"]}[request.param]


def worker(objects: list[dict]) -> tuple[dict, dict, dict]:
    deployment = find(objects, "Deployment", "sglang")
    template = deployment["spec"]["template"]
    return deployment, template, container(template, "sglang")


def gateway_parts(objects: list[dict]) -> tuple[dict, dict, dict]:
    deployment = find(objects, "Deployment", "sglang-gateway")
    template = deployment["spec"]["template"]
    return deployment, template, container(template, "gateway")


# --- rendering and schema validation ------------------------------------------------------

def test_base_renders_the_single_server(base):
    assert sorted((o["kind"], o["metadata"]["name"]) for o in base) == [
        ("Deployment", "sglang"), ("Namespace", "sglang"),
        ("PersistentVolumeClaim", "sglang-cache"), ("Service", "sglang"),
    ]
    assert all(o["metadata"].get("namespace") == NAMESPACE for o in base if o["kind"] != "Namespace")


def test_gateway_overlay_adds_the_gateway_and_scales_workers(gateway):
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in gateway)
    assert kinds == [
        ("Deployment", "sglang"), ("Deployment", "sglang-gateway"), ("Namespace", "sglang"),
        ("Role", "sglang-gateway-pod-reader"), ("RoleBinding", "sglang-gateway-pod-reader"),
        ("Service", "sglang"), ("Service", "sglang-gateway"), ("ServiceAccount", "sglang-gateway"),
    ]
    deployment, template, _ = worker(gateway)
    assert deployment["spec"]["replicas"] >= 2
    # Every replica has its own cache volume: a ReadWriteOnce claim cannot be shared across nodes.
    (cache,) = [v for v in template["spec"]["volumes"] if v["name"] == "cache"]
    assert "persistentVolumeClaim" not in cache
    assert cache["ephemeral"]["volumeClaimTemplate"]["spec"]["accessModes"] == ["ReadWriteOnce"]
    # Rolling one worker at a time must not need a spare GPU.
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_validator_bundles_a_current_kubernetes():
    versions = all_versions()
    assert K8S_VERSION in versions
    assert kubernetes_validate.latest_version() == K8S_VERSION


def test_every_rendered_object_validates_strictly(rendered):
    for obj in rendered:
        # strict: an unknown (misspelt) field is an error, not ignored.
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


@pytest.mark.parametrize("breakage", ["misspelt container field", "misspelt probe field", "string replicas"])
def test_validator_rejects_a_broken_deployment(base, breakage):
    deployment = copy.deepcopy(find(base, "Deployment", "sglang"))
    c = deployment["spec"]["template"]["spec"]["containers"][0]
    if breakage == "misspelt container field":
        c["imagePullPolicyy"] = c.pop("imagePullPolicy")
    elif breakage == "misspelt probe field":
        c["livenessProbe"]["timeoutSecond"] = c["livenessProbe"].pop("timeoutSeconds")
    else:
        deployment["spec"]["replicas"] = "one"
    with pytest.raises(ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


# --- Flox, GPU and pod hardening ----------------------------------------------------------

def test_worker_runs_in_the_flox_environment_in_dev_mode(rendered):
    _, template, c = worker(rendered)
    annotations = template["metadata"]["annotations"]
    assert annotations["flox.dev/environment"] == "flox/sglang-runtime"
    # "run" (the default) skips CUDA detection: the GPU would be invisible.
    assert annotations["flox.dev/activate-mode"] == "dev"
    assert template["spec"]["runtimeClassName"] == "flox"
    assert c["image"] == "flox/empty:1.0.0"


def test_worker_command_is_the_flox_service_command(rendered):
    _, _, c = worker(rendered)
    assert c["command"] == ["bash", "-c", flox_service_command()]
    assert "args" not in c


def test_worker_env_agrees_with_flox_vars(rendered):
    """Activation exports [vars] over the pod's own env, so a pod value that differs would be silently lost."""
    _, _, c = worker(rendered)
    pod, manifest = env_values(c), flox_vars()
    assert {n: pod[n] for n in pod.keys() & manifest.keys()} == {n: manifest[n] for n in pod.keys() & manifest.keys()}


def test_worker_gets_one_gpu_and_tolerates_gpu_nodes(rendered):
    _, template, c = worker(rendered)
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in template["spec"]["tolerations"]


def test_single_server_is_recreated_not_rolled(base):
    deployment, _, _ = worker(base)
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    claim = find(base, "PersistentVolumeClaim", "sglang-cache")
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_shared_memory_is_a_bounded_memory_volume(rendered):
    _, template, c = worker(rendered)
    (dshm,) = [v for v in template["spec"]["volumes"] if v["name"] == "dshm"]
    assert dshm["emptyDir"]["medium"] == "Memory"
    assert dshm["emptyDir"]["sizeLimit"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in c["volumeMounts"]


def test_writable_paths_are_all_on_volumes(rendered):
    _, _, c = worker(rendered)
    env = env_values(c)
    mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
    writable = [p for p, m in mounts.items() if not m.get("readOnly")]
    for name in ("SGLANG_MODEL_ENV_FILE", "SGLANG_RUNTIME_CACHE", "HF_HOME", "TMPDIR"):
        assert any(env[name] == p or env[name].startswith(p + "/") for p in writable), name
    # The env file and the compile caches persist with the model cache (the PVC in the base).
    cache_mount = next(m["mountPath"] for m in c["volumeMounts"] if m["name"] == "cache")
    assert env["SGLANG_MODEL_ENV_FILE"].startswith(cache_mount + "/")
    assert env["SGLANG_RUNTIME_CACHE"].startswith(cache_mount + "/")


def test_containers_cannot_escalate(rendered):
    for obj, template in pod_specs(rendered):
        assert template["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        # Service links would inject SGLANG_PORT=tcp://... for a Service named "sglang".
        assert template["spec"]["enableServiceLinks"] is False
        for c in containers(template):
            sc = c["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, c["name"]
            assert sc.get("privileged", False) is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert not sc["capabilities"].get("add")


def test_gateway_runs_as_non_root_on_a_read_only_root(gateway):
    _, template, c = gateway_parts(gateway)
    assert template["spec"]["securityContext"]["runAsNonRoot"] is True
    assert template["spec"]["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert "/tmp" in {m["mountPath"] for m in c["volumeMounts"]}


# --- probes, ports and metrics ------------------------------------------------------------

def test_worker_probe_paths_exist_on_sglang(rendered):
    _, _, c = worker(rendered)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"]["path"] in SGLANG_ROUTES, probe


def test_startup_allows_a_twenty_minute_cold_start(rendered):
    _, _, c = worker(rendered)
    p = c["startupProbe"]
    assert p["periodSeconds"] * p["failureThreshold"] >= 20 * 60
    assert p["timeoutSeconds"] > SGLANG_HEALTH_TIMEOUT_S


def test_readiness_and_liveness_outwait_sglangs_health_generation(rendered):
    _, _, c = worker(rendered)
    for name in ("readinessProbe", "livenessProbe"):
        # SGLang's own 503 after 20 s must arrive before the kubelet gives up.
        assert c[name]["timeoutSeconds"] > SGLANG_HEALTH_TIMEOUT_S, name
    live = c["livenessProbe"]
    # A busy server may miss a few checks: restart only after minutes of silence,
    # and never faster than readiness takes it out of rotation.
    assert live["periodSeconds"] * live["failureThreshold"] >= 180
    ready = c["readinessProbe"]
    assert live["periodSeconds"] * live["failureThreshold"] > ready["periodSeconds"] * ready["failureThreshold"]


def test_termination_grace_covers_prestop_and_a_drain(rendered):
    _, template, c = worker(rendered)
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert template["spec"]["terminationGracePeriodSeconds"] >= pre_stop + 240


def test_sglang_port_is_the_same_everywhere(rendered):
    _, template, c = worker(rendered)
    (port,) = [p["containerPort"] for p in c["ports"] if p["name"] == "http"]
    assert int(env_values(c)["SGLANG_PORT"]) == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert port_number(c, c[probe]["httpGet"]["port"]) == port
    service = find(rendered, "Service", "sglang")
    (sp,) = service["spec"]["ports"]
    assert sp["name"] == "http"
    assert port_number(c, sp["targetPort"]) == port
    assert sp["port"] == port
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    assert int(template["metadata"]["annotations"]["prometheus.io/port"]) == port


def test_metrics_are_on_and_scrapeable(rendered):
    for _, template in pod_specs(rendered):
        a = template["metadata"]["annotations"]
        assert a["prometheus.io/scrape"] == "true"
        assert a["prometheus.io/path"] == "/metrics"
        port = int(a["prometheus.io/port"])
        assert port in [p["containerPort"] for c in containers(template) for p in c.get("ports", [])]
    _, _, c = worker(rendered)
    assert settings.load(env_values(c)).get("SGLANG_ENABLE_METRICS") is True


# --- settings and secrets -----------------------------------------------------------------

def test_every_sglang_variable_is_a_runtime_setting(rendered):
    for _, template in pod_specs(rendered):
        for c in containers(template):
            names = {e["name"] for e in c.get("env", [])}
            unknown = {n for n in names if n.startswith(("SGLANG_", "SGL_"))} - settings.NAMES
            assert not unknown, f"{c['name']}: {sorted(unknown)} are not in settings.TABLE"


def test_worker_env_passes_the_runtimes_own_validation(rendered):
    _, _, c = worker(rendered)
    loaded = settings.load(env_values(c))
    assert loaded.get("SGLANG_HOST") == "0.0.0.0"
    assert loaded.get("SGLANG_PORT") == int(env_values(c)["SGLANG_PORT"])


def test_no_secret_value_in_any_manifest(rendered):
    assert not [o for o in rendered if o["kind"] == "Secret"]
    secret_settings = {s.env for s in settings.TABLE if s.secret}
    for _, template in pod_specs(rendered):
        for c in containers(template):
            literal = env_values(c)
            assert not secret_settings & set(literal), "a secret setting is written as an env literal"
            assert not {n for n in literal if re.search(r"TOKEN|PASSWORD|(^|_)KEY$", n)}
    # Nothing that looks like a credential anywhere in the rendered text.
    for text in (s for o in rendered for s in strings(o)):
        assert not re.search(r"\b(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{16,})", text), text


def test_hf_token_comes_from_the_optional_secret(rendered):
    _, _, c = worker(rendered)
    (hf,) = [e for e in c["env"] if e["name"] == "HF_TOKEN"]
    assert hf["valueFrom"]["secretKeyRef"] == {"name": "sglang-secrets", "key": "hf-token", "optional": True}


def test_api_key_is_off_in_the_base_because_a_missing_key_file_stops_the_runtime(base, gateway):
    for objects in (base, gateway):
        _, _, c = worker(objects)
        assert "SGLANG_API_KEY_FILE" not in env_values(c)


def test_api_key_component_mounts_the_key_file_from_a_required_secret(with_api_key):
    for objects in with_api_key.values():
        _, template, c = worker(objects)
        path = Path(env_values(c)["SGLANG_API_KEY_FILE"])
        assert str(path) == API_KEY_PATH
        mount = next(m for m in c["volumeMounts"] if m["mountPath"] == str(path.parent))
        assert mount["readOnly"] is True
        (volume,) = [v for v in template["spec"]["volumes"] if v["name"] == mount["name"]]
        assert volume["secret"]["secretName"] == "sglang-secrets"
        # Required: without it the pod waits rather than serving without its key.
        assert not volume["secret"].get("optional")
        assert {"key": "api-key", "path": path.name} in volume["secret"]["items"]
    # The gateway reads the same entry of the same Secret.
    _, gw_template, gw_c = gateway_parts(with_api_key["gateway"])
    key_file = Path(env_values(gw_c)["GATEWAY_API_KEY_FILE"])
    mount = next(m for m in gw_c["volumeMounts"] if m["mountPath"] == str(key_file.parent))
    (volume,) = [v for v in gw_template["spec"]["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "sglang-secrets"
    assert {"key": "api-key", "path": key_file.name} in volume["secret"]["items"]


# --- the gateway --------------------------------------------------------------------------

def gateway_argv(objects: list[dict]) -> list[str]:
    deployment, _, c = gateway_parts(objects)
    env = downward_env(c, deployment)
    return [expand(a, env) for a in c["args"]]


def test_gateway_image_is_pinned_to_an_exact_release(gateway):
    _, _, c = gateway_parts(gateway)
    image = c["image"]
    assert re.fullmatch(r"lmsysorg/sgl-model-gateway(:v\d+\.\d+\.\d+|@sha256:[0-9a-f]{64})", image), image
    from importlib.metadata import version
    # The parser the next test uses is the same release as the image.
    assert image.endswith(":v" + version("sglang-router"))


def test_gateway_args_parse_with_the_real_gateway_parser(gateway):
    from sglang_router.launch_router import parse_router_args
    args = parse_router_args(gateway_argv(gateway))
    _, worker_template, worker_c = worker(gateway)
    assert args.policy == "cache_aware"
    assert args.service_discovery is True
    assert args.service_discovery_namespace == NAMESPACE
    (port,) = [p["containerPort"] for p in worker_c["ports"] if p["name"] == "http"]
    assert args.service_discovery_port == port
    # The selector picks exactly the worker pods, not the gateway's own.
    assert args.selector and args.selector.items() <= worker_template["metadata"]["labels"].items()
    _, gw_template, gw_c = gateway_parts(gateway)
    assert not args.selector.items() <= gw_template["metadata"]["labels"].items()
    assert args.health_check_endpoint in SGLANG_ROUTES
    assert args.health_check_timeout_secs > SGLANG_HEALTH_TIMEOUT_S
    assert args.host == "0.0.0.0"
    gw_ports = {p["name"]: p["containerPort"] for p in gw_c["ports"]}
    assert args.port == gw_ports["http"] and args.prometheus_port == gw_ports["metrics"]
    assert args.api_key is None  # added at start from the Secret, never written here


def test_gateway_service_targets_the_gateway(gateway):
    service = find(gateway, "Service", "sglang-gateway")
    _, template, c = gateway_parts(gateway)
    (sp,) = service["spec"]["ports"]
    assert sp["name"] == "http" and port_number(c, sp["targetPort"]) == sp["port"]
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    for probe, path in (("livenessProbe", "/liveness"), ("readinessProbe", "/readiness")):
        assert c[probe]["httpGet"]["path"] == path
        assert port_number(c, c[probe]["httpGet"]["port"]) == sp["port"]


def test_gateway_role_reads_pods_in_its_namespace_only(gateway):
    assert not [o for o in gateway if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    (role,) = [o for o in gateway if o["kind"] == "Role"]
    assert role["metadata"]["namespace"] == NAMESPACE
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]
    (binding,) = [o for o in gateway if o["kind"] == "RoleBinding"]
    assert binding["metadata"]["namespace"] == NAMESPACE
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    _, template, _ = gateway_parts(gateway)
    account = template["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": NAMESPACE}]
    find(gateway, "ServiceAccount", account)


def test_real_gateway_discovers_a_worker_and_passes_the_api_key(gateway, tmp_path):
    """Runs the rendered gateway command (its shell wrapper and real sglang-router) against two stand-ins:
    a Kubernetes API server (no cluster here) listing one Ready worker pod, and tests/sglang_peer.py for
    SGLang (needs a GPU). Checks the probes, discovery, the API key and what the gateway asked the API for."""
    deployment, template, c = gateway_parts(gateway)
    _, worker_template, _ = worker(gateway)
    key = "stand-in-key-0123"
    key_file = tmp_path / "api-key"
    key_file.write_text(key + "\n")  # as `kubectl create secret --from-file` keeps a trailing newline
    http_port, metrics_port = free_port(), free_port()
    with Peer(api_key=key) as peer, FakeKubeAPI([ready_pod(
            "sglang-0", NAMESPACE, worker_template["metadata"]["labels"], "127.0.0.1")]) as api:
        env = {
            "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "KUBECONFIG": str(api.kubeconfig(tmp_path, NAMESPACE)),
            **downward_env(c, deployment),
            "GATEWAY_API_KEY_FILE": str(key_file),
        }
        # The manifest's own arguments, then (argparse: the last wins) local addresses for this machine.
        argv = c["command"] + gateway_argv(gateway) + [
            "--host=127.0.0.1", f"--port={http_port}", "--prometheus-host=127.0.0.1",
            f"--prometheus-port={metrics_port}", f"--service-discovery-port={peer.port}"]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)
        try:
            base_url = f"http://127.0.0.1:{http_port}"
            liveness = c["livenessProbe"]["httpGet"]["path"]
            readiness = c["readinessProbe"]["httpGet"]["path"]
            assert wait_for_status(base_url + liveness, 200) == 200
            assert wait_for_status(base_url + readiness, 200) == 200, "the discovered worker never became ready"

            body = json.dumps({"model": peer.model, "messages": [{"role": "user", "content": "hi"}]}).encode()
            request = urllib.request.Request(base_url + "/v1/chat/completions", data=body,
                                             headers={"Content-Type": "application/json"})
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=10)
            assert refused.value.code == 401
            request.add_header("Authorization", f"Bearer {key}")
            with urllib.request.urlopen(request, timeout=10) as r:
                assert json.load(r)["choices"][0]["message"]["content"] == peer.answer
            # The peer answers only with the key: the gateway forwarded it to the worker.
            assert ("POST", "/v1/chat/completions") in [(m, p) for m, p, _ in peer.requests]
        finally:
            proc.terminate()
            out = proc.communicate(timeout=30)[0].decode(errors="replace")
        assert key not in out, "the gateway logged the API key"

    # Everything the gateway asked the API for, the Role allows: reads of pods in its namespace.
    assert api.requests
    for method, path in api.requests:
        assert method == "GET", (method, path)
        assert re.fullmatch(rf"/api/v1/namespaces/{NAMESPACE}/pods(\?.*)?", path), path
