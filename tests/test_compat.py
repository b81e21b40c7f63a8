"""compat.translate, the pure function: each rule, each refusal, and generated variations (hypothesis).

The expected v4 forms are written from the transformers sources each rule names (compat.RULES); the
differential tests in test_compat_real.py check the same rules against the real 4.57.1 and 5.19.0.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from sglang_runtime.model import compat, modelcheck

MODELS_PAGE = Path(__file__).resolve().parents[1] / "docs" / "models.md"


def cfg(**fields):
    return {"model_type": "llama", "max_position_embeddings": 131072, **fields}


def config_of(config):
    result = compat.translate({compat.CONFIG: config})
    assert not result.refused, [r.line() for r in result.refused]
    return result.files.get(compat.CONFIG, config), result


def refused(files):
    result = compat.translate(files)
    assert len(result.refused) == 1 and not result.files.get(compat.CONFIG)
    return result.refused[0].line()


# ---------------------------------------------------------------- config.json rules

def test_llama3_rope_parameters_become_rope_theta_and_rope_scaling():
    rope = {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0, "original_max_position_embeddings": 8192,
            "rope_theta": 500000.0, "rope_type": "llama3"}
    out, result = config_of(cfg(rope_parameters=rope))
    assert out["rope_theta"] == 500000.0
    assert out["rope_scaling"] == {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                                   "original_max_position_embeddings": 8192, "rope_type": "llama3"}
    assert out["rope_parameters"] == rope, "kept: SGLang 0.5.9's DeepSeek/Qwen3.5/GLM code reads it when present"
    assert result.rule_ids == ("rope-theta", "rope-scaling")


def test_default_rope_gives_only_a_base():
    out, result = config_of(cfg(rope_parameters={"rope_theta": 1000000, "rope_type": "default"}))
    assert out["rope_theta"] == 1000000 and "rope_scaling" not in out
    assert result.rule_ids == ("rope-theta",)


def test_the_legacy_type_key_is_kept_beside_rope_type():
    out, _ = config_of(cfg(rope_parameters={"factor": 4.0, "original_max_position_embeddings": 32768, "rope_theta": 1e6,
                                            "rope_type": "yarn", "type": "yarn"}))
    assert out["rope_scaling"] == {"factor": 4.0, "original_max_position_embeddings": 32768, "rope_type": "yarn", "type": "yarn"}


def test_qwen_vl_mrope_sections_survive_a_default_type():
    rope = {"mrope_section": [16, 24, 24], "rope_theta": 1e6, "rope_type": "default", "type": "mrope"}
    out, _ = config_of({"model_type": "qwen2_5_vl", "tie_word_embeddings": True,
                        "text_config": {"model_type": "qwen2_5_vl_text", "rope_parameters": rope}})
    assert out["text_config"]["rope_scaling"] == {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "mrope"}
    assert out["text_config"]["tie_word_embeddings"] is True


def test_vision_towers_axial_rope_needs_no_scaling():
    out, _ = config_of({"model_type": "qwen2_vl", "vision_config": {"rope_parameters": {"rope_theta": 10000.0, "rope_type": "axial"}}})
    assert out["vision_config"]["rope_theta"] == 10000.0 and "rope_scaling" not in out["vision_config"]


def test_partial_rotary_and_gpt_neox_names():
    out, result = config_of(cfg(rope_parameters={"partial_rotary_factor": 0.5, "rope_theta": 10000.0, "rope_type": "default"}))
    assert out["partial_rotary_factor"] == 0.5 and "partial-rotary" in result.rule_ids
    out, _ = config_of({"model_type": "gpt_neox", "rope_parameters": {"partial_rotary_factor": 0.25, "rope_theta": 10000,
                                                                      "rope_type": "default"}})
    assert (out["rotary_emb_base"], out["rotary_pct"]) == (10000, 0.25) and "rope_theta" not in out


def test_phi3_longrope_gets_4_57s_exact_three_field_shape():
    rope = {"long_factor": [1.0, 2.0], "short_factor": [1.0, 1.5], "original_max_position_embeddings": 4096,
            "partial_rotary_factor": 1.0, "rope_theta": 10000.0, "rope_type": "longrope", "type": "longrope"}
    out, _ = config_of({"model_type": "phi3", "original_max_position_embeddings": 4096, "rope_parameters": rope})
    assert out["rope_scaling"] == {"type": "longrope", "long_factor": [1.0, 2.0], "short_factor": [1.0, 1.5]}
    assert out["original_max_position_embeddings"] == 4096


def test_olmo2_linear_gets_the_two_field_shape():
    out, _ = config_of({"model_type": "olmo2", "rope_parameters": {"factor": 2.0, "rope_theta": 500000, "rope_type": "linear"}})
    assert out["rope_scaling"] == {"type": "linear", "factor": 2.0}


def test_gemma3_per_layer_type_rope():
    rope = {"full_attention": {"factor": 8.0, "rope_theta": 1000000.0, "rope_type": "linear"},
            "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}}
    out, result = config_of({"model_type": "gemma3", "text_config": {"model_type": "gemma3_text", "rope_parameters": rope}})
    text = out["text_config"]
    assert (text["rope_theta"], text["rope_local_base_freq"], text["rope_scaling"]) == (
        1000000.0, 10000.0, {"factor": 8.0, "rope_type": "linear"})
    assert "rope-per-layer-type" in result.rule_ids
    # The sub-config's model_type may be implicit: gemma3 -> gemma3_text.
    out, _ = config_of({"model_type": "gemma3", "text_config": {"rope_parameters": rope}})
    assert out["text_config"]["rope_local_base_freq"] == 10000.0


def test_olmo3_per_layer_type_rope_needs_one_base():
    rope = {"full_attention": {"rope_theta": 500000, "rope_type": "default"}, "sliding_attention": {"rope_theta": 500000, "rope_type": "default"}}
    out, _ = config_of({"model_type": "olmo3", "rope_parameters": rope})
    assert out["rope_theta"] == 500000 and "rope_local_base_freq" not in out
    rope["sliding_attention"]["rope_theta"] = 10000
    assert "one base" in refused({compat.CONFIG: {"model_type": "olmo3", "rope_parameters": rope}})


def test_qwen3_next_gets_its_attention_interval_back():
    types = ["linear_attention"] * 3 + ["full_attention"]
    out, result = config_of({"model_type": "qwen3_next", "layer_types": types * 2,
                             "rope_parameters": {"partial_rotary_factor": 0.25, "rope_theta": 10000000, "rope_type": "default"}})
    assert out["full_attention_interval"] == 4 and "attention-interval" in result.rule_ids
    assert "no fixed full_attention_interval" in refused(
        {compat.CONFIG: {"model_type": "qwen3_next", "layer_types": ["full_attention", "linear_attention", "full_attention"]}})


def test_a_v4_config_is_left_alone():
    v4 = {"model_type": "llama", "rope_theta": 500000.0, "rope_scaling": {"rope_type": "llama3", "factor": 8.0}, "torch_dtype": "bfloat16"}
    result = compat.translate({compat.CONFIG: v4})
    assert result.files == {} and result.applied == () and result.refused == ()


# ---------------------------------------------------------------- tokenizer_config.json rules

def test_tokenizers_backend_and_extra_special_token_list():
    tc = {"backend": "tokenizers", "eos_token": "<|im_end|>", "extra_special_tokens": ["<|im_start|>", "<|im_end|>"],
          "tokenizer_class": "TokenizersBackend"}
    result = compat.translate({compat.TOKENIZER_CONFIG: tc})
    out = result.files[compat.TOKENIZER_CONFIG]
    assert out == {"backend": "tokenizers", "eos_token": "<|im_end|>", "tokenizer_class": "PreTrainedTokenizerFast",
                   "additional_special_tokens": ["<|im_start|>", "<|im_end|>"]}
    assert result.rule_ids == ("tokenizer-class", "extra-special-tokens")


def test_a_named_v4_class_with_the_v5_list_is_translated_too():
    tc = {"tokenizer_class": "Qwen2Tokenizer", "extra_special_tokens": ["<|im_start|>"]}
    out = compat.translate({compat.TOKENIZER_CONFIG: tc}).files[compat.TOKENIZER_CONFIG]
    assert out == {"tokenizer_class": "Qwen2Tokenizer", "additional_special_tokens": ["<|im_start|>"]}


def test_the_v4_named_token_dict_and_an_empty_list():
    named = {"tokenizer_class": "PreTrainedTokenizerFast", "extra_special_tokens": {"image_token": "<image>"}}
    assert compat.translate({compat.TOKENIZER_CONFIG: named}).files == {}
    empty = {"tokenizer_class": "PreTrainedTokenizerFast", "extra_special_tokens": []}
    assert compat.translate({compat.TOKENIZER_CONFIG: empty}).files[compat.TOKENIZER_CONFIG] == {"tokenizer_class": "PreTrainedTokenizerFast"}


# ---------------------------------------------------------------- refusals: one line, file, field, releases

@pytest.mark.parametrize("files,needle", [
    ({compat.CONFIG: {"model_type": "gemma3_text", "rope_parameters": {
        "full_attention": {"rope_theta": 1e6, "rope_type": "default"},
        "sliding_attention": {"rope_theta": 1e4, "rope_type": "linear", "factor": 2.0}}}},
     "config.json: rope_parameters.sliding_attention: RoPE scaling on sliding layers has no transformers 4.x form"),
    ({compat.CONFIG: {"model_type": "modernbert", "rope_parameters": {
        "full_attention": {"rope_theta": 160000, "rope_type": "default"}, "sliding_attention": {"rope_theta": 10000, "rope_type": "default"}}}},
     "config.json: rope_parameters: RoPE per layer type (full_attention, sliding_attention) for model_type 'modernbert' has no transformers 4.x form"),
    ({compat.CONFIG: {"model_type": "gemma4_text", "rope_parameters": {"rope_theta": 1e6, "rope_type": "proportional", "partial_rotary_factor": 0.25}}},
     "config.json: rope_parameters.rope_type: 'proportional' RoPE has no transformers 4.x form"),
    ({compat.CONFIG: {"model_type": "llama", "rope_theta": 10000.0, "rope_parameters": {"rope_theta": 500000.0, "rope_type": "default"}}},
     "config.json: rope_theta: 10000.0 contradicts rope_parameters.rope_theta (500000.0)"),
    ({compat.CONFIG: {"model_type": "llama", "rope_scaling": {"rope_type": "linear", "factor": 2.0},
                      "rope_parameters": {"rope_theta": 1e4, "rope_type": "linear", "factor": 4.0}}},
     "config.json: rope_scaling: "),
    ({compat.CONFIG: {"model_type": "llama", "rope_parameters": {"rope_type": "llama3", "factor": 8.0}}},
     "config.json: rope_parameters.rope_theta: absent"),
    ({compat.CONFIG: {"model_type": "llama", "rope_parameters": [500000]}},
     "config.json: rope_parameters: a JSON object, not list"),
    ({compat.CONFIG: {"model_type": "phi3", "rope_parameters": {"rope_type": "longrope", "rope_theta": 1e4, "factor": 2.0,
                                                               "short_factor": [1.0], "long_factor": [1.0]}}},
     "accepts exactly ['long_factor', 'short_factor', 'type'] in rope_scaling"),
    ({compat.CONFIG: {"model_type": "qwen2_5_vl", "tie_word_embeddings": True, "text_config": {"tie_word_embeddings": False}}},
     "config.json: text_config.tie_word_embeddings: false contradicts tie_word_embeddings (true)"),
    ({compat.TOKENIZER_CONFIG: {"additional_special_tokens": ["<a>"], "extra_special_tokens": ["<b>"]}},
     "tokenizer_config.json: additional_special_tokens: "),
])
def test_refusals_name_file_field_and_the_releases_that_read_it(files, needle):
    line = refused(files)
    assert needle in line and line.endswith("only transformers >= 5 (SGLang >= 0.5.10) reads it as written")
    assert "\n" not in line


def test_equal_old_and_new_fields_are_no_conflict():
    v5 = cfg(rope_theta=500000.0, rope_scaling={"type": "linear", "factor": 2.0},
             rope_parameters={"rope_theta": 500000.0, "rope_type": "linear", "factor": 2.0})
    assert compat.translate({compat.CONFIG: v5}).files == {}
    # A null rope_scaling states nothing (v5 reads `rope_scaling or rope_parameters`).
    out, _ = config_of(cfg(rope_scaling=None, rope_parameters={"rope_theta": 1e4, "rope_type": "dynamic", "factor": 2.0}))
    assert out["rope_scaling"] == {"rope_type": "dynamic", "factor": 2.0}


# ---------------------------------------------------------------- generated variations

numbers = st.one_of(st.integers(min_value=1, max_value=10**7), st.floats(min_value=0.01, max_value=1e7, allow_nan=False))
SCALING_KEYS = {"linear": ["factor"], "dynamic": ["factor"], "yarn": ["factor", "original_max_position_embeddings", "beta_fast", "beta_slow"],
                "llama3": ["factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"],
                "longrope": ["short_factor", "long_factor", "original_max_position_embeddings"], "default": []}


@st.composite
def v5_rope(draw):
    kind = draw(st.sampled_from(sorted(SCALING_KEYS)))
    rope = {"rope_type": kind, "rope_theta": draw(numbers)}
    for key in SCALING_KEYS[kind]:
        rope[key] = draw(st.lists(numbers, min_size=1, max_size=4)) if key.endswith("_factor") and kind == "longrope" else draw(numbers)
    if draw(st.booleans()):
        rope["partial_rotary_factor"] = draw(st.floats(min_value=0.1, max_value=1.0))
    if draw(st.booleans()):
        rope["type"] = kind
    return rope


@st.composite
def v5_config(draw):
    model_type = draw(st.sampled_from(["llama", "qwen3", "mistral", "deepseek_v3", "gpt_neox", "phi3", "olmo2", "gemma3_text", "olmo3"]))
    config = {"model_type": model_type, "max_position_embeddings": draw(st.integers(1, 10**6))}
    if model_type in compat.NESTED_ROPE:
        full = draw(v5_rope())
        full.pop("partial_rotary_factor", None)
        sliding_theta = full["rope_theta"] if model_type == "olmo3" else draw(numbers)
        config["rope_parameters"] = {"full_attention": full, "sliding_attention": {"rope_type": "default", "rope_theta": sliding_theta}}
    else:
        config["rope_parameters"] = draw(v5_rope())
    if draw(st.booleans()):
        config["text_config"] = {"model_type": "llama", "rope_parameters": draw(v5_rope())}
    return config


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(v5_config())
def test_meaning_is_kept_or_refused_and_translating_twice_changes_nothing(config):
    before = copy.deepcopy(config)
    result = compat.translate({compat.CONFIG: config})
    assert config == before, "the input is not modified"
    if result.refused:
        assert all(r.line().startswith("config.json: ") for r in result.refused)
        return
    out = result.files.get(compat.CONFIG, config)
    # What 4.57 reads from the translation is what 5.x reads from the original, layer type by layer type.
    for path in ([], ["text_config"]):
        orig, new = before, out
        for key in path:
            if key not in orig:
                break
            orig, new = orig[key], new[key]
        else:
            want, got = modelcheck.rope_v5(orig), modelcheck.rope_v4(new)
            assert modelcheck.rope_differences(want, got) == [] and set(got) == set(want)
    # Every original field is still there, unchanged: the translation only adds the 4.x fields.
    assert all(out[k] == v for k, v in before.items() if k != "text_config")
    again = compat.translate({compat.CONFIG: out})
    assert again.files == {} and again.applied == () and again.refused == ()


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)
keys = st.sampled_from(["rope_parameters", "rope_theta", "rope_scaling", "model_type", "layer_types", "text_config",
                        "partial_rotary_factor", "tie_word_embeddings", "full_attention", "rope_type", "tokenizer_class",
                        "extra_special_tokens", "additional_special_tokens", "x"])


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(keys, json_values | st.dictionaries(keys, json_values, max_size=4), max_size=6),
       st.dictionaries(keys, json_values, max_size=4))
def test_any_json_gives_a_translation_or_a_refusal_never_an_exception(config, tc):
    result = compat.translate({compat.CONFIG: config, compat.TOKENIZER_CONFIG: tc})
    assert isinstance(result, compat.Translation)
    for content in result.files.values():
        json.loads(compat.render(content))


def test_the_models_page_lists_every_rule_with_its_source():
    text = MODELS_PAGE.read_text(encoding="utf-8")
    for rule in compat.RULES:
        row = [line for line in text.splitlines() if line.startswith(f"| `{rule.id}` |")]
        assert row, rule.id
        assert rule.file in row[0]
