"""transformers-5 files -> what transformers 4.57 reads with the same meaning: the one pure function that applies
the rules of compat_rules.py (dict in, dict out, plus the rules it applied), refusing what 4.57 cannot express.

SGLang <= 0.5.9 runs on transformers 4.57; checkpoints are now saved by transformers 5. The shadow writer
(shim.py) and the flake's build-time fix (nix/bundle.py) both call translate(). Standard library only: the
Nix bundle builder loads this module and compat_rules.py alone.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Mapping

from .compat_rules import (  # noqa: F401  (the rules' names are compat's public vocabulary)
    COMPAT_CLASS,
    CONFIG,
    FACTOR_ONLY,
    FILES,
    GENERIC_ROPE_FIELDS,
    INTERVAL_MODELS,
    LEGACY_SCALING,
    LONGROPE_ONLY,
    LegacyScaling,
    NESTED_ROPE,
    PLAIN_ROPE_TYPES,
    ROPE_FIELD_NAMES,
    ROPE_INTERNAL,
    RULES,
    RULE_IDS,
    Rule,
    SERVED_BY,
    SUBCONFIG_TYPES,
    TIE_IN_TEXT_CONFIG,
    TOKENIZERS_BACKEND,
    TOKENIZER_CONFIG,
    TOKENIZER_JSON,
    TYPE_KEYS,
    UNCHANGED,
    V4,
    V5,
    V5_ONLY_ROPE_TYPES,
)


@dataclass(frozen=True)
class Refusal:
    file: str
    field: str
    reason: str

    def line(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}; only {SERVED_BY} reads it as written"


class Refused(Exception):
    def __init__(self, refusal: Refusal):
        self.refusal = refusal
        super().__init__(refusal.line())


@dataclass(frozen=True)
class Translation:
    files: dict[str, dict[str, Any]]  # only the files that change, with their new content
    applied: tuple[str, ...]  # "<rule id>: <file> <field>", in file order
    refused: tuple[Refusal, ...] = ()

    @property
    def rule_ids(self) -> tuple[str, ...]:
        seen = dict.fromkeys(a.split(":", 1)[0] for a in self.applied)
        return tuple(r for r in RULE_IDS if r in seen)


@dataclass
class _Log:
    applied: list[str] = field(default_factory=list)

    def add(self, rule: str, file: str, where: str) -> None:
        self.applied.append(f"{rule}: {file} {where}")


# ---------------------------------------------------------------- config.json

def _canon_type(d: Mapping[str, Any]) -> str:
    value = d.get("rope_type", d.get("type", "default"))
    return value if isinstance(value, str) else "default"


def scaling_of(rope: Mapping[str, Any]) -> dict[str, Any] | None:
    """rope_parameters (one layer type) -> the rope_scaling 4.57 reads; None when there is no scaling to state."""
    rest = {k: v for k, v in rope.items() if k not in ROPE_INTERNAL}
    if _canon_type(rest) in PLAIN_ROPE_TYPES and not (set(rest) - set(TYPE_KEYS)):
        return None
    out = dict(rest)
    out["rope_type"] = _canon_type(rest)
    return out


def same_scaling(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> bool:
    """Equal as 4.57 reads them: `type` is an alias of `rope_type`; an empty or default-only dict is no scaling."""
    def norm(d):
        if not d:
            return None
        if not isinstance(d, dict):
            return ("not a JSON object", json.dumps(d))
        s = scaling_of(d)
        return None if s is None else {**{k: v for k, v in s.items() if k not in TYPE_KEYS}, "rope_type": _canon_type(s)}
    return norm(a) == norm(b)


def _set(config: dict[str, Any], key: str, value: Any, rule: str, where: str, log: _Log, path: str) -> None:
    """Write a v4 field; a different value already there is a conflict the two releases would read differently."""
    # A null rope_scaling states nothing: v5 reads `rope_scaling or rope_parameters`, v4 reads no scaling.
    if key in config and not (key == "rope_scaling" and config[key] is None):
        old = config[key]
        same = same_scaling(old, value) if key == "rope_scaling" else old == value
        if not same:
            raise Refused(Refusal(CONFIG, f"{path}{key}",
                                  f"{json.dumps(old)[:80]} contradicts {path}{where} ({json.dumps(value)[:80]})"))
        return
    if value is None:
        return
    config[key] = value
    log.add(rule, CONFIG, f"{path}{where} -> {path}{key}")


def _flat_rope(config: dict[str, Any], rope: dict[str, Any], model_type: str, log: _Log, path: str) -> None:
    theta_key, partial_key = ROPE_FIELD_NAMES.get(model_type, GENERIC_ROPE_FIELDS)
    where = f"{path}rope_parameters"
    kind = _canon_type(rope)
    if kind in V5_ONLY_ROPE_TYPES:
        raise Refused(Refusal(CONFIG, f"{where}.rope_type", f"{kind!r} RoPE has no transformers 4.x form"))
    if "rope_theta" not in rope and theta_key not in config:
        raise Refused(Refusal(CONFIG, f"{where}.rope_theta", "absent, and the default base differs by architecture and release"))
    if "rope_theta" in rope:
        _set(config, theta_key, rope["rope_theta"], "rope-theta", "rope_parameters.rope_theta", log, path)
    if "partial_rotary_factor" in rope:
        _set(config, partial_key, rope["partial_rotary_factor"], "partial-rotary", "rope_parameters.partial_rotary_factor", log, path)
    scaling = scaling_of(rope)
    legacy = LEGACY_SCALING.get(model_type)
    if scaling is not None and legacy is not None:
        scaling = _legacy_scaling(config, scaling, legacy, model_type, log, path)
    if "rope_scaling" in config or scaling is not None:
        _set(config, "rope_scaling", scaling, "rope-scaling", "rope_parameters", log, path)


def _legacy_scaling(config: dict[str, Any], scaling: dict[str, Any], legacy: LegacyScaling, model_type: str,
                    log: _Log, path: str) -> dict[str, Any]:
    for key in legacy.top_level:
        if key in scaling:
            _set(config, key, scaling[key], "rope-scaling", f"rope_parameters.{key}", log, path)
    rest = {k: v for k, v in scaling.items() if k not in (*TYPE_KEYS, *legacy.top_level)}
    if set(rest) != set(legacy.keys):
        raise Refused(Refusal(CONFIG, f"{path}rope_parameters",
                              f"keys {sorted(rest)}: {V4}'s {model_type} config accepts exactly "
                              f"{sorted({legacy.type_key, *legacy.keys})} in rope_scaling"))
    return {legacy.type_key: _canon_type(scaling), **rest}


def _nested_rope(config: dict[str, Any], rope: dict[str, Any], layer_types: list[str], model_type: str,
                 log: _Log, path: str) -> None:
    where = f"{path}rope_parameters"
    if model_type not in NESTED_ROPE:
        raise Refused(Refusal(CONFIG, where, f"RoPE per layer type ({', '.join(layer_types)}) for model_type "
                              f"{model_type or '(none)'!r} has no transformers 4.x form"))
    if set(rope) != {"full_attention", "sliding_attention"} or not all(isinstance(v, dict) for v in rope.values()):
        raise Refused(Refusal(CONFIG, where, f"layer types {sorted(rope)}: transformers 4.x knows only full_attention and sliding_attention as dicts"))
    full, sliding = rope["full_attention"], rope["sliding_attention"]
    if _canon_type(sliding) != "default" or set(sliding) - {"rope_theta", *TYPE_KEYS}:
        raise Refused(Refusal(CONFIG, f"{where}.sliding_attention", "RoPE scaling on sliding layers has no transformers 4.x form"))
    if "rope_theta" not in full or "rope_theta" not in sliding:
        raise Refused(Refusal(CONFIG, where, "a layer type without rope_theta: the default base differs by architecture and release"))
    sliding_key = NESTED_ROPE[model_type]
    if sliding_key is None and sliding["rope_theta"] != full["rope_theta"]:
        raise Refused(Refusal(CONFIG, f"{where}.sliding_attention.rope_theta",
                              f"{sliding['rope_theta']} differs from full_attention's {full['rope_theta']}; "
                              f"transformers 4.x gives {model_type} one base"))
    before = len(log.applied)
    _flat_rope(config, full, model_type, log, path)
    if sliding_key is not None:
        _set(config, sliding_key, sliding["rope_theta"], "rope-per-layer-type", "rope_parameters.sliding_attention.rope_theta", log, path)
    if len(log.applied) > before:
        log.add("rope-per-layer-type", CONFIG, f"{where}.full_attention -> {path}rope_theta, {path}rope_scaling")


def _interval(config: dict[str, Any], log: _Log, path: str) -> None:
    types = config.get("layer_types")
    if "full_attention_interval" in config or not isinstance(types, list) or not types:
        return
    full = [i for i, t in enumerate(types) if t == "full_attention"]
    k = full[0] + 1 if full else 0
    periodic = k > 0 and all(t == ("full_attention" if (i + 1) % k == 0 else "linear_attention") for i, t in enumerate(types))
    if not periodic:
        raise Refused(Refusal(CONFIG, f"{path}layer_types", "no fixed full_attention_interval gives this layer pattern"))
    config["full_attention_interval"] = k
    log.add("attention-interval", CONFIG, f"{path}layer_types -> {path}full_attention_interval")


def _tie(config: dict[str, Any], log: _Log, path: str) -> None:
    text, tie = config.get("text_config"), config.get("tie_word_embeddings")
    if not isinstance(text, dict) or not isinstance(tie, bool):
        return
    if "tie_word_embeddings" not in text:
        text["tie_word_embeddings"] = tie
        log.add("tie-word-embeddings", CONFIG, f"{path}tie_word_embeddings -> {path}text_config.tie_word_embeddings")
    elif tie and text["tie_word_embeddings"] is False:
        # v5 ties when either says so; 4.57 reads text_config's.
        raise Refused(Refusal(CONFIG, f"{path}text_config.tie_word_embeddings", f"false contradicts {path}tie_word_embeddings (true)"))


def is_nested(rope: Mapping[str, Any]) -> bool:
    """Keyed by layer type (v5 modeling_rope_utils nested_rope_parameter_keys): every value a dict or null.

    A flat rope_parameters always holds a scalar (rope_type, rope_theta), so this never takes one for nested.
    """
    return bool(rope) and all(isinstance(v, dict) or v is None for v in rope.values())


def _config(config: dict[str, Any], model_type: str, log: _Log, path: str) -> None:
    model_type = config.get("model_type") if isinstance(config.get("model_type"), str) else model_type
    rope = config.get("rope_parameters")
    if rope is not None:
        if not isinstance(rope, dict):
            raise Refused(Refusal(CONFIG, f"{path}rope_parameters", f"a JSON object, not {type(rope).__name__}"))
        if is_nested(rope):
            _nested_rope(config, rope, sorted(rope), model_type, log, path)
        elif rope:
            _flat_rope(config, rope, model_type, log, path)
    if model_type in INTERVAL_MODELS:
        _interval(config, log, path)
    if model_type in TIE_IN_TEXT_CONFIG:
        _tie(config, log, path)
    for key, value in list(config.items()):
        if key.endswith("_config") and isinstance(value, dict):
            _config(value, SUBCONFIG_TYPES.get((model_type, key), ""), log, f"{path}{key}.")


def translate_config(config: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """config.json as transformers 5 wrote it -> the same meaning for 4.57; raises Refused."""
    out = copy.deepcopy(dict(config))
    log = _Log()
    _config(out, "", log, "")
    return out, log.applied


# ---------------------------------------------------------------- tokenizer_config.json

def token_text(value: Any) -> str | None:
    """A special token as written: a string or an AddedToken dict ({"content": ...})."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def translate_tokenizer_config(tc: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """tokenizer_config.json as transformers 5 wrote it -> the same meaning for 4.57; raises Refused."""
    out = copy.deepcopy(dict(tc))
    log = _Log()
    if out.get("tokenizer_class") == TOKENIZERS_BACKEND:
        out["tokenizer_class"] = COMPAT_CLASS
        log.add("tokenizer-class", TOKENIZER_CONFIG, f"tokenizer_class {TOKENIZERS_BACKEND} -> {COMPAT_CLASS}")
    extra = out.get("extra_special_tokens")
    if isinstance(extra, list):
        old = out.get("additional_special_tokens")
        old_texts = [token_text(t) for t in old] if isinstance(old, list) else old
        if old is not None and old_texts != [token_text(t) for t in extra] and extra:
            raise Refused(Refusal(TOKENIZER_CONFIG, "additional_special_tokens",
                                  f"{json.dumps(old)[:80]} contradicts extra_special_tokens ({json.dumps(extra)[:80]})"))
        del out["extra_special_tokens"]
        if extra:
            out["additional_special_tokens"] = extra
        log.add("extra-special-tokens", TOKENIZER_CONFIG, "extra_special_tokens [list] -> additional_special_tokens")
    return out, log.applied


# ---------------------------------------------------------------- the whole snapshot

def translate(files: Mapping[str, Any]) -> Translation:
    """{file name: parsed JSON or None} -> the files to rewrite, the rules applied, what is refused.

    `files` holds config.json and tokenizer_config.json; an absent or non-object file is skipped.
    """
    changed: dict[str, dict[str, Any]] = {}
    applied: list[str] = []
    refused: list[Refusal] = []
    for name, translate_file in ((CONFIG, translate_config), (TOKENIZER_CONFIG, translate_tokenizer_config)):
        content = files.get(name)
        if not isinstance(content, dict):
            continue
        try:
            new, log = translate_file(content)
        except Refused as exc:
            refused.append(exc.refusal)
            continue
        if new != content:
            changed[name] = new
        applied += log
    return Translation(changed, tuple(applied), tuple(refused))


def render(content: Mapping[str, Any]) -> str:
    """The JSON text written for a translated file (key order as in the source)."""
    return json.dumps(content, indent=2, ensure_ascii=False) + "\n"
