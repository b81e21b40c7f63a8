"""Helpers for the Kubernetes tests: render with the real kubectl, walk the objects, and a stand-in API server.

The stand-in is for the one thing that cannot run here, a cluster: it answers
the two requests SGLang's Model Gateway makes to discover workers (list, then
watch, of pods in one namespace) and records every request it gets. Its HTTP
server, and the stand-in SGLang servers', is tests/standin_http.py's.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from standin_http import QuietHandler, StandIn

ROOT = Path(__file__).resolve().parent.parent
K8S = ROOT / "k8s"
FLOX_MANIFEST = ROOT / ".flox" / "env" / "manifest.toml"

# What the Flox service runs ([services.sglang].command); the manifest, once it
# exists, is the authority and the tests read it from there.
FLOX_SERVICE_COMMAND = '[ -z "${SGLANG_LAUNCHER_ERROR:-}" ] || { printf \'%s\\n\' "$SGLANG_LAUNCHER_ERROR" >&2; exit 3; }; sglang-resolve-model && exec sglang-serve'

# Routes SGLang's HTTP server answers (shared notes, "HTTP endpoints and
# readiness"): the probes may only use these.
SGLANG_ROUTES = frozenset({
    "/health", "/health_generate", "/metrics", "/get_model_info", "/model_info",
    "/get_server_info", "/v1/models", "/v1/chat/completions", "/v1/completions",
    "/generate", "/flush_cache",
})
# SGLang's /health gives up on its one-token generation after this many
# seconds (SGLANG_HEALTH_CHECK_TIMEOUT) and answers 503.
SGLANG_HEALTH_TIMEOUT_S = 20


def render(directory: Path) -> list[dict]:
    """`kubectl kustomize DIR`, parsed."""
    out = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def compose(tmp: Path, resource: Path, *components: Path) -> list[dict]:
    """Render an overlay of the user's own: one resource plus components (kustomize wants relative paths)."""
    rel = lambda p: os.path.relpath(p, tmp)  # noqa: E731
    (tmp / "kustomization.yaml").write_text(
        f"resources: [{rel(resource)}]\ncomponents: [{', '.join(rel(c) for c in components)}]\n")
    return render(tmp)


def find(objects: list[dict], kind: str, name: str) -> dict:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod_specs(objects: list[dict]) -> Iterator[tuple[dict, dict]]:
    """(workload, pod template) for every object that makes pods, LeaderWorkerSet templates included."""
    for o in objects:
        if o["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
            yield o, o["spec"]["template"]
        elif o["kind"] == "LeaderWorkerSet":
            lwt = o["spec"]["leaderWorkerTemplate"]
            yield o, lwt["workerTemplate"]
            if lwt.get("leaderTemplate"):
                yield o, lwt["leaderTemplate"]
        elif o["kind"] == "Pod":
            yield o, o


def containers(template: dict) -> list[dict]:
    spec = template["spec"]
    return spec.get("initContainers", []) + spec["containers"]


def container(template: dict, name: str) -> dict:
    (c,) = [c for c in template["spec"]["containers"] if c["name"] == name]
    return c


def env_values(c: dict) -> dict[str, str]:
    """Literal env values of a container (references to Secrets etc. left out)."""
    return {e["name"]: e["value"] for e in c.get("env", []) if "value" in e}


def port_number(c: dict, port: int | str) -> int:
    """A probe's or Service's port, named or numbered, as the container's number."""
    if isinstance(port, int):
        return port
    (p,) = [p for p in c["ports"] if p.get("name") == port]
    return p["containerPort"]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion of command and args: $$ escapes, unknown names stay as written."""
    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", one, text)


def downward_env(c: dict, obj: dict) -> dict[str, str]:
    """The container's env as the kubelet would set it, for literal values and metadata.namespace."""
    env = env_values(c)
    for e in c.get("env", []):
        ref = e.get("valueFrom", {}).get("fieldRef", {})
        if ref.get("fieldPath") == "metadata.namespace":
            env[e["name"]] = obj["metadata"]["namespace"]
    return env


def flox_service_command() -> str:
    """[services.sglang].command from the Flox manifest when it exists, else the agreed constant."""
    if FLOX_MANIFEST.exists():
        import tomllib
        return tomllib.loads(FLOX_MANIFEST.read_text())["services"]["sglang"]["command"]
    return FLOX_SERVICE_COMMAND


def flox_vars() -> dict[str, str]:
    if FLOX_MANIFEST.exists():
        import tomllib
        return dict(tomllib.loads(FLOX_MANIFEST.read_text()).get("vars", {}))
    return {}


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)
    elif isinstance(node, str):
        yield node


class FakeKubeAPI:
    """Stand-in for the Kubernetes API server (no cluster here): serves `pods` as a PodList and an idle watch.

    Records (method, path) of every request so a test can compare what the
    real gateway asked for with what its Role grants.
    """

    def __init__(self, pods: list[dict]):
        self.pods = pods
        self._stop = threading.Event()
        api = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                if re.search(r"[?&]watch=(true|1)", self.path):
                    # An open, quiet watch: the client keeps what it listed.
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    api._stop.wait(60)
                    return
                self.send_json(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {"resourceVersion": "5"},
                                     "items": api.pods})

            def _refuse(self):
                self.send_body(403, b"")

            do_POST = do_PUT = do_PATCH = do_DELETE = _refuse

        self._http = StandIn(Handler, record=True)
        self.url = self._http.url

    @property
    def requests(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(r.method, r.path) for r in self._http.requests]

    def __enter__(self) -> "FakeKubeAPI":
        self._http.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._http.close()

    def kubeconfig(self, directory: Path, namespace: str) -> Path:
        path = directory / "kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "stand-in",
            "clusters": [{"name": "stand-in", "cluster": {"server": self.url}}],
            "users": [{"name": "stand-in", "user": {"token": "stand-in"}}],
            "contexts": [{"name": "stand-in", "context": {"cluster": "stand-in", "user": "stand-in",
                                                          "namespace": namespace}}],
        }))
        return path


def ready_pod(name: str, namespace: str, labels: Mapping[str, str], ip: str) -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "resourceVersion": "5",
                     "labels": dict(labels)},
        "spec": {"containers": [{"name": "sglang", "image": "flox/empty:1.0.0"}]},
        "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]},
    }


def wait_for_status(url: str, status: int, timeout: float = 30.0) -> int:
    """Poll url until it answers `status`; returns the last status seen (0: no answer)."""
    import urllib.error
    import urllib.request
    deadline = time.monotonic() + timeout
    last = 0
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                last = r.status
        except urllib.error.HTTPError as e:
            last = e.code
        except OSError:
            last = 0
        if last == status:
            return last
        time.sleep(0.2)
    return last


# ------------------------------------------------------------------ custom resources

# The CRDs of LeaderWorkerSet, KEDA and the Prometheus operator, unchanged from each project's
# release tag (shared/k8s-crds/README.md lists tags and commits); read in place, never copied here.
CRD_DIR = Path(os.environ.get("SGLANG_TEST_K8S_CRDS") or ROOT.parent / "shared" / "k8s-crds")
CRD_FILES = {
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): "leaderworkerset.x-k8s.io_leaderworkersets.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_triggerauthentications.yaml",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_podmonitors.yaml",
}


def closed(schema: Any) -> Any:
    """The schema with additionalProperties: false on every object that lists its properties.

    A real API server prunes (or, with strict field validation, rejects) fields a structural
    schema does not name, except where x-kubernetes-preserve-unknown-fields says so; plain
    JSON Schema allows them. Closing the schema makes a misspelt field an error here too.
    """
    if isinstance(schema, dict):
        out = {k: closed(v) for k, v in schema.items()}
        if ("properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [closed(v) for v in schema]
    return schema


_crd_validators: dict[tuple[str, str], Any] = {}


def crd_validator(api_version: str, kind: str):
    """A jsonschema validator for the served version's openAPIV3Schema of the CRD, closed."""
    key = (api_version, kind)
    if key not in _crd_validators:
        import jsonschema

        path = CRD_DIR / CRD_FILES[key]
        if not path.is_file():
            raise FileNotFoundError(f"{path}: the CRDs live in shared/k8s-crds beside the repository "
                                    "(or set SGLANG_TEST_K8S_CRDS)")
        crd = yaml.safe_load(path.read_text())
        group, version = api_version.split("/")
        assert crd["spec"]["group"] == group and crd["spec"]["names"]["kind"] == kind
        (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version and v.get("served")]
        schema = closed(served["schema"]["openAPIV3Schema"])
        _crd_validators[key] = jsonschema.Draft7Validator(schema)
    return _crd_validators[key]


def is_custom(obj: dict) -> bool:
    return (obj["apiVersion"], obj["kind"]) in CRD_FILES


# ------------------------------------------------------------------ stand-in SGLang servers

class StandInServer:
    """Stand-in for an SGLang server of one role (no GPU here), on a loopback address of its own.

    SGLang's behaviour as far as the Model Gateway sees it, from the sources of 0.5.9/0.5.23:
    - role "api": /health, /health_generate 200, /model_info, /server_info, /v1/chat/completions;
    - role "stub": what a node of rank > 0 runs (launch_dummy_health_check_server): /health,
      /health_generate and /ping answer 200, every other route 404;
    - role "prefill": an API server that, for each request, leaves the prompt's "KV cache" with
      its bootstrap server (a second port, as SGLang's prefill server runs one) under the
      request's bootstrap_room, and answers like any server;
    - role "decode": an API server that fetches that KV cache from bootstrap_host:bootstrap_port
      (the prefill server the gateway chose) before answering, and says where it came from.
    Every request is recorded as (method, path, body).
    """

    def __init__(self, role: str, host: str, port: int, model: str = "stand-in/model", bootstrap_port: int = 0):
        self.role, self.host, self.port, self.model = role, host, port, model
        self.kv: dict[int, str] = {}
        self._servers = [StandIn(self._api_handler(), host=host, port=port, record=True)]
        if role == "prefill":
            self._servers.append(StandIn(self._bootstrap_handler(), host=host, port=bootstrap_port))
            self.bootstrap_port = self._servers[-1].port

    @property
    def requests(self) -> list[tuple[str, str, Any]]:
        """(method, path, JSON body or None) of every request to the API port, in order."""
        return [(r.method, r.path, r.body) for r in self._servers[0].requests]

    def __enter__(self) -> "StandInServer":
        for srv in self._servers:
            srv.start()
        return self

    def __exit__(self, *exc) -> None:
        for srv in self._servers:
            srv.close()

    def paths(self, method: str) -> list[str]:
        return [p for m, p, _ in self.requests if m == method]

    def _api_handler(self):
        me = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: Any) -> None:
                self.send_json(status, body)

            def do_GET(self):
                path = self.path.split("?")[0]
                if path in ("/health", "/health_generate", "/ping"):
                    return self._send(200, {})
                if me.role == "stub":
                    return self._send(404, {"detail": "Not Found"})
                if path in ("/model_info", "/get_model_info"):
                    return self._send(200, {"model_path": me.model, "is_generation": True})
                if path in ("/server_info", "/get_server_info"):
                    return self._send(200, {"model_path": me.model, "disaggregation_mode": me.role})
                if path == "/v1/models":
                    return self._send(200, {"object": "list", "data": [{"id": me.model, "object": "model"}]})
                return self._send(404, {"detail": "Not Found"})

            def do_POST(self):
                body = self.read_json()
                if me.role == "stub" or self.path != "/v1/chat/completions":
                    return self._send(404, {"detail": "Not Found"})
                content = f"answered by the {me.role} stand-in at {me.host}"
                if me.role == "prefill":
                    me.kv[body.get("bootstrap_room")] = f"kv of {body['messages'][-1]['content']!r} from {me.host}"
                elif me.role == "decode":
                    content = f"{content} with {me._fetch_kv(body)}"
                return self._send(200, {
                    "id": "stand-in", "object": "chat.completion", "created": 0, "model": me.model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

        return Handler

    def _fetch_kv(self, body: dict) -> str:
        """As a decode server does: ask the prefill server's bootstrap server, waiting for the prefill."""
        import urllib.request

        url = f"http://{body.get('bootstrap_host')}:{body.get('bootstrap_port')}/kv?room={body.get('bootstrap_room')}"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    return json.load(r)["kv"]
            except OSError:
                time.sleep(0.05)
        return f"no kv at {url}"

    def _bootstrap_handler(self):
        me = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                room = self.path.partition("room=")[2]
                kv = me.kv.get(int(room)) if room.lstrip("-").isdigit() else None
                self.send_body(200 if kv else 404, json.dumps({"kv": kv}).encode())

        return Handler
