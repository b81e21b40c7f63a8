"""Host and configuration checks that predict SGLang start-up failures in a second: each a Check.

The pure functions take facts (GPU rows, a config.json, sizes) and return
checks; `run()` gathers the facts (nvidia-smi, /dev/shm, the port, the serving
interpreter's metadata, the model on disk) and calls them. Nothing here prints.
Model resolution, TP divisibility, the port bind and version lookup are the
same code `resolve-model` and `serve` use, so doctor cannot disagree with them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from ..util import files
from ..model import fit
from ..host import gpu
from ..launch import nodes
from ..config import settings
from ..util.checks import FAIL, OK, WARN, Check, failed  # noqa: F401
# The pure checks live beside this module; their names stay reachable here (tests, older callers).
from .fit_checks import WEIGHT_SUFFIXES, context_check, fit_check, kv_dtype_bytes, weight_bytes  # noqa: F401
from .host_checks import DEFAULT_TARGETS, MIN_DRIVER, SHM_MIN_BYTES, TARGETS_SETTING, gpu_checks, parse_targets, runs_on, shm_check, shm_size  # noqa: F401
from ..util.errors import ConfigError, PreflightError


def node_check(topology: nodes.Topology, port: int) -> Check | None:
    """Multi-node only: which node this is, and on rank > 0 that its port is a health stub, not the API."""
    if topology.nnodes == 1:
        return None
    where = " (from LeaderWorkerSet)" if topology.from_lws else ""
    if topology.serves_api:
        return Check("node", OK, f"leader (rank 0 of {topology.nnodes}){where}: serves the API on port {port} once every "
                     f"node has joined at {topology.dist_init_addr}")
    return Check("node", OK, f"{nodes.no_api_note(topology, port)}{where}",
                 "point probes, the Service and the gateway at the leader; here /health only shows the process is up")


# ---------------------------------------------------------------- gathering facts

def key_check(values: settings.Settings) -> Check:
    """How the API key travels, or that there is none (the same reader serve uses: a bad key file fails here too)."""
    from ..launch import plan as launch

    try:
        key = launch.configured_api_key(values)
    except ConfigError as exc:
        return Check("api-key", FAIL, str(exc), "fix SGLANG_API_KEY / SGLANG_API_KEY_FILE")
    if key is None:
        host = values.get("SGLANG_HOST")
        exposed = host not in ("127.0.0.1", "localhost", "::1")
        return Check("api-key", WARN if exposed else OK,
                     f"no API key: anyone who reaches {host}:{values.get('SGLANG_PORT')} may use the API",
                     "set SGLANG_API_KEY_FILE (Kubernetes: the api-key component)" if exposed else "")
    source = "SGLANG_API_KEY" if values.get("SGLANG_API_KEY") else "SGLANG_API_KEY_FILE"
    return Check("api-key", OK, f"{source}: handed to SGLang through a pipe to the bootstrap, never on a command "
                 "line nor in an environment; every line the server writes is redacted")


def _host_checks(values: settings.Settings, env: Mapping[str, str]) -> tuple[list[Check], Any]:
    """Port, interpreter, versions. Returns (interpreter, sglang version, transformers version) for the model checks."""
    from ..host import preflight, versions

    checks = []
    host, port = values.get("SGLANG_HOST"), values.get("SGLANG_PORT")
    try:
        preflight.port_bindable(host, port)
        checks.append(Check("port", OK, f"{host}:{port} can be bound"))
    except PreflightError as exc:
        checks.append(Check("port", FAIL, str(exc), "stop the other server or set SGLANG_PORT"))

    requested = values.get("SGLANG_PYTHON")
    python, notice = versions.serving_python(requested)
    if python is None:
        checks.append(Check("interpreter", FAIL, f"SGLANG_PYTHON={requested!r}: not on PATH",
                            "activate the Flox environment, or set SGLANG_PYTHON to the interpreter that has SGLang"))
        return checks, (None, None, None)
    dirs = versions.site_dirs(python, env)
    sglang_v = versions.installed_text("sglang", dirs)
    transformers_v = versions.installed("transformers", dirs)
    label = f"{python}" + (f" ({notice})" if notice else "")
    if sglang_v is None:
        checks.append(Check("interpreter", FAIL, f"{label}: no sglang installed",
                            "use the interpreter from the Flox environment (SGLANG_PYTHON)"))
    else:
        tv = versions.text(transformers_v) if transformers_v else "not installed"
        checks.append(Check("interpreter", OK, f"{label}: sglang {sglang_v}, transformers {tv}"))
    return checks, (python, sglang_v, transformers_v)


def _model_checks(model: str | None, values: settings.Settings, env: Mapping[str, str], hf_cache: Path | None,
                  serving: Any, read_model: bool, read_timeout: float) -> tuple[list[Check], Path | None, Mapping[str, Any] | None, Any]:
    """The model, resolved exactly as resolve-model does: its checks, snapshot, config.json and shape (None where unknown)."""
    from ..model import hub, modelread, resolve

    if not model:
        return [Check("model", FAIL, "SGLANG_MODEL is not set", "set SGLANG_MODEL to a Hugging Face id or a model directory")], None, None, None
    try:
        found = resolve.locate(model, values, env, hf_cache or hub.default_hf_cache())
    except ConfigError as exc:
        return [Check("model", FAIL, str(exc), "run `sglang-resolve-model` for details; fix SGLANG_MODEL")], None, None, None
    if found is None:
        return [Check("model", WARN, f"{model}: no local copy; SGLang will download it, model checks skipped",
                      "bundle the model in the Flox environment or pre-download it (huggingface-cli download)")], None, None, None
    snapshot = found.snapshot
    checks = [Check("model", OK, f"{model} -> {snapshot} ({found.where})")]
    try:
        config = files.read_json(snapshot / "config.json", "SGLANG_MODEL", "a model config.json (a JSON object)")
        shape = fit.model_shape(config)
        checks.append(Check("config", OK, f"config.json: {shape.layers} layers, {shape.attention_heads} heads, "
                            f"{shape.kv_heads} KV heads, head_dim {shape.head_dim}"
                            + (f", {shape.sliding_layers} sliding-window layers" if shape.sliding_layers else "")))
    except (ConfigError, OSError, ValueError, TypeError) as exc:
        config, shape = None, None
        checks.append(Check("config", FAIL, f"{snapshot / 'config.json'}: {exc}", "re-download the model"))
    checks += modelread.compat_checks(model, snapshot, values, env, serving, read_model=read_model, timeout=read_timeout)
    return checks, snapshot, config, shape


def _tp_checks(values: settings.Settings, topology: nodes.Topology, config: Mapping[str, Any] | None,
               probe: gpu.Probe, visible: Sequence[Any]) -> tuple[int, list[Check]]:
    """Tensor parallel: the same rule serve applies. Across nodes TP is the total and each node runs TP/nodes GPUs."""
    from ..launch import tp as tp_mod

    requested_tp = values.get("SGLANG_TP_SIZE") or 1
    attention, kv = tp_mod.heads(config) if config else (None, None)
    n = topology.nnodes
    if requested_tp == "auto":
        tp = (nodes.auto_tp(len(visible), n, attention, kv) or n) if visible else n
        tp_line = f"SGLANG_TP_SIZE=auto -> {tp}" + (f" ({tp // n} GPUs x {n} nodes)" if n > 1 else "")
    else:
        tp = int(requested_tp)
        tp_line = f"tensor parallel {tp}" + (f" over {n} nodes" if n > 1 else "")
    checks = []
    try:
        nodes.check_tp(tp, n, explicit=values.get("SGLANG_TP_SIZE") is not None)
        tp_mod.check(tp, attention, kv)
        if config:
            checks.append(Check("tensor-parallel", OK, f"{tp_line} divides num_attention_heads={attention}"
                                + (f" and num_key_value_heads={kv}" if kv else "")))
    except ConfigError as exc:
        checks.append(Check("tensor-parallel", FAIL, str(exc),
                            "choose a size that divides both head counts" + (f" and is a multiple of {n}" if n > 1 else "")
                            + ", or SGLANG_TP_SIZE=auto"))
    per_node = max(tp // n, 1)
    if probe.error is None and per_node > len(visible):
        needs = f"{per_node} GPUs on this node" if n > 1 else f"{tp} GPUs"
        checks.append(Check("tensor-parallel", FAIL, f"{tp_line} needs {needs}, {len(visible)} visible",
                            "lower SGLANG_TP_SIZE or make more GPUs visible"))
    return tp, checks


def _fit_checks(values: settings.Settings, shape: Any, snapshot: Path, visible: Sequence[Any], tp: int) -> list[Check]:
    checks = [context_check(shape, values.get("SGLANG_CONTEXT_LENGTH"))]
    sized = weight_bytes(snapshot)
    mems = [g.memory_mib for g in visible if g.memory_mib]
    if sized is None:
        checks.append(Check("fit", WARN, "no weight files found to size"))
    elif not mems:
        checks.append(Check("fit", WARN, f"weights {sized[0] / fit.GIB:.1f} GiB ({sized[1]}); GPU memory unknown, fit not estimated"))
    else:
        check, _ = fit_check(min(mems), sized[0], shape, tp, values.get("SGLANG_MEM_FRACTION_STATIC"),
                             values.get("SGLANG_CONTEXT_LENGTH"),
                             kv_dtype_bytes(values.get("SGLANG_EXTRA_ARGS", ()), values.get("SGLANG_DTYPE")),
                             values.get("SGLANG_CHUNKED_PREFILL_SIZE"), values.get("SGLANG_CUDA_GRAPH_MAX_BS"))
        checks.append(check)
    return checks


def run(env: Mapping[str, str], *, nvidia_smi: str = "nvidia-smi", probe: gpu.Probe | None = None,
        shm_path: str = "/dev/shm", hf_cache: Path | None = None, read_model: bool = True,
        read_timeout: float = 180.0) -> list[Check]:
    """Every check, in the order a launch would hit them. Bad settings raise ConfigError (the CLI's exit 2)."""
    values = settings.load(env)
    topology = nodes.topology(values, env)
    nodes.check_disaggregation(values)
    targets = parse_targets(values.get(TARGETS_SETTING) or DEFAULT_TARGETS)
    probe = probe if probe is not None else gpu.probe(nvidia_smi)
    checks = gpu_checks(probe, env.get("CUDA_VISIBLE_DEVICES"), targets)
    visible = gpu.visible(probe.gpus, env.get("CUDA_VISIBLE_DEVICES")).gpus

    host_checks, serving = _host_checks(values, env)
    checks_model, snapshot, config, shape = _model_checks(values.get("SGLANG_MODEL"), values, env, hf_cache, serving,
                                                          read_model, read_timeout)
    tp, tp_checks = _tp_checks(values, topology, config, probe, visible)

    checks.append(shm_check(shm_size(shm_path), tp))
    checks += host_checks
    checks.append(key_check(values))
    node = node_check(topology, values.get("SGLANG_PORT"))
    if node is not None:
        checks.append(node)
    checks += checks_model + tp_checks
    if shape is not None:
        checks += _fit_checks(values, shape, snapshot, visible, tp)
    if values.get("SGLANG_MODEL"):
        checks.append(prefetch_check(values, snapshot, serving[1], env))
    checks += last_start_checks(settings.path(values, "SGLANG_RUNTIME_CACHE"))
    return checks


def last_start_checks(cache_root: Path) -> list[Check]:
    """The last starts `wait` and the relay recorded (startup_report): per-phase times, warm or cold caches."""
    from ..util import inert
    from . import startup_report

    return [Check("last-start", OK, inert.line(line)) for line in startup_report.recent(cache_root)]


def prefetch_check(values: settings.Settings, snapshot: Path | None, installed: str | None, env: Mapping[str, str]) -> Check:
    """What serve's weight prefetch will do for this model and release, and SGLang's own options."""
    from ..launch import flagdata, prefetch_plan
    from ..launch.plan import ASSUMED_VERSION

    version = values.get("SGLANG_VERSION") or installed or ASSUMED_VERSION
    plan = prefetch_plan.gather(values.get(prefetch_plan.SETTING), snapshot, version, list(values.get("SGLANG_EXTRA_ARGS", ())), env)
    message = f"{(plan.line() or f'{prefetch_plan.SETTING}=off').removeprefix('prefetch: ')}; {prefetch_plan.sglang_own(flagdata.for_version(version)[0])}"
    if plan.skip is not None and plan.files and plan.mode == "auto":
        return Check("prefetch", WARN, message, "free host memory, or SGLANG_PREFETCH_WEIGHTS=on to read them anyway")
    return Check("prefetch", OK, message)
