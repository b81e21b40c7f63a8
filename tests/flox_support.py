"""Helpers for the Flox environment tests: the manifest, its hook, real Nix closures.

The closures are REAL Nix store paths, built with Debian's nix-bin by
../shared/bench/make-closure.sh in the shape of the CUDA SGLang package's closure
(site-packages, CUDA 12.8 components, cuda_nvcc, python3-3.12, `bin/sglang` on top).
The one stand-in is Flox itself, which cannot be installed here: the hook is run by
bash with FLOX_ENV and FLOX_ENV_CACHE pointing at temp dirs, as `flox activate` does,
either sourced by `bash -u` (activate) or inside a reproduction of Flox's own activation
script (flox_activate: the part that frames the hook and turns its exports into the
environment). FLOX_ENV is a tree of links to the installed store paths, as Flox's buildenv
renders it (buildenv); Flox's own profile.d scripts (which put $FLOX_ENV/bin on PATH, CUDA
detection) are not reproduced: the tests start PATH with the environment's bin/.
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
        "SGLANG_PREFERRED_SAMPLING_PARAMS", "FLASHINFER_WORKSPACE_BASE", "SGLANG_LAUNCHER_ERROR")
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


def host_env(home: Path, path: list[Path | str], flox_env: Path, cache: Path) -> dict[str, str]:
    """The environment an activation starts from, built from scratch: what Flox sets, the chosen
    PATH, and the host's Nix configuration (NIX_CONFIG: this host's nix-bin has no nixbld group,
    and nix-store would warn about it on the cold path)."""
    return {"HOME": str(home), "PATH": ":".join(map(str, path)), "FLOX_ENV": str(flox_env),
            "FLOX_ENV_CACHE": str(cache), "NIX_CONFIG": NIX_CONFIG}


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
    env = {**host_env(cache.parent, path, flox_env, cache), **extra}
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


# ---- what Flox renders and runs, reproduced --------------------------------------------

def buildenv(env: Path, *packages: str | Path) -> Path:
    """A FLOX_ENV-like tree: every file of every package linked in, as Flox's buildenv does
    (flox/flox buildenv/builder.pl, pathsToLink "/"): a directory only one package has is one
    link; one that several have is a real directory holding links to their entries."""
    def link(src: Path, dst: Path) -> None:
        if not dst.exists() and not dst.is_symlink():
            dst.symlink_to(src)
            return
        assert src.is_dir() and dst.is_dir(), f"buildenv collision: {dst} from {src}"
        if dst.is_symlink():
            first = Path(os.readlink(dst))
            dst.unlink()
            dst.mkdir()
            for entry in first.iterdir():
                link(entry, dst / entry.name)
        for entry in src.iterdir():
            link(entry, dst / entry.name)

    env.mkdir(parents=True)
    for package in packages:
        for entry in Path(package).iterdir():
            if entry.name != "nix-support":
                link(entry, env / entry.name)
    return env


BASH_ERA_LAUNCHER = r"""
# The earlier bash launcher as the catalog still has it under the name sglang-flox-runtime: two
# commands, no sglang-runtime. Each says so and fails when run, so a test sees if one ran.
builtins.derivation {
  name = "sglang-flox-runtime-bash-era";
  system = builtins.currentSystem;
  builder = "/bin/sh";
  PATH = "/bin:/usr/bin";
  args = [ "-c" ''
    mkdir -p $out/bin
    for name in sglang-resolve-model sglang-serve; do
      printf '#!/bin/bash\necho "bash-era %s ran" >&2\nexit 1\n' "$name" > $out/bin/$name
      chmod +x $out/bin/$name
    done
  '' ];
}
"""


def build_bash_era_launcher(tmp: Path) -> str:
    """The bash-era launcher package as a real store path (with a GC root under `tmp`)."""
    tmp.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["nix-build", "--out-link", str(tmp / "bash-era.gcroot"), "-E", BASH_ERA_LAUNCHER],
                          env={**os.environ, "NIX_CONFIG": NIX_CONFIG}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.split()[-1]


def envrc(manifest_data: dict) -> str:
    """[vars] as Flox renders them into activate.d/envrc (flox/flox buildenv/buildenv.nix)."""
    return "".join(f'export {k}="{v}"\n' for k, v in manifest_data.get("vars", {}).items())


# Flox's activation, the part that runs the hook: flox/flox at fdf5033ecc8c (January 2026),
# assets/environment-interpreter/activate/activate.d/start.bash. Under `set -euo pipefail` it
# snapshots `export`, sets [vars], sources the hook between `set +euo pipefail` and
# `set -euo pipefail` with the hook's stdout sent to stderr, snapshots `export` again and
# diffs the two with comm/sed into add.env and del.env. (Later Flox records the same exported
# changes with a tracing bash instead of a diff; the framing of the hook is unchanged.)
FLOX_START = r"""
set -euo pipefail
_state=$1 _hook=$2 _envrc=$3 _sort=$4 _comm=$5 _sed=$6
export | LC_ALL=C "$_sort" > "$_state/bare.env"
source "$_envrc"
set +euo pipefail
source "$_hook" 1>&2
set -euo pipefail
export | LC_ALL=C "$_sort" > "$_state/post-hook.env"
LC_ALL=C "$_comm" -13 "$_state/bare.env" "$_state/post-hook.env" | "$_sed" -e 's/^declare -x //' > "$_state/add.env"
LC_ALL=C "$_comm" -23 "$_state/bare.env" "$_state/post-hook.env" | "$_sed" -e 's/^declare -x //' -e 's/=.*//' > "$_state/del.env"
"""

# How the activated shell (and a service, which process-compose starts from it) gets that
# environment: generate-bash-startup-commands.bash of the same Flox — del.env as `unset`,
# add.env as `export`, eval'd in a shell started with the caller's environment.
FLOX_ATTACH = r"""
_state=$1 _sed=$2 _dump=$3
eval "$("$_sed" -e 's/^/unset /' -e 's/$/;/' "$_state/del.env")"
eval "$("$_sed" -e 's/^/export /' -e 's/$/;/' "$_state/add.env")"
for _v in $(compgen -e); do printf '%s=%s\0' "$_v" "${!_v}"; done > "$_dump"
"""


@dataclass
class FloxActivation:
    env: dict[str, str]   # the activated environment a shell or a service starts with
    add: list[str]        # add.env: NAME="value" lines, as `export` printed them
    delete: list[str]     # del.env: names
    stdout: str           # of the activation: Flox sends the hook's stdout to stderr
    stderr: str
    rc: int

    def service(self, command: str) -> subprocess.CompletedProcess:
        """Run a [services] command as process-compose does: bash -c, in the activated environment."""
        return subprocess.run([BASH, "-c", command], env=self.env, capture_output=True, text=True, timeout=120)


def flox_activate(hook_text: str, manifest_data: dict, path: list[Path | str], cache: Path, flox_env: Path,
                  **caller: str) -> FloxActivation:
    """Activate as Flox does (FLOX_START, then FLOX_ATTACH) with the caller's environment built from
    scratch: HOME, PATH, FLOX_ENV, FLOX_ENV_CACHE and `caller`. comm, sort and sed are called by
    absolute path, as Flox's scripts call their own copies, so PATH holds only what the test chose."""
    state = cache.parent / f"flox-state-{len(list(cache.parent.iterdir()))}"
    state.mkdir()
    (state / "hook-on-activate").write_text(hook_text)
    (state / "envrc").write_text(envrc(manifest_data))
    tools = {name: shutil.which(name, path="/usr/bin:/bin") for name in ("sort", "comm", "sed")}
    base = {**host_env(cache.parent, path, flox_env, cache), **caller}
    start = subprocess.run([BASH, "-c", FLOX_START, "start", str(state), str(state / "hook-on-activate"),
                            str(state / "envrc"), tools["sort"], tools["comm"], tools["sed"]],
                           env=base, capture_output=True, text=True, timeout=120)
    if start.returncode != 0:
        return FloxActivation({}, [], [], start.stdout, start.stderr, start.returncode)
    dump = state / "env.dump"
    attach = subprocess.run([BASH, "-c", FLOX_ATTACH, "attach", str(state), tools["sed"], str(dump)],
                            env=base, capture_output=True, text=True, timeout=60)
    assert attach.returncode == 0 and attach.stderr == "", attach.stderr
    env = dict(item.partition("=")[::2] for item in dump.read_text().split("\0")[:-1])
    return FloxActivation(env, (state / "add.env").read_text().splitlines(),
                          (state / "del.env").read_text().splitlines(), start.stdout, start.stderr, 0)
