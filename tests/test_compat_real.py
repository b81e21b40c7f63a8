"""Differential tests of the compat translation with the REAL libraries (configs and tokenizers, no weights).

For real architectures' files (tests/compat_cases.py):
1. SAVE with transformers 5.19 inside SGLang 0.5.23's folder (what a new checkpoint holds);
2. translate with compat.translate and write the shadow with shim.build_shadow (what resolve-model serves);
3. READ with SGLang's own loaders (get_config / get_hf_text_config / get_context_length / get_tokenizer,
   runtime/sglang_runtime/guest/model_probe.py) in SGLang 0.5.9 (transformers 4.57.1) from the shadow, and in
   SGLang 0.5.23 from the original;
4. compare every attribute SGLang reads.
Everything runs in the two long-lived release workers of sglang_support (one each, shared with the contract
tests), in one batch per step.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import compat_cases as cases
import sglang_support as sg
from sglang_runtime.model import compat, modelcheck, shim

OLD, NEW = "0.5.9", "0.5.23"
PROBE = Path(shim.__file__).parents[1] / "guest" / "model_probe.py"
INSIDE = Path(__file__).with_name("compat_inside.py")
# Attributes both releases read under the same name with the same meaning.
SAME_NAME_ATTRS = ("max_position_embeddings", "head_dim", "hidden_size", "intermediate_size", "num_attention_heads",
                   "num_key_value_heads", "num_hidden_layers", "vocab_size", "sliding_window", "torch_dtype",
                   "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id", "kv_lora_rank", "q_lora_rank",
                   "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "attention_chunk_size", "model_type")
TOKENIZER_FIELDS = ("special", "extra", "all_special", "all_special_ids", "len", "vocab_size", "chat_template",
                    "encodings", "decodings", "chats")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Every case saved by transformers 5, translated, and read by both releases: four batched worker calls."""
    root = tmp_path_factory.mktemp("compat-real")
    names = list(cases.CASES)
    sources = {n: cases.write_case(root / "v4" / n, n) for n in names}
    saved = sg.call_in(NEW, INSIDE, "save", [[str(sources[n]), str(root / "v5" / n)] for n in names])
    errors = {n: s for n, s in zip(names, saved) if isinstance(s, dict)}
    assert not errors, errors
    v5 = {n: root / "v5" / n for n in names}
    translations, shadows = {}, {}
    for n in names:
        translations[n] = compat.translate(shim.snapshot_files(v5[n]))
        assert not translations[n].refused, (n, [r.line() for r in translations[n].refused])
        shadows[n] = shim.build_shadow(v5[n], root / "shadows", n, translations[n].files)

    def probe(version, dirs):
        return [sg.call_in(version, PROBE, "read", str(d), cases.TEXTS, cases.CHATS) for d in dirs]

    return {
        "names": names, "v5": v5, "translations": translations, "shadows": shadows,
        # The published transformers-4 files, as each release reads them: where these two differ, the releases
        # themselves differ (SGLang's own code), and no translation of the files can or should change that.
        "new_source": dict(zip(names, probe(NEW, [sources[n] for n in names]))),
        "old_source": dict(zip(names, probe(OLD, [sources[n] for n in names]))),
        "new_original": dict(zip(names, probe(NEW, [v5[n] for n in names]))),
        "new_shadow": dict(zip(names, probe(NEW, [shadows[n] for n in names]))),
        "old_shadow": dict(zip(names, probe(OLD, [shadows[n] for n in names]))),
        "old_original": dict(zip(names, probe(OLD, [v5[n] for n in names]))),
    }


def _files(directory: Path) -> dict:
    files = shim.snapshot_files(directory)
    path = directory / compat.TOKENIZER_JSON
    files[compat.TOKENIZER_JSON] = json.loads(path.read_text()) if path.exists() else None
    return files


def test_the_workers_are_the_pinned_releases(world):
    some = world["names"][0]
    assert world["new_original"][some]["transformers"] == "5.19.0" and world["new_original"][some]["sglang"] == NEW
    assert world["old_shadow"][some]["transformers"] == "4.57.1" and world["old_shadow"][some]["sglang"] == OLD


def test_transformers_5_wrote_v5_forms_that_need_translating(world):
    """The saved files really are transformers-5 files: every case but none needs at least one rule."""
    rules = {n: set(world["translations"][n].rule_ids) for n in world["names"]}
    assert all(rules[n] for n in world["names"]), rules
    assert set(compat.RULE_IDS) <= set().union(*rules.values())


# SGLang 0.5.23 itself misreads these transformers-5 files (its own config class predates rope_parameters and
# layer_types); the translated shadow is read right by both releases. Each entry is checked to still be true.
NEW_RELEASE_MISREADS = {
    "qwen3-next-80b": "SGLang 0.5.23 srt/configs/qwen3_next.py Qwen3NextConfig: rope_theta defaults to 10000, "
                      "layers_block_type needs full_attention_interval",
}


def _config_value(probe: dict, attr: str):
    return probe["config"]["context_length"] if attr == "context_length" else probe["config"]["attrs"].get(attr)


@pytest.mark.parametrize("name", list(cases.CASES))
def test_old_release_reads_the_shadow_as_the_new_one_reads_the_original(world, name):
    new, old = world["new_original"][name], world["old_shadow"][name]
    if name in NEW_RELEASE_MISREADS:
        new = world["new_shadow"][name]
    assert "error" not in new["config"] and "error" not in old["config"], (new["config"], old["config"])
    want = modelcheck.expected(_files(world["v5"][name]))
    assert modelcheck.differences(want, modelcheck.served(new)) == []
    assert modelcheck.differences(want, modelcheck.served(old)) == []
    assert modelcheck.served(old)["rope"] == modelcheck.served(new)["rope"]
    # SGLang's own context length (get_context_length) and the attributes named alike in both releases: equal,
    # unless the two releases already read the published transformers-4 file differently (then 0.5.9 reads the
    # shadow exactly as it reads the published file).
    for attr in ("context_length", "layers_block_type", *SAME_NAME_ATTRS):
        if attr == "layers_block_type":
            got_old, got_new = old["config"]["layers_block_type"], new["config"]["layers_block_type"]
        else:
            got_old, got_new = _config_value(old, attr), _config_value(new, attr)
        if got_old != got_new:
            src_old, src_new = world["old_source"][name], world["new_source"][name]
            assert _config_value(src_old, attr) != _config_value(src_new, attr), (attr, got_old, got_new)
            assert got_old == _config_value(src_old, attr), (attr, got_old)
    if cases.CASES[name][1] is not None:
        assert "error" not in old["tokenizer"] and "error" not in new["tokenizer"], (old["tokenizer"], new["tokenizer"])
        for key in TOKENIZER_FIELDS:
            assert old["tokenizer"][key] == new["tokenizer"][key], key


@pytest.mark.parametrize("name", list(cases.CASES))
def test_the_shadow_means_the_same_to_transformers_5(world, name):
    """SGLANG_TOKENIZER_SHIM=always is harmless: 0.5.23 reads the shadow exactly as it reads the original."""
    a, b = world["new_original"][name], world["new_shadow"][name]
    assert a["config"]["attrs"]["rope_parameters"] == b["config"]["attrs"]["rope_parameters"]
    assert a["config"]["context_length"] == b["config"]["context_length"]
    if cases.CASES[name][1] is not None:
        for key in TOKENIZER_FIELDS:
            assert a["tokenizer"][key] == b["tokenizer"][key], key


def test_published_values_reach_the_old_release(world):
    """Read back by 4.57 through SGLang 0.5.9, as the published configs state them (independent of compat's code)."""
    attrs = {n: world["old_shadow"][n]["config"]["attrs"] for n in world["names"]}
    llama = attrs["llama-3.1-8b"]
    assert llama["rope_theta"] == 500000.0
    assert {k: llama["rope_scaling"][k] for k in ("rope_type", "factor", "low_freq_factor", "high_freq_factor",
                                                    "original_max_position_embeddings")} == {
        "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
    assert attrs["qwen3-8b"]["rope_theta"] == 1000000 and not attrs["qwen3-8b"]["rope_scaling"]
    yarn = attrs["qwen3-8b-yarn"]["rope_scaling"]
    assert (yarn["rope_type"], yarn["factor"], yarn["original_max_position_embeddings"]) == ("yarn", 4.0, 32768)
    ds = attrs["deepseek-v3"]
    assert ds["rope_theta"] == 10000 and ds["rope_scaling"]["factor"] == 40 and ds["rope_scaling"]["mscale_all_dim"] == 1.0
    gemma = attrs["gemma-3-1b"]
    assert (gemma["rope_theta"], gemma["rope_local_base_freq"], gemma["rope_scaling"]) == (1000000, 10000, None)
    assert attrs["gemma-3-4b"]["rope_scaling"]["factor"] == 8.0
    assert attrs["phi-2"]["partial_rotary_factor"] == 0.4
    assert (attrs["pythia-1b"]["rotary_emb_base"], attrs["pythia-1b"]["rotary_pct"]) == (10000, 0.25)
    assert attrs["qwen2.5-vl-3b"]["rope_scaling"]["mrope_section"] == [16, 24, 24]
    assert attrs["qwen2.5-vl-3b"]["tie_word_embeddings"] is True
    next_ = world["old_shadow"]["qwen3-next-80b"]["config"]["layers_block_type"]
    assert next_ == world["old_source"]["qwen3-next-80b"]["config"]["layers_block_type"] and len(set(next_)) == 2
    assert [i for i, t in enumerate(next_) if t != "linear_attention"] == [3, 7]
    tok = world["old_shadow"]["qwen3-8b"]["tokenizer"]
    assert [t for t, _ in tok["extra"]] == ["<|im_start|>", "<|im_end|>"]
    # transformers 5 drops add_bos_token=false on save; 4.57 then defaults to BOS on, and so does SGLang 0.5.23
    # (_fix_v5_add_bos_eos_token restores the 4.x default): no rule, both add BOS.
    for probe in (world["old_shadow"]["tinyllama-no-bos"], world["new_original"]["tinyllama-no-bos"]):
        assert probe["tokenizer"]["encodings"][0][0] == probe["tokenizer"]["special"]["bos_token"][1] == 1


def test_the_new_release_misreads_what_the_list_says(world):
    from sglang_runtime.model import modelread

    for name in NEW_RELEASE_MISREADS:
        files = _files(world["v5"][name])
        assert modelcheck.differences(modelcheck.expected(files), modelcheck.served(world["new_original"][name])), name
        # doctor's model-read check says so, and that the shadow (SGLANG_TOKENIZER_SHIM=always) is the way out.
        check = modelread.model_read_check(world["new_original"][name], files, "the snapshot", "transformers 5.19.0")
        assert check.status == "fail" and "rope_theta" in check.message and "SGLANG_TOKENIZER_SHIM=always" in check.fix


# Read right without a translation only by coincidence: the lost value equals the architecture's default.
RIGHT_BY_CHANCE = {
    "tinyllama-no-bos": "rope_theta 10000 is also LlamaConfig's default",
    "phi-2": "rope_theta 10000 is PhiConfig's default; v5 keeps partial_rotary_factor at the top too",
    "pythia-1b": "rotary_emb_base 10000 and rotary_pct 0.25 are GPTNeoXConfig's defaults",
    "gpt-oss-20b": "GptOssConfig's defaults are gpt-oss's own RoPE (base 150000, YaRN x32)",
}


def test_without_the_translation_the_old_release_reads_them_wrong(world):
    """The same comparison fails on the untranslated files: what the rules prevent, per case."""
    wrong = {}
    for n in world["names"]:
        got, new = world["old_original"][n], world["new_original"][n]
        problems = []
        if "error" in got["config"]:
            problems.append("config: " + got["config"]["error"])
        else:
            problems += modelcheck.differences(modelcheck.expected(_files(world["v5"][n])), modelcheck.served(got))
        if cases.CASES[n][1] is not None:
            if "error" in got["tokenizer"]:
                problems.append("tokenizer: " + got["tokenizer"]["error"])
            else:
                problems += [f"tokenizer {k}" for k in TOKENIZER_FIELDS if got["tokenizer"][k] != new["tokenizer"][k]]
        if problems:
            wrong[n] = problems
    assert set(wrong) == set(world["names"]) - set(RIGHT_BY_CHANCE), sorted(set(world["names"]) ^ set(wrong))
    # The two cases of the issue, as measured on real servers (transformers-v5-checkpoints.md):
    assert any("rope_theta" in p and "10000" in p for p in wrong["llama-3.1-8b"]), wrong["llama-3.1-8b"]
    assert any(p.startswith("tokenizer: ") for p in wrong["qwen3-8b"]), wrong["qwen3-8b"]  # extra_special_tokens list


@pytest.mark.parametrize("kind,rules", [
    ("llama", {"rope-theta", "rope-scaling", "tokenizer-class", "extra-special-tokens"}),
    ("gemma3", {"rope-theta", "rope-scaling", "rope-per-layer-type", "extra-special-tokens"}),
])
def test_the_end_to_end_fixture_needs_its_rules_and_reads_alike(tmp_path, kind, rules):
    """The tiny random-weight models the real-server parity test serves (compat_inside.make_tiny_model, saved by
    transformers 5.19), translated with shim.translate_snapshot: the rules fire, both releases read the same."""
    saved = sg.call_in(NEW, INSIDE, "make_tiny_model", str(tmp_path / "model"), kind, 0)
    assert "model.safetensors" in saved and "transformers 5.19.0" in saved, saved
    served, translation = shim.translate_snapshot(tmp_path / "model", tmp_path / "shadows")
    assert set(translation.rule_ids) == rules
    old = sg.call_in(OLD, PROBE, "read", str(served), cases.TEXTS, cases.CHATS)
    new = sg.call_in(NEW, PROBE, "read", str(tmp_path / "model"), cases.TEXTS, cases.CHATS)
    want = modelcheck.expected(_files(tmp_path / "model"))
    assert modelcheck.differences(want, modelcheck.served(old)) == [] == modelcheck.differences(want, modelcheck.served(new))
    for key in TOKENIZER_FIELDS:
        assert old["tokenizer"][key] == new["tokenizer"][key], key
