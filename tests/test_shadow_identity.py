"""A compat shadow is identified by what it is made of (issue 22, class 1): two checkpoints that share a
config.json and a folder name never share a shadow, a reused shadow is checked link by link, and a
moved or deleted source means a rebuild at resolve time or a one-line refusal at serve time."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from conftest import flox_env, run_cli, write_model
from sglang_runtime.model import compat, shim

V5_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_attention_heads": 4, "num_key_value_heads": 2,
            "max_position_embeddings": 4096, "transformers_version": "5.19.0",
            "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}}


def checkpoint(directory: Path, weights: bytes) -> Path:
    """A transformers-5 fine-tune: the base's config.json and tokenizer config, its own weights."""
    write_model(directory, config=V5_LLAMA, tokenizer_class="TokenizersBackend")
    (directory / "model.safetensors").write_bytes(weights)
    return directory


def serving_site(tmp_path: Path) -> str:
    site = tmp_path / "site-4.57.1"
    (site / "transformers-4.57.1.dist-info").mkdir(parents=True, exist_ok=True)
    return str(site)


def resolve(flox, tmp_path, model: Path, rc: int = 0) -> Path:
    env = flox_env(flox, SGLANG_MODEL=str(model), PYTHONPATH=serving_site(tmp_path))
    proc = run_cli("sglang-resolve-model", env=env, check_rc=rc)
    assert "Traceback" not in proc.stderr
    values = dict(line.split("=", 1) for line in (flox["cache"] / "sglang-model.env").read_text().splitlines()[1:])
    return Path(values["SGLANG_RESOLVED_MODEL"])


def test_two_final_folders_with_one_config_each_serve_their_own_weights(flox, tmp_path):
    first = checkpoint(tmp_path / "run-a" / "final", b"weights of run A")
    second = checkpoint(tmp_path / "run-b" / "final", b"weights of run B")
    assert (first / "config.json").read_bytes() == (second / "config.json").read_bytes()
    served_first = resolve(flox, tmp_path, first)
    served_second = resolve(flox, tmp_path, second)
    assert served_first != served_second
    assert served_first.parent == served_second.parent == flox["cache"] / "sglang-compat"
    assert (served_first / "model.safetensors").read_bytes() == b"weights of run A"
    assert (served_second / "model.safetensors").read_bytes() == b"weights of run B"
    # Resolving the first again reuses its own shadow, still pointing at its own weights.
    assert resolve(flox, tmp_path, first) == served_first
    assert (served_first / "model.safetensors").read_bytes() == b"weights of run A"


def test_a_checkpoint_replaced_in_place_gets_a_new_shadow(flox, tmp_path):
    model = checkpoint(tmp_path / "ckpt" / "final", b"old weights")
    old = resolve(flox, tmp_path, model)
    os.rename(model, tmp_path / "ckpt" / "moved-away")
    checkpoint(model, b"new weights, same path")
    new = resolve(flox, tmp_path, model)
    assert new != old
    assert (new / "model.safetensors").read_bytes() == b"new weights, same path"


def test_a_deleted_source_is_refused_at_serve_time_and_rebuilt_by_resolve(flox, tmp_path):
    model = checkpoint(tmp_path / "ckpt" / "final", b"the weights")
    served = resolve(flox, tmp_path, model)
    moved = tmp_path / "elsewhere"
    shutil.move(str(model), str(moved))
    env = flox_env(flox, SGLANG_MODEL=str(model), PYTHONPATH=serving_site(tmp_path))
    proc = run_cli("sglang-serve", "--dry-run", env=env, check_rc=2)
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "moved or deleted" in proc.stderr and "sglang-resolve-model" in proc.stderr
    assert (served / "model.safetensors").is_symlink() and not (served / "model.safetensors").exists()
    # The source moves back: resolve reuses nothing broken, serve accepts again.
    shutil.move(str(moved), str(model))
    again = resolve(flox, tmp_path, model)
    assert (again / "model.safetensors").read_bytes() == b"the weights"
    run_cli("sglang-serve", "--dry-run", env=env, check_rc=0)


def test_a_damaged_shadow_is_rebuilt_not_reused(flox, tmp_path):
    model = checkpoint(tmp_path / "ckpt" / "final", b"right weights")
    served = resolve(flox, tmp_path, model)
    foreign = tmp_path / "foreign.safetensors"
    foreign.write_bytes(b"someone else's weights")
    (served / "model.safetensors").unlink()
    os.symlink(foreign, served / "model.safetensors")
    (served / "stray-file").write_text("not from the snapshot")
    assert resolve(flox, tmp_path, model) == served
    assert (served / "model.safetensors").read_bytes() == b"right weights"
    assert sorted(os.listdir(served)) == sorted(os.listdir(model))
    assert not [p for p in served.parent.iterdir() if p.name.startswith(".")], "no temp or trash dir stays"


def test_a_foreign_translated_file_is_rebuilt(tmp_path):
    model = checkpoint(tmp_path / "final", b"w")
    files = compat.translate(shim.snapshot_files(model)).files
    name = shim.shadow_name("final", model, files)
    shadow = shim.build_shadow(model, tmp_path / "cache", name, files)
    (shadow / "config.json").write_text("{}")
    assert not shim.intact(shadow, model, files)
    assert shim.build_shadow(model, tmp_path / "cache", name, files) == shadow
    assert shim.intact(shadow, model, files)
    assert json.loads((shadow / "config.json").read_text()) == files["config.json"]


NAMES = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FF, blacklist_characters="/\\"), min_size=1, max_size=20) \
    .filter(lambda n: n not in (".", ".."))


@hsettings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(folder=NAMES, left=NAMES, right=NAMES)
def test_same_name_same_config_in_two_places_never_share_a_name(tmp_path, folder, left, right):
    if left == right:
        right += "-2"
    root = Path(os.path.realpath(tmp_path))
    a = checkpoint(root / "a" / left / folder, b"same bytes")
    b = checkpoint(root / "b" / right / folder, b"same bytes")
    try:
        files = compat.translate(shim.snapshot_files(a)).files
        assert files == compat.translate(shim.snapshot_files(b)).files
        assert shim.shadow_name(folder, a, files) != shim.shadow_name(folder, b, files)
        assert shim.shadow_name(folder, a, files) == shim.shadow_name(folder, a, files)
    finally:
        shutil.rmtree(root / "a")
        shutil.rmtree(root / "b")
