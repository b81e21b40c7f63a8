"""transformers-5 serialisation -> what transformers 4.57 reads with the same meaning: the rules, as data with their sources.

compat.py applies them (one pure function); this module only says what they are.

SGLang <= 0.5.9 runs on transformers 4.57; checkpoints are now saved by
transformers 5, which writes several fields in forms 4.57 ignores (and then
serves silently wrong) or dies on. `translate(files)` rewrites those fields
(dict in, dict out, plus the rules it applied) and refuses what 4.57 cannot
express. The shadow writer (shim.py) and the flake's build-time fix
(nix/bundle.py) both call it. Sources are transformers 4.57.1 (v4) and 5.19.0
(v5), as installed in SGLang 0.5.9's and 0.5.23's pinned environments, and
the v5 migration guide (huggingface/transformers@048bd927, MIGRATION_GUIDE_V5.md).

Rules (id: v5 form -> v4 form; source):
- rope-theta: config.json `rope_parameters.rope_theta` -> `rope_theta`
  (`rotary_emb_base` for gpt_neox, gpt_neox_japanese). v5 modeling_rope_utils
  RotaryEmbeddingConfigMixin.convert_rope_params_to_dict pops `rope_theta`
  into `rope_parameters`; the guide: "rope_theta ... stored under
  rope_parameters"; v4 modeling_rope_utils reads `config.rope_theta`.
- rope-scaling: config.json `rope_parameters` (rope_type + scaling keys) ->
  `rope_scaling`, the same keys without rope_theta / partial_rotary_factor;
  `rope_type` kept (and `type` where v5 kept it); nothing when the type is
  `default` with no other key; the exact legacy shape `{type, factor}` /
  `{type, short_factor, long_factor}` (plus a top-level
  `original_max_position_embeddings`) for the 4.57 classes that validate it
  (phi3, phi4_multimodal; olmo, olmo2, chameleon, fuyu, hunyuan_v1_*).
  v5 convert_rope_params_to_dict
  (`rope_parameters = rope_scaling or rope_parameters`); v4
  rope_config_validation reads `rope_scaling["rope_type"]`, then `["type"]`.
- partial-rotary: config.json `rope_parameters.partial_rotary_factor` ->
  `partial_rotary_factor` (`rotary_pct` for gpt_neox*) when not also at the
  top. v5 standardize_rope_params moves it in; v4 reads
  `getattr(config, "partial_rotary_factor", 1.0)`.
- rope-per-layer-type: config.json `rope_parameters.{full_attention,sliding_attention}`
  -> gemma3_text / gemma3n_text: `rope_theta` + `rope_scaling` (full) and
  `rope_local_base_freq` (sliding, default RoPE only); olmo3: `rope_theta` +
  `rope_scaling` (sliding must be default RoPE with the same base). The exact
  inverse of v5 models/{gemma3,gemma3n,olmo3}/configuration_*.py
  convert_rope_params_to_dict; v4 modeling_gemma3 / modeling_olmo3 give
  sliding layers default RoPE from those fields. Any other nested form: refused.
- attention-interval: config.json `layer_types` -> `full_attention_interval`
  (qwen3_next, qwen3_5_text, qwen3_5_moe_text). v5 configuration_qwen3_next
  pops the interval into `layer_types`; SGLang 0.5.9 configs/qwen3_next.py
  `layers_block_type` reads `full_attention_interval`.
- tie-word-embeddings: config.json `tie_word_embeddings` -> also
  `text_config.tie_word_embeddings` (qwen2_vl, qwen2_5_vl, glm4v, glm4v_moe,
  glm_ocr, paddleocr_vl). v5 configuration_*.py of those keep it at the top
  ("BC: pre-v5 saves placed tie_word_embeddings inside text_config"); 4.57's
  Qwen2(.5)-VL config answers `config.tie_word_embeddings` from text_config,
  whose default is false: an untied, unloaded lm_head.
- tokenizer-class: tokenizer_config.json `tokenizer_class` TokenizersBackend ->
  PreTrainedTokenizerFast. v5 tokenization_utils_tokenizers.py
  `PreTrainedTokenizerFast = TokenizersBackend`; 4.57 has no TokenizersBackend.
- extra-special-tokens: tokenizer_config.json `extra_special_tokens` (a list)
  -> `additional_special_tokens`. v5 tokenization_utils_base ("Convert
  deprecated additional_special_tokens to extra_special_tokens"); the guide;
  v4 tokenization_utils_base reads `extra_special_tokens` as a dict of named
  tokens and dies on a list.

Read alike by both, so not rewritten (checked by the differential tests):
`dtype` (4.57 reads it as torch_dtype), tokenizer_config `backend` (ignored by
both AutoTokenizers), `chat_template.jinja` (4.57 reads it), no
special_tokens_map.json / added_tokens.json (both read tokenizer_config.json
and tokenizer.json first), and the `add_bos_token` / `add_eos_token` that v5's
save_pretrained drops: 4.57's Llama/Gemma/... fast classes default to BOS on,
and SGLang 0.5.23 restores exactly those defaults
(srt/utils/hf_transformers/tokenizer.py _fix_v5_add_bos_eos_token), so the
two releases already agree; following tokenizer.json's post-processor
instead would make them disagree.

`rope_parameters` itself is kept: SGLang 0.5.9's DeepSeek, Qwen3.5, GLM-4,
LFM2 and Ministral code reads it when present, and it now agrees with the 4.x
fields (so translating a translation changes nothing).

Refused (one line naming the file and field): RoPE nested per layer type with
no 4.x form, rope_type `proportional` (v5 only), a rope_parameters without a
rope_theta, scaling keys outside the exact shape a 4.57 class validates, old
and new field both present and different (rope_theta, rope_scaling,
partial_rotary_factor, rope_local_base_freq, tie_word_embeddings,
additional_special_tokens), a layer pattern with no fixed interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

CONFIG = "config.json"
TOKENIZER_CONFIG = "tokenizer_config.json"
TOKENIZER_JSON = "tokenizer.json"
FILES = (CONFIG, TOKENIZER_CONFIG)
SERVED_BY = "transformers >= 5 (SGLang >= 0.5.10)"

V4 = "transformers 4.57.1"
V5 = "transformers 5.19.0"


@dataclass(frozen=True)
class Rule:
    id: str
    file: str
    v5: str  # the field as transformers 5 writes it
    v4: str  # the field transformers 4.57 reads instead
    source: str


RULES: tuple[Rule, ...] = (
    Rule("rope-theta", CONFIG, "rope_parameters.rope_theta", "rope_theta (gpt_neox: rotary_emb_base)",
         f"{V5} modeling_rope_utils.py convert_rope_params_to_dict; MIGRATION_GUIDE_V5.md (Configuration); "
         f"{V4} modeling_rope_utils.py reads config.rope_theta"),
    Rule("rope-scaling", CONFIG, "rope_parameters.{rope_type,factor,...}", "rope_scaling (rope_type kept, type kept where written)",
         f"{V5} modeling_rope_utils.py convert_rope_params_to_dict / standardize_rope_params; "
         f"{V4} modeling_rope_utils.py rope_config_validation"),
    Rule("partial-rotary", CONFIG, "rope_parameters.partial_rotary_factor", "partial_rotary_factor (gpt_neox: rotary_pct)",
         f"{V5} modeling_rope_utils.py standardize_rope_params; {V4} modeling_rope_utils.py "
         "getattr(config, 'partial_rotary_factor', 1.0); v5 models/gpt_neox/configuration_gpt_neox.py"),
    Rule("rope-per-layer-type", CONFIG, "rope_parameters.{full_attention,sliding_attention}",
         "rope_theta + rope_scaling + rope_local_base_freq (gemma3_text, gemma3n_text); rope_theta + rope_scaling (olmo3)",
         f"{V5} models/gemma3, gemma3n, olmo3 configuration_*.py convert_rope_params_to_dict; "
         f"{V4} models/gemma3/modeling_gemma3.py, models/olmo3/modeling_olmo3.py"),
    Rule("attention-interval", CONFIG, "layer_types", "full_attention_interval (qwen3_next, qwen3_5_text, qwen3_5_moe_text)",
         f"{V5} models/qwen3_next/configuration_qwen3_next.py; SGLang 0.5.9 srt/configs/qwen3_next.py layers_block_type"),
    Rule("tie-word-embeddings", CONFIG, "tie_word_embeddings (top level only)", "text_config.tie_word_embeddings",
         f"{V5} models/{{qwen2_vl,qwen2_5_vl,glm4v,glm4v_moe,glm_ocr,paddleocr_vl}}/configuration_*.py (BC forward); "
         f"{V4} models/qwen2_5_vl/configuration_qwen2_5_vl.py __getattribute__ reads text fields from text_config"),
    Rule("tokenizer-class", TOKENIZER_CONFIG, "tokenizer_class: TokenizersBackend", "tokenizer_class: PreTrainedTokenizerFast",
         f"{V5} tokenization_utils_tokenizers.py (PreTrainedTokenizerFast = TokenizersBackend); "
         f"{V4} models/auto/tokenization_auto.py has no such class"),
    Rule("extra-special-tokens", TOKENIZER_CONFIG, "extra_special_tokens: [list]", "additional_special_tokens",
         f"{V5} tokenization_utils_base.py __init__ / from_pretrained; MIGRATION_GUIDE_V5.md (Special Tokens Structure); "
         f"{V4} tokenization_utils_base.py (extra_special_tokens is a dict of named tokens)"),
)
RULE_IDS = tuple(r.id for r in RULES)

# Fields that transformers 5 writes differently but 4.57 reads with the same meaning.
UNCHANGED: tuple[tuple[str, str, str], ...] = (
    (CONFIG, "dtype (was torch_dtype)", f"{V4} configuration_utils.py accepts dtype and torch_dtype"),
    (TOKENIZER_CONFIG, "backend", f"{V5} tokenization_utils_base.py stores it; neither AutoTokenizer selects by it"),
    ("chat_template.jinja", "chat template file", f"{V4} tokenization_utils_base.py reads chat_template.jinja"),
    ("special_tokens_map.json, added_tokens.json", "no longer written",
     "MIGRATION_GUIDE_V5.md; both releases read tokenizer_config.json and tokenizer.json"),
    (TOKENIZER_CONFIG, "add_bos_token / add_eos_token no longer written",
     f"{V5} tokenization_utils_base.py save_pretrained drops them; {V4} Llama/Gemma/CodeLlama/Cohere fast classes default "
     "to BOS on, and SGLang 0.5.23 srt/utils/hf_transformers/tokenizer.py _fix_v5_add_bos_eos_token restores the same defaults"),
)

ROPE_INTERNAL = ("rope_theta", "partial_rotary_factor")
TYPE_KEYS = ("rope_type", "type")
# Plain RoPE: "axial" is v5's default_rope_type for vision towers (modeling_rope_utils; validated as default).
PLAIN_ROPE_TYPES = frozenset({"default", "axial"})
V5_ONLY_ROPE_TYPES = frozenset({"proportional"})  # v5 modeling_rope_utils ROPE_INIT_FUNCTIONS; 4.57 has no such RoPE

# (theta field, partial field) where the 4.57 config class does not use the generic names.
ROPE_FIELD_NAMES: Mapping[str, tuple[str, str]] = {
    "gpt_neox": ("rotary_emb_base", "rotary_pct"),
    "gpt_neox_japanese": ("rotary_emb_base", "rotary_pct"),
}
GENERIC_ROPE_FIELDS = ("rope_theta", "partial_rotary_factor")

# 4.57 config classes that validate rope_scaling to an exact legacy shape: the type key, the keys allowed
# beside it, and keys v5 moved into rope_parameters from the top level (moved back out).
@dataclass(frozen=True)
class LegacyScaling:
    keys: frozenset[str]
    top_level: tuple[str, ...] = ()
    type_key: str = "type"


LONGROPE_ONLY = LegacyScaling(frozenset({"short_factor", "long_factor"}), ("original_max_position_embeddings",))
FACTOR_ONLY = LegacyScaling(frozenset({"factor"}))
LEGACY_SCALING: Mapping[str, LegacyScaling] = {
    # 4.57 models/phi3, phi4_multimodal configuration_*.py _rope_scaling_validation: exactly type, short_factor,
    # long_factor; v5 modeling_rope_utils standardize_rope_params copies Phi3's top-level original_max_position_embeddings in.
    "phi3": LONGROPE_ONLY,
    "phi4_multimodal": LONGROPE_ONLY,
    # 4.57 models/{olmo,olmo2,chameleon,fuyu,hunyuan_v1_dense,hunyuan_v1_moe} _rope_scaling_validation: exactly type, factor.
    **{t: FACTOR_ONLY for t in ("olmo", "olmo2", "chameleon", "fuyu", "hunyuan_v1_dense", "hunyuan_v1_moe")},
}

# Nested rope_parameters with an exact 4.57 form: the field that carries the sliding layers' base
# (None: the same base as the full layers, which v4 cannot vary).
NESTED_ROPE: Mapping[str, str | None] = {
    "gemma3_text": "rope_local_base_freq",
    "gemma3n_text": "rope_local_base_freq",
    "olmo3": None,
}
# Sub-config model types v5 may leave implicit, by (parent model_type, key).
SUBCONFIG_TYPES: Mapping[tuple[str, str], str] = {
    ("gemma3", "text_config"): "gemma3_text",
    ("gemma3n", "text_config"): "gemma3n_text",
    ("qwen3_5", "text_config"): "qwen3_5_text",
    ("qwen3_5_moe", "text_config"): "qwen3_5_moe_text",
}
INTERVAL_MODELS = frozenset({"qwen3_next", "qwen3_5_text", "qwen3_5_moe_text"})
# v5 keeps tie_word_embeddings at the top only ("BC: pre-v5 saves placed tie_word_embeddings inside text_config");
# 4.57's Qwen2(.5)-VL config answers every text field, this one included, from text_config.
TIE_IN_TEXT_CONFIG = frozenset({"qwen2_vl", "qwen2_5_vl", "glm4v", "glm4v_moe", "glm_ocr", "paddleocr_vl"})

TOKENIZERS_BACKEND = "TokenizersBackend"
COMPAT_CLASS = "PreTrainedTokenizerFast"
