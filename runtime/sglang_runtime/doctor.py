"""Host and configuration checks that predict SGLang start-up failures in a second: each a Check.

The pure functions take facts (GPU rows, a config.json, sizes) and return
checks; `run()` gathers the facts (nvidia-smi, /dev/shm, the port, the serving
interpreter's metadata, the model on disk) and calls them. Nothing here prints.
Model resolution, TP divisibility, the port bind and version lookup are the
same code `resolve-model` and `serve` use, so doctor cannot disagree with them.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import files, fit, gpu, nodes, settings
from .errors import ConfigError, PreflightError

OK, WARN, FAIL = "ok", "warn", "fail"
MIN_DRIVER = 550
SHM_MIN_BYTES = 1 << 30
TARGETS_SETTING = "SGLANG_CUDA_CAPABILITIES"
DEFAULT_TARGETS = "7.5,8.0,8.6,8.9,9.0,10.0,12.0"  # SM75..SM120, the default build
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status == FAIL for c in checks)


# ---------------------------------------------------------------- GPUs

def parse_targets(text: str) -> tuple[tuple[int, int], ...]:
    """'7.5,8.0,9.0' or 'sm_75,sm_90' -> ((7, 5), (8, 0), (9, 0)); ConfigError names the setting."""
    targets = []
    for item in text.replace(";", ",").split(","):
        item = item.strip().lower().removeprefix("sm_").removeprefix("sm").removeprefix("compute_")
        if not item:
            continue
        try:
            if "." in item:
                major, minor = item.split(".", 1)
                targets.append((int(major), int(minor.rstrip("af"))))
            else:
                digits = item.rstrip("af")
                targets.append((int(digits[:-1]), int(digits[-1])))
        except ValueError:
            raise ConfigError(TARGETS_SETTING, text, "comma-separated compute capabilities such as 7.5,8.0,9.0,12.0") from None
    if not targets:
        raise ConfigError(TARGETS_SETTING, text, "at least one compute capability such as 9.0")
    return tuple(sorted(set(targets)))


def runs_on(cap: tuple[int, int], targets: Sequence[tuple[int, int]]) -> bool:
    """CUDA binaries built for M.n run on M.m with m >= n (same major), not across majors."""
    return any(t_major == cap[0] and t_minor <= cap[1] for t_major, t_minor in targets)


def _targets_text(targets: Sequence[tuple[int, int]]) -> str:
    return ", ".join(f"SM{a}{b}" for a, b in targets)


def gpu_checks(probe: gpu.Probe, cuda_visible_devices: str | None,
               targets: Sequence[tuple[int, int]]) -> list[Check]:
    if probe.error is not None:
        return [Check("gpus", FAIL, f"no GPU: {probe.error}",
                      "SGLang needs an NVIDIA GPU and driver; on Kubernetes request nvidia.com/gpu and use "
                      "flox.dev/activate-mode: dev so CUDA detection runs")]
    checks = []
    names = "; ".join(f"{g.index}: {g.name}, {g.sm}, {g.memory_mib} MiB, driver {g.driver}" for g in probe.gpus)
    checks.append(Check("gpus", OK, f"{len(probe.gpus)} GPU(s): {names}"))

    unsupported = [g for g in probe.gpus if g.compute_cap is None or not runs_on(g.compute_cap, targets)]
    if unsupported:
        bad = ", ".join(f"GPU {g.index} {g.name} ({g.sm})" for g in unsupported)
        checks.append(Check("compute-capability", FAIL,
                            f"{bad} not in the build's targets ({_targets_text(targets)})",
                            f"use a GPU the build targets, or a build for this architecture (then set {TARGETS_SETTING})"))
    else:
        checks.append(Check("compute-capability", OK, f"{', '.join(sorted({g.sm for g in probe.gpus}))} within {_targets_text(targets)}"))

    drivers = sorted({g.driver for g in probe.gpus})
    old = [d for d in drivers if (gpu.driver_major(d) or 0) < MIN_DRIVER]
    if old:
        checks.append(Check("driver", FAIL, f"driver {', '.join(old)} is older than {MIN_DRIVER}",
                            f"install an NVIDIA driver >= {MIN_DRIVER} (the CUDA 12 runtime SGLang ships needs it)"))
    else:
        checks.append(Check("driver", OK, f"driver {', '.join(drivers)} (>= {MIN_DRIVER})"))

    seen = gpu.visible(probe.gpus, cuda_visible_devices)
    if cuda_visible_devices is None:
        checks.append(Check("visible-devices", OK, f"CUDA_VISIBLE_DEVICES unset: all {len(seen.gpus)} GPU(s) visible"))
    elif any("not checked" not in p for p in seen.problems) or not (seen.gpus or seen.problems):
        checks.append(Check("visible-devices", FAIL, "; ".join(seen.problems) or f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} selects no GPU",
                            f"set CUDA_VISIBLE_DEVICES to indices nvidia-smi lists ({', '.join(str(g.index) for g in probe.gpus)}) or unset it"))
    elif seen.problems:
        checks.append(Check("visible-devices", WARN, "; ".join(seen.problems)))
    else:
        checks.append(Check("visible-devices", OK, f"CUDA_VISIBLE_DEVICES={cuda_visible_devices} -> GPU(s) {', '.join(str(g.index) for g in seen.gpus)}"))
    return checks


def shm_check(size_bytes: int | None, tp: int) -> Check:
    if size_bytes is None:
        return Check("shm", WARN if tp > 1 else OK, "/dev/shm not found" + (" (tensor parallel needs it)" if tp > 1 else ""),
                     "mount a tmpfs at /dev/shm (Kubernetes: an emptyDir with medium: Memory)" if tp > 1 else "")
    size = f"/dev/shm is {size_bytes / (1 << 20):.0f} MiB"
    if tp > 1 and size_bytes < SHM_MIN_BYTES:
        return Check("shm", WARN, f"{size} with tensor parallel {tp}: NCCL and the TP broadcast queue need more",
                     "give /dev/shm at least 1 GiB (docker --shm-size=16g; Kubernetes: emptyDir medium: Memory, sizeLimit: 16Gi)")
    return Check("shm", OK, size)


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


# ---------------------------------------------------------------- model

def weight_bytes(snapshot: Path) -> tuple[int, str] | None:
    """(bytes, how we know): the weight index's total_size, else the sum of weight files on disk."""
    total, indexes = 0, []
    for index in sorted(snapshot.glob("*.index.json")):
        try:
            size = json.loads(index.read_text(encoding="utf-8"))["metadata"]["total_size"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if isinstance(size, int) and size > 0:
            total += size
            indexes.append(index.name)
    if indexes:
        return total, f"total_size in {', '.join(indexes)}"
    files = [p for p in snapshot.iterdir() if p.name.endswith(WEIGHT_SUFFIXES)]
    if not files:
        return None
    return sum(p.stat().st_size for p in files), f"{len(files)} weight file(s)"


def context_check(shape: fit.ModelShape, requested: int | None) -> Check:
    if shape.max_context is None:
        return Check("context", WARN, "config.json has no max_position_embeddings; SGLang decides the context length")
    if requested is None:
        return Check("context", OK, f"model maximum {shape.max_context} tokens (SGLANG_CONTEXT_LENGTH unset)")
    if requested > shape.max_context:
        return Check("context", FAIL, f"SGLANG_CONTEXT_LENGTH={requested} exceeds the model's maximum {shape.max_context}",
                     f"set SGLANG_CONTEXT_LENGTH <= {shape.max_context} (SGLang refuses longer unless "
                     "SGLANG_ALLOW_OVERWRITE_LONGER_CONTEXT_LEN=1, and quality degrades)")
    return Check("context", OK, f"SGLANG_CONTEXT_LENGTH={requested} <= model maximum {shape.max_context}")


def _gib(x: float) -> str:
    return f"{x:.1f} GiB"


def fit_check(gpu_mem_mib: float, weights: int, shape: fit.ModelShape, tp: int, fraction: float | None,
              context: int | None, kv_dtype_bytes: int = 2, chunked_prefill_size: int | None = None,
              cuda_graph_max_bs: int | None = None) -> tuple[Check, fit.Fit]:
    est = fit.estimate(gpu_mem_mib, weights, shape, tp, fraction, kv_dtype_bytes, chunked_prefill_size, cuda_graph_max_bs)
    how = f"SGLang's automatic {est.fraction}" if est.fraction_is_auto else f"SGLANG_MEM_FRACTION_STATIC={est.fraction}"
    ctx = context or shape.max_context
    free = max(gpu_mem_mib - fit.RUNTIME_RESERVE_MIB, 1) * fit.MIB
    # The fraction that would hold the weights plus one full context of KV cache.
    needed = (est.weights_gib * fit.GIB + (ctx or 0) * est.bytes_per_token) / free
    head = f"weights {_gib(est.weights_gib)}/GPU (TP {tp}) vs {_gib(est.budget_gib)} at {how} of {gpu_mem_mib:.0f} MiB"
    if not est.weights_fit:
        # Smallest fraction leaving room for a modest 16k-token pool; above ~0.95 activations no longer fit.
        least = math.ceil((est.weights_gib * fit.GIB + 16384 * est.bytes_per_token) / free * 100) / 100
        fix = (f"SGLANG_MEM_FRACTION_STATIC >= {least:.2f} (higher leaves more KV cache), with "
               "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True; or more GPUs (SGLANG_TP_SIZE)"
               if least <= 0.95 else "more GPUs (SGLANG_TP_SIZE) or a smaller / more quantized model")
        return Check("fit", FAIL, f"{head}: no room for the KV cache ({_gib(est.kv_gib)})", fix), est
    pool = f"KV pool ~{est.kv_tokens:,} tokens ({_gib(est.kv_gib)})"
    if ctx and est.kv_tokens < ctx:
        fix = (f"SGLANG_MEM_FRACTION_STATIC={needed:.2f} would hold one full context" if needed < 0.95
               else "more GPUs (SGLANG_TP_SIZE), a shorter SGLANG_CONTEXT_LENGTH or an fp8 KV cache (--kv-cache-dtype fp8_e4m3)")
        return Check("fit", WARN, f"{head}; {pool} is less than one full context ({ctx:,})", fix), est
    return Check("fit", OK, f"{head}; {pool}" + (f" = {est.kv_tokens / ctx:.1f} full contexts" if ctx else "")), est


def kv_dtype_bytes(extra_args: Sequence[str], dtype: str | None) -> int:
    for i, arg in enumerate(extra_args):
        value = None
        if arg == "--kv-cache-dtype" and i + 1 < len(extra_args):
            value = extra_args[i + 1]
        elif arg.startswith("--kv-cache-dtype="):
            value = arg.split("=", 1)[1]
        if value and value != "auto":
            return fit.DTYPE_BYTES.get(value, 1 if "fp8" in value or "fp4" in value else 2)
    return 4 if dtype in ("float32", "float") else 2


# ---------------------------------------------------------------- gathering facts

def shm_size(path: str = "/dev/shm") -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_frsize * st.f_blocks


def key_check(values: settings.Settings) -> Check:
    """How the API key travels, or that there is none (the same reader serve uses: a bad key file fails here too)."""
    from . import launch

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
    return Check("api-key", OK, f"{source}: handed to SGLang in the environment of the bootstrap, never on a command "
                 "line; every line the server writes is redacted")


def _host_checks(values: settings.Settings, env: Mapping[str, str]) -> tuple[list[Check], Any]:
    """Port, interpreter, versions. Returns (interpreter, sglang version, transformers version) for the model checks."""
    from . import preflight, versions

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


def run(env: Mapping[str, str], *, nvidia_smi: str = "nvidia-smi", probe: gpu.Probe | None = None,
        shm_path: str = "/dev/shm", hf_cache: Path | None = None, read_model: bool = True,
        read_timeout: float = 180.0) -> list[Check]:
    """Every check, in the order a launch would hit them. Bad settings raise ConfigError (the CLI's exit 2)."""
    from . import hub, modelread, resolve, tp as tp_mod

    values = settings.load(env)
    topology = nodes.topology(values, env)
    nodes.check_disaggregation(values)
    targets = parse_targets(values.get(TARGETS_SETTING) or DEFAULT_TARGETS)
    probe = probe if probe is not None else gpu.probe(nvidia_smi)
    checks = gpu_checks(probe, env.get("CUDA_VISIBLE_DEVICES"), targets)
    visible = gpu.visible(probe.gpus, env.get("CUDA_VISIBLE_DEVICES")).gpus

    host_checks, serving = _host_checks(values, env)

    # The model, resolved exactly as resolve-model does.
    model = values.get("SGLANG_MODEL")
    config: Mapping[str, Any] | None = None
    snapshot: Path | None = None
    if not model:
        checks_model = [Check("model", FAIL, "SGLANG_MODEL is not set", "set SGLANG_MODEL to a Hugging Face id or a model directory")]
    else:
        try:
            found = resolve.locate(model, values, env, hf_cache or hub.default_hf_cache())
        except ConfigError as exc:
            found, checks_model = None, [Check("model", FAIL, str(exc), "run `sglang-resolve-model` for details; fix SGLANG_MODEL")]
        else:
            if found is None:
                checks_model = [Check("model", WARN, f"{model}: no local copy; SGLang will download it, model checks skipped",
                                      "bundle the model in the Flox environment or pre-download it (huggingface-cli download)")]
            else:
                snapshot = found.snapshot
                checks_model = [Check("model", OK, f"{model} -> {snapshot} ({found.where})")]
    if snapshot is not None:
        try:
            config = files.read_json(snapshot / "config.json", "SGLANG_MODEL", "a model config.json (a JSON object)")
            shape = fit.model_shape(config)
            checks_model.append(Check("config", OK, f"config.json: {shape.layers} layers, {shape.attention_heads} heads, "
                                      f"{shape.kv_heads} KV heads, head_dim {shape.head_dim}"
                                      + (f", {shape.sliding_layers} sliding-window layers" if shape.sliding_layers else "")))
        except (ConfigError, OSError, ValueError, TypeError) as exc:
            config, shape = None, None
            checks_model.append(Check("config", FAIL, f"{snapshot / 'config.json'}: {exc}", "re-download the model"))
        checks_model += modelread.compat_checks(model, snapshot, values, env, serving, read_model=read_model, timeout=read_timeout)
    else:
        shape = None

    # Tensor parallel: the same rule serve applies. Across nodes TP is the total and each node runs TP/nodes GPUs.
    requested_tp = values.get("SGLANG_TP_SIZE") or 1
    attention, kv = tp_mod.heads(config) if config else (None, None)
    tp = 1
    n = topology.nnodes
    if requested_tp == "auto":
        tp = (nodes.auto_tp(len(visible), n, attention, kv) or n) if visible else n
        tp_line = f"SGLANG_TP_SIZE=auto -> {tp}" + (f" ({tp // n} GPUs x {n} nodes)" if n > 1 else "")
    else:
        tp = int(requested_tp)
        tp_line = f"tensor parallel {tp}" + (f" over {n} nodes" if n > 1 else "")
    tp_checks = []
    try:
        nodes.check_tp(tp, n, explicit=values.get("SGLANG_TP_SIZE") is not None)
        tp_mod.check(tp, attention, kv)
        if config:
            tp_checks.append(Check("tensor-parallel", OK, f"{tp_line} divides num_attention_heads={attention}"
                                   + (f" and num_key_value_heads={kv}" if kv else "")))
    except ConfigError as exc:
        tp_checks.append(Check("tensor-parallel", FAIL, str(exc),
                               "choose a size that divides both head counts" + (f" and is a multiple of {n}" if n > 1 else "")
                               + ", or SGLANG_TP_SIZE=auto"))
    per_node = max(tp // n, 1)
    if probe.error is None and per_node > len(visible):
        needs = f"{per_node} GPUs on this node" if n > 1 else f"{tp} GPUs"
        tp_checks.append(Check("tensor-parallel", FAIL, f"{tp_line} needs {needs}, {len(visible)} visible",
                               "lower SGLANG_TP_SIZE or make more GPUs visible"))

    checks.append(shm_check(shm_size(shm_path), tp))
    checks += host_checks
    checks.append(key_check(values))
    node = node_check(topology, values.get("SGLANG_PORT"))
    if node is not None:
        checks.append(node)
    checks += checks_model + tp_checks
    if shape is not None:
        checks.append(context_check(shape, values.get("SGLANG_CONTEXT_LENGTH")))
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
    checks += last_start_checks(settings.path(values, "SGLANG_RUNTIME_CACHE"))
    return checks


def last_start_checks(cache_root: Path) -> list[Check]:
    """The last starts `wait` recorded (startup_report): per-phase times and whether the caches were warm."""
    from . import startup_report
    from .inert import inert

    return [Check("last-start", OK, inert(line)) for line in startup_report.recent(cache_root)]
