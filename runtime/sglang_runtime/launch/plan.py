"""Settings + env file + host facts -> the launch plan (argv, environment changes). No printing, no exec.

The order matters: everything that can be wrong with the configuration is
found here, in milliseconds, before SGLang spends minutes loading weights.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from . import argv as argv_mod
from ..guest import bootstrap, prefetch
from ..util import envfile, files, shellwords
from . import early, flagdata, nodes, prefetch_plan, tp
from ..host import preflight, versions
from ..config import kinds, settings
from ..util.errors import ConfigError, PreflightError

# What the Flox manifest pins; used for dry runs on hosts without SGLang.
ASSUMED_VERSION = "0.5.9"
CACHE_DIRS = {
    # FlashInfer reads only FLASHINFER_WORKSPACE_BASE; its JIT dir (cached_ops) lives below it.
    "FLASHINFER_WORKSPACE_BASE": "flashinfer",
    "TRITON_CACHE_DIR": "triton",
    "TORCHINDUCTOR_CACHE_DIR": "torchinductor",
    "SGLANG_CACHE_DIR": "sglang",
}
# SGLang reads SGLANG_PORT as the base of its internal ports; the launcher's HTTP port must not reach it.
UNSET = ("SGLANG_PORT",)
# Started as a script by the serving interpreter: keys travel in its environment, not on a command line.
BOOTSTRAP = Path(bootstrap.__file__).resolve()
KEY_MIN, KEY_MAX = 8, 4096
HANDOVER_MAX = 60 * 1024  # below a pipe's 64 KiB buffer: written in full before the exec, read after it
# Settings that may hold a secret (even one too short to find by value): already in the argv, never in the server's environment.
SECRET_SOURCES = ("SGLANG_API_KEY", "SGLANG_EXTRA_ARGS")


@dataclass(frozen=True)
class Plan:
    argv: list[str]  # what SGLang parses, as `python -m sglang.launch_server ...`, secrets included
    env_changes: dict[str, str]
    unset: tuple[str, ...]
    model_dir: Path | None
    version: str
    notices: list[str] = field(default_factory=list)
    secret_flags: frozenset[str] = frozenset()
    prefetch: prefetch_plan.Prefetch | None = None

    def split(self) -> tuple[list[str], list[tuple[str, str]]]:
        """(launch_server arguments without secrets, [(secret flag, value), ...])."""
        release = flagdata.for_version(self.version)[0] if self.version else None
        return argv_mod.split_secrets(self.argv[len(argv_mod.ENTRY) + 1:], self.secret_flags, release)

    @property
    def exec_argv(self) -> list[str]:
        """The process actually started: the bootstrap with every argument but the secrets."""
        public, _ = self.split()
        return [self.argv[0], str(BOOTSTRAP), *public]

    @property
    def secrets_passed(self) -> list[str]:
        """The secret flags this launch hands over in the environment (names only)."""
        return sorted({flag for flag, _ in self.split()[1]})

    def child_env(self, base: Mapping[str, str], secret_fd: int | None = None) -> dict[str, str]:
        """The server's environment: no secret in it, in any form. The secret arguments travel in the
        pipe `secret_fd` (see handover()); only their flags' names are in the environment."""
        internal = (bootstrap.SECRET_ARGV, bootstrap.SECRET_FLAGS, bootstrap.SECRET_FD, prefetch.ENV)
        env = {k: v for k, v in base.items() if k not in self.unset and k not in internal}
        env.update(self.env_changes)
        if self.prefetch is not None:
            env.update(self.prefetch.handover())
        _, pairs = self.split()
        # No variable that holds a secret (SGLANG_API_KEY, SGLANG_EXTRA_ARGS with --admin-api-key,
        # a copy under another name) reaches the server: it and all its children would inherit it.
        for name in {*bootstrap.holding_secrets(env, [value for _, value in pairs]), *SECRET_SOURCES} & env.keys():
            del env[name]
        if pairs:
            env[bootstrap.SECRET_FLAGS] = json.dumps(sorted(self.secret_flags))
            if secret_fd is not None:
                env[bootstrap.SECRET_FD] = str(secret_fd)
        return env

    def handover(self) -> bytes | None:
        """What the bootstrap reads from its pipe: `--flag=value` for each secret (a value that
        starts with '-' is never taken for a flag), as a JSON list; None when there is none."""
        _, pairs = self.split()
        return json.dumps([f"{flag}={value}" for flag, value in pairs]).encode("utf-8") if pairs else None


def _check_key(setting: str, shown: str, key: str) -> str:
    # A key travels in an HTTP header: visible ASCII only. The message never quotes the key.
    if not key:
        raise ConfigError(setting, shown, "an API key (it is empty)")
    if len(key) < KEY_MIN:
        # Shorter is guessable, and a secret that short could not be masked in logs without
        # masking half of every line.
        raise ConfigError(setting, shown, f"an API key of at least {KEY_MIN} characters (it has {len(key)})")
    if len(key) > KEY_MAX:
        raise ConfigError(setting, shown, f"an API key of at most {KEY_MAX} characters (it has {len(key)})")
    bad = next((i for i, ch in enumerate(key) if not "!" <= ch <= "~"), None)
    if bad is not None:
        raise ConfigError(setting, shown, f"an API key of visible ASCII characters, no spaces (character {bad + 1} is not)")
    return key


def read_secret_file(path: str) -> str:
    text = files.read_text(path, "SGLANG_API_KEY_FILE", "a readable file holding the API key", files.SECRET_LIMIT)
    # `echo key > file` adds a newline; Kubernetes Secrets often have one too.
    return _check_key("SGLANG_API_KEY_FILE", path, text.strip())


def configured_api_key(values: settings.Settings) -> str | None:
    """SGLANG_API_KEY, else the contents of SGLANG_API_KEY_FILE, else None."""
    key = values.get("SGLANG_API_KEY")
    if key:
        return _check_key("SGLANG_API_KEY", argv_mod.MASK, key.strip())
    if values.get("SGLANG_API_KEY_FILE"):
        return read_secret_file(values.get("SGLANG_API_KEY_FILE"))
    return None


def read_args_file(path: str) -> list[str]:
    text = files.read_text(path, "SGLANG_ARGS_FILE", "a readable file of arguments", files.ARGS_LIMIT)
    args: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            args += shellwords.split(line, comments=True)
        except ValueError as exc:
            raise ConfigError("SGLANG_ARGS_FILE", path, f"shell-like quoted arguments (line {number}: {exc})") from None
    return args


def model_from_envfile(requested: str, path: Path, values: Mapping[str, str] | None) -> tuple[str, str | None]:
    """(model to serve, bundled-from id). A file resolved for another model is stale: refuse it."""
    if values is None:
        return requested, None
    resolved_for = values.get(envfile.RESOLVED_FOR)
    if resolved_for != requested:
        raise ConfigError(
            "SGLANG_MODEL", requested,
            f"the model {path} was resolved for ({resolved_for!r}); run sglang-resolve-model again",
        )
    model = values.get(envfile.RESOLVED_MODEL, requested)
    # Either a directory (bundle, cache, compat shadow, local path) or the Hub id SGLang will download.
    # A cleared cache or a removed bundle: say so now, not after SGLang starts.
    if not os.path.isdir(model) and (os.path.isabs(model) or not kinds.valid_repo_id(model)):
        raise ConfigError("SGLANG_MODEL", requested, f"the directory {path} points to ({model}), which is gone; run sglang-resolve-model again")
    broken = files.dangling(model) if os.path.isdir(model) else None
    if broken is not None:
        # A compat shadow whose source moved or was deleted: never serve a link to nothing (or to what replaced it).
        raise ConfigError("SGLANG_MODEL", requested, f"the directory {path} points to ({model}) to link only to files that exist "
                                                     f"({broken} points to a moved or deleted file); run sglang-resolve-model again")
    return model, values.get(envfile.BUNDLED_FROM) or None


def _release_text(values: settings.Settings, env: Mapping[str, str], python: str | None, requested_python: str | None,
                  check_host: bool, notices: list[str]) -> str:
    """SGLANG_VERSION, else the serving interpreter's installed sglang; with no preflight, the assumed release."""
    version_text = values.get("SGLANG_VERSION") or versions.installed_text("sglang", versions.site_dirs(python, env))
    if version_text:
        return version_text
    if check_host:
        raise PreflightError(f"SGLANG_PYTHON={requested_python!r}: no sglang installed for {python} (set SGLANG_VERSION to override)")
    notices.append(f"no sglang found for {python or requested_python}; building the command for SGLang {ASSUMED_VERSION} (set SGLANG_VERSION)")
    return ASSUMED_VERSION


def _check_host(values: settings.Settings, env: Mapping[str, str], model: str, model_dir: Path | None,
                file_values: Mapping[str, str] | None) -> None:
    """The preflight: the port binds, a local model is readable, a Hub model exists (unless offline)."""
    preflight.port_bindable(values.get("SGLANG_HOST"), values.get("SGLANG_PORT"))
    if model_dir is not None:
        preflight.model_readable(model_dir)
    elif values.get("SGLANG_HUB_CHECK") and not _offline(env, file_values):
        from ..host import hubcheck  # only here: it imports huggingface_hub's client

        hubcheck.check(model, values.get("SGLANG_MODEL_REVISION"), env)


def plan(
    env: Mapping[str, str],
    values: settings.Settings,
    *,
    dry_run: bool,
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., Any] | None = None,
) -> Plan:
    requested = settings.require(values, "SGLANG_MODEL")
    notices: list[str] = []
    # Multi-node (auto from LeaderWorkerSet) and prefill/decode rules: settings only, so before any host check.
    topology = nodes.topology(values, env)
    nodes.check_disaggregation(values)

    file_path = settings.path(values, "SGLANG_MODEL_ENV_FILE")
    file_values = envfile.read(file_path)
    model, bundled_from = model_from_envfile(requested, file_path, file_values)
    model_dir = Path(model) if os.path.isdir(model) else None

    api_key = configured_api_key(values)

    extra = list(values.get("SGLANG_EXTRA_ARGS", ()))
    from_file = read_args_file(values.get("SGLANG_ARGS_FILE")) if values.get("SGLANG_ARGS_FILE") else []
    early.check_arguments("SGLANG_EXTRA_ARGS", argv_mod.MASK, extra)
    early.check_arguments("SGLANG_ARGS_FILE", values.get("SGLANG_ARGS_FILE") or "", from_file)
    early.check_bind_host("SGLANG_HOST", values.get("SGLANG_HOST"))

    requested_python = values.get("SGLANG_PYTHON")
    python, notice = versions.serving_python(requested_python, which)
    if notice:
        notices.append(notice)
    check_host = values.get("SGLANG_PREFLIGHT") and not dry_run
    if check_host:
        preflight.interpreter(python, requested_python)

    version_text = _release_text(values, env, python, requested_python, check_host, notices)

    # SGLang's own flags for this release (flag data, never SGLang itself): extra arguments are judged
    # as its parser will read them, in milliseconds instead of after its imports.
    release, notice = flagdata.for_version(version_text)
    if notice:
        notices.append(notice)
    argv_mod.check_extra("SGLANG_EXTRA_ARGS", extra, release, values.values)
    argv_mod.check_extra("SGLANG_ARGS_FILE", from_file, release, values.values)
    extra += from_file

    resolved = _resolved(values, model, model_dir, api_key, bundled_from, topology, env, run)
    if not topology.serves_api:
        notices.append(nodes.no_api_note(topology, values.get("SGLANG_PORT")))
    parsed_version = settings.parse_version(version_text)
    argv = argv_mod.build(resolved, parsed_version, python or requested_python, extra)

    changes = {k: v for k, v in (file_values or {}).items() if k not in envfile.INTERNAL}
    cache = settings.path(values, "SGLANG_RUNTIME_CACHE")
    for name, sub in CACHE_DIRS.items():
        if not env.get(name):
            changes[name] = str(cache / sub)

    if check_host:
        _check_host(values, env, model, model_dir, file_values)
    unset = tuple(name for name in UNSET if name in env)
    # What SGLang will read, read ahead from the hand-over (prefetch_plan.py decides, prefetch.py reads).
    ahead = prefetch_plan.gather(values.get(prefetch_plan.SETTING), model_dir, version_text, argv[len(argv_mod.ENTRY) + 1:], env)
    if ahead.line():
        notices.append(ahead.line())
    return Plan(argv, changes, unset, model_dir, version_text, notices, argv_mod.secret_flags(parsed_version), ahead)


def _resolved(values: settings.Settings, model: str, model_dir: Path | None, api_key: str | None, bundled_from: str | None,
              topology: Any, env: Mapping[str, str], run: Callable[..., Any] | None) -> dict[str, Any]:
    """The settings as the argv builder reads them: the resolved model and key, the node settings
    from the topology, the tensor-parallel size worked out, the bundle's id as the served name."""
    resolved = dict(values.values)
    resolved["SGLANG_MODEL"] = model
    resolved["SGLANG_API_KEY"] = api_key
    # TP across nodes is the total size; the node settings come resolved from the topology.
    for name in (nodes.NNODES, nodes.NODE_RANK, nodes.DIST_INIT_ADDR):
        resolved.pop(name, None)
    resolved.update(topology.values())
    if values.get("SGLANG_TP_SIZE") is not None or topology.nnodes > 1:
        resolved["SGLANG_TP_SIZE"] = nodes.tp_size(values.get("SGLANG_TP_SIZE"), topology.nnodes, tp.model_config(model_dir), env, run)
    if not values.get("SGLANG_SERVED_NAME") and bundled_from:
        resolved["SGLANG_SERVED_NAME"] = bundled_from
    return resolved


def _offline(env: Mapping[str, str], file_values: Mapping[str, str] | None) -> bool:
    flags = (env.get("HF_HUB_OFFLINE", ""), (file_values or {}).get("HF_HUB_OFFLINE", ""))
    return any(flag.strip().upper() in ("1", "ON", "YES", "TRUE") for flag in flags)


def make_cache_dirs(plan_: Plan) -> None:
    for name in CACHE_DIRS:
        directory = plan_.env_changes.get(name)
        if directory:
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise PreflightError(f"SGLANG_RUNTIME_CACHE: cannot create {directory} ({exc.strerror})") from None


def open_handover(payload: bytes | None) -> int | None:
    """A pipe holding `payload`, its read end left open across the exec (the bootstrap reads and
    closes it): the secrets reach the server in no environment and on no command line."""
    if payload is None:
        return None
    if len(payload) > HANDOVER_MAX:
        raise ConfigError("SGLANG_EXTRA_ARGS", argv_mod.MASK, f"secret arguments of at most {HANDOVER_MAX} bytes in all (they have {len(payload)})")
    read_end, write_end = os.pipe()
    try:
        os.write(write_end, payload)
    finally:
        os.close(write_end)
    os.set_inheritable(read_end, True)
    return read_end
