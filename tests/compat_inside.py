"""Run INSIDE a release's interpreter (sglang_support.call_in): save model files with that release's transformers.

Standard library and transformers only; paths in, JSON out.
"""

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
