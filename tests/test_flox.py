"""The Flox environment: manifest against Flox's own schema, the cached on-activate hook
against real Nix closures, the banner, and the service command.

Real: Flox's published JSON schema, Debian's nix-bin and real store paths built by
../shared/bench/make-closure.sh, bash, the runtime's console scripts. Stand-in: Flox
itself (not installable here) — bash runs the hook with FLOX_ENV / FLOX_ENV_CACHE set to
temp dirs, as `flox activate` does.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest

from flox_support import (BASH, REPO, SCHEMA, UNCACHED_HOOK, UNSET, VENV_BIN, activate, build_closure, manifest,
                          shared_file, tools_dir, write_script)
from sglang_runtime import closure

CLOSURE_VARS = ("PATH", "PYTHONPATH", "CUDA_HOME", "CPATH", "LIBRARY_PATH")
DEFAULT_MODEL = "microsoft/Phi-4-mini-instruct-FP8-TORCHAO"


@dataclass(frozen=True)
class Closure:
    n: int
    top: str
    farm: Path

    def cold_path(self) -> list:
        """What activation gives: the env's bin (sglang, the runtime's scripts) and the host's tools."""
        return [self.farm / "bin", VENV_BIN, "/usr/bin", "/bin"]


@pytest.fixture(scope="module")
def closures(tmp_path_factory) -> dict[str, Closure]:
    root = tmp_path_factory.mktemp("closures")
    # Two sizes give two different SGLang store paths with the same name.
    return {key: Closure(n, build_closure(n, root / f"farm-{key}"), root / f"farm-{key}")
            for key, n in (("a", 60), ("b", 61))}


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
    """PATH for a warm activation: the env's bin and readlink, but no nix-store, no Python, no sglang-runtime."""
    tools = tools_dir(tmp_path / "warm-tools", "readlink")
    return lambda c: [c.farm / "bin", tools]


def oracle(c: Closure, cache: Path, **extra: str) -> dict[str, str]:
    """The same variables from the uncached hook (three nix-store walks, shell loops)."""
    run = activate(UNCACHED_HOOK, c.cold_path(), cache, c.farm, **extra)
    assert run.rc == 0 and run.stderr == "", run.stderr
    return {k: run.vars[k] for k in CLOSURE_VARS}


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
    assert m["services"]["sglang"]["command"] == "sglang-resolve-model && exec sglang-serve"
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
    run = activate(hook, c.cold_path(), cache, c.farm, **caller)
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
    cold = activate(hook, c.cold_path(), cache, c.farm)
    stat = cache_file(cache, c).stat()
    warm = activate(hook, warm_path(c), cache, c.farm)
    # Had the hook missed the cache, `sglang-runtime` / `nix-store` would be "command not found".
    assert (warm.rc, warm.stdout, warm.stderr) == (0, "", "")
    assert {k: warm.vars[k] for k in CLOSURE_VARS if k != "PATH"} == {k: cold.vars[k] for k in CLOSURE_VARS if k != "PATH"}
    assert entries(warm.vars["PATH"])[0] == entries(cold.vars["PATH"])[0]
    again = cache_file(cache, c).stat()
    assert (again.st_ino, again.st_mtime_ns) == (stat.st_ino, stat.st_mtime_ns)


def test_caller_overrides_the_defaults(closures, hook, cache):
    c = closures["a"]
    run = activate(hook, c.cold_path(), cache, c.farm, SGLANG_MODEL="Qwen/Qwen3-0.6B",
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
    full = activate(hook, c.cold_path(), cache, c.farm)
    record = cache_file(cache, c)
    text = record.read_text()
    record.write_text(text[: int(len(text) * keep) if keep > 0 else keep])
    # Warm PATH: a truncated file must not be used, and cannot be rebuilt without the runtime.
    refused = activate(hook, warm_path(c), cache, c.farm)
    assert refused.vars["PYTHONPATH"] == UNSET and refused.vars["CUDA_HOME"] == UNSET
    rebuilt = activate(hook, c.cold_path(), cache, c.farm)
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
    run = activate(hook, warm_path(c), cache, c.farm)
    assert not marker.exists() and run.stderr == ""
    assert entries(run.vars["PATH"])[0] == lines[1]
    assert (run.vars["PYTHONPATH"], run.vars["CUDA_HOME"], run.vars["CPATH"]) == tuple(lines[2:5])


def test_running_the_hook_twice_in_one_shell_duplicates_nothing(closures, hook, cache):
    c = closures["a"]
    once = activate(hook, c.cold_path(), cache, c.farm, CPATH="/caller/include", LIBRARY_PATH="/caller/lib")
    twice = activate(hook, c.cold_path(), cache, c.farm, times=2, CPATH="/caller/include", LIBRARY_PATH="/caller/lib")
    assert twice.stderr == ""
    for name in ("PATH", "CPATH", "LIBRARY_PATH", "PYTHONPATH"):
        assert twice.vars[name] == once.vars[name]
        assert len(set(entries(twice.vars[name]))) == len(entries(twice.vars[name])), name


def test_missing_sglang_gives_one_line_and_a_usable_shell(hook, cache, tmp_path):
    tools = tools_dir(tmp_path / "tools", "readlink")
    run = activate(hook, [tools], cache, tmp_path, then="echo still-usable")
    assert run.rc == 0 and run.stdout == "still-usable\n"
    assert len(run.stderr.splitlines()) == 1 and "sglang" in run.stderr
    assert run.vars["SGLANG_MODEL"] == DEFAULT_MODEL and run.vars["PYTHONPATH"] == UNSET


def test_missing_nix_store_gives_one_line_and_a_usable_shell(closures, hook, cache, tmp_path):
    c = closures["a"]
    tools = tools_dir(tmp_path / "tools", "readlink")
    run = activate(hook, [c.farm / "bin", VENV_BIN, tools], cache, c.farm, then="echo still-usable")
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


def test_service_command_resolves_the_bundled_model_and_prints_the_argv(closures, hook, cache, tmp_path):
    """The manifest's service command, run by bash in the hook's environment as process-compose does
    (Flox's stand-in), with SGLANG_DRY_RUN=1 so sglang-serve prints the command instead of exec'ing it."""
    from conftest import write_cached_repo

    c = closures["a"]
    flox_env = tmp_path / "env"
    (flox_env / "bin").mkdir(parents=True)
    (flox_env / "bin" / "sglang").symlink_to(c.farm / "bin" / "sglang")
    snapshot = write_cached_repo(flox_env / "share" / "models" / "hub", DEFAULT_MODEL)
    m = manifest()
    run = activate(hook, [flox_env / "bin", VENV_BIN, "/usr/bin", "/bin"], cache, flox_env,
                   then=f"bash -c {shlex.quote(m['services']['sglang']['command'])}",
                   SGLANG_DRY_RUN="1", **m["vars"])
    assert run.rc == 0, run.stderr
    argv = shlex.split(run.stdout.splitlines()[-1])
    python_bin = entries(run.vars["PATH"])[0]
    assert argv[:3] == [f"{python_bin}/python3.12", "-m", "sglang.launch_server"]

    def flag(name: str) -> str:
        return argv[argv.index(name) + 1]

    assert Path(flag("--model-path")) == snapshot
    assert (flag("--host"), flag("--port")) == ("0.0.0.0", "30000")
    assert json.loads(flag("--preferred-sampling-params")) == json.loads(run.vars["SGLANG_PREFERRED_SAMPLING_PARAMS"])
