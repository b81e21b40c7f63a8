"""Why a server could not come up, read from its log: root causes of tracebacks, known causes, fatal lines.

Built from real SGLang 0.5.9 and 0.5.23 logs produced on purpose (see the
real-server tests in tests/e2e/test_failures.py and the list in docs/operating.md):

- A traceback is often a chain ("During handling of the above exception,
  another exception occurred"); the exception at its end can mislead. SGLang
  0.5.9 failing on a transformers-5 tokenizer ends in "ImportError: requires
  the protobuf library", while the cause is the first exception,
  "AttributeError: 'list' object has no attribute 'keys'". So each chain is
  reported by its first AND its last exception, with the frame that raised each.
- KNOWN maps a cause seen in a log to the setting that fixes it.
- FATAL lines mean the server can never become ready even while its process
  lingers: SGLang 0.5.23 that cannot bind its port logs `[Errno 98]` and then
  hangs in "Waiting for application shutdown"; `wait --log` ends at once.

Pure: lines in, strings out. Reading the log is health.LogWatch's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Sequence

_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = ("During handling of the above exception, another exception occurred:",
            "The above exception was the direct cause of the following exception:")
_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')
_EXCEPTION = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Failure|Fault)?)(?::\s?(.*))?$")
_LOG_PREFIX = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:]+(?: [^\]]*)?\] ")
MAX_TEXT = 300


@dataclass(frozen=True)
class Raised:
    exception: str  # "AttributeError: 'list' object has no attribute 'keys'"
    frame: str      # "transformers/tokenization_utils_base.py:1209 in _set_model_specific_special_tokens"

    def __str__(self) -> str:
        return f"{self.exception} (raised in {self.frame})" if self.frame else self.exception


@dataclass(frozen=True)
class Chain:
    first: Raised
    last: Raised


def _short_path(path: str) -> str:
    for marker in ("/site-packages/", "/dist-packages/"):
        if marker in path:
            return path.rsplit(marker, 1)[1]
    # Release folders and Nix store paths: from the top-level package on.
    for package in ("/sglang/", "/transformers/", "/torch/", "/huggingface_hub/", "/sglang_runtime/"):
        if package in path:
            return package[1:] + path.rsplit(package, 1)[1]
    parts = path.split("/")
    return "/".join(parts[-2:])


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def _one_traceback(lines: Sequence[str], start: int) -> tuple[Raised | None, int]:
    """Parse the traceback whose header is at lines[start]; (what was raised, index after it)."""
    frame = ""
    i = start + 1
    while i < len(lines):
        line = lines[i]
        found = _FRAME.match(line)
        if found:
            frame = f"{_short_path(found.group(1))}:{found.group(2)} in {found.group(3)}"
            i += 1
            continue
        if line.startswith((" ", "\t")) or not line.strip():
            i += 1  # source lines, caret lines, "...", blank lines inside the stack
            continue
        match = _EXCEPTION.match(_LOG_PREFIX.sub("", line).strip())
        if not match:
            return None, i
        name, message = match.group(1), (match.group(2) or "").strip()
        i += 1
        # A message may start on the next line (transformers' protobuf ImportError does).
        while not message and i < len(lines) and lines[i].strip() and not lines[i].startswith(_CHAINED):
            message = lines[i].strip()
            i += 1
        return Raised(_clip(f"{name}: {message}" if message else name), frame), i
    return None, i


def chains(lines: Sequence[str]) -> list[Chain]:
    """Every traceback chain in the log, in order: its first and last exception."""
    return _read_tracebacks(lines)[0]


def _read_tracebacks(lines: Sequence[str]) -> tuple[list[Chain], list[str]]:
    """(every traceback chain, the lines outside any traceback)."""
    found: list[Chain] = []
    outside: list[str] = []
    current: list[Raised] = []
    linked = False  # a "During handling ..." line since the last traceback
    i = 0
    while i < len(lines):
        if _TRACEBACK in lines[i]:
            raised, i = _one_traceback(lines, i)
            if raised is not None:
                if current and not linked:
                    found.append(Chain(current[0], current[-1]))
                    current = []
                current.append(raised)
                linked = False
            continue
        if lines[i].strip() in _CHAINED:
            linked = True
        else:
            outside.append(lines[i])
        i += 1
    if current:
        found.append(Chain(current[0], current[-1]))
    return found, outside


@dataclass(frozen=True)
class Known:
    pattern: re.Pattern
    cause: str
    fix: str


def _k(pattern: str, cause: str, fix: str) -> Known:
    return Known(re.compile(pattern, re.IGNORECASE), cause, fix)


# Each row was seen in a real log here, unless it says otherwise (GPU-only causes: from SGLang's sources).
KNOWN: tuple[Known, ...] = (
    _k(r"'list' object has no attribute 'keys'|Tokenizer class TokenizersBackend does not exist",
       "transformers 4 cannot read a tokenizer saved by transformers 5 (class TokenizersBackend or "
       "extra_special_tokens as a list)",
       "SGLANG_TOKENIZER_SHIM=auto (the default) translates it; or serve with SGLang >= 0.5.10 (transformers 5)"),
    _k(r"contains custom code which must be executed|trust_remote_code=True",
       "the model ships its own Python code",
       "SGLANG_TRUST_REMOTE_CODE=1, if you trust that code"),
    _k(r"Cannot find model module\.|Model architectures? \[?'?[\w.]+'?\]? (?:are|is) not supported|is not a registered model",
       "SGLang has no model class for the architecture in config.json",
       "check SGLANG_MODEL (config.json \"architectures\"); a newer SGLang may support it"),
    _k(r"\[Errno 98\]|address already in use",
       "the HTTP port is taken (SGLang could not bind it)",
       "stop the other server, or set SGLANG_PORT; keep SGLANG_PREFLIGHT=1 to catch this before loading"),
    _k(r"CUDA out of memory|OutOfMemoryError",
       "the GPU ran out of memory (from SGLang's and torch's sources: not reproducible without a GPU)",
       "lower SGLANG_MEM_FRACTION_STATIC or SGLANG_CONTEXT_LENGTH, or use more GPUs (SGLANG_TP_SIZE); "
       "`sglang-runtime doctor` estimates the fit"),
    _k(r"Not enough memory\. Please try to increase --mem-fraction-static",
       "the static memory fraction leaves no room for the KV cache",
       "raise SGLANG_MEM_FRACTION_STATIC (and PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True)"),
    _k(r"GatedRepoError|Access to model .{0,300}? is restricted|gated repo",
       "the model is gated on the Hugging Face Hub",
       "request access on its Hub page, then set HF_TOKEN"),
    _k(r"RepositoryNotFoundError|Repository Not Found",
       "the Hub has no such model (or it is private)",
       "check SGLANG_MODEL; for a private model set HF_TOKEN"),
    _k(r"LocalEntryNotFoundError|outgoing traffic has been disabled",
       "the model is not on disk and the Hub may not be asked (HF_HUB_OFFLINE)",
       "bundle the model, or set SGLANG_MODEL_PATH to a cache holding it, or unset HF_HUB_OFFLINE"),
    _k(r"No accelerator|No CUDA GPUs are available|Found no NVIDIA driver",
       "no GPU is visible to SGLang",
       "run `sglang-runtime doctor`; check CUDA_VISIBLE_DEVICES (Kubernetes: flox.dev/activate-mode: dev)"),
    _k(r"context_length.{0,300}? is (?:greater|longer) than",
       "the context length asked for exceeds the model's",
       "lower SGLANG_CONTEXT_LENGTH"),
)

FATAL: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"\[Errno 98\]|address already in use", re.IGNORECASE), "SGLang could not bind its port"),
    (re.compile(r"Received sigquit from a child process"), "a server subprocess failed"),
    (re.compile(r"(?:Scheduler|TokenizerManager|DetokenizerManager|DataParallelController) hit an exception"),
     "a server subprocess crashed"),
)
# Every pattern here is linear in the line: a repeat is bounded (.{0,300}?, [^']{0,300}), so a
# megabyte line of "('('('..." cannot make one search cost the square of the line.
_PORT = re.compile(r"\('[^']{0,300}', (\d+)\)|\bport (\d+)|address \S{0,300}?:(\d+)")


def fatal(line: str) -> str | None:
    """A description if `line` means the server can never become ready, else None."""
    line = _LOG_PREFIX.sub("", line)
    for pattern, what in FATAL:
        if pattern.search(line):
            port = _PORT.search(line) if "98" in line or "in use" in line else None
            number = next((g for g in port.groups() if g), None) if port else None
            return f"{what}{f' (port {number})' if number else ''}: {_clip(line.strip())}"
    return None


def known(lines: Iterable[str]) -> list[Known]:
    """The known causes whose pattern occurs in the log, in table order, each once."""
    text = "\n".join(lines)
    return [k for k in KNOWN if k.pattern.search(text)]


def diagnose(lines: Sequence[str], limit: int = 3) -> list[str]:
    """One or two lines per traceback chain (the last `limit` chains), then the known causes with their fix."""
    out: list[str] = []
    found, outside = _read_tracebacks(lines)
    for chain in found[-limit:]:
        if chain.first == chain.last:
            out.append(f"root cause: {chain.first}")
        else:
            out.append(f"root cause: {chain.first}")
            out.append(f"  surfaced as: {chain.last}")
    # A known cause only from a ROOT cause (a chain's first exception) or a line outside any traceback:
    # 0.5.9 wraps a tokenizer crash in "... consider setting trust_remote_code", which is not the cause.
    for cause in known([*(chain.first.exception for chain in found), *outside]):
        out.append(f"known cause: {cause.cause}; fix: {cause.fix}")
    return out
