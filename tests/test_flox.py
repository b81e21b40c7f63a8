"""The Flox environment: manifest against Flox's own schema, the cached on-activate hook and
its launcher guard against real Nix closures, the banner, and the service command.

Real: Flox's published JSON schema, Debian's nix-bin and real store paths built by
../shared/bench/make-closure.sh, the launcher package built by Nix from Flox's own recipe
(.flox/pkgs/sglang-flox-runtime.nix, over the stand-in package set of nix_support), the
bash-era launcher as a store path of its own, bash, the runtime's console scripts.
Stand-in: Flox itself (not installable here). The hook runs two ways: sourced by `bash -u`
(stricter than Flox), and inside a reproduction of Flox's own activation script
(flox_support.flox_activate: `set -euo pipefail`, the hook sourced under `set +euo pipefail`
with stdout sent to stderr, the environment taken from the diff of `export`).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from flox_support import (BASH, REPO, SCHEMA, UNCACHED_HOOK, UNSET, VENV_BIN, activate, build_bash_era_launcher,
                          build_closure, buildenv, flox_activate, host_env, manifest, shared_file, tools_dir, write_script)
from nix_support import build_flox_package
from sglang_runtime.host import closure

CLOSURE_VARS = ("PATH", "PYTHONPATH", "CUDA_HOME", "CPATH", "LIBRARY_PATH")
DEFAULT_MODEL = "microsoft/Phi-4-mini-instruct-FP8-TORCHAO"


PYPROJECT_VERSION = tomllib.loads((REPO / "runtime" / "pyproject.toml").read_text())["project"]["version"]
SERVICE = manifest()["services"]["sglang"]["command"]


@dataclass(frozen=True)
class Closure:
    n: int
    top: str
    farm: Path  # make-closure.sh's farm: bin/sglang only, and the closure's GC root
    env: Path   # FLOX_ENV as Flox renders it: the SGLang package and the launcher linked in

    def cold_path(self) -> list:
        """What activation gives: the env's bin (sglang, the launcher's scripts) and the host's tools."""
        return [self.env / "bin", "/usr/bin", "/bin"]


@pytest.fixture(scope="module")
def launcher(tmp_path_factory) -> str:
    """The launcher package as `flox build sglang-flox-runtime` makes it (stand-in package set)."""
    return build_flox_package("sglang-flox-runtime", tmp_path_factory.mktemp("launcher"))


@pytest.fixture(scope="module")
def bash_era(tmp_path_factory) -> str:
    return build_bash_era_launcher(tmp_path_factory.mktemp("bash-era"))


@pytest.fixture(scope="module")
def closures(tmp_path_factory, launcher) -> dict[str, Closure]:
    root = tmp_path_factory.mktemp("closures")
    # Two sizes give two different SGLang store paths with the same name.
    out = {}
    for key, n in (("a", 60), ("b", 61)):
        top = build_closure(n, root / f"farm-{key}")
        out[key] = Closure(n, top, root / f"farm-{key}", buildenv(root / f"env-{key}", top, launcher))
    return out


@pytest.fixture(scope="module")
def hook(tmp_path_factory) -> Path:
    return write_script(tmp_path_factory.mktemp("hook"), "hook.sh", manifest()["hook"]["on-activate"])


@pytest.fixture
def cache(tmp_path) -> Path:
    path = tmp_path / "flox-cache"
    path.mkdir()
    return path


@pytest.fixture
def warm_path(tmp_path):
    """PATH for a warm activation: the env's bin (sglang, the launcher) and readlink, but no nix-store:
    a cache miss would run `sglang-runtime activate-env`, which says "nix-store not found"."""
    tools = tools_dir(tmp_path / "warm-tools", "readlink")
    return lambda c: [c.env / "bin", tools]


def oracle(c: Closure, cache: Path, flox_env: Path | None = None, **extra: str) -> dict[str, str]:
    """The same variables from the uncached hook (three nix-store walks, shell loops)."""
    flox_env = flox_env or c.env
    run = activate(UNCACHED_HOOK, [flox_env / "bin", "/usr/bin", "/bin"], cache, flox_env, **extra)
    assert run.rc == 0 and run.stderr == "", run.stderr
    return {k: run.vars[k] for k in CLOSURE_VARS}


def hook_needing(version: str) -> str:
    """The hook with another minimum launcher version (the one `_sg_need=` it holds)."""
    text = manifest()["hook"]["on-activate"]
    assert len(re.findall(r"\b_sg_need=[0-9.]+ ", text)) == 1
    return re.sub(r"\b_sg_need=[0-9.]+ ", f"_sg_need={version} ", text)


def needed_version() -> str:
    return re.search(r"\b_sg_need=([0-9.]+) ", manifest()["hook"]["on-activate"]).group(1)


def guard_line(found: str, need: str | None = None) -> str:
    """The guard's line, spelt out here independently of the hook."""
    return (f"sglang-runtime: found {found}; need sglang-flox-runtime >= {need or needed_version()}. Fix: in a clone of "
            "this repository run flox build sglang-flox-runtime && flox publish sglang-flox-runtime and set "
            "sglang-runtime.pkg-path to the published <catalog>/sglang-flox-runtime, or install sglang-runtime from "
            'the flake (#sglang-flox-runtime) or a store path; see README.md, "Quick start with Flox"')


def cache_file(cache: Path, c: Closure) -> Path:
    return cache / "sglang-activate" / f"{Path(c.top).name}.env"


def entries(value: str) -> list[str]:
    return value.split(":") if value else []


# ---- manifest --------------------------------------------------------------------------

def test_env_json_and_gitignore_are_what_flox_init_writes():
    assert json.loads((REPO / ".flox" / "env.json").read_text()) == {"name": "sglang-runtime", "version": 1}
    assert (REPO / ".flox" / ".gitignore").read_text().split() == ["run/", "cache/", "lib/", "log/", "!env/"]


def schema() -> dict:
    return json.loads(shared_file(SCHEMA).read_text())


def test_manifest_validates_against_flox_schema():
    jsonschema.Draft202012Validator(schema()).validate(manifest())
    # And against the branch its schema-version selects, so a pass is not an accident of anyOf.
    branch = {**schema(), "$ref": "#/$defs/ManifestV1_10_0"}
    branch.pop("anyOf")
    assert manifest()["schema-version"] == "1.10.0"
    jsonschema.Draft202012Validator(branch).validate(manifest())


@pytest.mark.parametrize("table, good, bad", [
    (("options",), "cuda-detection", "cuda_detection"),
    (("services", "sglang"), "command", "commmand"),
    (("install", "sglang"), "pkg-group", "pkg_group"),
    (("hook",), "on-activate", "on_activate"),
    ((), "vars", "var"),
])
def test_schema_rejects_a_misspelt_key(table, good, bad):
    data = manifest()
    node = data
    for key in table:
        node = node[key]
    node[bad] = node.pop(good)
    validator = jsonschema.Draft202012Validator(schema())
    assert not validator.is_valid(data)
    branch = {**schema(), "$ref": "#/$defs/ManifestV1_10_0"}
    branch.pop("anyOf")
    messages = [e.message for e in jsonschema.Draft202012Validator(branch).iter_errors(data)]
    assert any(repr(bad) in m for m in messages), messages


def test_manifest_installs_each_package_in_its_own_group_for_x86_64_linux():
    install = manifest()["install"]
    assert {d["pkg-path"] for d in install.values()} == {
        "flox/sglang-python312-cuda12_8-all-avx2", "flox/sglang-flox-runtime", "flox/phi-4-mini-instruct-fp8-sglang"}
    assert len({d["pkg-group"] for d in install.values()}) == 3
    assert all(d["systems"] == ["x86_64-linux"] for d in install.values())
    assert install["sglang"]["version"] == "0.5.9"


def test_manifest_vars_service_and_options():
    m = manifest()
    assert m["vars"] == {"SGLANG_HOST": "0.0.0.0", "SGLANG_PORT": "30000"}
    # The guard first (the hook's line, exit 3), then the two commands, the server exec'd.
    guard, _, rest = m["services"]["sglang"]["command"].partition("; }; ")
    guard += "; }"
    assert guard == """[ -z "${SGLANG_LAUNCHER_ERROR:-}" ] || { printf '%s\\n' "$SGLANG_LAUNCHER_ERROR" >&2; exit 3; }"""
    assert rest == "sglang-resolve-model && exec sglang-serve"
    assert m["options"]["cuda-detection"] is True
    # One banner, not two drifting copies.
    assert m["profile"]["bash"] == m["profile"]["zsh"]


# ---- closure.py: pure parts -------------------------------------------------------------

def test_exports_prefer_the_nvcc_output_with_bin_nvcc_and_skip_what_is_absent():
    s = "/nix/store/"
    paths = [s + "a-cuda12.8-cuda_nvcc-12.8.93", s + "b-cuda12.8-cuda_nvcc-12.8.93-bin", s + "c-zlib-1.3",
             s + "d-python3.12-numpy-2.0", s + "e-sglang-0.5.9"]
    present = {paths[1] + "/bin/nvcc", paths[1] + "/include", paths[3] + "/lib/python3.12/site-packages",
               paths[4] + "/lib/python3.12/site-packages", paths[2] + "/lib"}
    # zlib's lib/ exists but is not CUDA's: not even looked at.
    assert set(closure.candidates(paths)) >= present - {paths[2] + "/lib"}
    assert paths[2] + "/lib" not in closure.candidates(paths)
    assert closure.exports(paths, present) == {
        "PYTHONPATH": f"{paths[3]}/lib/python3.12/site-packages:{paths[4]}/lib/python3.12/site-packages",
        "CUDA_HOME": paths[1],
        "CPATH": paths[1] + "/include",
    }


def test_render_frames_the_record_with_header_and_end():
    text = closure.render("/nix/store/x-sglang", {"CUDA_HOME": "/nix/store/y", "PATH": "/nix/store/p/bin"})
    # Positional: PATH, PYTHONPATH, CUDA_HOME, CPATH, LIBRARY_PATH; empty = leave alone.
    assert text.splitlines() == ["sglang-activate 2 /nix/store/x-sglang", "/nix/store/p/bin", "",
                                 "/nix/store/y", "", "", "end"]
    assert closure.cache_name("/nix/store/x-sglang") == "x-sglang.env"


def test_store_path_of_a_file_inside_the_closure():
    assert closure.store_path_of("/nix/store/x-s/bin/sglang", ["/nix/store/x", "/nix/store/x-s"]) == "/nix/store/x-s"
    with pytest.raises(closure.PreflightError):
        closure.store_path_of("/usr/bin/sglang", ["/nix/store/x-s"])


# ---- the hook against real closures ----------------------------------------------------

def test_hook_exports_exactly_what_the_closure_walk_gives(closures, hook, cache, tmp_path):
    c = closures["a"]
    caller = {"CPATH": "/caller/include", "LIBRARY_PATH": "/caller/lib", "PYTHONPATH": "/outside/site",
              "PYTHONHOME": "/outside"}
    run = activate(hook, c.cold_path(), cache, c.env, **caller)
    assert (run.rc, run.stdout, run.stderr) == (0, "", "")
    assert {k: run.vars[k] for k in CLOSURE_VARS} == oracle(c, tmp_path / "oracle-cache", **caller)

    # Independent of both implementations: what make-closure.sh built for N.
    n_py, n_cuda = c.n * 55 // 100, c.n * 8 // 100
    python_path = entries(run.vars["PYTHONPATH"])
    assert len(python_path) == n_py + 1 and f"{c.top}/lib/python3.12/site-packages" in python_path
    assert "/outside/site" not in python_path and run.vars["PYTHONHOME"] == UNSET
    assert run.vars["CUDA_HOME"].endswith("-cuda12.8-cuda_nvcc-12.8.93")
    assert Path(run.vars["CUDA_HOME"], "bin", "nvcc").is_file()
    assert entries(run.vars["CPATH"])[-1] == "/caller/include" and len(entries(run.vars["CPATH"])) == n_cuda + 1
    lib64 = len([i for i in range(n_cuda - 1) if i % 3 == 0])
    assert entries(run.vars["LIBRARY_PATH"])[-1] == "/caller/lib"
    assert len(entries(run.vars["LIBRARY_PATH"])) == (n_cuda - 1) + lib64 + 1
    first = entries(run.vars["PATH"])[0]
    assert first.endswith("-python3-3.12.10/bin") and Path(first, "python3.12").is_file()
    for value in python_path + entries(run.vars["CPATH"])[:-1] + entries(run.vars["LIBRARY_PATH"])[:-1]:
        assert Path(value).is_dir(), value

    assert run.vars["SGLANG_MODEL"] == DEFAULT_MODEL
    assert json.loads(run.vars["SGLANG_PREFERRED_SAMPLING_PARAMS"])["temperature"] > 0
    assert run.vars["FLASHINFER_WORKSPACE_BASE"] == f"{cache}/flashinfer"
    record = cache_file(cache, c).read_text().splitlines()
    assert record[0] == f"sglang-activate 2 {c.top}" and record[-1] == "end" and len(record) == 7


def test_second_activation_reads_the_cache_without_nix_store_or_python(closures, hook, cache, warm_path):
    c = closures["a"]
    cold = activate(hook, c.cold_path(), cache, c.env)
    stat = cache_file(cache, c).stat()
    warm = activate(hook, warm_path(c), cache, c.env)
    # Had the hook missed the cache, `sglang-runtime` / `nix-store` would be "command not found".
    assert (warm.rc, warm.stdout, warm.stderr) == (0, "", "")
    assert {k: warm.vars[k] for k in CLOSURE_VARS if k != "PATH"} == {k: cold.vars[k] for k in CLOSURE_VARS if k != "PATH"}
    assert entries(warm.vars["PATH"])[0] == entries(cold.vars["PATH"])[0]
    again = cache_file(cache, c).stat()
    assert (again.st_ino, again.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_caller_overrides_the_defaults(closures, hook, cache):
    c = closures["a"]
    run = activate(hook, c.cold_path(), cache, c.env, SGLANG_MODEL="Qwen/Qwen3-0.6B",
                   SGLANG_PREFERRED_SAMPLING_PARAMS='{"temperature": 0}', FLASHINFER_WORKSPACE_BASE="/scratch/fi")
    assert run.vars["SGLANG_MODEL"] == "Qwen/Qwen3-0.6B"
    assert run.vars["SGLANG_PREFERRED_SAMPLING_PARAMS"] == '{"temperature": 0}'
    assert run.vars["FLASHINFER_WORKSPACE_BASE"] == "/scratch/fi"


def test_an_entry_for_another_store_path_is_not_reused(closures, hook, cache, tmp_path, warm_path):
    a, b = closures["a"], closures["b"]
    assert a.top != b.top and Path(a.top).name.split("-", 1)[1] == Path(b.top).name.split("-", 1)[1]
    activate(hook, a.cold_path(), cache, a.farm)
    # A's record planted under B's key: valid in form, wrong in key.
    cache_file(cache, b).write_text(cache_file(cache, a).read_text())
    run = activate(hook, b.cold_path(), cache, b.farm)
    assert run.rc == 0 and run.stderr == ""
    assert {k: run.vars[k] for k in CLOSURE_VARS} == oracle(b, tmp_path / "oracle-cache")
    assert cache_file(cache, b).read_text().splitlines()[0] == f"sglang-activate 2 {b.top}"
    # Both store paths keep their own entry: switching back is a warm activation.
    back = activate(hook, warm_path(a), cache, a.farm)
    assert back.stderr == "" and f"{a.top}/lib/python3.12/site-packages" in entries(back.vars["PYTHONPATH"])


@pytest.mark.parametrize("keep", [0.5, -3], ids=["half", "inside-the-end-line"])
def test_a_truncated_cache_file_is_rebuilt(closures, hook, cache, warm_path, keep):
    c = closures["a"]
    full = activate(hook, c.cold_path(), cache, c.env)
    record = cache_file(cache, c)
    text = record.read_text()
    record.write_text(text[: int(len(text) * keep) if keep > 0 else keep])
    # Warm PATH: a truncated file must not be used, and cannot be rebuilt without the runtime.
    refused = activate(hook, warm_path(c), cache, c.env)
    assert refused.vars["PYTHONPATH"] == UNSET and refused.vars["CUDA_HOME"] == UNSET
    rebuilt = activate(hook, c.cold_path(), cache, c.env)
    assert rebuilt.stderr == "" and rebuilt.vars["PYTHONPATH"] == full.vars["PYTHONPATH"]
    assert record.read_text() == text


def test_the_cache_is_parsed_never_sourced(closures, hook, cache, tmp_path, warm_path):
    c = closures["a"]
    marker = tmp_path / "sourced"
    record = cache_file(cache, c)
    record.parent.mkdir(parents=True)
    lines = [f"sglang-activate 2 {c.top}", f"/bin;touch {marker}", f"$(touch {marker})", f"`touch {marker}`",
             f"x'; touch {marker}; '", "", "end"]
    record.write_text("\n".join(lines) + "\n")
    run = activate(hook, warm_path(c), cache, c.env)
    assert not marker.exists() and run.stderr == ""
    assert entries(run.vars["PATH"])[0] == lines[1]
    assert (run.vars["PYTHONPATH"], run.vars["CUDA_HOME"], run.vars["CPATH"]) == tuple(lines[2:5])


def test_running_the_hook_twice_in_one_shell_duplicates_nothing(closures, hook, cache):
    c = closures["a"]
    once = activate(hook, c.cold_path(), cache, c.env, CPATH="/caller/include", LIBRARY_PATH="/caller/lib")
    twice = activate(hook, c.cold_path(), cache, c.env, times=2, CPATH="/caller/include", LIBRARY_PATH="/caller/lib")
    assert twice.stderr == ""
    for name in ("PATH", "CPATH", "LIBRARY_PATH", "PYTHONPATH"):
        assert twice.vars[name] == once.vars[name]
        assert len(set(entries(twice.vars[name]))) == len(entries(twice.vars[name])), name


def test_missing_sglang_gives_one_line_and_a_usable_shell(launcher, hook, cache, tmp_path):
    tools = tools_dir(tmp_path / "tools", "readlink")
    run = activate(hook, [Path(launcher, "bin"), tools], cache, tmp_path, then="echo still-usable")
    assert run.rc == 0 and run.stdout == "still-usable\n"
    assert run.stderr.splitlines() == [
        "sglang-runtime: no sglang on PATH; PYTHONPATH, CUDA_HOME, CPATH and LIBRARY_PATH are not set"]
    assert run.vars["SGLANG_LAUNCHER_ERROR"] == UNSET
    assert run.vars["SGLANG_MODEL"] == DEFAULT_MODEL and run.vars["PYTHONPATH"] == UNSET


def test_missing_nix_store_gives_one_line_and_a_usable_shell(closures, hook, cache, tmp_path):
    c = closures["a"]
    tools = tools_dir(tmp_path / "tools", "readlink")
    run = activate(hook, [c.env / "bin", tools], cache, c.env, then="echo still-usable")
    assert run.rc == 0 and run.stdout == "still-usable\n"
    assert len(run.stderr.splitlines()) == 1 and "nix-store not found" in run.stderr
    assert run.vars["PYTHONPATH"] == UNSET and not cache_file(cache, c).exists()


def test_activate_env_prints_the_record_it_caches(closures, cache):
    c = closures["a"]
    printed = subprocess.run([VENV_BIN / "sglang-runtime", "activate-env", str(c.farm / "bin" / "sglang")],
                             capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert printed.returncode == 0, printed.stderr
    subprocess.run([VENV_BIN / "sglang-runtime", "activate-env", "--cache-dir", str(cache / "x"), c.top],
                   check=True, env={"PATH": "/usr/bin:/bin"})
    target = cache / "x" / f"{Path(c.top).name}.env"
    assert target.read_text() == printed.stdout
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp file left behind


# ---- banner and service ----------------------------------------------------------------

def test_banner_names_version_model_bundle_and_how_to_start(closures, tmp_path):
    c = closures["a"]
    banner = write_script(tmp_path, "banner.sh", manifest()["profile"]["bash"])
    flox_env = tmp_path / "env"
    (flox_env / "share" / "models" / "hub" / "models--microsoft--Phi-4-mini-instruct-FP8-TORCHAO").mkdir(parents=True)
    env = {"PATH": f"{c.farm / 'bin'}:/usr/bin:/bin", "FLOX_ENV": str(flox_env), "SGLANG_MODEL": DEFAULT_MODEL}
    out = subprocess.run([BASH, "-u", str(banner)], env=env, capture_output=True, text=True).stdout
    assert f"SGLang 0.5.9, model {DEFAULT_MODEL} (bundled)" in out and "flox services start sglang" in out
    out = subprocess.run([BASH, "-u", str(banner)], env={**env, "SGLANG_MODEL": "Qwen/Qwen3-0.6B"},
                         capture_output=True, text=True).stdout
    assert "model Qwen/Qwen3-0.6B (not bundled" in out


def model_env(root: Path, *packages: str) -> tuple[Path, Path]:
    """FLOX_ENV with `packages` linked in and the default model bundled; returns (env, snapshot)."""
    from conftest import write_cached_repo

    env = buildenv(root, *packages)
    return env, write_cached_repo(env / "share" / "models" / "hub", DEFAULT_MODEL)


def test_flox_activation_with_the_launcher_flox_builds_then_the_service(closures, launcher, cache, tmp_path):
    """The README's path from a clone: the launcher `flox build` makes from .flox/pkgs, SGLang and the
    model in FLOX_ENV, activated the way Flox activates, then the service command (SGLANG_DRY_RUN=1:
    sglang-serve prints the server's command instead of exec'ing it)."""
    c = closures["a"]
    flox_env, snapshot = model_env(tmp_path / "env", c.top, launcher)
    m = manifest()
    # A caller that still carries a guard line (a shell from an activation before the fix) loses it.
    caller = {"PYTHONPATH": "/outside/site", "PYTHONHOME": "/outside", "SGLANG_LAUNCHER_ERROR": "stale",
              "SGLANG_DRY_RUN": "1"}
    run = flox_activate(m["hook"]["on-activate"], m, [flox_env / "bin", "/usr/bin", "/bin"], cache, flox_env, **caller)
    assert (run.rc, run.stdout, run.stderr) == (0, "", "")
    assert {k: run.env.get(k) for k in CLOSURE_VARS} == oracle(c, tmp_path / "oracle-cache", flox_env,
                                                                   PYTHONPATH="/outside/site")
    assert {"PYTHONPATH", "PYTHONHOME", "SGLANG_LAUNCHER_ERROR"} <= set(run.delete)
    assert "PYTHONHOME" not in run.env and "SGLANG_LAUNCHER_ERROR" not in run.env
    # Only exported results cross the diff: none of the hook's own variables.
    added = {line.partition("=")[0] for line in run.add}
    assert added == {"PATH", "PYTHONPATH", "CUDA_HOME", "CPATH", "LIBRARY_PATH", "SGLANG_MODEL", "SGLANG_HOST",
                     "SGLANG_PORT", "SGLANG_PREFERRED_SAMPLING_PARAMS", "FLASHINFER_WORKSPACE_BASE"}
    assert json.loads(run.env["SGLANG_PREFERRED_SAMPLING_PARAMS"]) == {"temperature": 0.7, "top_p": 0.9}

    served = run.service(SERVICE)
    assert served.returncode == 0, served.stderr
    argv = shlex.split(served.stdout.splitlines()[-1])
    python_bin = entries(run.env["PATH"])[0]
    assert argv[:3] == [f"{python_bin}/python3.12", "-m", "sglang.launch_server"]

    def flag(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert Path(flag("--model-path")) == snapshot
    assert (flag("--host"), flag("--port")) == ("0.0.0.0", "30000")
    assert json.loads(flag("--preferred-sampling-params")) == json.loads(run.env["SGLANG_PREFERRED_SAMPLING_PARAMS"])


# ---- the launcher guard ----------------------------------------------------------------

def refused(run, line: str) -> None:
    """One line at activation; the service prints that same line, exits 3, and runs nothing else."""
    assert (run.rc, run.stdout, run.stderr) == (0, "", line + "\n")
    assert run.env["SGLANG_LAUNCHER_ERROR"] == line
    served = run.service(SERVICE)
    assert (served.returncode, served.stdout, served.stderr) == (3, "", line + "\n")


@pytest.mark.parametrize("case", ["no-launcher", "bash-era"])
def test_a_missing_launcher_is_one_line_and_the_service_refuses(closures, bash_era, cache, tmp_path, case):
    c = closures["a"]
    packages = [c.top] + ([bash_era] if case == "bash-era" else [])
    flox_env, _ = model_env(tmp_path / "env", *packages)
    m = manifest()
    run = flox_activate(m["hook"]["on-activate"], m, [flox_env / "bin", "/usr/bin", "/bin"], cache, flox_env)
    found = {"no-launcher": "no sglang-runtime on PATH",
             "bash-era": "sglang-resolve-model and sglang-serve but no sglang-runtime (the bash-era launcher)"}[case]
    refused(run, guard_line(found))
    # Nothing could build the closure's exports (no sglang-runtime), and nothing else was printed.
    assert "PYTHONPATH" not in run.env and not cache_file(cache, c).exists()
    assert run.env["SGLANG_MODEL"] == DEFAULT_MODEL


def test_a_launcher_older_than_the_manifest_needs_is_refused(closures, launcher, cache, tmp_path):
    """The manifest moves on (a newer minimum); the installed launcher, the one this repository builds
    today, is then too old: one line naming both versions, and its activate-env is never run."""
    c = closures["a"]
    major, minor, *_ = PYPROJECT_VERSION.split(".")
    newer = f"{major}.{int(minor) + 1}.0"
    flox_env, _ = model_env(tmp_path / "env", c.top, launcher)
    m = manifest()
    run = flox_activate(hook_needing(newer), m, [flox_env / "bin", "/usr/bin", "/bin"], cache, flox_env)
    refused(run, guard_line(f"sglang-runtime {PYPROJECT_VERSION} in {flox_env}", newer))
    assert not cache_file(cache, c).exists()


def test_the_launcher_this_repository_builds_meets_the_hooks_minimum():
    need = [int(x) for x in needed_version().split(".")]
    assert need <= [int(x) for x in PYPROJECT_VERSION.split(".")[:3]]


@pytest.mark.parametrize("have, need, accepted", [
    ("0.9.0", "0.10.0", False),   # numeric, not text, order
    ("0.10.0", "0.9.0", True),
    ("1.0", "0.9.9", True),       # two components
    ("0.1.0", "0.1.1", False),
    ("0.1.0", "0.1.0", True),
    ("2.0.0.post1", "2.0.0", True),
])
def test_the_guard_compares_versions_numerically(tmp_path, cache, have, need, accepted):
    """A launcher prefix made by hand (bin/ and its dist-info): the comparison alone, no Nix."""
    prefix = tmp_path / "launcher"
    (prefix / "bin").mkdir(parents=True)
    write_script(prefix / "bin", "sglang-runtime", "").chmod(0o755)
    (prefix / "lib" / "python3.12" / "site-packages" / f"sglang_flox_runtime-{have}.dist-info").mkdir(parents=True)
    hook = write_script(tmp_path, "hook.sh", hook_needing(need))
    run = activate(hook, [prefix / "bin"], cache, tmp_path)
    assert (run.vars["SGLANG_LAUNCHER_ERROR"] == UNSET) is accepted
    if not accepted:
        assert run.stderr == guard_line(f"sglang-runtime {have} in {prefix}", need) + "\n"


def test_a_launcher_whose_version_cannot_be_read_is_refused(tmp_path, cache):
    prefix = tmp_path / "launcher"
    (prefix / "bin").mkdir(parents=True)
    write_script(prefix / "bin", "sglang-runtime", "").chmod(0o755)
    run = activate(write_script(tmp_path, "hook.sh", manifest()["hook"]["on-activate"]), [prefix / "bin"], cache, tmp_path)
    line = guard_line(f"sglang-runtime of unknown version in {prefix} (no sglang_flox_runtime-*.dist-info there)")
    assert run.stderr == line + "\n" and run.vars["SGLANG_LAUNCHER_ERROR"] == line


def test_the_readme_shows_the_guards_line():
    readme = (REPO / "README.md").read_text()
    line = guard_line("sglang-resolve-model and sglang-serve but no sglang-runtime (the bash-era launcher)")
    assert line in readme.splitlines()


# ---- the warm path forks nothing --------------------------------------------------------

FORK_PROBE = 'source "$1"; read -r last < /proc/sys/kernel/ns_last_pid; printf "%s %s\\n" "$$" "$last" > "$2"'


def pids_after_hook(hook: Path, path: list, cache: Path, flox_env: Path, out: Path) -> tuple[int, int]:
    """Source the hook in bash as PID 1 of a new PID namespace, then read the namespace's last PID
    (a builtin `read`): equal to bash's own PID exactly when nothing was forked."""
    unshare = [shutil.which("unshare") or "unshare", "--pid", "--fork"]
    # Root may create the namespace; anyone else (or root in a container without the capability)
    # needs a user namespace around it.
    for extra in ([], ["--user", "--map-root-user"]):
        proc = subprocess.run([*unshare, *extra, BASH, "-c", FORK_PROBE, "bash", str(hook), str(out)],
                              env=host_env(cache.parent, path, flox_env, cache),
                              capture_output=True, text=True, timeout=120)
        if proc.returncode == 0:
            break
    assert proc.returncode == 0 and out.exists(), f"unshare --pid failed: {proc.stderr}"
    own, last = map(int, out.read_text().split())
    return own, last


def test_the_warm_hook_with_its_guard_forks_nothing(closures, bash_era, hook, cache, tmp_path):
    c = closures["a"]
    # Control: the cold path runs sglang-runtime (and it nix-store), so the probe can see forks.
    own, last = pids_after_hook(hook, c.cold_path(), cache, c.env, tmp_path / "cold")
    assert own == 1 and last > 1 and cache_file(cache, c).exists()
    # Warm, with the launcher accepted: not one process.
    assert pids_after_hook(hook, [c.env / "bin"], cache, c.env, tmp_path / "warm") == (1, 1)
    # Warm, with the launcher refused (bash-era): the line costs no process either.
    flox_env = buildenv(tmp_path / "env", c.top, bash_era)
    assert pids_after_hook(hook, [flox_env / "bin"], cache, flox_env, tmp_path / "refused") == (1, 1)


# ---- the README's one-time setup -------------------------------------------------------

def test_the_readmes_one_time_setup_points_the_manifest_at_your_catalog(tmp_path):
    """The README's second command, run as written (with <you> filled in) on a copy of the manifest."""
    (line,) = [ln for ln in (REPO / "README.md").read_text().splitlines() if ln.startswith("sed -i ")]
    manifest_text = (REPO / ".flox" / "env" / "manifest.toml").read_text()
    assert manifest_text.count('"flox/sglang-flox-runtime"') == 1
    (tmp_path / ".flox" / "env").mkdir(parents=True)
    (tmp_path / ".flox" / "env" / "manifest.toml").write_text(manifest_text)
    done = subprocess.run([BASH, "-c", line.replace("<you>", "alice")], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    edited = tomllib.loads((tmp_path / ".flox" / "env" / "manifest.toml").read_text())
    assert edited["install"]["sglang-runtime"]["pkg-path"] == "alice/sglang-flox-runtime"
    # Nothing else changed, and Flox's schema still accepts it.
    assert edited == {**manifest(), "install": {**manifest()["install"], "sglang-runtime": {
        **manifest()["install"]["sglang-runtime"], "pkg-path": "alice/sglang-flox-runtime"}}}
    jsonschema.Draft202012Validator(schema()).validate(edited)
