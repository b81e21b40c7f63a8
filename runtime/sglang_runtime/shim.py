"""Tokenizer compatibility shadow: serve a transformers-5 tokenizer with transformers 4.x.

transformers 5 writes "tokenizer_class": "TokenizersBackend"; 4.57 cannot load
that name, but loads the same files as PreTrainedTokenizerFast. The snapshot
is read-only (Nix store), so a shadow directory links every entry of it and
carries a rewritten tokenizer_config.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

NEW_CLASS = "TokenizersBackend"
COMPAT_CLASS = "PreTrainedTokenizerFast"
CONFIG = "tokenizer_config.json"
FIRST_FIXED_TRANSFORMERS = (5,)


def patched_config(config: dict[str, Any]) -> dict[str, Any]:
    """The same config with only tokenizer_class changed (the flake's build-time fix uses this too)."""
    if config.get("tokenizer_class") != NEW_CLASS:
        return config
    return {**config, "tokenizer_class": COMPAT_CLASS}


def needs_shim(config: dict[str, Any] | None, transformers: tuple[int, ...] | None, mode: str) -> bool:
    """auto: unless the serving transformers is known to be >= 5 (the shim is harmless there anyway)."""
    if mode == "never" or config is None or config.get("tokenizer_class") != NEW_CLASS:
        return False
    if mode == "always":
        return True
    return transformers is None or transformers < FIRST_FIXED_TRANSFORMERS


def read_config(snapshot: Path) -> tuple[dict[str, Any], bytes] | None:
    try:
        raw = (snapshot / CONFIG).read_bytes()
    except FileNotFoundError:
        return None
    try:
        config = json.loads(raw)
    except ValueError:
        return None
    return (config, raw) if isinstance(config, dict) else None


def shadow_name(model_key: str, snapshot: Path, raw_config: bytes) -> str:
    digest = hashlib.sha256(raw_config).hexdigest()[:16]
    safe = model_key.replace("/", "--")
    return f"{safe}--{snapshot.name[:16]}--{digest}"


def build_shadow(snapshot: Path, parent: Path, name: str, config: dict[str, Any]) -> Path:
    """Create parent/name (or reuse it): build in a temp dir, then rename into place."""
    target = parent / name
    if (target / CONFIG).is_file():
        return target
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        for entry in os.scandir(snapshot):
            if entry.name != CONFIG:
                os.symlink(os.path.join(snapshot, entry.name), tmp / entry.name)
        (tmp / CONFIG).write_text(json.dumps(patched_config(config), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        try:
            os.rename(tmp, target)
        except OSError:
            # Another resolver finished first; its shadow is complete, use it.
            if not (target / CONFIG).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
