"""The SGLang store path's Nix closure -> the variables the Flox on-activate hook exports.

The hook runs on every activation and every service restart, but a store path never
changes, so everything here is computed once per SGLang store path (one `nix-store -qR`
walk) and written to `<cache dir>/<store path basename>.env`, which the hook later finds
and reads back with bash builtins alone. The record is line based and positional, so bash
needs no pattern matching on long values (slow in UTF-8 locales) to use it:

    sglang-activate 2 /nix/store/<hash>-sglang-...     header: format, version, key
    /nix/store/<hash>-python3-3.12.10/bin              PATH (prepended)
    <site-packages>:...                                PYTHONPATH (set)
    /nix/store/<hash>-cuda12.8-cuda_nvcc-12.8.93       CUDA_HOME (set)
    <include dirs>                                     CPATH (prepended)
    <lib and lib64 dirs>                               LIBRARY_PATH (prepended)
    end                                                end marker: a truncated file has none

An empty line means "leave that variable alone". Store path names cannot contain
newlines (Nix allows [A-Za-z0-9+._?=-]), so no quoting is needed.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from ..util.errors import PreflightError

HEADER = "sglang-activate 2"
END = "end"
SITE_PACKAGES = "lib/python3.12/site-packages"
CUDA_PREFIX = "cuda12.8-"
NVCC_MARK = "cuda_nvcc"
PYTHON_PREFIX = "python3-3.12"
# The record's lines after the header, in this order (the hook reads them by position).
KEYS = ("PATH", "PYTHONPATH", "CUDA_HOME", "CPATH", "LIBRARY_PATH")


def name_of(store_path: str) -> str:
    """`/nix/store/<hash>-python3-3.12.10` -> `python3-3.12.10`."""
    base = store_path.rstrip("/").rsplit("/", 1)[-1]
    return base.split("-", 1)[1] if "-" in base else base


def candidates(paths: list[str]) -> list[str]:
    """Every file or directory whose existence decides an export, in closure order."""
    out = []
    for p in paths:
        name = name_of(p)
        out.append(f"{p}/{SITE_PACKAGES}")
        if name.startswith(PYTHON_PREFIX):
            out.append(f"{p}/bin/python3.12")
        if name.startswith(CUDA_PREFIX):
            out += [f"{p}/include", f"{p}/lib", f"{p}/lib64"]
            if NVCC_MARK in name:
                out.append(f"{p}/bin/nvcc")
    return out


def exports(paths: list[str], present: set[str]) -> dict[str, str]:
    """The hook's variables for a closure, given which `candidates` exist.

    Closure order is kept (nix-store lists dependencies before their dependents), so the
    result is the same as the per-variable shell loops it replaces. Empty values are left
    out: the hook then leaves that variable alone.
    """
    def joined(suffixes: tuple[str, ...], prefix: str) -> str:
        return ":".join(
            f"{p}/{s}" for p in paths if name_of(p).startswith(prefix)
            for s in suffixes if f"{p}/{s}" in present
        )

    pythons = [p for p in paths if name_of(p).startswith(PYTHON_PREFIX)
               and f"{p}/bin/python3.12" in present]
    nvccs = [p for p in paths if name_of(p).startswith(CUDA_PREFIX) and NVCC_MARK in name_of(p)]
    # Prefer the nvcc output that actually holds bin/nvcc (nixpkgs splits outputs).
    nvcc = next((p for p in nvccs if f"{p}/bin/nvcc" in present), nvccs[0] if nvccs else "")
    values = {
        "PATH": f"{pythons[0]}/bin" if pythons else "",
        "PYTHONPATH": joined((SITE_PACKAGES,), ""),
        "CUDA_HOME": nvcc,
        "CPATH": joined(("include",), CUDA_PREFIX),
        "LIBRARY_PATH": joined(("lib", "lib64"), CUDA_PREFIX),
    }
    return {k: v for k, v in values.items() if v}


def render(top: str, values: dict[str, str]) -> str:
    """The cache record for `top` (see the module docstring)."""
    lines = [f"{HEADER} {top}"] + [values.get(k, "") for k in KEYS] + [END]
    return "\n".join(lines) + "\n"


def cache_name(top: str) -> str:
    """The record's file name: the hook maps it back to `/nix/store/<name>` to find its entry."""
    return f"{top.rstrip('/').rsplit('/', 1)[-1]}.env"


def store_path_of(path: str, closure: list[str]) -> str:
    """The member of `closure` that `path` is, or lies inside."""
    for p in closure:
        if path == p or path.startswith(p + "/"):
            return p
    raise PreflightError(f"{path} is not inside any path of its own Nix closure")


# ---- effects -------------------------------------------------------------------------

def closure_of(path: str) -> list[str]:
    """`nix-store -qR path`: the one closure walk."""
    nix_store = shutil.which("nix-store")
    if nix_store is None:
        raise PreflightError(f"nix-store not found on PATH: cannot list the Nix closure of {path}")
    proc = subprocess.run([nix_store, "-qR", path], capture_output=True, text=True)
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise PreflightError(f"nix-store -qR {path} failed: {detail}")
    return proc.stdout.split()


def sglang_on_path() -> str:
    """The resolved `sglang` executable on PATH (what the hook keys its cache on)."""
    exe = shutil.which("sglang")
    if exe is None:
        raise PreflightError("no sglang executable on PATH: cannot find the SGLang store path")
    return os.path.realpath(exe)


def activation_record(path: str) -> tuple[str, str]:
    """(store path, record) for the store path holding `path`, from one closure walk."""
    real = os.path.realpath(path)
    paths = closure_of(real)
    top = store_path_of(real, paths)
    present = {c for c in candidates(paths) if os.path.exists(c)}
    return top, render(top, exports(paths, present))
