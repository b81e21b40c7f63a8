"""The compat shadow: decision, contents, reuse, refusals, two resolvers racing, and the CLI's report of it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import flox_env, run_cli, write_cached_repo, write_model
from sglang_runtime.model import compat, shim

MODEL = "org/tok-model"


def translation_of(tokenizer_class="TokenizersBackend", **config):
    return compat.translate({compat.TOKENIZER_CONFIG: {"tokenizer_class": tokenizer_class}, compat.CONFIG: config or None})


PROPORTIONAL = {"rope_type": "proportional", "rope_theta": 1.0}


@pytest.mark.parametrize("translation,transformers,mode,expected", [
    (translation_of(), (4, 57, 1), "auto", True),
    (translation_of(), (5, 3, 0), "auto", False),
    (translation_of(), None, "auto", True),
    (translation_of(), (5, 3, 0), "always", True),
    (translation_of(), (4, 57, 1), "never", False),
    (translation_of("LlamaTokenizerFast"), (4, 57, 1), "always", False),
    # Any transformers-5 form triggers it, not only the tokenizer class.
    (translation_of("Qwen2Tokenizer", rope_parameters={"rope_theta": 5e5, "rope_type": "default"}), (4, 57, 1), "auto", True),
    # A refusal applies (resolve raises it) exactly when a translation would.
    (translation_of("Qwen2Tokenizer", rope_parameters=PROPORTIONAL), (4, 57, 1), "auto", True),
    (translation_of("Qwen2Tokenizer", rope_parameters=PROPORTIONAL), (5, 3, 0), "auto", False),
])
def test_applies(translation, transformers, mode, expected):
    assert shim.applies(translation, transformers, mode) is expected


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
    code = ("import sys; from pathlib import Path; from sglang_runtime.model import compat, shim;"
            "snap = Path(sys.argv[1]); files = compat.translate(shim.snapshot_files(snap)).files;"
            "name = shim.shadow_name('org/tok-model', snap, files);"
            "out = shim.build_shadow(snap, Path(sys.argv[2]), name, files);"
            "print(out, len(list(out.iterdir())))")
    for attempt in range(5):
        parent = flox["cache"] / f"compat-{attempt}"
        procs = [subprocess.Popen([sys.executable, "-c", code, str(snapshot), str(parent)], stdout=subprocess.PIPE, text=True)
                 for _ in range(4)]
        outs = {p.communicate(timeout=60)[0].strip() for p in procs}
        assert all(p.returncode == 0 for p in procs)
        assert len(outs) == 1
        assert outs.pop().endswith(str(len(os.listdir(snapshot))))
        expected = shim.shadow_name(MODEL, snapshot, compat.translate(shim.snapshot_files(snapshot)).files)
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


V5_LLAMA = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_attention_heads": 32, "num_key_value_heads": 8,
            "max_position_embeddings": 131072, "dtype": "bfloat16", "transformers_version": "5.19.0",
            "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                "original_max_position_embeddings": 8192, "rope_theta": 500000.0, "rope_type": "llama3"}}


def _env_file(flox):
    return dict(line.split("=", 1) for line in (flox["cache"] / "sglang-model.env").read_text().splitlines()[1:])


def test_a_v5_config_with_a_v4_tokenizer_gets_a_shadow_that_says_why(flox, tmp_path):
    """The trigger is any transformers-5 form: here only config.json's rope_parameters (the class is a real v4 one)."""
    snapshot = write_cached_repo(flox["hub"], MODEL, config=V5_LLAMA, tokenizer_class="GPT2Tokenizer")
    env = flox_env(flox, SGLANG_MODEL=MODEL, PYTHONPATH=serving_site(tmp_path, "4.57.1"))
    proc = run_cli("sglang-resolve-model", "--json", env=env, check_rc=0)
    shadow = Path(_env_file(flox)["SGLANG_RESOLVED_MODEL"])
    assert shadow.parent == flox["cache"] / "sglang-compat"
    config = json.loads((shadow / "config.json").read_text())
    assert config["rope_theta"] == 500000.0 and config["rope_scaling"]["rope_type"] == "llama3"
    assert config["rope_parameters"] == V5_LLAMA["rope_parameters"]
    assert (shadow / "tokenizer_config.json").is_symlink(), "an unchanged file stays a link"
    assert _env_file(flox)["SGLANG_COMPAT_RULES"] == "rope-theta,rope-scaling"
    [line] = proc.stderr.strip().splitlines()
    assert line.endswith("; transformers-4 shadow, compat rules applied: rope-theta, rope-scaling"), line
    report = json.loads(proc.stdout)
    assert report["shadow"] == str(shadow) and report["snapshot"] == str(snapshot)
    assert report["compat_rules"] == ["rope-theta", "rope-scaling"]
    assert report["compat_applied"] == ["rope-theta: config.json rope_parameters.rope_theta -> rope_theta",
                                        "rope-scaling: config.json rope_parameters -> rope_scaling"]
    assert report["values"] == _env_file(flox)


GEMMA_SCALED_SLIDING = {**V5_LLAMA, "model_type": "gemma3_text", "rope_parameters": {
    "full_attention": {"rope_theta": 1e6, "rope_type": "default"},
    "sliding_attention": {"rope_theta": 1e4, "rope_type": "linear", "factor": 2.0}}}


def test_an_inexpressible_checkpoint_is_refused_in_one_line_before_anything_is_written(flox, tmp_path):
    snapshot = write_cached_repo(flox["hub"], MODEL, config=GEMMA_SCALED_SLIDING)
    env = flox_env(flox, SGLANG_MODEL=MODEL, PYTHONPATH=serving_site(tmp_path, "4.57.1"))
    proc = run_cli("sglang-resolve-model", env=env, check_rc=2)
    [line] = proc.stderr.strip().splitlines()
    assert line == (f"sglang-resolve-model: error: SGLANG_MODEL='{MODEL}': expected a checkpoint transformers 4.57.1 can serve "
                    f"exactly, but {snapshot}/config.json: rope_parameters.sliding_attention: RoPE scaling on sliding layers "
                    "has no transformers 4.x form; only transformers >= 5 (SGLang >= 0.5.10) reads it as written")
    assert not (flox["cache"] / "sglang-model.env").exists() and not (flox["cache"] / "sglang-compat").exists()
    # transformers 5 reads it as written: served from the snapshot, no refusal.
    env["PYTHONPATH"] = serving_site(tmp_path, "5.19.0")
    run_cli("sglang-resolve-model", env=env, check_rc=0)
    assert _env_file(flox)["SGLANG_RESOLVED_MODEL"] == str(snapshot) and "SGLANG_COMPAT_RULES" not in _env_file(flox)
    # never: served as written on any transformers, the user's call.
    run_cli("sglang-resolve-model", env={**env, "PYTHONPATH": serving_site(tmp_path, "4.57.1"), "SGLANG_TOKENIZER_SHIM": "never"},
            check_rc=0)
    assert _env_file(flox)["SGLANG_RESOLVED_MODEL"] == str(snapshot)


@pytest.mark.parametrize("content,needle", [
    (b"{not json", "config.json of the model (a JSON object) in valid JSON (line 1 column 2"),
    (b"[1, 2]", "as a JSON object, not a JSON array"),
    (b"\xff\xfe", "in UTF-8"),
])
def test_an_odd_config_is_one_line(flox, content, needle):
    snapshot = write_cached_repo(flox["hub"], MODEL)
    (snapshot / "config.json").write_bytes(content)
    proc = run_cli("sglang-resolve-model", env=flox_env(flox, SGLANG_MODEL=MODEL), check_rc=2)
    [line] = proc.stderr.strip().splitlines()
    assert needle in line and "Traceback" not in proc.stderr


def test_a_fifo_tokenizer_config_is_refused_without_hanging(flox):
    snapshot = write_cached_repo(flox["hub"], MODEL, tokenizer_class="TokenizersBackend")
    (snapshot / "tokenizer_config.json").unlink()
    os.mkfifo(snapshot / "tokenizer_config.json")
    proc = run_cli("sglang-resolve-model", env=flox_env(flox, SGLANG_MODEL=MODEL), check_rc=2)
    assert "a regular file, not a FIFO" in proc.stderr


def test_a_changed_translation_or_snapshot_gets_a_new_shadow_name(tmp_path):
    snapshot = write_model(tmp_path / "snap", config=V5_LLAMA)
    files = compat.translate(shim.snapshot_files(snapshot)).files
    changed = {**files, "config.json": {**files["config.json"], "rope_theta": 1.0}}
    first = shim.shadow_name(MODEL, snapshot, files)
    assert first != shim.shadow_name(MODEL, snapshot, changed)
    assert first == shim.shadow_name(MODEL, snapshot, compat.translate(shim.snapshot_files(snapshot)).files)
    (snapshot / "extra-file.txt").write_text("a file added to the snapshot later")
    assert first != shim.shadow_name(MODEL, snapshot, files)
