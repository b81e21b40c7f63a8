"""Test helpers that ask a REAL SGLang release (every final release from 0.5.9 on) questions.

Each release lives in its own folder made by ``scripts/install-sglang.sh
VERSION .cache/sglang-VERSION`` from ``scripts/sglang-deps-VERSION.txt``:
0.5.9 and 0.5.23 hold sglang (--no-deps) plus their exact pins; the releases
between hold only the sglang wheel and name, in ``.layers``, the shared pin
folders and the 0.5.23 folder that complete them (first on PYTHONPATH wins).
torch and torchvision come from the test venv. Nothing here is a stand-in:
argv are parsed by SGLang's own ``ServerArgs.add_cli_args`` parser, the env
registry is read from SGLang's own ``Envs`` class and sources, tokenizers are
loaded by the transformers that release pins.

Importing ``sglang.srt.server_args`` costs seconds and ~0.9 GB, so each
version gets one long-lived worker process, at most MAX_WORKERS at a time
(the least recently used one is closed); every ``parse_argvs`` call is a
round trip over a pipe (milliseconds), and answers are cached. Tests that
run over the whole matrix are ordered release by release (conftest.py), so
each worker starts once.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import atexit
from pathlib import Path
from typing import Iterable, Sequence

REPO_ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = REPO_ROOT / "scripts"


def _release_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def deps_list(version: str) -> Path:
    return SCRIPTS / f"sglang-deps-{version}.txt"


def _read_deps(version: str) -> tuple[str | None, dict[str, str]]:
    """(base release or None, {distribution: pinned version}) from the release's list."""
    base, pins = None, {}
    for line in deps_list(version).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("base "):
            base = line.split()[1]
            continue
        name, _, pinned = line.partition("==")
        pins[name.strip()] = pinned.strip()
    return base, pins


# The matrix: every release with a dependency list, oldest first.
VERSIONS = tuple(sorted((p.name[len("sglang-deps-"):-len(".txt")] for p in SCRIPTS.glob("sglang-deps-*.txt")),
                        key=_release_key))
# Releases whose folder holds all of its dependencies (the others are layered on one of these).
STANDALONE = tuple(v for v in VERSIONS if _read_deps(v)[0] is None)


def base_of(version: str) -> str | None:
    """The standalone release whose folder completes a layered one (None for a standalone one)."""
    return _read_deps(version)[0]


def pins(version: str) -> dict[str, str]:
    """Every exact pin the release's PYTHONPATH provides: its own list over its base's."""
    base, own = _read_deps(version)
    return {**(_read_deps(base)[1] if base else {}), **own}


# What each release pins; the folders are built with exactly these.
TRANSFORMERS_PIN = {v: pins(v)["transformers"] for v in VERSIONS}

_STARTUP_TIMEOUT_S = 180.0
_REQUEST_TIMEOUT_S = 120.0


class SGLangNotInstalled(RuntimeError):
    """The folder for a version is missing or incomplete."""


class SGLangWorkerError(RuntimeError):
    """The worker process for a version died, hung or could not import SGLang."""


@dataclasses.dataclass(frozen=True)
class ParseResult:
    """What SGLang's real parser made of one argv.

    ok: parse_args returned. namespace: the parsed namespace as a JSON-safe dict (None if
    not ok). error: argparse's "error: ..." text (empty if ok). output:
    everything printed, warned or logged while parsing, less argparse's
    usage block (deprecation notes land here even when ok). exit_code: the SystemExit code, or None if ok.
    """

    ok: bool
    namespace: dict | None
    error: str
    output: str
    exit_code: int | None


# --------------------------------------------------------------- locations

def site_env_var(version: str) -> str:
    """Name of the variable that overrides where a version's folder is."""
    return "SGLANG_TEST_SITE_" + version.replace(".", "_")


def sglang_dir(version: str) -> Path:
    """The folder holding sglang==version and its pinned dependencies."""
    override = os.environ.get(site_env_var(version))
    path = Path(override) if override else REPO_ROOT / ".cache" / f"sglang-{version}"
    hint = (f"run: scripts/install-sglang.sh {version} {path}"
            if not override else f"check {site_env_var(version)}={override}")
    if not override and not (path / ".complete").exists():
        raise SGLangNotInstalled(f"sglang {version} is not installed at {path} ({hint})")
    if not (path / "sglang" / "srt" / "server_args.py").is_file():
        raise SGLangNotInstalled(f"no sglang package in {path} ({hint})")
    found = installed_version(path, "sglang")
    if found != version:
        raise SGLangNotInstalled(f"{path} holds sglang {found}, not {version} ({hint})")
    return path


def installed_version(site: Path, dist: str) -> str | None:
    """Version of distribution `dist` in a --target folder, from its dist-info name."""
    norm = dist.lower().replace("-", "_")
    for info in site.glob("*.dist-info"):
        name, _, ver = info.name[: -len(".dist-info")].rpartition("-")
        if name.lower().replace("-", "_") == norm:
            return ver
    return None


def python_path(site: Path) -> list[Path]:
    """The folder, then the folders its .layers file names (relative to it), in PYTHONPATH order."""
    layers = site / ".layers"
    extra = [site / line.strip() for line in layers.read_text().splitlines() if line.strip()] if layers.exists() else []
    return [site, *extra]


def _python() -> str:
    # The venv that runs pytest is the one holding torch/torchvision.
    return os.environ.get("SGLANG_TEST_PYTHON", sys.executable)


def _child_env(site: Path) -> dict[str, str]:
    # SGLang reads SGLANG_*/SGL_* itself (and copies SGL_* over); a stray
    # one from the developer's shell must not change what the parser says.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SGLANG_", "SGL_")) and k != "PYTHONPATH"}
    env.update(PYTHONPATH=os.pathsep.join(map(str, python_path(site))), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1", PYTHONWARNINGS="ignore", TOKENIZERS_PARALLELISM="false")
    return env


# ------------------------------------------------------------ worker process

# Runs inside the version's folder. Protocol: one JSON object per line on
# the saved stdout; fd 1 itself is pointed at stderr so that anything SGLang
# prints at import cannot corrupt the protocol.
_WORKER = r'''
import os, sys, io, json, argparse, contextlib, logging, traceback, warnings
sys.argv = ["launch_server"]  # argparse's prog, as in its error lines
proto = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
sys.stdout = sys.stderr

def send(obj):
    proto.write(json.dumps(obj) + "\n"); proto.flush()

def safe(v):
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple, set, frozenset)):
        return [safe(x) for x in v]
    if isinstance(v, dict):
        return {str(k): safe(x) for k, x in v.items()}
    return repr(v)

try:
    from sglang.srt.server_args import ServerArgs
    import sglang.srt.environ as environ
except BaseException:
    send({"ready": False, "error": traceback.format_exc()}); sys.exit(1)

def make_parser():
    p = argparse.ArgumentParser()
    ServerArgs.add_cli_args(p)
    return p

# One parser for every argv. prepare_server_args builds a fresh one per
# launch, but parse_args leaves a parser unchanged and SGLang's own actions
# (LoRAPathAction, the Deprecated* ones) keep no state, so the answers are
# the same; building it costs ~22 ms in 0.5.23, parsing ~0.4 ms.
PARSER = make_parser()

def parse(argv):
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    root = logging.getLogger()
    root.addHandler(handler)
    code = None; ns = None
    try:
        with contextlib.redirect_stderr(buf), contextlib.redirect_stdout(buf), \
                warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                ns = PARSER.parse_args(argv)
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
        for w in caught:
            buf.write(f"{w.category.__name__}: {w.message}\n")
    finally:
        root.removeHandler(handler)
    out = buf.getvalue()
    # Drop argparse's usage block (hundreds of lines): the error line says it all.
    kept, in_usage = [], False
    for l in out.splitlines(keepends=True):
        if l.startswith("usage:"):
            in_usage = True
            continue
        if in_usage and l[:1].isspace():
            continue
        in_usage = False
        kept.append(l)
    out = "".join(kept)
    if code is None:
        return {"ok": True, "namespace": safe(vars(ns)), "error": "", "output": out, "exit_code": None}
    err = "\n".join(l for l in out.splitlines() if "error:" in l) or out.strip()
    return {"ok": False, "namespace": None, "error": err, "output": out, "exit_code": code}

def actions():
    # Everything the flag data (scripts/generate_flagdata.py) needs, as the parser holds it.
    out = []
    for a in PARSER._actions:
        choices = a.choices
        if choices is not None:
            choices = sorted(choices, key=str) if isinstance(choices, (set, frozenset)) else list(choices)
        out.append({"option_strings": list(a.option_strings), "dest": a.dest,
                    "nargs": a.nargs if a.nargs is None or isinstance(a.nargs, (int, str)) else repr(a.nargs),
                    "choices": safe(choices), "type": getattr(a.type, "__name__", None) if a.type else None,
                    "action": type(a).__name__, "help": a.help if isinstance(a.help, str) else None,
                    # SGLang's DeprecatedAction(error_message=...) fails the parse whenever the flag is used.
                    "error_message": getattr(a, "error_message", None) if isinstance(getattr(a, "error_message", None), str) else None})
    return {"allow_abbrev": PARSER.allow_abbrev, "prefix_chars": PARSER.prefix_chars, "actions": out}

def info():
    p = make_parser()
    # The registry is the Envs class: every variable SGLang reads through
    # envs.X.get() is declared there as an EnvField descriptor, and
    # __set_name__ gives each descriptor its variable name.
    fields = sorted(f.name for f in vars(environ.Envs).values() if isinstance(f, environ.EnvField))
    return {"actions": len(p._actions),
            "option_strings": sorted(s for a in p._actions for s in a.option_strings),
            "env_fields": fields}

_files = {}

def call(path, func, args):
    # A file of ours run inside this release's interpreter (the model probe, the v5 saver). The worker is
    # shared with the parse tests, whose answers include captured log lines and warnings: whatever the
    # libraries change there (logging.disable, levels, handlers, warning filters) is put back.
    root = logging.getLogger()
    saved = (logging.root.manager.disable, root.level, list(root.handlers), list(warnings.filters))
    try:
        if path not in _files:
            namespace = {"__name__": "probe_" + str(len(_files)), "__file__": path}
            exec(compile(open(path, encoding="utf-8").read(), path, "exec"), namespace)
            _files[path] = namespace
        return _files[path][func](*args)
    finally:
        logging.disable(saved[0])
        root.setLevel(saved[1])
        root.handlers[:] = saved[2]
        warnings.filters[:] = saved[3]

send({"ready": True})
for line in sys.stdin:
    req = json.loads(line)
    try:
        if req["op"] == "parse":
            send({"results": [parse(a) for a in req["argvs"]]})
        elif req["op"] == "info":
            send(info())
        elif req["op"] == "call":
            send({"result": call(req["path"], req["func"], req["args"])})
        elif req["op"] == "actions":
            send(actions())
        else:
            send({"error": "unknown op " + req["op"]})
    except BaseException:
        send({"error": traceback.format_exc()})
'''


class _Worker:
    """One long-lived Python process with one SGLang version imported.

    The process starts at construction; the first request waits for its
    import to finish, so starting the next release's worker early overlaps
    its import with the current release's tests (prefetch).
    """

    def __init__(self, version: str):
        self.version = version
        self.site = sglang_dir(version)
        self._ready = False
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [_python(), "-c", _WORKER], cwd=self.site, env=_child_env(self.site),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, bufsize=1)

    def _wait_ready(self) -> None:
        if self._ready:
            return
        hello = self._read(_STARTUP_TIMEOUT_S)
        if not hello.get("ready"):
            self.close()
            raise SGLangWorkerError(
                f"sglang {self.version} from {self.site} does not import:\n{hello.get('error', '')}")
        self._ready = True

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        return "".join(self._stderr.readlines()[-15:])

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        line = self._proc.stdout.readline() if ready else ""
        if not line:
            alive = self._proc.poll() is None
            tail = self._stderr_tail()
            self.close()
            raise SGLangWorkerError(
                f"sglang {self.version} worker {'timed out' if alive else 'died'}; "
                f"its stderr ends:\n{tail}")
        return json.loads(line)

    def ask(self, request: dict) -> dict:
        self._wait_ready()
        if self._proc.poll() is not None:
            raise SGLangWorkerError(f"sglang {self.version} worker is gone:\n{self._stderr_tail()}")
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        reply = self._read(_REQUEST_TIMEOUT_S)
        if "error" in reply:
            raise SGLangWorkerError(f"sglang {self.version} worker failed:\n{reply['error']}")
        return reply

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        if self._proc.poll() is None and not self._ready:
            # Still importing (a prefetch no longer wanted): nothing to finish cleanly.
            self._proc.kill()
            self._proc.wait()
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if not self._stderr.closed:
            self._stderr.close()


# Each worker holds torch and one SGLang (~0.9 GB); the matrix has 15 releases.
MAX_WORKERS = int(os.environ.get("SGLANG_TEST_MAX_WORKERS", "3"))
_workers: dict[str, _Worker] = {}  # insertion order = least recently used first


def _start(version: str, protect: frozenset[str] = frozenset(), optional: bool = False) -> _Worker | None:
    """The running worker for `version`, started if needed, marked most recently used.

    To stay within MAX_WORKERS the least recently used workers not in
    `protect` are closed; if only protected ones remain, an `optional` start
    (a prefetch) is skipped and a needed one goes over the limit.
    """
    w = _workers.pop(version, None)
    if w is None or not w.alive():
        victims = [v for v in _workers if v not in protect]
        while len(_workers) >= max(MAX_WORKERS, 1) and victims:
            _workers.pop(victims.pop(0)).close()
        if optional and len(_workers) >= max(MAX_WORKERS, 1):
            return None
        w = _Worker(version)
    _workers[version] = w  # most recently used last
    return w


def _worker(version: str) -> _Worker:
    return _start(version)


def prefetch(version: str, protect: Iterable[str] = ()) -> None:
    """Start `version`'s worker now, without waiting for its import, closing none of `protect`
    (no-op if it runs, is not installed, or only protected workers could make room)."""
    if version in _workers and _workers[version].alive():
        return
    try:
        _start(version, frozenset(protect) | {version}, optional=True)
    except SGLangNotInstalled:
        return


@atexit.register
def _close_workers() -> None:
    for w in _workers.values():
        w.close()
    _workers.clear()


# ------------------------------------------------------------------ parsing

def parse_argvs(version: str, argvs: Iterable[Sequence[str]]) -> list[ParseResult]:
    """Parse each argv with SGLang `version`'s real parser, in one round trip.

    Pass every argv a test needs at once; results come back in the same order.
    """
    key = tuple(tuple(str(x) for x in argv) for argv in argvs)
    return list(_parse_cached(version, key))


def parse_argv(version: str, argv: Sequence[str]) -> ParseResult:
    """One argv; see parse_argvs."""
    return parse_argvs(version, [argv])[0]


@functools.cache
def _parse_cached(version: str, argvs: tuple[tuple[str, ...], ...]) -> tuple[ParseResult, ...]:
    if not argvs:
        return ()
    reply = _worker(version).ask({"op": "parse", "argvs": [list(a) for a in argvs]})
    return tuple(ParseResult(**r) for r in reply["results"])


@functools.cache
def _info(version: str) -> dict:
    return _worker(version).ask({"op": "info"})


def option_strings(version: str) -> frozenset[str]:
    """Every option string SGLang `version`'s parser accepts (with -h/--help)."""
    return frozenset(_info(version)["option_strings"])


def parser_actions(version: str) -> dict:
    """Every action of the release's parser: option strings, dest, nargs, choices, type and
    action class names, help; plus the parser's allow_abbrev and prefix_chars."""
    return _actions(version)


@functools.cache
def _actions(version: str) -> dict:
    return _worker(version).ask({"op": "actions"})


def parser_action_count(version: str) -> int:
    """Number of argparse actions (one per option, aliases share one; help counts)."""
    return _info(version)["actions"]


# ------------------------------------------------------- code run inside

def call_in(version: str, path: Path | str, func: str, *args) -> object:
    """`func(*args)` from the Python file `path`, run in SGLang `version`'s worker (its transformers and
    SGLang imported); args and the result travel as JSON. The file is loaded once per worker."""
    return _worker(version).ask({"op": "call", "path": str(Path(path).resolve()), "func": func, "args": list(args)})["result"]


# ------------------------------------------------------------ env registry

def env_class_names(version: str) -> frozenset[str]:
    """Names declared in sglang.srt.environ.Envs (imported and introspected)."""
    return frozenset(_info(version)["env_fields"])


# A whole string literal that is an SGLang-style variable name. SGL_* counts:
# SGLang copies every SGL_X to SGLANG_X at import.
_ENV_LITERAL = re.compile(r"""(?<![\w])["'](SGL(?:ANG)?_[A-Z0-9_]+)["']""")


@functools.cache
def env_names_in_source(version: str) -> frozenset[str]:
    """SGLANG_*/SGL_* names written as string literals anywhere in the package.

    Envs is not the whole story: some variables are read with os.getenv
    directly (0.5.9 reads SGLANG_PORT and SGLANG_HOST_IP that way, and
    neither is in its Envs class), so the sources are scanned too.
    """
    names: set[str] = set()
    for py in (sglang_dir(version) / "sglang").rglob("*.py"):
        text = py.read_text(encoding="utf-8", errors="replace")
        if "SGL" in text:
            names.update(_ENV_LITERAL.findall(text))
    return frozenset(names)


def env_registry(version: str) -> frozenset[str]:
    """Environment variable names SGLang `version` itself reads.

    The Envs class (read by importing sglang.srt.environ and collecting its
    EnvField descriptors) united with the SGLANG_*/SGL_* string literals of
    the package sources (for variables read with os.getenv directly). A name
    in here is one the runtime must not use for its own settings.
    """
    return env_class_names(version) | env_names_in_source(version)


# --------------------------------------------------------------- tokenizers

def make_tokenizer_dir(path: Path | str, tokenizer_class: str) -> Path:
    """Write a tiny real tokenizer (WordLevel, trained here) into `path`.

    tokenizer.json comes from the `tokenizers` library; tokenizer_config.json
    names `tokenizer_class` ("TokenizersBackend" as transformers 5 writes it,
    or "PreTrainedTokenizerFast" as 4.57 needs it).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    sentences = [
        "the quick brown fox jumps over the lazy dog",
        "a flox environment launches an sglang server",
        "the server answers on port thirty thousand",
    ]
    tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(sentences, trainers.WordLevelTrainer(special_tokens=["[UNK]", "[PAD]"]))
    tok.save(str(path / "tokenizer.json"))
    config = {"tokenizer_class": tokenizer_class, "unk_token": "[UNK]",
              "pad_token": "[PAD]", "model_max_length": 512}
    (path / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n")
    return path


_LOAD_TOKENIZERS = r'''
import json, sys
import transformers
for path in sys.argv[1:]:
    try:
        tok = transformers.AutoTokenizer.from_pretrained(path)
        ids = tok("the quick fox")["input_ids"]
        out = {"ok": True, "message": f"{type(tok).__name__} loaded by transformers {transformers.__version__}; ids {ids}"}
    except Exception as e:
        out = {"ok": False, "message": f"{type(e).__name__}: {e}"}
    print(json.dumps(out), flush=True)
'''


def load_tokenizers_in(version: str, paths: Sequence[Path | str],
                       timeout: float = 180.0) -> list[tuple[bool, str]]:
    """Load each of `paths` with AutoTokenizer.from_pretrained, using the
    transformers pinned by SGLang `version` (its folder on PYTHONPATH), in
    one fresh process (importing transformers with torch costs seconds).

    Returns one (ok, message) per path: the tokenizer class and transformers
    version, or the exception's type and text.
    """
    site = sglang_dir(version)
    proc = subprocess.run([_python(), "-c", _LOAD_TOKENIZERS, *(str(Path(p).resolve()) for p in paths)],
                          cwd=site, env=_child_env(site), capture_output=True,
                          text=True, timeout=timeout)
    results = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith("{")]
    if proc.returncode != 0 or len(results) != len(paths):
        raise SGLangWorkerError(f"tokenizer loader for sglang {version} exited {proc.returncode}:\n"
                                f"{proc.stderr.strip()[-2000:]}")
    return [(r["ok"], r["message"]) for r in results]


def load_tokenizer_in(version: str, path: Path | str, timeout: float = 180.0) -> tuple[bool, str]:
    """One path; see load_tokenizers_in."""
    return load_tokenizers_in(version, [path], timeout)[0]
