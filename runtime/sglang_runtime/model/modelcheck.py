"""What a model's files mean, two ways, in one comparable form: doctor's model-compat check.

- `expected(files)`: what the snapshot says, read here as transformers 5 reads
  it (the RoPE of each layer type, the context length, the special tokens and
  their ids).
- `served(probe)`: what the serving interpreter actually read (model_probe.py's
  JSON), through the fields its transformers uses: `rope_parameters` on 5.x,
  `rope_theta` / `rope_scaling` / ... on 4.x (compat's rules, read backwards).
- `differences(expected, served)`: one short line per disagreement.

Pure functions: dicts in, dicts and strings out.
"""

from __future__ import annotations

from typing import Any, Mapping

from . import compat

TEXT_CONFIG_KEYS = ("text_config", "llm_config", "language_config")
# v5 keeps Qwen-VL's legacy "type": "mrope" next to rope_type "default"; both releases mean plain RoPE + sections.
TYPE_ALIASES = {"mrope": "default", "axial": "default"}
ROPE_NOISE = frozenset({"type"})


def text_config(config: Mapping[str, Any]) -> Mapping[str, Any]:
    for key in TEXT_CONFIG_KEYS:
        sub = config.get(key)
        if isinstance(sub, dict):
            return sub
    return config


def _layer(d: Mapping[str, Any], theta: Any = None, partial: Any = None) -> dict[str, Any]:
    out = {k: v for k, v in d.items() if k not in ROPE_NOISE}
    kind = d.get("rope_type", d.get("type", "default"))
    out["rope_type"] = TYPE_ALIASES.get(kind, kind)
    if theta is not None:
        out.setdefault("rope_theta", theta)
    if partial is not None:
        out.setdefault("partial_rotary_factor", partial)
    return out


def rope_v5(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{layer type: RoPE} as transformers 5 reads a config (dict or attributes) with rope_parameters."""
    rope = config.get("rope_parameters") or {}
    model_type = config.get("model_type") or ""
    theta_key, partial_key = compat.ROPE_FIELD_NAMES.get(model_type, compat.GENERIC_ROPE_FIELDS)
    if compat.is_nested(rope):
        return {lt: _layer(d) for lt, d in sorted(rope.items()) if isinstance(d, dict)}
    return {"full_attention": _layer(rope, config.get(theta_key), config.get(partial_key))} if rope else {}


def rope_v4(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """{layer type: RoPE} as transformers 4.57 reads a config's rope_theta / rope_scaling / ... fields."""
    model_type = config.get("model_type") or ""
    theta_key, partial_key = compat.ROPE_FIELD_NAMES.get(model_type, compat.GENERIC_ROPE_FIELDS)
    theta = config.get(theta_key)
    if theta is None and not config.get("rope_scaling"):
        return {}
    full = _layer(config.get("rope_scaling") or {}, theta, config.get(partial_key))
    legacy = compat.LEGACY_SCALING.get(model_type)
    if legacy is not None and full["rope_type"] not in compat.PLAIN_ROPE_TYPES:
        # Phi-3's original_max_position_embeddings lives at the top in 4.x, inside rope_parameters in 5.x.
        full.update((k, config[k]) for k in legacy.top_level if config.get(k) is not None)
    out = {"full_attention": full}
    if model_type in compat.NESTED_ROPE:
        sliding_key = compat.NESTED_ROPE[model_type]
        base = config.get(sliding_key) if sliding_key else theta
        if base is not None:
            out["sliding_attention"] = {"rope_type": "default", "rope_theta": base}
    return out


def _token_ids(tokenizer_json: Mapping[str, Any] | None) -> dict[str, int]:
    if not isinstance(tokenizer_json, dict):
        return {}
    ids: dict[str, int] = {}
    vocab = (tokenizer_json.get("model") or {}).get("vocab")
    if isinstance(vocab, dict):
        ids.update((k, v) for k, v in vocab.items() if isinstance(v, int))
    elif isinstance(vocab, list):  # Unigram: [[piece, score], ...]
        ids.update((item[0], i) for i, item in enumerate(vocab) if isinstance(item, list) and item and isinstance(item[0], str))
    for added in tokenizer_json.get("added_tokens") or []:
        if isinstance(added, dict) and isinstance(added.get("content"), str) and isinstance(added.get("id"), int):
            ids[added["content"]] = added["id"]
    return ids


def expected(files: Mapping[str, Any]) -> dict[str, Any]:
    """The snapshot's meaning, as transformers 5 reads it (config.json, tokenizer_config.json, tokenizer.json)."""
    view: dict[str, Any] = {}
    config = files.get(compat.CONFIG)
    if isinstance(config, dict):
        text = text_config(config)
        view["rope"] = rope_v5(text) if "rope_parameters" in text else rope_v4(text)
        if isinstance(text.get("max_position_embeddings"), int):
            view["max_position_embeddings"] = text["max_position_embeddings"]
    tc = files.get(compat.TOKENIZER_CONFIG)
    if isinstance(tc, dict):
        ids = _token_ids(files.get(compat.TOKENIZER_JSON))
        special = {}
        for name in ("bos_token", "eos_token", "unk_token", "pad_token"):
            text_ = compat.token_text(tc.get(name))
            if text_ is not None:
                special[name] = [text_, ids.get(text_)]
        view["special"] = special
        extra = tc.get("extra_special_tokens")
        if not isinstance(extra, list) or not extra:
            extra = tc.get("additional_special_tokens") or []
        view["extra"] = sorted([t, ids.get(t)] for t in map(compat.token_text, extra) if t is not None)
    return view


def served(probe: Mapping[str, Any]) -> dict[str, Any]:
    """What the serving interpreter read (model_probe.py's JSON), in expected()'s form."""
    view: dict[str, Any] = {}
    major = int(str(probe.get("transformers", "0")).split(".")[0] or 0)
    config = probe.get("config") or {}
    attrs = config.get("attrs")
    if isinstance(attrs, dict):
        view["rope"] = rope_v5(attrs) if major >= 5 and attrs.get("rope_parameters") else rope_v4(attrs)
        if isinstance(attrs.get("max_position_embeddings"), int):
            view["max_position_embeddings"] = attrs["max_position_embeddings"]
        view["context_length"] = config.get("context_length")
    tok = probe.get("tokenizer") or {}
    if "special" in tok:
        view["special"] = {k: v for k, v in tok["special"].items() if k in ("bos_token", "eos_token", "unk_token", "pad_token")}
        view["extra"] = sorted(tok.get("extra") or [])
    return view


def rope_differences(want: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    lines = []
    for layer, params in want.items():
        have = got.get(layer)
        if have is None:
            lines.append(f"RoPE of {layer} layers: not read at all (the snapshot says {params})")
            continue
        for key, value in params.items():
            if have.get(key) != value and not (key == "rope_type" and TYPE_ALIASES.get(have.get(key)) == value):
                lines.append(f"RoPE {key} of {layer} layers: read {have.get(key)!r}, the snapshot says {value!r}")
    return lines


def differences(want: Mapping[str, Any], got: Mapping[str, Any]) -> list[str]:
    """One line per field the served reading gets wrong; only fields the snapshot states are compared."""
    lines = rope_differences(want.get("rope") or {}, got.get("rope") or {}) if "rope" in got else []
    if "max_position_embeddings" in want and "max_position_embeddings" in got and want["max_position_embeddings"] != got["max_position_embeddings"]:
        lines.append(f"max_position_embeddings: read {got['max_position_embeddings']}, the snapshot says {want['max_position_embeddings']}")
    if "special" in got:
        for name, pair in (want.get("special") or {}).items():
            have = got["special"].get(name)
            if have is None or have[0] != pair[0] or (pair[1] is not None and have[1] != pair[1]):
                lines.append(f"{name}: read {have!r}, the snapshot says {pair!r}")
        want_extra = {tuple(p) for p in want.get("extra") or []}
        have_extra = {tuple(p) for p in got.get("extra") or []}
        missing = sorted(p for p in want_extra if not any(h[0] == p[0] and (p[1] is None or h[1] == p[1]) for h in have_extra))
        if missing:
            lines.append(f"extra special tokens not read as such: {', '.join(f'{t!r} (id {i})' for t, i in missing[:5])}")
    return lines
