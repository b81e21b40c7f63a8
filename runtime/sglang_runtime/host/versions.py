"""Which SGLang / transformers the serving interpreter has, read from dist-info names — never imported.

Importing sglang costs seconds (torch); the launcher needs only version
numbers, which the installed `<name>-<version>.dist-info` folders carry.
"""

from __future__ import annotations

import glob
import os
import shutil
from typing import Callable, Mapping, Sequence

from ..util.version import Version, parse_version

DEFAULT_PYTHON = "python3.12"
FALLBACK_PYTHON = "python3"


def serving_python(requested: str, which: Callable[[str], str | None] = shutil.which) -> tuple[str | None, str | None]:
    """(path of the interpreter or None, a notice for the user or None)."""
    found = which(requested)
    if found:
        return found, None
    if requested == DEFAULT_PYTHON:
        fallback = which(FALLBACK_PYTHON)
        if fallback:
            return fallback, f"{DEFAULT_PYTHON} not found on PATH; using {fallback} (set SGLANG_PYTHON to choose)"
    return None, None


def site_dirs(python: str | None, env: Mapping[str, str]) -> list[str]:
    """PYTHONPATH first (as sys.path orders it), then the interpreter's own site-packages."""
    dirs = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if python:
        for exe in dict.fromkeys((python, os.path.realpath(python))):
            prefix = os.path.dirname(os.path.dirname(exe))
            dirs += sorted(glob.glob(os.path.join(prefix, "lib", "python3*", "site-packages")))
    return list(dict.fromkeys(dirs))


def _normalise(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def installed(dist: str, dirs: Sequence[str]) -> Version | None:
    """The version in the first `<dist>-<version>.dist-info` found along dirs."""
    want = _normalise(dist)
    for directory in dirs:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            if not name.endswith(".dist-info"):
                continue
            project, _, version = name[: -len(".dist-info")].partition("-")
            if _normalise(project) == want and version:
                return parse_version(version)
    return None


def text(version: Version) -> str:
    return ".".join(map(str, version))


def installed_text(dist: str, dirs: Sequence[str]) -> str | None:
    found = installed(dist, dirs)
    return text(found) if found else None
