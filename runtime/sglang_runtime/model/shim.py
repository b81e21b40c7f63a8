"""The compatibility shadow: a transformers-5 snapshot as transformers 4.x reads it with the same meaning.

The snapshot is read-only (HF cache blobs, Nix store), so the shadow is a
directory beside it: a symlink to every entry of the snapshot, except the
files compat.translate() rewrites (config.json, tokenizer_config.json), which
are regular files. It is built in a temp directory and renamed into place;
its name carries a digest of the snapshot's listing and of the translated
files, so an unchanged model reuses its shadow and a changed model or a
changed translation gets a new one. This module is the edge: it reads (via
files.py) and writes; compat.py decides.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from . import compat
from ..util import files
from ..util.errors import ConfigError

SETTING = "SGLANG_MODEL"
FIRST_NATIVE_TRANSFORMERS = (5,)  # reads transformers-5 files as written


# The fields the translation and transformers' loaders rely on, with the JSON types they must have:
# a file that has them in another shape is broken, whichever transformers reads it.
SHAPES: Mapping[str, Mapping[str, tuple[type, ...]]] = {
    "config.json": {"rope_parameters": (dict,), "rope_scaling": (dict,), "rope_theta": (int, float),
                    "max_position_embeddings": (int,), "architectures": (list,), "model_type": (str,)},
    "tokenizer_config.json": {"tokenizer_class": (str,), "extra_special_tokens": (list, dict),
                              "additional_special_tokens": (list,), "model_max_length": (int, float)},
}


def snapshot_files(snapshot: Path) -> dict[str, Any]:
    """The files translate() reads, parsed; None for an absent one. An odd file is one ConfigError."""
    found = {name: files.read_json_if_present(snapshot / name, SETTING, f"{name} of the model (a JSON object)")
             for name in compat.FILES}
    for name, content in found.items():
        for field, kinds in SHAPES.get(name, {}).items():
            value = (content or {}).get(field)
            if value is not None and (not isinstance(value, kinds) or isinstance(value, bool)):
                wanted = " or ".join(files.json_name(k) for k in kinds)
                raise ConfigError(SETTING, str(snapshot / name), f"{field} as a JSON {wanted}, not a JSON {files.json_name(type(value))}")
    return found


def applies(translation: compat.Translation, transformers: tuple[int, ...] | None, mode: str) -> bool:
    """auto: unless the serving transformers is known to be >= 5 (the translation is harmless there anyway)."""
    if mode == "never" or not (translation.files or translation.refused):
        return False
    if mode == "always":
        return True
    return transformers is None or transformers < FIRST_NATIVE_TRANSFORMERS


def refusal_error(model: str, snapshot: Path, transformers_text: str, refusal: compat.Refusal) -> ConfigError:
    return ConfigError(SETTING, model, f"a checkpoint {transformers_text} can serve exactly, but {snapshot}/{refusal.line()}")


def shadow_name(model_key: str, snapshot: Path, translated: Mapping[str, Mapping[str, Any]]) -> str:
    digest = hashlib.sha256()
    for name in sorted(os.listdir(snapshot)):
        digest.update(b"entry\0" + name.encode("utf-8", "surrogateescape") + b"\0")
    for name in sorted(translated):
        digest.update(b"file\0" + name.encode() + b"\0" + compat.render(translated[name]).encode("utf-8"))
    safe = model_key.replace("/", "--")
    return f"{safe}--{snapshot.name[:16]}--{digest.hexdigest()[:16]}"


def build_shadow(snapshot: Path, parent: Path, name: str, translated: Mapping[str, Mapping[str, Any]]) -> Path:
    """Create parent/name (or reuse it): build in a temp dir, then rename into place."""
    target = parent / name
    if target.is_dir():
        return target
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        for entry in os.scandir(snapshot):
            if entry.name not in translated:
                os.symlink(os.path.join(snapshot, entry.name), tmp / entry.name)
        for file_name, content in translated.items():
            (tmp / file_name).write_text(compat.render(content), encoding="utf-8")
        os.chmod(tmp, 0o755)
        try:
            os.rename(tmp, target)
        except OSError:
            # Another resolver finished first; its shadow is complete, use it.
            if not target.is_dir():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def translate_snapshot(snapshot: Path, parent: Path, model_key: str | None = None) -> tuple[Path, compat.Translation]:
    """What resolve-model serves a transformers-4 SGLang for `snapshot`: the shadow under `parent` (built or reused),
    or the snapshot itself when nothing needs translating. Raises compat.Refused for what 4.x cannot express."""
    translation = compat.translate(snapshot_files(snapshot))
    if translation.refused:
        raise compat.Refused(translation.refused[0])
    if not translation.files:
        return snapshot, translation
    name = shadow_name(model_key or snapshot.name, snapshot, translation.files)
    return build_shadow(snapshot, parent, name, translation.files), translation
