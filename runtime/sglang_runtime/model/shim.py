"""The compatibility shadow: a transformers-5 snapshot as transformers 4.x reads it with the same meaning.

The snapshot is read-only (HF cache blobs, Nix store), so the shadow is a
directory beside it: a symlink to every entry of the snapshot, except the
files compat.translate() rewrites (config.json, tokenizer_config.json), which
are regular files. It is built in a temp directory and renamed into place;
its name carries a digest of what it is made of (the snapshot's resolved
location, each entry's resolved target and file identity, the translated
sources and their translation), so an unchanged model reuses its shadow and
another or a changed model gets a new one; a shadow is reused only after
checking every link still points where it should, else rebuilt. This module is the edge: it reads (via
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


def _identity(path: str) -> bytes:
    """Which file an entry really is: its target's device, inode, size and mtime (stat follows the links,
    so two entries are the same only if they resolve to the same file, unchanged). A dangling entry is
    named as such (its shadow can never be reused)."""
    try:
        st = os.stat(path)
    except OSError:
        return b"missing"
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}".encode()


def shadow_name(model_key: str, snapshot: Path, translated: Mapping[str, Mapping[str, Any]]) -> str:
    """A name that changes with what the shadow is made of: the snapshot's resolved location, the file
    each entry resolves to (its identity), the translated sources' bytes and the translation.
    Two checkpoints (same config, same folder name, different places) never share one."""
    digest = hashlib.sha256()
    digest.update(b"snapshot\0" + os.path.realpath(snapshot).encode("utf-8", "surrogateescape") + b"\0")
    for name in sorted(os.listdir(snapshot)):
        digest.update(b"entry\0" + name.encode("utf-8", "surrogateescape") + b"\0" + _identity(os.path.join(snapshot, name)))
    for name in sorted(translated):
        path = snapshot / name
        raw = files.read_bytes(path, SETTING, f"{name} of the model", files.JSON_LIMIT) if os.path.lexists(path) else b""
        source = hashlib.sha256(raw).hexdigest()
        digest.update(b"file\0" + name.encode() + b"\0" + source.encode() + b"\0" + compat.render(translated[name]).encode("utf-8"))
    safe = model_key.replace("/", "--")
    return f"{safe}--{snapshot.name[:16]}--{digest.hexdigest()[:16]}"


def _link_target(real_snapshot: str, name: str) -> str:
    # Through the snapshot's resolved path: a shadow never depends on a symlink to the snapshot folder.
    return os.path.join(real_snapshot, name)


def intact(shadow: Path, snapshot: Path, translated: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether `shadow` is exactly what build_shadow would make now: the same entries, each link
    pointing at its entry of `snapshot` (which still exists), each translated file as rendered."""
    real = os.path.realpath(snapshot)
    try:
        wanted = set(os.listdir(snapshot)) | set(translated)
        if not shadow.is_dir() or shadow.is_symlink() or set(os.listdir(shadow)) != wanted:
            return False
        for name in wanted:
            entry = shadow / name
            if name in translated:
                if entry.is_symlink() or entry.read_text(encoding="utf-8") != compat.render(translated[name]):
                    return False
            elif not entry.is_symlink() or os.readlink(entry) != _link_target(real, name) or not os.path.exists(entry):
                return False
    except (OSError, UnicodeDecodeError):
        return False
    return True


def build_shadow(snapshot: Path, parent: Path, name: str, translated: Mapping[str, Mapping[str, Any]]) -> Path:
    """Create parent/name, or reuse it only when it is intact (see intact()); a damaged one is rebuilt.
    Built in a temp dir and renamed into place, so no reader ever sees half a shadow."""
    target = parent / name
    if intact(target, snapshot, translated):
        return target
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=parent))
    try:
        real = os.path.realpath(snapshot)
        for entry in os.scandir(snapshot):
            if entry.name not in translated:
                os.symlink(_link_target(real, entry.name), tmp / entry.name)
        for file_name, content in translated.items():
            (tmp / file_name).write_text(compat.render(content), encoding="utf-8")
        os.chmod(tmp, 0o755)
        _install(tmp, target, snapshot, translated)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _install(tmp: Path, target: Path, snapshot: Path, translated: Mapping[str, Mapping[str, Any]]) -> None:
    try:
        os.rename(tmp, target)
        return
    except OSError:
        if intact(target, snapshot, translated):
            # Another resolver finished first; its shadow is complete, use it.
            shutil.rmtree(tmp, ignore_errors=True)
            return
        if not os.path.lexists(target):
            raise
    # A damaged shadow (a link to a moved source, a foreign file): move it aside, put ours in its place.
    trash = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
    os.rename(target, trash / "shadow")
    try:
        os.rename(tmp, target)
    except OSError:
        if not intact(target, snapshot, translated):
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(trash, ignore_errors=True)


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
