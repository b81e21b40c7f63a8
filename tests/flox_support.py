"""Helpers for the Flox environment tests: the manifest, its hook, real Nix closures.

The closures are REAL Nix store paths, built with Debian's nix-bin by
../shared/bench/make-closure.sh in the shape of the CUDA SGLang package's closure
(site-packages, CUDA 12.8 components, cuda_nvcc, python3-3.12, `bin/sglang` on top).
The one stand-in is Flox itself, which cannot be installed here: the hook is run by
bash with FLOX_ENV and FLOX_ENV_CACHE pointing at temp dirs, as `flox activate` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# Data shared by the project's sessions but not part of the repository (Flox's GPL
# schema must not be copied in); override the location with SGLANG_SHARED_DIR.
SHARED = Path(os.environ.get("SGLANG_SHARED_DIR", REPO.parent / "shared"))
MANIFEST = REPO / ".flox" / "env" / "manifest.toml"
SCHEMA = SHARED / "flox" / "manifest-v1.schema.json"
MAKE_CLOSURE = SHARED / "bench" / "make-closure.sh"
UNCACHED_HOOK = REPO / "benchmarks" / "uncached-hook.sh"
VENV_BIN = Path(sys.executable).parent  # holds sglang-runtime, sglang-resolve-model, sglang-serve
BASH = "/bin/bash"
# One Nix configuration for every test that builds (see nix_support for why each line).
from nix_support import NIX_CONFIG  # noqa: E402

# Everything the hook may set or unset; the tests read these back after it ran.
VARS = ("PATH", "PYTHONPATH", "PYTHONHOME", "CUDA_HOME", "CPATH", "LIBRARY_PATH", "SGLANG_MODEL",
        "SGLANG_PREFERRED_SAMPLING_PARAMS", "FLASHINFER_WORKSPACE_BASE")
UNSET = "<unset>"


def shared_file(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: point SGLANG_SHARED_DIR at the project's shared/ directory")
    return path


def manifest() -> dict:
    with MANIFEST.open("rb") as f:
        return tomllib.load(f)


def write_script(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def build_closure(n: int, farm: Path) -> str:
    """A real closure of n + 1 store paths and a FLOX_ENV-like farm; returns the top store path."""
    proc = subprocess.run([BASH, str(shared_file(MAKE_CLOSURE)), str(n), str(farm)], capture_output=True, text=True,
                          env={**os.environ, "NIX_CONFIG": NIX_CONFIG}, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()[-1]


def tools_dir(root: Path, *names: str) -> Path:
    """A PATH directory holding only the named host tools, so a run can prove what it did not call."""
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = root / name
        if not link.exists():
            found = shutil.which(name, path="/usr/bin:/bin")
            assert found, f"host tool {name} not found"
            link.symlink_to(found)
    return root


@dataclass
class Activation:
    vars: dict[str, str]
    stdout: str
    stderr: str
    rc: int


def activate(script: Path, path: list[Path | str], cache: Path, flox_env: Path, *, times: int = 1,
             then: str = "", **extra: str) -> Activation:
    """Source `script` `times` times in one `bash -u` shell, as Flox runs the hook, and read back VARS.

    The environment is built from scratch (nothing from the developer's shell leaks in);
    the variables are dumped to a file with builtins only, so stdout/stderr are the hook's.
    """
    dump = cache.parent / f"dump-{os.getpid()}-{len(list(cache.parent.iterdir()))}"
    env = {"HOME": str(cache.parent), "PATH": ":".join(map(str, path)), "FLOX_ENV": str(flox_env),
           "FLOX_ENV_CACHE": str(cache), **extra}
    program = (
        'for ((i = 0; i < $2; i++)); do source "$1"; done\n'
        f"{then}\n"
        'for v in ' + " ".join(VARS) + '; do printf "%s=%s\\0" "$v" "${!v-' + UNSET + '}"; done > "$3"\n'
    )
    proc = subprocess.run([BASH, "-u", "-c", program, "bash", str(script), str(times), str(dump)],
                          env=env, capture_output=True, text=True, timeout=120)
    values = {}
    if dump.exists():
        for item in dump.read_text().split("\0")[:-1]:
            key, _, value = item.partition("=")
            values[key] = value
        dump.unlink()
    return Activation(values, proc.stdout, proc.stderr, proc.returncode)
