"""Read a model directory as SGLang does, inside the SERVING interpreter; print one JSON line.

Runs as `SGLANG_PYTHON -c <this file's text> DIR [OPTIONS_JSON]` with the serving
environment (PYTHONPATH), so it must not import anything of ours: standard
library first, then transformers and, when present, SGLang's own loaders
(get_config / get_hf_text_config / get_context_length / get_tokenizer, the
functions SGLang's ModelConfig and tokenizer manager call). The tests load the
same file into the real SGLang 0.5.9 and 0.5.23 environments.

Output: {"ok": true, "transformers": "4.57.1", "sglang": "0.5.9" | null,
"config": {...} | {"error": "..."}, "tokenizer": {...} | {"error": "..."}};
on any failure outside those two, {"ok": false, "error": "Type: message"}.
Never a traceback: the caller turns the JSON into one line.
"""

import json
import os
import sys

# Attributes SGLang reads from the (text) config; absent ones are left out.
CONFIG_ATTRS = (
    "model_type", "architectures", "rope_theta", "rope_scaling", "rope_parameters", "partial_rotary_factor",
    "rope_local_base_freq", "rotary_emb_base", "rotary_pct", "max_position_embeddings", "original_max_position_embeddings",
    "head_dim", "hidden_size", "intermediate_size", "num_attention_heads", "num_key_value_heads", "num_hidden_layers",
    "vocab_size", "sliding_window", "layer_types", "full_attention_interval", "torch_dtype", "tie_word_embeddings",
    "bos_token_id", "eos_token_id", "pad_token_id", "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim",
    "v_head_dim", "attention_chunk_size",
)
NAMED_TOKENS = ("bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token")


def _safe(value):
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _safe(v) for k, v in value.items()}
    text = str(value)
    return text[len("torch."):] if text.startswith("torch.") else text


def _error(exc):
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


def _sglang():
    try:
        from sglang.srt.utils import hf_transformers_utils as hf
        return hf
    except Exception:  # no SGLang here (or it does not import): read with transformers alone
        return None


def read_config(path, hf):
    if hf is not None:
        config = hf.get_config(path, trust_remote_code=False)
        text = hf.get_hf_text_config(config)
        context = hf.get_context_length(text)
    else:
        from transformers import AutoConfig
        config = AutoConfig.from_pretrained(path)
        text = config.get_text_config()
        context = None
    attrs = {}
    for name in CONFIG_ATTRS:
        try:
            value = getattr(text, name)
        except Exception:  # v5 configs raise on some removed attributes (rope_theta)
            continue
        attrs[name] = _safe(value)
    pattern = None
    try:
        pattern = _safe(getattr(text, "layers_block_type"))  # SGLang's hybrid configs (Qwen3-Next)
    except Exception:
        pass
    return {"class": type(config).__name__, "text_class": type(text).__name__, "attrs": attrs,
            "context_length": context, "layers_block_type": pattern}


def _extra_tokens(tok):
    extra = getattr(tok, "extra_special_tokens", None)  # v5: a list; 4.57: a dict of named tokens
    if not isinstance(extra, (list, tuple)):
        extra = getattr(tok, "additional_special_tokens", None) or []
    return [str(t) for t in extra]


def read_tokenizer(path, hf, texts, chats):
    if hf is not None:
        tok = hf.get_tokenizer(path, trust_remote_code=False)
    else:
        from transformers import AutoTokenizer
        tok = AutoTokenizer.from_pretrained(path)
    special = {}
    for name in NAMED_TOKENS:
        value = getattr(tok, name, None)
        if value is not None:
            special[name] = [str(value), _safe(getattr(tok, name + "_id", None))]
    extra = _extra_tokens(tok)
    out = {
        "class": type(tok).__name__,
        "special": special,
        "extra": [[t, _safe(tok.convert_tokens_to_ids(t))] for t in extra],
        "all_special": sorted(str(t) for t in tok.all_special_tokens),
        "all_special_ids": sorted(int(i) for i in tok.all_special_ids),
        "len": len(tok),
        "vocab_size": tok.vocab_size,
        "chat_template": tok.chat_template if isinstance(tok.chat_template, str) else _safe(tok.chat_template),
        "encodings": [list(tok.encode(t)) for t in texts],
    }
    out["decodings"] = [tok.decode(ids) for ids in out["encodings"]]
    rendered = []
    for messages in chats:
        try:
            rendered.append(tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        except Exception as exc:
            rendered.append({"error": _error(exc)})
    out["chats"] = rendered
    return out


def read(path, texts=(), chats=()):
    """What SGLang's loaders make of the model directory `path` (see the module docstring)."""
    import transformers

    hf = _sglang()
    sglang_version = None
    if hf is not None:
        try:
            from importlib.metadata import version
            sglang_version = version("sglang")
        except Exception:
            sglang_version = getattr(sys.modules.get("sglang"), "__version__", None)
    result = {"ok": True, "transformers": transformers.__version__, "sglang": sglang_version,
              "reader": "sglang" if hf is not None else "transformers"}
    for key, fn in (("config", lambda: read_config(path, hf)), ("tokenizer", lambda: read_tokenizer(path, hf, texts, chats))):
        try:
            result[key] = fn()
        except Exception as exc:
            result[key] = {"error": _error(exc)}
    return result


def main(argv):
    # Anything the libraries print goes to stderr; stdout carries only our one JSON line.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        options = json.loads(argv[2]) if len(argv) > 2 else {}
        result = read(argv[1], options.get("texts", ()), options.get("chats", ()))
    except BaseException as exc:  # noqa: BLE001 - one JSON line, never a traceback
        result = {"ok": False, "error": _error(exc)}
    out.write(json.dumps(result) + "\n")
    out.flush()


if __name__ == "__main__":
    main(sys.argv)
