"""Make a tiny random Llama offline and save it with the transformers on sys.path (run it with
transformers 5 to get a transformers-5 checkpoint). No Hub, no network.

    python make_tiny_model.py OUT_DIR [--rope-theta 500000]

What transformers 5 writes, and why each matters to the tests (see
../shared/notes/transformers-v5-checkpoints.md):
- tokenizer_config.json: "tokenizer_class": "TokenizersBackend" and the extra special
  tokens as a list under "extra_special_tokens" (transformers 4.57 dies on both);
- config.json: the RoPE base inside "rope_parameters" (transformers 4.57 ignores it and
  silently uses 10000): a non-default base makes a missing translation visible in logprobs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "SGLang serves large language models quickly and reproducibly.",
    "Flox environments pin every package by its Nix store path.",
    "The capital of France is Paris; the capital of Italy is Rome.",
    "Water boils at one hundred degrees Celsius at sea level.",
    "A week has seven days, and a year has twelve months.",
] * 20
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--rope-theta", type=float, default=500000.0)
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()

    import torch
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    bpe.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400, special_tokens=SPECIAL,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token="<|im_start|>", eos_token="<|im_end|>",
                                        unk_token="<|endoftext|>", pad_token="<|endoftext|>",
                                        extra_special_tokens=["<|im_start|>", "<|im_end|>"]
                                        if int(transformers.__version__.split(".")[0]) >= 5 else None)
    if int(transformers.__version__.split(".")[0]) < 5:
        tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.model_max_length = 512

    torch.manual_seed(args.seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         rope_theta=args.rope_theta, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).to(torch.bfloat16)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    saved = json.loads((out / "config.json").read_text())
    print(json.dumps({"transformers": transformers.__version__, "vocab": len(tokenizer),
                      "rope_in_config": {k: saved[k] for k in ("rope_theta", "rope_parameters") if k in saved}}))


if __name__ == "__main__":
    sys.exit(main())
