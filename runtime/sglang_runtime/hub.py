"""Find a model on disk: a local directory, a Flox bundle, SGLANG_MODEL_PATH dirs or the HF cache.

The cache layout is huggingface_hub's (models--<org>--<name>/refs/<rev>,
snapshots/<id>/); names come from its constants, not from copies of them.
Only `huggingface_hub.constants` is imported: it is cheap, the download code is not.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from huggingface_hub import constants

from .errors import ConfigError

_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*\Z")
_COMMIT = re.compile(r"[0-9a-f]{40}\Z")
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
SETTING = "SGLANG_MODEL"


@dataclass(frozen=True)
class Found:
    snapshot: Path
    repo_id: str | None  # None: a local directory named by path
    where: str  # for messages: which root it came from


def repo_folder_name(repo_id: str) -> str:
    """models--org--name, as huggingface_hub.file_download.repo_folder_name spells it."""
    return constants.REPO_ID_SEPARATOR.join(["models", *repo_id.split("/")])


def default_hf_cache() -> Path:
    return Path(constants.HF_HUB_CACHE)


def looks_like_repo_id(model: str) -> bool:
    return bool(_REPO_ID.match(model)) and not model.startswith((".", "/", "~"))


def search_roots(flox_env: str | None, model_path: Sequence[str], hf_cache: Path) -> list[Path]:
    roots = []
    if flox_env:
        roots.append(Path(flox_env) / "share" / "models" / "hub")
    roots += [Path(p).expanduser() for p in model_path]
    roots.append(hf_cache)
    return roots


def snapshot_for(repo_id: str, repo_dir: Path, revision: str) -> Path:
    snapshots = repo_dir / "snapshots"
    ref = repo_dir / "refs" / revision
    if ref.is_file():
        commit = ref.read_text(encoding="utf-8").strip()
        target = snapshots / commit
        if not target.is_dir():
            raise ConfigError(SETTING, repo_id, f"a complete bundle: {ref} names snapshot {commit!r}, which is missing from {snapshots}")
        return target
    if _COMMIT.match(revision) and (snapshots / revision).is_dir():
        return snapshots / revision
    found = sorted(p.name for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    if len(found) == 1:
        return snapshots / found[0]
    if not found:
        raise ConfigError(SETTING, repo_id, f"a complete bundle: {repo_dir} has no refs/{revision} and no snapshot")
    raise ConfigError(
        SETTING, repo_id,
        f"one snapshot or a refs/{revision} file in {repo_dir}: found {len(found)} snapshots ({', '.join(found)}); "
        "set SGLANG_MODEL_REVISION to one of them",
    )


def _listing(names: Iterable[str], limit: int = 3) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def check_snapshot(model: str, snapshot: Path) -> None:
    """A snapshot is servable only with config.json and every weight file its index names."""
    try:
        entries = {e.name for e in os.scandir(snapshot)}
    except OSError as exc:
        raise ConfigError(SETTING, model, f"a readable model directory ({snapshot}: {exc.strerror})") from None
    if "config.json" not in entries:
        raise ConfigError(SETTING, model, f"a model directory with config.json ({snapshot} has none)")
    indexes = [n for n in entries if n.endswith(".index.json") and any(s in n for s in WEIGHT_SUFFIXES)]
    if indexes:
        missing: set[str] = set()
        for index in indexes:
            try:
                weight_map = json.loads((snapshot / index).read_text(encoding="utf-8"))["weight_map"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(SETTING, model, f"a readable weight index ({snapshot / index}: {exc})") from None
            for shard in set(weight_map.values()):
                if shard not in entries or not (snapshot / shard).exists():
                    missing.add(shard)
        if missing:
            raise ConfigError(SETTING, model, f"every weight file its index names ({snapshot} lacks {_listing(missing)})")
        return
    if not any(n.endswith(WEIGHT_SUFFIXES) and (snapshot / n).exists() for n in entries):
        raise ConfigError(SETTING, model, f"at least one weights file ({snapshot} has none of {', '.join(WEIGHT_SUFFIXES)})")


def find(repo_id: str, revision: str, roots: Sequence[Path], flat_root: Path | None = None) -> Found | None:
    """The first copy of repo_id in roots; a broken copy is an error, never a reason to look further."""
    folder = repo_folder_name(repo_id)
    for root in roots:
        repo_dir = root / folder
        if repo_dir.is_dir():
            snapshot = snapshot_for(repo_id, repo_dir, revision)
            check_snapshot(repo_id, snapshot)
            return Found(snapshot, repo_id, str(root))
    if flat_root is not None:
        flat = flat_root / repo_id.split("/")[1]
        if flat.is_dir():
            check_snapshot(repo_id, flat)
            return Found(flat, repo_id, str(flat_root))
    return None


def local_directory(model: str) -> Found | None:
    """SGLANG_MODEL named as a path: used as is, if it is a model directory."""
    path = Path(model).expanduser()
    if path.is_dir():
        check_snapshot(model, path)
        return Found(path.resolve(), None, "local directory")
    if model.startswith((".", "/", "~")) or not looks_like_repo_id(model):
        raise ConfigError(SETTING, model, "a Hugging Face id (org/name) or an existing model directory")
    return None
