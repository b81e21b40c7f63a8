"""doctor's model checks for transformers-5 checkpoints: `compat` and `model-read`.

`compat`: what resolve-model will serve for the snapshot — as written, a
translated shadow (compat.py), or a refusal. `model-read`: the serving
interpreter reads the directory resolve-model would serve (probe.py runs
model_probe.py there, with SGLang's own loaders) and what it read is compared
with what the snapshot says (modelcheck.py). Seconds, no weights loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..config import settings
from ..util.checks import FAIL, OK, WARN, Check
from ..util.errors import ConfigError

COMPAT_FIX = "serve it with SGLang >= 0.5.10 (transformers >= 5), which reads transformers-5 files as written"


def compat_checks(model: str, snapshot: Path, values: settings.Settings, env: Mapping[str, str],
                  serving: tuple[str | None, str | None, Any], *, read_model: bool = True,
                  timeout: float = 180.0) -> list[Check]:
    """`compat`: what resolve-model will serve (snapshot, translated shadow, or a refusal).
    `model-read`: the serving interpreter reads that directory (config and tokenizer, as SGLang does),
    and what it read is compared with what the snapshot says. No weights are loaded."""
    import tempfile

    from . import compat, shim
    from ..util import files
    from ..host import probe, versions

    python, sglang_v, transformers_v = serving
    try:
        snap = shim.snapshot_files(snapshot)
        snap[compat.TOKENIZER_JSON] = files.read_json_if_present(
            snapshot / compat.TOKENIZER_JSON, "SGLANG_MODEL", "tokenizer.json of the model (a JSON object)")
    except ConfigError as exc:
        return [Check("compat", FAIL, str(exc), "re-download the model")]
    translation = compat.translate(snap)
    mode = values.get("SGLANG_TOKENIZER_SHIM")
    tv = f"transformers {versions.text(transformers_v)}" if transformers_v else "the serving transformers (version unknown)"
    applies = shim.applies(translation, transformers_v, mode)
    if applies and translation.refused:
        return [Check("compat", FAIL, str(shim.refusal_error(model, snapshot, tv, translation.refused[0])), COMPAT_FIX)]
    if applies:
        checks = [Check("compat", OK, f"{tv}: a translated shadow is served; rules {', '.join(translation.rule_ids)}")]
    elif (translation.files or translation.refused) and mode == "never" and not (transformers_v and transformers_v >= shim.FIRST_NATIVE_TRANSFORMERS):
        checks = [Check("compat", WARN, f"transformers-5 forms served as written to {tv} (SGLANG_TOKENIZER_SHIM=never)",
                        "set SGLANG_TOKENIZER_SHIM=auto")]
    elif translation.files or translation.refused:
        checks = [Check("compat", OK, f"transformers-5 forms, read as written by {tv}")]
    else:
        checks = [Check("compat", OK, "no transformers-5-only forms")]
    if not read_model:
        return checks
    if python is None or sglang_v is None:
        return checks + [Check("model-read", WARN, "skipped: no SGLang in the serving interpreter")]
    with tempfile.TemporaryDirectory(prefix="sglang-doctor-") as tmp:
        directory = shim.build_shadow(snapshot, Path(tmp), "shadow", translation.files) if applies else snapshot
        shown = f"the translated shadow of {snapshot}" if applies else str(snapshot)
        result = probe.run(python, env, directory, timeout=timeout)
    return checks + [model_read_check(result, snap, shown, tv)]


def model_read_check(result: Mapping[str, Any], snap: Mapping[str, Any], shown: str, tv: str) -> Check:
    from . import compat, modelcheck

    if str(result.get("transformers", "")).split(".")[0].isdigit() and int(str(result["transformers"]).split(".")[0]) >= 5:
        # This SGLang misreads transformers-5 files itself (0.5.23's own Qwen3-Next config): the shadow helps here too.
        fix = "set SGLANG_TOKENIZER_SHIM=always: the translated shadow states the same in the fields this release reads"
    else:
        fix = "leave SGLANG_TOKENIZER_SHIM=auto so resolve-model serves the translated shadow, or " + COMPAT_FIX
    if not result.get("ok"):
        return Check("model-read", FAIL, str(result.get("error", "no result")), "check SGLANG_PYTHON and PYTHONPATH (the Flox environment)")
    who = f"transformers {result.get('transformers')}" + (f" / SGLang {result['sglang']}" if result.get("sglang") else "")
    for part, name in (("config", compat.CONFIG), ("tokenizer", compat.TOKENIZER_CONFIG)):
        error = (result.get(part) or {}).get("error")
        if error and snap.get(name) is not None:
            return Check("model-read", FAIL, f"{who} cannot load the {part} of {shown}: {error}", fix)
    want, got = modelcheck.expected(snap), modelcheck.served(result)
    diffs = modelcheck.differences(want, got)
    if diffs:
        return Check("model-read", FAIL, f"{who} reads {shown} differently from what it says: {'; '.join(diffs[:4])}", fix)
    facts = []
    full = (got.get("rope") or {}).get("full_attention")
    if full:
        facts.append(f"RoPE base {full.get('rope_theta')} ({full.get('rope_type')})")
    if got.get("context_length"):
        facts.append(f"context {got['context_length']}")
    special = got.get("special") or {}
    facts += [f"{name.split('_')[0]} {pair[0]!r}={pair[1]}" for name, pair in special.items() if name in ("bos_token", "eos_token")]
    if got.get("extra"):
        facts.append(f"{len(got['extra'])} extra special tokens")
    return Check("model-read", OK, f"{who} reads {shown} as it says: {', '.join(facts) or 'no RoPE or tokenizer fields to compare'}")
