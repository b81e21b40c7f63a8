"""The env file resolve-model writes and serve reads: KEY='value' lines, parsed here, never by a shell.

Values are single-quoted the POSIX way (shlex.quote), so the file is also safe
for `set -a; . FILE` in the old scripts, and any value — spaces, quotes, `$`,
backslashes, newlines — round-trips exactly.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import Mapping

from .errors import ConfigError

# The keys resolve-model writes. None is a variable SGLang reads itself (a test checks).
RESOLVED_FOR = "SGLANG_RESOLVED_FOR"  # the SGLANG_MODEL the file was resolved for
RESOLVED_MODEL = "SGLANG_RESOLVED_MODEL"  # what to pass as --model-path: a local directory, or the id to download
BUNDLED_FROM = "SGLANG_BUNDLED_FROM"  # the HF id, when found in a bundle or cache
COMPAT_RULES = "SGLANG_COMPAT_RULES"  # the compat rules the served shadow applies, comma-separated (compat.RULE_IDS)
KEYS = (RESOLVED_FOR, RESOLVED_MODEL, BUNDLED_FROM, COMPAT_RULES, "HF_HUB_OFFLINE")
# Bookkeeping for serve; the rest (HF_HUB_OFFLINE, SGLANG_BUNDLED_FROM) goes into the server's environment.
INTERNAL = frozenset({RESOLVED_FOR, RESOLVED_MODEL, COMPAT_RULES})

_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
HEADER = "# Written by sglang-resolve-model; read by sglang-serve. KEY='value' lines, POSIX single quotes."


def render(values: Mapping[str, str]) -> str:
    lines = [HEADER]
    for key, value in values.items():
        if not _KEY.match(key):
            raise ValueError(f"not an environment variable name: {key!r}")
        lines.append(f"{key}={shlex.quote(value)}")
    return "\n".join(lines) + "\n"


def parse(text: str, origin: str = "env file", keys: tuple[str, ...] | None = KEYS) -> dict[str, str]:
    """KEY='value' lines -> values. By default only the keys resolve-model writes: the file feeds the
    server's environment, so a key such as LD_PRELOAD or PYTHONSTARTUP put there by anyone else is refused."""
    from . import shellwords

    try:
        tokens = shellwords.split(text, comments=True)
    except ValueError as exc:
        raise ConfigError("SGLANG_MODEL_ENV_FILE", origin, f"KEY='value' lines ({exc})") from None
    values: dict[str, str] = {}
    for token in tokens:
        key, eq, value = token.partition("=")
        if not eq or not _KEY.match(key):
            raise ConfigError("SGLANG_MODEL_ENV_FILE", origin, "KEY='value' lines (found a word that is not one)")
        if keys is not None and key not in keys:
            raise ConfigError("SGLANG_MODEL_ENV_FILE", origin,
                              f"only the keys sglang-resolve-model writes ({', '.join(keys)}), not {key[:40]}")
        values[key] = value
    return values


def write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Write via a temp file in the same directory and rename, so readers never see half a file."""
    import tempfile  # writers only; serve just reads

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write(path: Path, values: Mapping[str, str]) -> None:
    write_atomic(path, render(values))


def read(path: Path, keys: tuple[str, ...] | None = KEYS) -> dict[str, str] | None:
    """The file's values, or None when there is no file."""
    from . import files

    if not os.path.lexists(path):
        return None
    text = files.read_text(path, "SGLANG_MODEL_ENV_FILE", "an env file written by sglang-resolve-model", files.SMALL_LIMIT)
    return parse(text, str(path), keys)
