"""flake.nix, flake.lock and nix/: parsed, evaluated and built with Debian's nix-bin.

nixpkgs cannot be fetched here, so builds use the STAND-IN package set of
tests/nix_support.py (builtins.derivation with a /bin/sh builder, fetchurl
reading a local mirror, the host's python3, a runtime whose console scripts run
this interpreter). The Nix files under test, the store paths, the lock file
reader (`nix flake metadata`) and the runtime's resolve-model are all real.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nix_support import (REPO, build_flox_package, flox_expression_packages, nix_build, nix_env, nix_eval_json, nix_string,
                         sri_sha256, write_standin)

from sglang_runtime.util import envfile

FIXTURE = REPO / "nix" / "fixtures" / "tiny-sharded"
SYSTEMS = ("x86_64-linux", "aarch64-linux")

# The nixos-unstable revision of the public flake this environment's SGLang
# comes from (../shared/notes/flox-facts.md, "Nix").
PINNED = {
    "rev": "5b2c2d84341b2afb5647081c1386a80d7a8d8605",
    "lastModified": 1773646010,
    "narHash": "sha256-iYrs97hS7p5u4lQzuNWzuALGIOdkPXvjz7bviiBjUu8=",
}


@pytest.fixture(scope="module")
def nix(tmp_path_factory):
    """(stand-in file, mirror dir) shared by the module's builds."""
    tmp = tmp_path_factory.mktemp("nix")
    mirror = tmp / "mirror"
    mirror.mkdir()
    return write_standin(tmp, mirror), mirror


def build(nix, expr: str) -> Path:
    standin, mirror = nix
    done = nix_build(standin, mirror, expr)
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


def build_fails(nix, expr: str) -> str:
    standin, mirror = nix
    done = nix_build(standin, mirror, expr)
    assert done.returncode != 0, f"expected {expr} to fail, built {done.stdout}"
    return done.stderr


def local_bundle(src: Path, repo: str = "acme/tiny-sharded", patch: bool = False) -> str:
    return (
        f"s.mkHfModelBundle {{ repo = {nix_string(repo)}; src = {nix_string(str(src))};"
        f" patchTokenizer = {'true' if patch else 'false'}; }}"
    )


def repo_dir(bundle: Path, repo: str = "acme/tiny-sharded") -> Path:
    org, name = repo.split("/")
    return bundle / "share" / "models" / "hub" / f"models--{org}--{name}"


def the_snapshot(bundle: Path, repo: str = "acme/tiny-sharded") -> Path:
    root = repo_dir(bundle, repo)
    ref = (root / "refs" / "main").read_text(encoding="utf-8")
    snapshots = sorted(p.name for p in (root / "snapshots").iterdir())
    assert snapshots == [ref], "refs/main must name the one snapshot"
    return root / "snapshots" / ref


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def resolve_model(env_extra: dict[str, str], tmp: Path) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    """The runtime's real console script, with a clean environment."""
    env_file = tmp / "model.env"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp / "home"),
        "SGLANG_MODEL_ENV_FILE": str(env_file),
        "SGLANG_RUNTIME_CACHE": str(tmp / "cache"),
        **env_extra,
    }
    script = Path(sys.executable).parent / "sglang-resolve-model"
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=120)
    values = envfile.read(env_file) if done.returncode == 0 else {}
    return done, values or {}


# --- the files themselves ----------------------------------------------------


def nix_files() -> list[Path]:
    found = [p for p in REPO.rglob("*.nix") if ".venv" not in p.parts and ".git" not in p.parts]
    return sorted(found)


def test_every_nix_file_parses(nix):
    standin, _ = nix
    files = nix_files() + [standin]
    assert REPO / "flake.nix" in files and REPO / "nix" / "mk-hf-model-bundle.nix" in files
    for path in files:
        done = subprocess.run(["nix-instantiate", "--parse", str(path)], env=nix_env(), capture_output=True, text=True)
        assert done.returncode == 0, f"{path}: {done.stderr}"


def test_flake_lock_pins_the_nixpkgs_revision_and_nix_accepts_it():
    lock = json.loads((REPO / "flake.lock").read_text(encoding="utf-8"))
    node = lock["nodes"]["nixpkgs"]
    assert node["original"] == {"owner": "NixOS", "ref": "nixos-unstable", "repo": "nixpkgs", "type": "github"}
    assert {k: node["locked"][k] for k in PINNED} == PINNED

    url = subprocess.run(
        ["nix-instantiate", "--eval", "--json", "-E", f"(import {REPO}/flake.nix).inputs.nixpkgs.url"],
        env=nix_env(), capture_output=True, text=True, check=True,
    ).stdout
    assert json.loads(url) == "github:NixOS/nixpkgs/nixos-unstable"

    # Nix's own reader: refuses a lock that does not match flake.nix's inputs
    # (--no-update-lock-file), and needs no network to read it.
    done = subprocess.run(
        ["nix", "flake", "metadata", "--json", "--no-update-lock-file", f"git+file://{REPO}"],
        env=nix_env(), capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    locked = json.loads(done.stdout)["locks"]["nodes"]["nixpkgs"]["locked"]
    assert locked["rev"] == PINNED["rev"] and locked["narHash"] == PINNED["narHash"]


def test_flake_outputs_for_both_systems(nix):
    standin, mirror = nix
    got = nix_eval_json(
        standin, mirror,
        """
        let o = s.outputs; in {
          top = builtins.attrNames o;
          lib = builtins.isFunction o.lib.mkHfModelBundle;
          per = builtins.mapAttrs (_: v: builtins.attrNames v) {
            inherit (o) packages apps checks devShells formatter;
          };
          apps = builtins.mapAttrs (sys: a: builtins.mapAttrs (_: x: {
            inherit (x) type;
            program = builtins.unsafeDiscardStringContext x.program;
            runtime = builtins.unsafeDiscardStringContext o.packages.${sys}.sglang-flox-runtime.outPath;
          }) a) o.apps;
          same = o.packages.x86_64-linux.default == o.packages.x86_64-linux.sglang-flox-runtime;
          shellPython = (builtins.elemAt o.devShells.x86_64-linux.default.packages 0).pythonPackages;
          formatter = o.formatter.x86_64-linux;
        }
        """,
    )
    assert set(got["top"]) >= {"packages", "apps", "checks", "devShells", "formatter", "lib"}
    assert got["lib"] is True and got["same"] is True
    for kind in ("packages", "apps", "checks", "devShells", "formatter"):
        assert got["per"][kind] == sorted(SYSTEMS), kind
    for system in SYSTEMS:
        apps = got["apps"][system]
        assert set(apps) >= {"serve", "resolve-model"}
        for app, script in (("serve", "sglang-serve"), ("resolve-model", "sglang-resolve-model")):
            assert apps[app]["type"] == "app"
            assert apps[app]["program"] == f"{apps[app]['runtime']}/bin/{script}"
    assert {"pytest", "click", "huggingface-hub"} <= set(got["shellPython"])
    assert got["formatter"] == "nixfmt-tree-standin"


# --- mkHfModelBundle, local-directory form ------------------------------------


def test_local_bundle_has_the_hf_cache_layout_and_every_file(nix):
    bundle = build(nix, local_bundle(FIXTURE))
    snapshot = the_snapshot(bundle)
    assert re.fullmatch(r"[0-9a-f]{40}", snapshot.name), "a commit-shaped id, as resolve-model expects"
    assert not (repo_dir(bundle) / "refs" / "main").read_text(encoding="utf-8").endswith("\n")
    assert files_under(snapshot) == files_under(FIXTURE)

    # Sharded: the index and every shard it names are there.
    index = json.loads((snapshot / "model.safetensors.index.json").read_text(encoding="utf-8"))
    shards = set(index["weight_map"].values())
    assert shards == {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"}
    assert all((snapshot / s).is_file() for s in shards)

    # No second copy of the weights, and nothing but the model in the closure.
    assert (snapshot / "model-00001-of-00002.safetensors").is_symlink()
    refs = subprocess.run(["nix-store", "-q", "--references", str(bundle)], env=nix_env(),
                          capture_output=True, text=True, check=True).stdout.split()
    assert len(refs) == 1 and refs[0].endswith("-acme--tiny-sharded-source")


def test_snapshot_id_follows_content_not_location(nix, tmp_path):
    first = build(nix, local_bundle(FIXTURE))
    moved = tmp_path / "elsewhere" / "my-model"
    shutil.copytree(FIXTURE, moved)
    assert build(nix, local_bundle(moved)) == first

    (moved / "config.json").write_text('{"architectures": ["Changed"]}\n', encoding="utf-8")
    changed = build(nix, local_bundle(moved))
    assert the_snapshot(changed).name != the_snapshot(first).name


def test_patch_tokenizer_applies_the_runtime_translation(nix):
    """patchTokenizer rewrites exactly what sglang_runtime.compat.translate says, keeps every other key and file."""
    from sglang_runtime.model import compat

    bundle = build(nix, local_bundle(FIXTURE, patch=True))
    snapshot = the_snapshot(bundle)
    before = {name: json.loads((FIXTURE / name).read_text(encoding="utf-8")) for name in compat.FILES}
    expected = compat.translate(before)
    assert set(expected.files) == {"config.json", "tokenizer_config.json"}
    for name in compat.FILES:
        after = json.loads((snapshot / name).read_text(encoding="utf-8"))
        assert after == expected.files[name]
        assert not (snapshot / name).is_symlink()
    tokenizer = json.loads((snapshot / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert tokenizer["tokenizer_class"] == "PreTrainedTokenizerFast" and tokenizer["additional_special_tokens"] == ["<|é|>"]
    assert json.loads((snapshot / "config.json").read_text(encoding="utf-8"))["rope_theta"] == 500000.0
    assert list(tokenizer)[: len(before["tokenizer_config.json"]) - 1] == [k for k in before["tokenizer_config.json"] if k != "extra_special_tokens"], "key order kept"

    # Every other file is untouched, and so is the source.
    others = {k: v for k, v in files_under(snapshot).items() if k not in compat.FILES}
    assert others == {k: v for k, v in files_under(FIXTURE).items() if k not in compat.FILES}
    assert {name: json.loads((FIXTURE / name).read_text(encoding="utf-8")) for name in compat.FILES} == before


def test_patch_tokenizer_is_the_runtimes_own_function(nix, tmp_path):
    """The bundle applies sglang_runtime.compat.translate, so both agree on any config."""
    from sglang_runtime.model import compat

    src = tmp_path / "odd"
    shutil.copytree(FIXTURE, src)
    config = {"tokenizer_class": "TokenizersBackend", "nested": {"tokenizer_class": "TokenizersBackend"}, "n": 1.5}
    (src / "tokenizer_config.json").write_text(json.dumps(config), encoding="utf-8")
    bundle = build(nix, local_bundle(src, patch=True))
    got = json.loads((the_snapshot(bundle) / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert got == compat.translate({"tokenizer_config.json": config}).files["tokenizer_config.json"]
    assert got["nested"] == {"tokenizer_class": "TokenizersBackend"}


def test_patch_tokenizer_refuses_what_transformers_4_cannot_read(nix, tmp_path):
    src = tmp_path / "gemma-like"
    shutil.copytree(FIXTURE, src)
    config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    config.update(model_type="gemma3_text", rope_parameters={"full_attention": {"rope_theta": 1e6, "rope_type": "default"},
                                                             "sliding_attention": {"rope_theta": 1e4, "rope_type": "proportional"}})
    (src / "config.json").write_text(json.dumps(config), encoding="utf-8")
    err = build_fails(nix, local_bundle(src, patch=True))
    assert ("mkHfModelBundle: patchTokenizer: config.json: rope_parameters.sliding_attention: RoPE scaling on sliding layers "
            "has no transformers 4.x form; only transformers >= 5 (SGLang >= 0.5.10) reads it as written") in err
    assert "Traceback" not in err


def test_patch_tokenizer_leaves_other_classes_alone(nix, tmp_path):
    src = tmp_path / "llama"
    shutil.copytree(FIXTURE, src)
    original = '{"tokenizer_class": "LlamaTokenizerFast",   "model_max_length": 8}'
    (src / "tokenizer_config.json").write_text(original, encoding="utf-8")
    snapshot = the_snapshot(build(nix, local_bundle(src, patch=True)))
    assert (snapshot / "tokenizer_config.json").is_symlink()
    assert (snapshot / "tokenizer_config.json").read_text(encoding="utf-8") == original


def test_a_missing_shard_fails_the_build(nix, tmp_path):
    src = tmp_path / "broken"
    shutil.copytree(FIXTURE, src)
    (src / "model-00002-of-00002.safetensors").unlink()
    err = build_fails(nix, local_bundle(src))
    assert "shards missing: model.safetensors.index.json: model-00002-of-00002.safetensors" in err


@pytest.mark.parametrize(
    "args, message",
    [
        ('repo = "no-slash"; src = SRC;', 'repo "no-slash": expected "org/name"'),
        ('repo = "a/b"; src = SRC; files = [ ];', "expected exactly one of files (Hub form) or src (local form)"),
        ('repo = "a/b";', "expected exactly one of files (Hub form) or src (local form)"),
        ('repo = "a/b"; files = [ { name = "x"; hash = ""; } ];', "revision: expected the Hub commit"),
        ('repo = "a/b"; src = SRC; revision = "main; rm -rf /";', "revision \"main; rm -rf /\": expected"),
        ('repo = "a/b"; revision = "c0ffee"; files = [ { name = "../x"; hash = ""; } ];', 'file name "../x": expected'),
    ],
)
def test_bad_arguments_are_refused_by_name(nix, args, message):
    standin, mirror = nix
    expr = "s.mkHfModelBundle { " + args.replace("SRC", nix_string(str(FIXTURE))) + " }"
    done = nix_build(standin, mirror, expr)
    assert done.returncode != 0
    assert message in done.stderr, done.stderr


# --- mkHfModelBundle, Hub form -------------------------------------------------


def hub_files(mirror: Path, repo: str, revision: str, files: dict[str, bytes]) -> str:
    """Serve `files` from the stand-in mirror at the Hub URL layout; the Nix list of {name, hash}."""
    entries = []
    for name, data in files.items():
        path = mirror / repo / "resolve" / revision / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        entries.append(f"{{ name = {nix_string(name)}; hash = {nix_string(sri_sha256(data))}; }}")
    return "[ " + " ".join(entries) + " ]"


def test_hub_form_fetches_each_file_pinned_by_hash(nix):
    _, mirror = nix
    revision = "0123456789abcdef0123456789abcdef01234567"
    files = files_under(FIXTURE) | {"original/params.json": b'{"dim": 4}\n'}
    listing = hub_files(mirror, "acme/hubbed", revision, files)
    bundle = build(nix, f's.mkHfModelBundle {{ repo = "acme/hubbed"; revision = "{revision}"; files = {listing}; }}')
    snapshot = the_snapshot(bundle, "acme/hubbed")
    assert snapshot.name == revision
    assert files_under(snapshot) == files



def test_hub_form_fails_when_a_file_differs_from_its_pin(nix):
    _, mirror = nix
    revision = "89abcdef0123456789abcdef0123456789abcdef"
    pinned = {"config.json": b'{"architectures": ["Pinned"]}\n'}
    listing = hub_files(mirror, "acme/tampered", revision, pinned)
    # Upstream now serves other bytes under the same name and revision.
    (mirror / "acme/tampered/resolve" / revision / "config.json").write_bytes(b'{"architectures": ["Other"]}\n')
    err = build_fails(nix, f's.mkHfModelBundle {{ repo = "acme/tampered"; revision = "{revision}"; files = {listing}; }}')
    assert "hash mismatch" in err and sri_sha256(pinned["config.json"]) in err


# --- what the runtime makes of a bundle ---------------------------------------


def test_resolve_model_finds_a_patched_bundle_as_flox_env(nix, tmp_path):
    bundle = build(nix, local_bundle(FIXTURE, patch=True))
    done, values = resolve_model({"FLOX_ENV": str(bundle), "SGLANG_MODEL": "acme/tiny-sharded"}, tmp_path)
    assert done.returncode == 0, done.stderr
    assert values["SGLANG_BUNDLED_FROM"] == "acme/tiny-sharded"
    assert values["HF_HUB_OFFLINE"] == "1"
    # Already fixed at build time: served straight from the store, no shadow.
    assert values["SGLANG_RESOLVED_MODEL"] == str(the_snapshot(bundle))
    assert "shim" not in done.stderr


def test_resolve_model_finds_an_unpatched_bundle_on_sglang_model_path(nix, tmp_path):
    bundle = build(nix, local_bundle(FIXTURE))
    hub = bundle / "share" / "models" / "hub"
    done, values = resolve_model(
        {"SGLANG_MODEL_PATH": f"{tmp_path / 'empty'}:{hub}", "SGLANG_MODEL": "acme/tiny-sharded"}, tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert values["SGLANG_BUNDLED_FROM"] == "acme/tiny-sharded" and values["HF_HUB_OFFLINE"] == "1"
    # The runtime's shim (transformers unknown here) serves a shadow of the snapshot instead.
    served = Path(values["SGLANG_RESOLVED_MODEL"])
    assert served.is_relative_to(tmp_path / "cache")
    assert json.loads((served / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"


def test_resolve_model_refuses_a_bundle_missing_a_shard(tmp_path):
    """A bundle damaged after the build (copied by hand) is refused by name, not served half."""
    hub = tmp_path / "hub" / "models--acme--tiny-sharded"
    snapshot = hub / "snapshots" / ("a" * 40)
    shutil.copytree(FIXTURE, snapshot)
    (snapshot / "model-00001-of-00002.safetensors").unlink()
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text("a" * 40)
    done, _ = resolve_model({"SGLANG_MODEL_PATH": str(tmp_path / "hub"), "SGLANG_MODEL": "acme/tiny-sharded"}, tmp_path)
    assert done.returncode == 2
    assert "model-00001-of-00002.safetensors" in done.stderr


def test_flake_check_bundle_resolves_builds(nix):
    """checks.<system>.bundle-resolves as the flake defines it, over the stand-in runtime."""
    out = build(nix, "s.outputs.checks.${builtins.currentSystem}.bundle-resolves")
    assert out.name.endswith("-bundle-resolves") and out.exists()


def test_apps_resolve_then_serve_dry_run(nix, tmp_path):
    """`nix run .#resolve-model` then `nix run .#serve -- --dry-run`: the apps' programs, run as nix run would."""
    standin, mirror = nix
    system = nix_eval_json(standin, mirror, "builtins.currentSystem")
    build(nix, f"s.outputs.packages.{system}.sglang-flox-runtime")
    program = {
        app: nix_eval_json(standin, mirror, f"builtins.unsafeDiscardStringContext s.outputs.apps.{system}.{app}.program")
        for app in ("resolve-model", "serve")
    }
    bundle = build(nix, local_bundle(FIXTURE, patch=True))
    env = {
        "PATH": os.environ["PATH"], "HOME": str(tmp_path), "FLOX_ENV": str(bundle),
        "SGLANG_MODEL": "acme/tiny-sharded", "SGLANG_MODEL_ENV_FILE": str(tmp_path / "m.env"),
        "SGLANG_RUNTIME_CACHE": str(tmp_path / "cache"), "SGLANG_VERSION": "0.5.9",
    }
    resolved = subprocess.run([program["resolve-model"]], env=env, capture_output=True, text=True, timeout=120)
    assert resolved.returncode == 0, resolved.stderr
    done = subprocess.run([program["serve"], "--dry-run", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["argv"][plan["argv"].index("--model-path") + 1] == str(the_snapshot(bundle))
    assert plan["env"]["HF_HUB_OFFLINE"] == "1"


def test_runtime_package_is_built_from_pyproject_and_runs_only_sandbox_safe_tests():
    """nix/runtime.nix with STAND-INS for lib and python3Packages that hand back what they were given."""
    import tomllib

    project = tomllib.loads((REPO / "runtime" / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    # PyPI names as nixpkgs spells its Python attributes (lower case, '-' for '_' and '.').
    wanted = [re.split(r"[<>=!~ ;\[]", d)[0].lower().replace("_", "-").replace(".", "-") for d in project["dependencies"]]
    nixpkgs_names = wanted + ["setuptools", "pytestCheckHook"]
    expr = f"""
    let
      # Any attribute asked for is there, named as asked: the test compares the names.
      python3Packages = {{ buildPythonApplication = args: args; }} // builtins.listToAttrs (
        map (n: {{ name = n; value = n; }}) (builtins.fromJSON {nix_string(json.dumps(nixpkgs_names))})
      );
      lib = {{
        fileset = {{
          toSource = {{ root, fileset }}: {{ root = toString root; inherit fileset; }};
          unions = map toString;
          maybeMissing = p: "maybe:" + toString p;
        }};
        toLower = s: builtins.replaceStrings [ "A" "B" "C" "D" "E" "F" "G" "H" "I" "J" "K" "L" "M" "N" "O" "P" "Q" "R" "S" "T" "U" "V" "W" "X" "Y" "Z" ] [ "a" "b" "c" "d" "e" "f" "g" "h" "i" "j" "k" "l" "m" "n" "o" "p" "q" "r" "s" "t" "u" "v" "w" "x" "y" "z" ] s;
        licenses.asl20 = "asl20";
        platforms.linux = [ "linux" ];
      }};
      drv = import {REPO}/nix/runtime.nix {{ inherit lib python3Packages; }};
    in
    {{
      inherit (drv) pname version pyproject sourceRoot build-system dependencies enabledTestPaths doCheck
        pythonImportsCheck nativeCheckInputs;
      mainProgram = drv.meta.mainProgram;
      src = drv.src;
    }}
    """
    done = subprocess.run(["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
                          env=nix_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)

    assert (got["pname"], got["version"]) == (project["name"], project["version"])
    assert got["pyproject"] is True and got["build-system"] == ["setuptools"]
    # The pyproject's dependencies, by their nixpkgs names, in order.
    assert got["dependencies"] == wanted
    assert {"click", "huggingface-hub"} <= set(got["dependencies"])
    assert got["mainProgram"] in project["scripts"]
    assert got["src"]["root"] == str(REPO) and got["sourceRoot"] == "source/runtime"
    assert f"{REPO}/tests" in got["src"]["fileset"] and f"{REPO}/runtime" in got["src"]["fileset"]

    assert got["doCheck"] is True and "pytestCheckHook" in got["nativeCheckInputs"]
    assert got["enabledTestPaths"], "some unit tests run in the build"
    members = [Path(m.removeprefix("maybe:")) for m in got["src"]["fileset"]]
    for rel in got["enabledTestPaths"]:
        text = (REPO / rel).read_text(encoding="utf-8")
        # What the test reads from the checkout (docs/settings.md's table, ...) is in the build's source.
        for parts in re.findall(r'(?:\bREPO|parents\[1\])((?: / "[\w.-]+")+)', text):
            path = REPO.joinpath(*re.findall(r'"([\w.-]+)"', parts))
            assert any(path == m or m in path.parents for m in members), f"{rel} reads {path}: not in the Nix source"
        # The Nix build has no network, no nix/kubectl/flox, and no console scripts beside its python.
        for needs_outside in ("run_cli", "nix_support", "flox_support", "kubectl", "importorskip"):
            assert needs_outside not in text, f"{rel} uses {needs_outside}: it cannot run in the Nix build"


# --- Flox's build recipe: .flox/pkgs/sglang-flox-runtime.nix ---------------------


def pyproject() -> dict:
    import tomllib

    return tomllib.loads((REPO / "runtime" / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def installed_name() -> str:
    """The package name in the manifest's pkg-path of the launcher ("<catalog>/<name>")."""
    import tomllib

    manifest = tomllib.loads((REPO / ".flox" / "env" / "manifest.toml").read_text(encoding="utf-8"))
    return manifest["install"]["sglang-runtime"]["pkg-path"].split("/")[-1]


def test_flox_build_finds_the_package_the_manifest_installs():
    found = flox_expression_packages()
    # File name = package name: `flox build sglang-flox-runtime` / `flox publish sglang-flox-runtime`.
    assert installed_name() == pyproject()["name"] == "sglang-flox-runtime"
    assert found == {"sglang-flox-runtime": REPO / ".flox" / "pkgs" / "sglang-flox-runtime.nix"}
    # Flox evaluates the git-tracked tree only: the recipe and everything it reaches must be tracked.
    for rel in (".flox/pkgs/sglang-flox-runtime.nix", "nix/runtime.nix", "runtime/pyproject.toml"):
        done = subprocess.run(["git", "-C", str(REPO), "ls-files", "--error-unmatch", rel], capture_output=True, text=True)
        assert done.returncode == 0, f"{rel} is not tracked by git, so flox build would not see it"


def test_flox_recipe_builds_the_three_commands_at_the_pyproject_version(nix, tmp_path):
    project = pyproject()
    out = Path(build_flox_package("sglang-flox-runtime", tmp_path))
    assert out.name.split("-", 1)[1] == f"{project['name']}-{project['version']}"
    assert sorted(p.name for p in (out / "bin").iterdir()) == sorted(project["scripts"]) == [
        "sglang-resolve-model", "sglang-runtime", "sglang-serve"]
    # The commands run from the store path, and say the pyproject's version.
    done = subprocess.run([str(out / "bin" / "sglang-runtime"), "--version"], env={"PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"sglang-runtime, version {project['version']}\n"), done.stderr
    # What the hook's guard reads, beside bin/.
    (dist_info,) = out.glob("lib/python3*/site-packages/sglang_flox_runtime-*.dist-info")
    assert dist_info.name == f"sglang_flox_runtime-{project['version']}.dist-info"

    # What Flox records for a Nix-expression build (flox-build.mk evaluates exactly these), and the
    # same derivation as the flake's package: the recipe restates nothing.
    standin, mirror = nix
    recipe = nix_string(str(flox_expression_packages()["sglang-flox-runtime"]))
    got = nix_eval_json(standin, mirror, f"""
      let pkg = s.callPackage {recipe} {{ }}; in {{
        pname = pkg.pname or pkg.name;
        version = pkg.version or "unknown";
        same = pkg.drvPath == s.outputs.packages.${{builtins.currentSystem}}.sglang-flox-runtime.drvPath;
      }}""")
    assert got == {"pname": project["name"], "version": project["version"], "same": True}


def test_flox_recipe_takes_its_version_from_the_pyproject(nix, tmp_path):
    """A copy of the tree with another version in runtime/pyproject.toml: the recipe follows it."""
    copy = tmp_path / "tree"
    for rel in (".flox/pkgs", "nix", "runtime"):
        shutil.copytree(REPO / rel, copy / rel, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    pyproject_file = copy / "runtime" / "pyproject.toml"
    text = pyproject_file.read_text(encoding="utf-8")
    assert text.count(f'version = "{pyproject()["version"]}"') == 1
    pyproject_file.write_text(text.replace(f'version = "{pyproject()["version"]}"', 'version = "7.8.9"'), encoding="utf-8")
    standin, mirror = nix
    recipe = nix_string(str(copy / ".flox" / "pkgs" / "sglang-flox-runtime.nix"))
    got = nix_eval_json(standin, mirror, f"let pkg = s.callPackage {recipe} {{ }}; in {{ inherit (pkg) version name; }}")
    assert got == {"version": "7.8.9", "name": "sglang-flox-runtime-7.8.9"}
