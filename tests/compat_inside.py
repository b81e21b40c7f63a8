"""Run INSIDE a release's interpreter (sglang_support.call_in): save model files with that release's transformers.

Standard library, tokenizers, torch and transformers only; paths in, JSON out.
"""

import json
import os


def save(jobs):
    """For each [src, dst]: load src's config and tokenizer with this transformers and save them to dst,
    as `save_pretrained` writes them (what a checkpoint published with this release holds).
    Returns [[files written, "transformers X"], ...], an {"error": ...} for a case that fails."""
    import transformers
    from transformers import AutoConfig, AutoTokenizer

    out = []
    for src, dst in jobs:
        try:
            if os.path.exists(os.path.join(src, "config.json")):
                AutoConfig.from_pretrained(src).save_pretrained(dst)
            if os.path.exists(os.path.join(src, "tokenizer_config.json")):
                AutoTokenizer.from_pretrained(src).save_pretrained(dst)
            out.append(sorted(os.listdir(dst)) + ["transformers " + transformers.__version__])
        except Exception as exc:  # the test reports it by case
            out.append({"error": f"{type(exc).__name__}: {exc}"})
    return out


CORPUS = ["The quick brown fox jumps over the lazy dog.", "What is the capital of France? The capital of France is Paris.",
          "Water boils at 100 degrees Celsius; a week has 7 days.", "def add(a, b):\n    return a + b\n"] * 16
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")


def make_tiny_model(dst, kind="llama", seed=0):
    """A tiny model with random weights, saved by THIS transformers (run it in SGLang 0.5.23's folder): the
    end-to-end parity fixture. Returns the compat rules its files need on transformers 4.

    llama: RoPE base 500000 with llama3 scaling in rope_parameters, a TokenizersBackend tokenizer with
    <|im_start|>/<|im_end|> as extra special tokens and a ChatML template (rope-theta, rope-scaling,
    tokenizer-class, extra-special-tokens). gemma3: Gemma 3 text, RoPE per layer type (base 1e6 with linear
    scaling x2 on full layers, 10000 on sliding layers, window 64) and a GemmaTokenizer (a named v4 class)
    with extra special tokens (rope-theta, rope-scaling, rope-per-layer-type, extra-special-tokens).
    """
    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] if kind == "llama" else ["<pad>", "<eos>", "<bos>", "<unk>",
                                                                                           "<start_of_turn>", "<end_of_turn>"]
    if kind == "llama":  # byte-level BPE, as Llama 3 / Qwen ship
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:  # Gemma's own pipeline (v5 models/gemma/tokenization_gemma.py builds exactly this from vocab and merges)
        tok = Tokenizer(models.BPE(byte_fallback=True, fuse_unk=True, unk_token="<unk>"))
        tok.normalizer = normalizers.Replace(" ", "\u2581")
        tok.pre_tokenizer = pre_tokenizers.Split(pattern=" ", behavior="merged_with_previous", invert=False)
        tok.decoder = decoders.Sequence([decoders.Replace("\u2581", " "), decoders.ByteFallback(), decoders.Fuse()])
        alphabet = []
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=512, special_tokens=specials, initial_alphabet=alphabet))
    torch.manual_seed(seed)
    small = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2,
                 head_dim=16, max_position_embeddings=4096, vocab_size=tok.get_vocab_size())
    if kind == "llama":
        tokenizer = transformers.PreTrainedTokenizerFast(
            tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
            extra_special_tokens=["<|im_start|>", "<|im_end|>"], chat_template=CHATML, model_max_length=4096)
        config = transformers.LlamaConfig(
            **small, bos_token_id=tok.token_to_id("<|im_start|>"), eos_token_id=tok.token_to_id("<|im_end|>"),
            rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                             "high_freq_factor": 4.0, "original_max_position_embeddings": 512})
        model = transformers.LlamaForCausalLM(config)
    elif kind == "gemma3":
        trained = json.loads(tok.to_str())["model"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
        tokenizer = transformers.GemmaTokenizer(
            vocab=trained["vocab"], merges=merges, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>", unk_token="<unk>",
            extra_special_tokens=["<start_of_turn>", "<end_of_turn>"], model_max_length=4096)
        config = transformers.Gemma3TextConfig(
            **small, sliding_window=64, layer_types=["sliding_attention", "full_attention"] * 2,
            bos_token_id=tok.token_to_id("<bos>"), eos_token_id=tok.token_to_id("<eos>"), pad_token_id=tok.token_to_id("<pad>"),
            rope_parameters={"full_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 1000000.0},
                             "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0}})
        model = transformers.Gemma3ForCausalLM(config)
    else:
        raise ValueError(f"kind {kind!r}: expected llama or gemma3")
    model.to(torch.bfloat16).save_pretrained(dst)
    tokenizer.save_pretrained(dst)
    return sorted(os.listdir(dst)) + ["transformers " + transformers.__version__]
