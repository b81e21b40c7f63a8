"""Real architectures' files in transformers-4 form, for the differential compat tests.

Configs: the published config.json of each model, written from its Hub page
(no Hub access here, so field for field from the published files as the
model cards and public test suites quote them; every field that bears on
RoPE, context length, heads and special-token ids is as published; a few
unrelated fields are left out). Tokenizers: trained here with the
`tokenizers` library, with the tokenizer_config.json each family publishes
(class, special tokens, flags, chat template). Nothing is downloaded.

Each case is saved by transformers 5.19 (SGLang 0.5.23's folder), then
translated and read by transformers 4.57.1 (SGLang 0.5.9's folder).
"""

from __future__ import annotations

import json
from pathlib import Path

CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
          "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA3_CHAT = ("{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
               " + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
               "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
GEMMA_CHAT = ("{{ bos_token }}{% for message in messages %}{{ '<start_of_turn>' + ('model' if message['role'] == 'assistant' else 'user')"
              " + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
              "{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "What is the capital of France? The capital of France is Paris.",
    "Water boils at 100 degrees Celsius; a week has 7 days.",
    "def add(a, b):\n    return a + b\n",
    "naïve café, 東京 and Zürich: unicode is fine.",
] * 8

TEXTS = [
    "Hello world! What is the capital of France?",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>",
    "<start_of_turn>user\nhi<end_of_turn>",
    "  leading spaces,\nnew lines\tand tabs  ",
    "naïve café 東京",
]
CHATS = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 2+2?"}]]

# ---------------------------------------------------------------- configs (transformers-4 form, as published)

LLAMA_3_1_8B = {  # meta-llama/Llama-3.1-8B-Instruct
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 128000,
    "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 14336, "max_position_embeddings": 131072, "mlp_bias": False, "model_type": "llama",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192,
                     "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.43.0.dev0",
    "use_cache": True, "vocab_size": 128256,
}
QWEN3_8B = {  # Qwen/Qwen3-8B
    "architectures": ["Qwen3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02,
    "intermediate_size": 12288, "max_position_embeddings": 40960, "max_window_layers": 36, "model_type": "qwen3",
    "num_attention_heads": 32, "num_hidden_layers": 36, "num_key_value_heads": 8, "rms_norm_eps": 1e-06, "rope_scaling": None,
    "rope_theta": 1000000, "sliding_window": None, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.51.0", "use_cache": True, "use_sliding_window": False, "vocab_size": 151936,
}
# Qwen3's model card: YaRN for 131072 tokens, rope_scaling added to config.json as below.
QWEN3_8B_YARN = {**QWEN3_8B, "max_position_embeddings": 131072,
                 "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32768}}
QWEN2_5_7B_YARN = {  # Qwen/Qwen2.5-7B-Instruct with the model card's YaRN block (legacy "type" key)
    "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151645,
    "hidden_act": "silu", "hidden_size": 3584, "initializer_range": 0.02, "intermediate_size": 18944,
    "max_position_embeddings": 32768, "max_window_layers": 28, "model_type": "qwen2", "num_attention_heads": 28,
    "num_hidden_layers": 28, "num_key_value_heads": 4, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
    "rope_scaling": {"factor": 4.0, "original_max_position_embeddings": 32768, "type": "yarn"},
    "sliding_window": 131072, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "transformers_version": "4.43.1",
    "use_cache": True, "use_sliding_window": False, "vocab_size": 152064,
}
DEEPSEEK_V3 = {  # deepseek-ai/DeepSeek-V3 (auto_map left out: no remote code here)
    "architectures": ["DeepseekV3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 0,
    "eos_token_id": 1, "ep_size": 1, "first_k_dense_replace": 3, "hidden_act": "silu", "hidden_size": 7168,
    "initializer_range": 0.02, "intermediate_size": 18432, "kv_lora_rank": 512, "max_position_embeddings": 163840,
    "model_type": "deepseek_v3", "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256,
    "n_shared_experts": 1, "norm_topk_prob": True, "num_attention_heads": 128, "num_experts_per_tok": 8,
    "num_hidden_layers": 61, "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "q_lora_rank": 1536,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
    "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8", "weight_block_size": [128, 128]},
    "rms_norm_eps": 1e-06,
    "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                     "original_max_position_embeddings": 4096, "type": "yarn"},
    "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": True,
    "tie_word_embeddings": False, "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
    "transformers_version": "4.33.1", "use_cache": True, "v_head_dim": 128, "vocab_size": 129280,
}
GEMMA_3_1B = {  # google/gemma-3-1b-it
    "architectures": ["Gemma3ForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "attn_logit_softcapping": None,
    "bos_token_id": 2, "cache_implementation": "hybrid", "eos_token_id": [1, 106], "final_logit_softcapping": None,
    "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152, "initializer_range": 0.02,
    "intermediate_size": 6912, "max_position_embeddings": 32768, "model_type": "gemma3_text", "num_attention_heads": 4,
    "num_hidden_layers": 26, "num_key_value_heads": 1, "pad_token_id": 0, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000, "rope_scaling": None, "rope_theta": 1000000,
    "sliding_window": 512, "sliding_window_pattern": 6, "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
    "use_cache": True, "vocab_size": 262144,
}
GEMMA_3_4B = {  # google/gemma-3-4b-it: linear RoPE scaling x8 on the global layers
    "architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999, "eoi_token_index": 256000,
    "eos_token_id": [1, 106], "image_token_index": 262144, "initializer_range": 0.02, "mm_tokens_per_image": 256,
    "model_type": "gemma3",
    "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text", "num_hidden_layers": 34,
                    "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024},
    "torch_dtype": "bfloat16", "transformers_version": "4.50.0.dev0",
    "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304, "model_type": "siglip_vision_model",
                      "num_attention_heads": 16, "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": False},
}
PHI_3_MINI_128K = {  # microsoft/Phi-3-mini-128k-instruct (LongRoPE factors shortened to the right length, 48)
    "architectures": ["Phi3ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "embd_pdrop": 0.0,
    "eos_token_id": 32000, "hidden_act": "silu", "hidden_size": 3072, "initializer_range": 0.02, "intermediate_size": 8192,
    "max_position_embeddings": 131072, "model_type": "phi3", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 32, "original_max_position_embeddings": 4096, "pad_token_id": 32000, "resid_pdrop": 0.0,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"long_factor": [1.0 + i / 16 for i in range(48)], "short_factor": [1.0 + i / 64 for i in range(48)],
                     "type": "longrope"},
    "rope_theta": 10000.0, "sliding_window": 262144, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    "transformers_version": "4.40.2", "use_cache": True, "vocab_size": 32064,
}
PHI_2 = {  # microsoft/phi-2: partial rotary 0.4 (4.57's PhiConfig default is 0.5)
    "architectures": ["PhiForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 50256, "embd_pdrop": 0.0,
    "eos_token_id": 50256, "hidden_act": "gelu_new", "hidden_size": 2560, "initializer_range": 0.02,
    "intermediate_size": 10240, "layer_norm_eps": 1e-05, "max_position_embeddings": 2048, "model_type": "phi",
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32, "partial_rotary_factor": 0.4,
    "qk_layernorm": False, "resid_pdrop": 0.1, "rope_scaling": None, "rope_theta": 10000.0, "tie_word_embeddings": False,
    "torch_dtype": "float16", "transformers_version": "4.37.0", "use_cache": True, "vocab_size": 51200,
}
PYTHIA_1B = {  # EleutherAI/pythia-1b: GPT-NeoX names its RoPE fields rotary_emb_base / rotary_pct
    "architectures": ["GPTNeoXForCausalLM"], "bos_token_id": 0, "eos_token_id": 0, "hidden_act": "gelu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 8192, "layer_norm_eps": 1e-05,
    "max_position_embeddings": 2048, "model_type": "gpt_neox", "num_attention_heads": 8, "num_hidden_layers": 16,
    "rotary_emb_base": 10000, "rotary_pct": 0.25, "tie_word_embeddings": False, "torch_dtype": "float16",
    "transformers_version": "4.24.0", "use_cache": True, "use_parallel_residual": True, "vocab_size": 50304,
}
QWEN2_5_VL_3B = {  # Qwen/Qwen2.5-VL-3B-Instruct: M-RoPE sections in rope_scaling
    "architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151645, "vision_start_token_id": 151652, "vision_end_token_id": 151653, "vision_token_id": 151654,
    "image_token_id": 151655, "video_token_id": 151656, "hidden_act": "silu", "hidden_size": 2048,
    "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 128000, "max_window_layers": 70,
    "model_type": "qwen2_5_vl", "num_attention_heads": 16, "num_hidden_layers": 36, "num_key_value_heads": 2,
    "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": True,
    "torch_dtype": "bfloat16", "transformers_version": "4.41.2", "use_cache": True, "use_sliding_window": False,
    "vision_config": {"depth": 32, "hidden_act": "silu", "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
                      "in_chans": 3, "out_hidden_size": 2048, "patch_size": 14, "spatial_merge_size": 2,
                      "spatial_patch_size": 14, "window_size": 112, "fullatt_block_indexes": [7, 15, 23, 31],
                      "tokens_per_second": 2, "temporal_patch_size": 2},
    "rope_scaling": {"type": "mrope", "mrope_section": [16, 24, 24]}, "vocab_size": 151936,
}
QWEN3_NEXT_80B = {  # Qwen/Qwen3-Next-80B-A3B-Instruct (4 layers kept; every 4th is full attention)
    "architectures": ["Qwen3NextForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "bos_token_id": 151643,
    "decoder_sparse_step": 1, "eos_token_id": 151645, "full_attention_interval": 4, "head_dim": 256, "hidden_act": "silu",
    "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 5120, "linear_conv_kernel_dim": 4,
    "linear_key_head_dim": 128, "linear_num_key_heads": 16, "linear_num_value_heads": 32, "linear_value_head_dim": 128,
    "max_position_embeddings": 262144, "mlp_only_layers": [], "model_type": "qwen3_next", "moe_intermediate_size": 512,
    "norm_topk_prob": True, "num_attention_heads": 16, "num_experts": 512, "num_experts_per_tok": 10,
    "num_hidden_layers": 8, "num_key_value_heads": 2, "partial_rotary_factor": 0.25, "rms_norm_eps": 1e-06,
    "rope_scaling": None, "rope_theta": 10000000, "shared_expert_intermediate_size": 512, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "transformers_version": "4.57.0.dev0", "use_cache": True, "use_sliding_window": False,
    "vocab_size": 151936,
}
GPT_OSS_20B = json.loads((Path(__file__).parent / "fixtures" / "models" / "gpt-oss-20b" / "config.json").read_text())


# ---------------------------------------------------------------- tokenizers (trained here, published configs)

def _bpe(directory: Path, specials: list[str], *, byte_level: bool, post_bos: str | None = None) -> dict[str, int]:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    if byte_level:
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        alphabet = pre_tokenizers.ByteLevel.alphabet()
    else:  # SentencePiece-style (Llama 2, Mistral, Gemma): Metaspace and byte fallback
        tok = Tokenizer(models.BPE(byte_fallback=True, fuse_unk=True, unk_token=specials[0]))
        tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first", split=False)
        tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
        alphabet = []
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=600, special_tokens=specials, initial_alphabet=alphabet))
    ids = {t: tok.token_to_id(t) for t in specials}
    if post_bos is not None:
        tok.post_processor = processors.TemplateProcessing(single=f"{post_bos} $A", pair=f"{post_bos} $A {post_bos} $B",
                                                           special_tokens=[(post_bos, ids[post_bos])])
    directory.mkdir(parents=True, exist_ok=True)
    tok.save(str(directory / "tokenizer.json"))
    return ids


def _decoder(ids: dict[str, int]) -> dict[str, dict]:
    return {str(i): {"content": t, "lstrip": False, "normalized": False, "rstrip": False, "single_word": False, "special": True}
            for t, i in sorted(ids.items(), key=lambda kv: kv[1])}


def _write(directory: Path, name: str, content: dict) -> None:
    (directory / name).write_text(json.dumps(content, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def qwen_tokenizer(directory: Path, tokenizer_class: str = "Qwen2Tokenizer") -> None:
    """Qwen2.5's tokenizer_config.json: ChatML, <|im_start|>/<|im_end|> as additional special tokens."""
    ids = _bpe(directory, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], byte_level=True)
    _write(directory, "tokenizer_config.json", {
        "add_bos_token": False, "add_prefix_space": False, "added_tokens_decoder": _decoder(ids),
        "additional_special_tokens": ["<|im_start|>", "<|im_end|>"], "bos_token": None, "chat_template": CHATML,
        "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>", "errors": "replace", "model_max_length": 131072,
        "pad_token": "<|endoftext|>", "split_special_tokens": False, "tokenizer_class": tokenizer_class, "unk_token": None})


def llama3_tokenizer(directory: Path) -> None:
    """Llama 3.1's: PreTrainedTokenizerFast, BOS added by tokenizer.json's TemplateProcessing."""
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"]
    ids = _bpe(directory, specials, byte_level=True, post_bos="<|begin_of_text|>")
    _write(directory, "tokenizer_config.json", {
        "added_tokens_decoder": _decoder(ids), "bos_token": "<|begin_of_text|>", "chat_template": LLAMA3_CHAT,
        "clean_up_tokenization_spaces": True, "eos_token": "<|eot_id|>",
        "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072,
        "tokenizer_class": "PreTrainedTokenizerFast"})


def llama2_tokenizer(directory: Path, add_bos: bool = True) -> None:
    """Llama 2 / Mistral's LlamaTokenizerFast (SentencePiece-style BPE); add_bos_token False as some fine-tunes publish."""
    ids = _bpe(directory, ["<unk>", "<s>", "</s>"], byte_level=False, post_bos="<s>" if add_bos else None)
    _write(directory, "tokenizer_config.json", {
        "add_bos_token": add_bos, "add_eos_token": False, "added_tokens_decoder": _decoder(ids), "bos_token": "<s>",
        "clean_up_tokenization_spaces": False, "eos_token": "</s>", "legacy": False, "model_max_length": 1000000000000000019884624838656,
        "pad_token": None, "sp_model_kwargs": {}, "tokenizer_class": "LlamaTokenizer", "unk_token": "<unk>",
        "use_default_system_prompt": False})


def gemma_tokenizer(directory: Path) -> None:
    """Gemma 3's: GemmaTokenizer, <bos> added, <start_of_turn>/<end_of_turn> as additional special tokens."""
    ids = _bpe(directory, ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"], byte_level=False, post_bos="<bos>")
    _write(directory, "tokenizer_config.json", {
        "add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": _decoder(ids),
        "additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"], "bos_token": "<bos>", "chat_template": GEMMA_CHAT,
        "clean_up_tokenization_spaces": False, "eos_token": "<eos>", "model_max_length": 1000000000000000019884624838656,
        "pad_token": "<pad>", "padding_side": "left", "sp_model_kwargs": {}, "spaces_between_special_tokens": False,
        "tokenizer_class": "GemmaTokenizer", "unk_token": "<unk>", "use_default_system_prompt": False})


def smollm_tokenizer(directory: Path) -> None:
    """SmolLM2-Instruct's: GPT2Tokenizer, byte-level BPE, bos <|im_start|>, eos <|im_end|> (real-model-offline.md)."""
    ids = _bpe(directory, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], byte_level=True)
    _write(directory, "tokenizer_config.json", {
        "add_prefix_space": False, "added_tokens_decoder": _decoder(ids), "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        "bos_token": "<|im_start|>", "chat_template": CHATML, "clean_up_tokenization_spaces": False, "eos_token": "<|im_end|>",
        "model_max_length": 8192, "pad_token": "<|im_end|>", "tokenizer_class": "GPT2Tokenizer", "unk_token": "<|endoftext|>",
        "vocab_size": 49152})


# name: (config, tokenizer writer or None). Each becomes one model directory.
CASES = {
    "llama-3.1-8b": (LLAMA_3_1_8B, llama3_tokenizer),
    "qwen3-8b": (QWEN3_8B, qwen_tokenizer),
    "qwen3-8b-yarn": (QWEN3_8B_YARN, None),
    "qwen2.5-7b-yarn-legacy-type": (QWEN2_5_7B_YARN, lambda d: qwen_tokenizer(d, "PreTrainedTokenizerFast")),
    "deepseek-v3": (DEEPSEEK_V3, None),
    "gemma-3-1b": (GEMMA_3_1B, gemma_tokenizer),
    "gemma-3-4b": (GEMMA_3_4B, None),
    "phi-3-mini-128k": (PHI_3_MINI_128K, None),
    "phi-2": (PHI_2, None),
    "pythia-1b": (PYTHIA_1B, None),
    "qwen2.5-vl-3b": (QWEN2_5_VL_3B, None),
    "qwen3-next-80b": (QWEN3_NEXT_80B, None),
    "gpt-oss-20b": (GPT_OSS_20B, None),
    # LlamaTokenizer with add_bos_token false, on a TinyLlama-1.1B-Chat-v1.0 config (model_type llama).
    "tinyllama-no-bos": ({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 2048,
                          "intermediate_size": 5632, "num_attention_heads": 32, "num_hidden_layers": 22,
                          "num_key_value_heads": 4, "max_position_embeddings": 2048, "rope_theta": 10000.0,
                          "bos_token_id": 1, "eos_token_id": 2, "vocab_size": 32000, "torch_dtype": "bfloat16"},
                         lambda d: llama2_tokenizer(d, add_bos=False)),
    # transformers 5 saves a Llama-class tokenizer of a mistral model as TokenizersBackend.
    "mistral-7b": ({"architectures": ["MistralForCausalLM"], "model_type": "mistral", "hidden_size": 4096,
                        "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8,
                        "max_position_embeddings": 32768, "rope_theta": 1000000.0, "sliding_window": None,
                        "vocab_size": 32768, "torch_dtype": "bfloat16"}, lambda d: llama2_tokenizer(d, add_bos=False)),
    "smollm2-135m": ({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576,
                      "intermediate_size": 1536, "num_attention_heads": 9, "num_hidden_layers": 30, "num_key_value_heads": 3,
                      "max_position_embeddings": 8192, "rope_theta": 100000, "tie_word_embeddings": True,
                      "bos_token_id": 1, "eos_token_id": 2, "vocab_size": 49152, "torch_dtype": "bfloat16"}, smollm_tokenizer),
}


def write_case(directory: Path, name: str) -> Path:
    config, tokenizer = CASES[name]
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory, "config.json", config)
    if tokenizer is not None:
        tokenizer(directory)
    return directory
