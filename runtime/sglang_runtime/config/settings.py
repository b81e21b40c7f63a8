"""The table of settings — the single source of truth — and loading them from an environment.

Every launcher setting is an environment variable. Everything that lists,
validates, documents or renders settings reads `TABLE`: `load()`, the argv
builder, `sglang-runtime settings`, `--help`, the table in docs/settings.md (a test
compares) and the Kubernetes policy tests.

Unset or empty means "not passed": SGLang's own default applies, unless the
row names a default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

from ..util.errors import ConfigError
from ..util.version import parse_version  # noqa: F401  (settings.parse_version: the one version rule callers see)
from .kinds import KINDS


@dataclass(frozen=True)
class Setting:
    env: str
    kind: str
    help: str
    default: str | None = None
    # SGLang spelling by first version that uses it, oldest first: ((since, flag), ...).
    # A bool setting's flag may carry its own value tokens ("--x disabled"). The launcher
    # picks the spelling from SGLang's flag data (argv.spelling); a test proves these
    # thresholds give the same spelling for every release the data knows.
    flags: tuple[tuple[str, str], ...] = ()
    secret: bool = False
    choices: tuple[str, ...] = ()
    # Values only some SGLang releases accept: {value: first version that does} (checked against the data's choices).
    value_since: Mapping[str, str] = field(default_factory=dict)
    # Sample valid values: the contract tests generate argvs from these.
    examples: tuple[str, ...] = ()

    @property
    def flag(self) -> str | None:
        """The newest spelling, for display."""
        return self.flags[-1][1] if self.flags else None


def _f(flag: str) -> tuple[tuple[str, str], ...]:
    return (("0", flag),)


TABLE: tuple[Setting, ...] = (
    Setting("SGLANG_MODEL", "model", "Model to serve: a Hugging Face id (org/name) or a local directory with config.json. Required.",
            flags=_f("--model-path"), examples=("microsoft/Phi-4-mini-instruct-FP8-TORCHAO",)),
    Setting("SGLANG_MODEL_REVISION", "revision", "Revision (a refs/ name) of a cached or bundled model.", default="main"),
    Setting("SGLANG_MODEL_PATH", "pathlist", "Extra colon-separated HF-cache directories searched after the Flox bundle, before the user's HF cache."),
    Setting("SGLANG_HOST", "text", "Address the HTTP server binds.", default="0.0.0.0",
            flags=_f("--host"), examples=("0.0.0.0", "127.0.0.1")),
    Setting("SGLANG_PORT", "port", "HTTP port. Read by the launcher and removed from the server's environment (SGLang uses SGLANG_PORT as the base of its internal ports).",
            default="30000", flags=_f("--port"), examples=("30000", "8080")),
    Setting("SGLANG_SERVED_NAME", "text", "Model name the API reports; defaults to the bundled HF id when the model came from a bundle.",
            flags=_f("--served-model-name"), examples=("phi-4-mini",)),
    Setting("SGLANG_API_KEY", "text", "API key clients must send as a Bearer token.", flags=_f("--api-key"), secret=True,
            examples=("sk-test-123",)),
    Setting("SGLANG_API_KEY_FILE", "file", "File holding the API key (as Kubernetes mounts Secrets); used when SGLANG_API_KEY is unset."),
    Setting("SGLANG_TP_SIZE", "tp", "Tensor-parallel size: a positive integer, or `auto` (visible GPUs, reduced to divide the model's attention heads).",
            flags=_f("--tp-size"), examples=("1", "2")),
    Setting("SGLANG_DTYPE", "text", "Weight and activation dtype.", flags=_f("--dtype"), examples=("auto", "bfloat16", "float16")),
    Setting("SGLANG_QUANTIZATION", "text", "Quantization method.", flags=_f("--quantization"), examples=("fp8",)),
    Setting("SGLANG_ATTENTION_BACKEND", "text", "Attention kernel backend.", flags=_f("--attention-backend"),
            examples=("flashinfer", "triton")),
    Setting("SGLANG_MEM_FRACTION_STATIC", "fraction", "Fraction of GPU memory for weights and KV cache (0 < x < 1).",
            flags=_f("--mem-fraction-static"), examples=("0.85",)),
    Setting("SGLANG_CONTEXT_LENGTH", "positive_int", "Maximum context length.", flags=_f("--context-length"), examples=("8192",)),
    Setting("SGLANG_MAX_RUNNING_REQUESTS", "positive_int", "Maximum concurrently running requests.",
            flags=_f("--max-running-requests"), examples=("64",)),
    Setting("SGLANG_CHUNKED_PREFILL_SIZE", "chunk", "Chunked-prefill size in tokens; -1 disables chunking.",
            flags=_f("--chunked-prefill-size"), examples=("4096", "-1")),
    Setting("SGLANG_CUDA_GRAPH_MAX_BS", "positive_int", "Largest batch size captured in a CUDA graph (decode).",
            flags=(("0", "--cuda-graph-max-bs"), ("0.5.14", "--cuda-graph-max-bs-decode")), examples=("64",)),
    Setting("SGLANG_DISABLE_CUDA_GRAPH", "bool", "Disable CUDA graphs (slower, less memory, faster start).",
            flags=(("0", "--disable-cuda-graph"),
                   ("0.5.14", "--cuda-graph-backend-decode disabled --cuda-graph-backend-prefill disabled")),
            examples=("1", "0")),
    Setting("SGLANG_PREFERRED_SAMPLING_PARAMS", "json_object", "Default sampling parameters, a JSON object.",
            flags=_f("--preferred-sampling-params"), examples=('{"temperature": 0.7, "top_p": 0.9}',)),
    Setting("SGLANG_TOOL_CALL_PARSER", "text", "Tool-call parser (`gpt-oss` for gpt-oss models).",
            flags=_f("--tool-call-parser"), value_since={"auto": "0.5.12"}, examples=("qwen25", "auto")),
    Setting("SGLANG_REASONING_PARSER", "text", "Reasoning parser (`gpt-oss` for gpt-oss models).",
            flags=_f("--reasoning-parser"), value_since={"auto": "0.5.12"}, examples=("deepseek-r1", "gpt-oss", "auto")),
    Setting("SGLANG_ENABLE_CACHE_REPORT", "bool", "Report prefix-cache hits in usage.prompt_tokens_details.cached_tokens.",
            flags=_f("--enable-cache-report"), examples=("1",)),
    Setting("SGLANG_ENABLE_METRICS", "bool", "Expose Prometheus metrics on /metrics.", flags=_f("--enable-metrics"), examples=("1",)),
    Setting("SGLANG_TRUST_REMOTE_CODE", "bool", "Allow the model's own Python code to run.", flags=_f("--trust-remote-code"),
            examples=("1",)),
    Setting("SGLANG_LOG_LEVEL", "choice", "Server log level.", flags=_f("--log-level"),
            choices=("debug", "info", "warning", "error", "critical"), examples=("info", "warning")),
    # Faster cold starts (docs/performance.md): the launcher's read-ahead from the hand-over, and SGLang's own options.
    Setting("SGLANG_PREFETCH_WEIGHTS", "choice", "Read the model's weight files into the page cache from the hand-over, in SGLang's load order, "
            "while SGLang imports: auto (when they fit in available memory beside the server; skipped with one notice otherwise), "
            "on (also when the memory check says they do not fit) or off.",
            default="auto", choices=("auto", "on", "off")),
    Setting("SGLANG_WEIGHT_LOADER_PREFETCH", "bool", "SGLang's own checkpoint prefetch threads, started when its loader begins (SGLang >= 0.5.11).",
            flags=(("0.5.11", "--weight-loader-prefetch-checkpoints"),), examples=("1",)),
    Setting("SGLANG_WEIGHT_LOADER_PREFETCH_THREADS", "positive_int", "Threads of SGLang's own checkpoint prefetch (SGLang >= 0.5.11; its default 4).",
            flags=(("0.5.11", "--weight-loader-prefetch-num-threads"),), examples=("2",)),
    Setting("SGLANG_STARTUP_WEIGHT_LOAD_MODE", "choice", "SGLang's weight loading at start-up: serial, or overlap (stages the checkpoint while CUDA graphs "
            "are captured; SGLang >= 0.5.18).",
            flags=(("0.5.18", "--startup-weight-load-mode"),), choices=("serial", "overlap"), examples=("overlap", "serial")),
    Setting("SGLANG_EXTRA_ARGS", "args", "More launch_server arguments, split with shell-like quoting (never evaluated)."),
    Setting("SGLANG_ARGS_FILE", "file", "File of more launch_server arguments, one per line or shell-quoted; # starts a comment."),
    Setting("SGLANG_PYTHON", "text", "Interpreter that has SGLang; falls back to python3 with a notice when absent.", default="python3.12"),
    Setting("SGLANG_VERSION", "version", "SGLang version to build the argv for; default: read from the serving interpreter's installed metadata."),
    Setting("SGLANG_MODEL_ENV_FILE", "path", "Env file written by resolve-model and read by serve.", default="$FLOX_ENV_CACHE/sglang-model.env"),
    Setting("SGLANG_RUNTIME_CACHE", "path", "Root of the persistent compile caches and the compat shadows (transformers-5 checkpoints for transformers 4).", default="$FLOX_ENV_CACHE"),
    Setting("SGLANG_TOKENIZER_SHIM", "choice", "Serve a transformers-5 checkpoint through a shadow that transformers 4.x reads with the same meaning "
            "(config.json RoPE fields, tokenizer_config.json), or refuse one it cannot express: auto (when the serving transformers "
            "is < 5 or unknown), always or never.",
            default="auto", choices=("auto", "always", "never")),
    Setting("SGLANG_HUB_CHECK", "bool", "Before starting a model that is not on disk, ask the Hub (HF_ENDPOINT, HF_TOKEN) "
            "whether it exists and may be read, and refuse in one line if not; 0 skips it.", default="1"),
    Setting("SGLANG_PREFLIGHT", "bool", "Check port, interpreter and model before launching.", default="1"),
    Setting("SGLANG_RUNTIME_DEBUG", "bool", "After the one line an unexpected error (a bug in the launcher) prints, print its traceback too.",
            default="0"),
    Setting("SGLANG_DRY_RUN", "bool", "Print the server command instead of starting it (as --dry-run).", default="0"),
    Setting("SGLANG_CUDA_CAPABILITIES", "text", "GPU architectures the SGLang build targets, comma-separated (doctor checks the GPUs against them).",
            default="7.5,8.0,8.6,8.9,9.0,10.0,12.0"),
    # One server across several nodes (see nodes.py); `auto` reads what LeaderWorkerSet injects into its pods.
    Setting("SGLANG_NNODES", "nodes", "Nodes one server spans (tensor parallel across nodes): a positive integer, or `auto` (LWS_GROUP_SIZE, set by LeaderWorkerSet).",
            flags=_f("--nnodes"), examples=("2",)),
    Setting("SGLANG_NODE_RANK", "rank", "This node's rank, 0 on the node that serves the API: an integer, or `auto` (LWS_WORKER_INDEX).",
            flags=_f("--node-rank"), examples=("1",)),
    Setting("SGLANG_DIST_INIT_ADDR", "address", "Rank 0's host:port for torch.distributed ([v6 address]:port for IPv6), the same on every node; or `auto` (LWS_LEADER_ADDRESS and SGLANG_DIST_INIT_PORT).",
            flags=_f("--dist-init-addr"), examples=("sglang-multinode-0.sglang-multinode.sglang:20000", "[fd00::2]:20000")),
    Setting("SGLANG_DIST_INIT_PORT", "port", "Port that SGLANG_DIST_INIT_ADDR=auto adds to the leader's address (20000, as in SGLang's own LeaderWorkerSet example); SGLang also opens ports just above it on the leader.",
            default="20000"),
    # Prefill/decode disaggregation: choices as both real parsers list them (tests/test_nodes.py compares).
    Setting("SGLANG_DISAGGREGATION_MODE", "choice", "Serve only prefill or only decode behind a Model Gateway in PD mode; unset: both.",
            flags=_f("--disaggregation-mode"), choices=("prefill", "decode"), examples=("prefill", "decode")),
    Setting("SGLANG_DISAGGREGATION_TRANSFER_BACKEND", "choice", "How KV cache moves from prefill to decode (mooncake needs RDMA; mooncake_tcp forces TCP).",
            flags=_f("--disaggregation-transfer-backend"), choices=("mooncake", "nixl", "ascend", "fake", "mori", "mooncake_tcp"),
            value_since={"mooncake_tcp": "0.5.13"}, examples=("nixl", "mooncake_tcp")),
    Setting("SGLANG_DISAGGREGATION_BOOTSTRAP_PORT", "port", "Port of a prefill server's bootstrap server, which decode servers connect to (SGLang's default 8998); must differ from SGLANG_PORT.",
            flags=_f("--disaggregation-bootstrap-port"), examples=("9000",)),
    Setting("SGLANG_DISAGGREGATION_IB_DEVICE", "text", "InfiniBand devices for the KV transfer, comma-separated (mlx5_0,mlx5_1); unset: detected.",
            flags=_f("--disaggregation-ib-device"), examples=("mlx5_0,mlx5_1",)),
)

BY_NAME: Mapping[str, Setting] = MappingProxyType({s.env: s for s in TABLE})
NAMES: frozenset[str] = frozenset(BY_NAME)

# Where every default that names $FLOX_ENV_CACHE lands when Flox is not active.
FALLBACK_CACHE = "~/.cache/sglang-runtime"

def _expand_default(default: str, env: Mapping[str, str]) -> str:
    cache = env.get("FLOX_ENV_CACHE") or FALLBACK_CACHE
    return default.replace("$FLOX_ENV_CACHE", cache)


@dataclass(frozen=True)
class Settings:
    """Typed, validated values; absent keys were not set and have no default."""

    values: Mapping[str, Any]

    def get(self, name: str, fallback: Any = None) -> Any:
        if name not in BY_NAME:
            raise KeyError(f"unknown setting {name}")
        return self.values.get(name, fallback)

    def __contains__(self, name: str) -> bool:
        return name in self.values


def parse_value(setting: Setting, raw: str) -> Any:
    return KINDS[setting.kind].parse(setting, raw)


def load(env: Mapping[str, str]) -> Settings:
    """Parse and validate every setting in `env`; the first bad value raises ConfigError."""
    values: dict[str, Any] = {}
    for s in TABLE:
        raw = env.get(s.env, "")
        if not raw.strip():
            if s.default is None:
                continue
            raw = _expand_default(s.default, env)
        values[s.env] = parse_value(s, raw)
    return Settings(MappingProxyType(values))


def require(settings: Settings, name: str) -> Any:
    value = settings.get(name)
    if value is None or value == "":
        raise ConfigError(name, "", "a value (it is required)")
    return value


def path(settings: Settings, name: str) -> "Path":
    from pathlib import Path

    return Path(os.path.expanduser(settings.get(name)))


def display_value(setting: Setting, raw: str | None, show_secrets: bool = False) -> str:
    if raw is None or raw == "":
        return ""
    if setting.secret and not show_secrets:
        return "***"
    return raw


def flag_doc(setting: Setting) -> str:
    if not setting.flags:
        return ""
    if len(setting.flags) == 1:
        since, flag = setting.flags[0]
        return f"`{flag}`" + (f" (≥ {since})" if since != "0" else "")
    parts = []
    for i, (since, flag) in enumerate(setting.flags):
        until = setting.flags[i + 1][0] if i + 1 < len(setting.flags) else None
        if since == "0":
            parts.append(f"`{flag}` (< {until})")
        else:
            parts.append(f"`{flag}` (≥ {since})")
    return ", ".join(parts)


def markdown_table() -> str:
    """The settings table of docs/settings.md, derived from TABLE (a test keeps the page equal to it)."""
    lines = [
        "| Variable | Type | Default | SGLang flag | Meaning |",
        "|---|---|---|---|---|",
    ]
    for s in TABLE:
        kind = KINDS[s.kind].help
        if s.choices:
            kind = " \\| ".join(s.choices)
        default = f"`{s.default}`" if s.default is not None else ""
        help_text = s.help.replace("|", "\\|")
        if s.secret:
            help_text += " Secret: masked in every printed command."
        lines.append(f"| `{s.env}` | {kind} | {default} | {flag_doc(s)} | {help_text} |")
    return "\n".join(lines) + "\n"
