"""The tokenizer shadow: decision, contents, reuse, and two resolvers racing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import flox_env, run_cli, write_cached_repo, write_model
from sglang_runtime import shim

MODEL = "org/tok-model"


def test_patched_config_changes_only_the_class():
    config = {"tokenizer_class": "TokenizersBackend", "model_max_length": 131072, "added_tokens_decoder": {"1": {"content": "<s>"}}}
    patched = shim.patched_config(config)
    assert patched["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert {k: v for k, v in patched.items() if k != "tokenizer_class"} == {k: v for k, v in config.items() if k != "tokenizer_class"}
    assert config["tokenizer_class"] == "TokenizersBackend"
    other = {"tokenizer_class": "LlamaTokenizerFast"}
    assert shim.patched_config(other) == other


@pytest.mark.parametrize("cls,transformers,mode,expected", [
    ("TokenizersBackend", (4, 57, 1), "auto", True),
    ("TokenizersBackend", (5, 3, 0), "auto", False),
    ("TokenizersBackend", None, "auto", True),
    ("TokenizersBackend", (5, 3, 0), "always", True),
    ("TokenizersBackend", (4, 57, 1), "never", False),
    ("LlamaTokenizerFast", (4, 57, 1), "always", False),
])
def test_needs_shim(cls, transformers, mode, expected):
    assert shim.needs_shim({"tokenizer_class": cls}, transformers, mode) is expected


def _resolve(flox, **extra):
    env = flox_env(flox, SGLANG_MODEL=MODEL, **extra)
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    values = dict(line.split("=", 1) for line in (flox["cache"] / "sglang-model.env").read_text().splitlines()[1:])
    return Path(values["SGLANG_RESOLVED_MODEL"])


def serving_site(tmp_path: Path, transformers: str) -> str:
    site = tmp_path / f"site-{transformers}"
    (site / f"transformers-{transformers}.dist-info").mkdir(parents=True, exist_ok=True)
    return str(site)


def test_shadow_links_everything_and_rewrites_only_the_config(flox, tmp_path):
    snapshot = write_cached_repo(flox["hub"], MODEL, shards=2, tokenizer_class="TokenizersBackend")
    (snapshot / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    (snapshot / "tokenizer.json").write_text("{}")
    shadow = _resolve(flox, PYTHONPATH=serving_site(tmp_path, "4.57.1"))
    assert shadow.parent == flox["cache"] / "sglang-compat"
    assert sorted(os.listdir(shadow)) == sorted(os.listdir(snapshot))
    for name in os.listdir(snapshot):
        if name != "tokenizer_config.json":
            assert (shadow / name).is_symlink() and (shadow / name).resolve() == (snapshot / name).resolve()
    assert not (shadow / "tokenizer_config.json").is_symlink()
    new = json.loads((shadow / "tokenizer_config.json").read_text())
    assert new == {**json.loads((snapshot / "tokenizer_config.json").read_text()), "tokenizer_class": "PreTrainedTokenizerFast"}


def test_no_shadow_for_transformers_5(flox, tmp_path):
    snapshot = write_cached_repo(flox["hub"], MODEL, tokenizer_class="TokenizersBackend")
    assert _resolve(flox, PYTHONPATH=serving_site(tmp_path, "5.3.0")) == snapshot
    assert not (flox["cache"] / "sglang-compat").exists()


def test_unchanged_model_reuses_its_shadow_and_a_changed_one_gets_a_new_one(flox, tmp_path):
    snapshot = write_cached_repo(flox["hub"], MODEL, tokenizer_class="TokenizersBackend")
    site = serving_site(tmp_path, "4.57.1")
    first = _resolve(flox, PYTHONPATH=site)
    stamp = (first / "tokenizer_config.json").stat().st_mtime_ns
    assert _resolve(flox, PYTHONPATH=site) == first
    assert (first / "tokenizer_config.json").stat().st_mtime_ns == stamp
    (snapshot / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "TokenizersBackend", "model_max_length": 8}))
    second = _resolve(flox, PYTHONPATH=site)
    assert second != first and json.loads((second / "tokenizer_config.json").read_text())["model_max_length"] == 8


def test_racing_resolvers_both_end_with_a_complete_shadow(flox, tmp_path):
    """Two real processes build the same shadow at once; both must see it complete, no temp dir may remain."""
    snapshot = write_cached_repo(flox["hub"], MODEL, shards=50, tokenizer_class="TokenizersBackend")
    code = ("import json, sys; from pathlib import Path; from sglang_runtime import shim;"
            "snap = Path(sys.argv[1]); cfg, raw = shim.read_config(snap);"
            "name = shim.shadow_name('org/tok-model', snap, raw);"
            "out = shim.build_shadow(snap, Path(sys.argv[2]), name, cfg);"
            "print(out, len(list(out.iterdir())))")
    for attempt in range(5):
        parent = flox["cache"] / f"compat-{attempt}"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(snapshot), str(parent)], stdout=subprocess.PIPE, text=True)
                 for _ in range(4)]
        outs = {p.communicate(timeout=60)[0].strip() for p in procs}
        assert all(p.returncode == 0 for p in procs)
        assert len(outs) == 1
        assert outs.pop().endswith(str(len(os.listdir(snapshot))))
        expected = shim.shadow_name(MODEL, snapshot, (snapshot / "tokenizer_config.json").read_bytes())
        assert [p.name for p in parent.iterdir()] == [expected]


def test_real_transformers_4_57_loads_the_shadow_but_not_the_original(flox):
    """A real tokenizer (made with `tokenizers`, saved as TokenizersBackend) in a bundle; the serving
    environment is SGLang 0.5.9's real folder (transformers 4.57.1), found through PYTHONPATH as
    the Flox hook sets it. 4.57.1 fails on the snapshot and loads the shadow resolve-model built."""
    import sglang_support

    repo_dir = flox["hub"] / ("models--" + MODEL.replace("/", "--"))
    snapshot = write_model(repo_dir / "snapshots" / ("9" * 40))
    (repo_dir / "refs").mkdir()
    (repo_dir / "refs" / "main").write_text("9" * 40)
    sglang_support.make_tokenizer_dir(snapshot, "TokenizersBackend")
    shadow = _resolve(flox, PYTHONPATH=str(sglang_support.sglang_dir("0.5.9")))
    assert shadow != snapshot and shadow.parent == flox["cache"] / "sglang-compat"
    (original_ok, original_msg), (shadow_ok, shadow_msg) = sglang_support.load_tokenizers_in("0.5.9", [snapshot, shadow])
    assert not original_ok and "TokenizersBackend does not exist" in original_msg
    assert shadow_ok and "4.57.1" in shadow_msg, shadow_msg
