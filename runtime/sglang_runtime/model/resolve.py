"""SGLANG_MODEL -> what serve should load, and the env file's values. Effects: reads the disk, may build a compatibility shadow."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from huggingface_hub import constants

from . import compat, hub, shim
from ..util import envfile
from ..config import settings
from ..host import versions
from ..util.errors import ConfigError


@dataclass(frozen=True)
class Resolution:
    values: dict[str, str]  # for the env file
    found: hub.Found | None
    shadow: Path | None
    notices: list[str] = field(default_factory=list)
    applied: tuple[str, ...] = ()  # compat rules, one "<rule>: <file> <field>" each, when a shadow is served


def offline(env: Mapping[str, str]) -> bool:
    return env.get("HF_HUB_OFFLINE", "").strip().upper() in constants.ENV_VARS_TRUE_VALUES


def locate(model: str, values: settings.Settings, env: Mapping[str, str], hf_cache: Path) -> hub.Found | None:
    found = hub.local_directory(model)
    if found is not None:
        return found
    flox_env = env.get("FLOX_ENV")
    roots = hub.search_roots(flox_env, values.get("SGLANG_MODEL_PATH", ()), hf_cache)
    flat = Path(flox_env) / "share" / "models" if flox_env else None
    try:
        return hub.find(model, values.get("SGLANG_MODEL_REVISION"), roots, flat)
    except OSError as exc:
        # A shared cache this user may not read (EACCES), a name too long for the filesystem, ...:
        # the setting that named that directory, not "a bug".
        raise ConfigError(_root_setting(exc.filename, values, flox_env), str(exc.filename or "?"),
                          f"a directory this user can read ({exc.strerror})") from None


def _root_setting(path: object, values: settings.Settings, flox_env: str | None) -> str:
    text = str(path or "")
    if flox_env and text.startswith(str(Path(flox_env))):
        return "FLOX_ENV"
    if any(text.startswith(str(Path(root).expanduser())) for root in values.get("SGLANG_MODEL_PATH", ()) or ()):
        return "SGLANG_MODEL_PATH"
    return "HF_HUB_CACHE"


def resolve(env: Mapping[str, str], values: settings.Settings, hf_cache: Path) -> Resolution:
    model = settings.require(values, "SGLANG_MODEL")
    found = locate(model, values, env, hf_cache)
    notices: list[str] = []
    if found is None:
        if offline(env):
            raise ConfigError("SGLANG_MODEL", model, "a local copy (HF_HUB_OFFLINE is set and no bundle, SGLANG_MODEL_PATH dir or HF cache has it)")
        notices.append(f"{model}: no local copy; SGLang will download it")
        return Resolution({envfile.RESOLVED_FOR: model, envfile.RESOLVED_MODEL: model}, None, None, notices)

    serve_dir = found.snapshot
    shadow = None
    translation = compat.translate(shim.snapshot_files(found.snapshot))
    python, _ = versions.serving_python(values.get("SGLANG_PYTHON"))
    transformers = versions.installed("transformers", versions.site_dirs(python, env))
    if shim.applies(translation, transformers, values.get("SGLANG_TOKENIZER_SHIM")):
        if translation.refused:
            serving = f"transformers {versions.text(transformers)}" if transformers else "the serving transformers (version unknown)"
            raise shim.refusal_error(model, found.snapshot, serving, translation.refused[0])
        parent = settings.path(values, "SGLANG_RUNTIME_CACHE") / "sglang-compat"
        name = shim.shadow_name(found.repo_id or found.snapshot.name, found.snapshot, translation.files)
        try:
            shadow = shim.build_shadow(found.snapshot, parent, name, translation.files)
        except OSError as exc:
            raise ConfigError("SGLANG_RUNTIME_CACHE", str(parent.parent), f"a writable directory for the compatibility shadow ({exc.strerror})") from None
        serve_dir = shadow

    out = {envfile.RESOLVED_FOR: model, envfile.RESOLVED_MODEL: str(serve_dir)}
    if shadow is not None:
        out[envfile.COMPAT_RULES] = ",".join(translation.rule_ids)
    if found.repo_id is not None:
        out[envfile.BUNDLED_FROM] = found.repo_id
        out["HF_HUB_OFFLINE"] = "1"
    return Resolution(out, found, shadow, notices, translation.applied if shadow is not None else ())
