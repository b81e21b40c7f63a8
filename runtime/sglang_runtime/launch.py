"""Settings + env file + host facts -> the launch plan (argv, environment changes). No printing, no exec.

The order matters: everything that can be wrong with the configuration is
found here, in milliseconds, before SGLang spends minutes loading weights.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from . import argv as argv_mod
from . import envfile, flagdata, preflight, settings, tp, versions
from .errors import ConfigError, PreflightError

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


@dataclass(frozen=True)
class Plan:
    argv: list[str]
    env_changes: dict[str, str]
    unset: tuple[str, ...]
    model_dir: Path | None
    version: str
    notices: list[str] = field(default_factory=list)

    def child_env(self, base: Mapping[str, str]) -> dict[str, str]:
        env = {k: v for k, v in base.items() if k not in self.unset}
        env.update(self.env_changes)
        return env


def read_secret_file(path: str) -> str:
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError("SGLANG_API_KEY_FILE", path, f"a readable file holding the API key ({exc.strerror})") from None
    if not key:
        raise ConfigError("SGLANG_API_KEY_FILE", path, "a file holding the API key (it is empty)")
    return key


def configured_api_key(values: settings.Settings) -> str | None:
    """SGLANG_API_KEY, else the contents of SGLANG_API_KEY_FILE, else None."""
    key = values.get("SGLANG_API_KEY")
    if not key and values.get("SGLANG_API_KEY_FILE"):
        key = read_secret_file(values.get("SGLANG_API_KEY_FILE"))
    return key or None


def read_args_file(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("SGLANG_ARGS_FILE", path, f"a readable file of arguments ({getattr(exc, 'strerror', exc)})") from None
    args: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        try:
            args += shlex.split(line, comments=True)
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
    # A cleared cache (tokenizer shadow) or a removed bundle: say so now, not after SGLang starts.
    if os.path.isabs(model) and not os.path.isdir(model):
        raise ConfigError("SGLANG_MODEL", requested, f"the directory {path} points to ({model}), which is gone; run sglang-resolve-model again")
    return model, values.get(envfile.BUNDLED_FROM) or None


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

    file_path = settings.path(values, "SGLANG_MODEL_ENV_FILE")
    file_values = envfile.read(file_path)
    model, bundled_from = model_from_envfile(requested, file_path, file_values)
    model_dir = Path(model) if os.path.isdir(model) else None

    api_key = configured_api_key(values)

    extra = list(values.get("SGLANG_EXTRA_ARGS", ()))
    from_file = read_args_file(values.get("SGLANG_ARGS_FILE")) if values.get("SGLANG_ARGS_FILE") else []

    requested_python = values.get("SGLANG_PYTHON")
    python, notice = versions.serving_python(requested_python, which)
    if notice:
        notices.append(notice)
    check_host = values.get("SGLANG_PREFLIGHT") and not dry_run
    if check_host:
        preflight.interpreter(python, requested_python)

    version_text = values.get("SGLANG_VERSION")
    if not version_text:
        version_text = versions.installed_text("sglang", versions.site_dirs(python, env))
    if not version_text:
        if check_host:
            raise PreflightError(f"SGLANG_PYTHON={requested_python!r}: no sglang installed for {python} (set SGLANG_VERSION to override)")
        version_text = ASSUMED_VERSION
        notices.append(f"no sglang found for {python or requested_python}; building the command for SGLang {ASSUMED_VERSION} (set SGLANG_VERSION)")

    # SGLang's own flags for this release (flag data, never SGLang itself): extra arguments are judged
    # as its parser will read them, in milliseconds instead of after its imports.
    release, notice = flagdata.for_version(version_text)
    if notice:
        notices.append(notice)
    argv_mod.check_extra("SGLANG_EXTRA_ARGS", extra, release, values.values)
    argv_mod.check_extra("SGLANG_ARGS_FILE", from_file, release, values.values)
    extra += from_file

    resolved = dict(values.values)
    resolved["SGLANG_MODEL"] = model
    resolved["SGLANG_API_KEY"] = api_key
    if values.get("SGLANG_TP_SIZE") is not None:
        resolved["SGLANG_TP_SIZE"] = tp.resolve(values.get("SGLANG_TP_SIZE"), tp.model_config(model_dir), env, run)
    if not values.get("SGLANG_SERVED_NAME") and bundled_from:
        resolved["SGLANG_SERVED_NAME"] = bundled_from

    argv = argv_mod.build(resolved, settings.parse_version(version_text), python or requested_python, extra)

    changes = {k: v for k, v in (file_values or {}).items() if k not in envfile.INTERNAL}
    cache = settings.path(values, "SGLANG_RUNTIME_CACHE")
    for name, sub in CACHE_DIRS.items():
        if not env.get(name):
            changes[name] = str(cache / sub)

    if check_host:
        preflight.port_bindable(values.get("SGLANG_HOST"), values.get("SGLANG_PORT"))
        if model_dir is not None:
            preflight.model_readable(model_dir)
    unset = tuple(name for name in UNSET if name in env)
    return Plan(argv, changes, unset, model_dir, version_text, notices)


def make_cache_dirs(plan_: Plan) -> None:
    for name in CACHE_DIRS:
        directory = plan_.env_changes.get(name)
        if directory:
            try:
                os.makedirs(directory, exist_ok=True)
            except OSError as exc:
                raise PreflightError(f"SGLANG_RUNTIME_CACHE: cannot create {directory} ({exc.strerror})") from None
