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

from ..util import files
from ..util.errors import ConfigError
from ..config.kinds import valid_repo_id, valid_revision

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
    return valid_repo_id(model) and not model.startswith((".", "/", "~"))



def search_roots(flox_env: str | None, model_path: Sequence[str], hf_cache: Path) -> list[Path]:
    roots = []
    if flox_env:
        roots.append(Path(flox_env) / "share" / "models" / "hub")
    roots += [Path(p).expanduser() for p in model_path]
    roots.append(hf_cache)
    return roots


def snapshot_for(repo_id: str, repo_dir: Path, revision: str) -> Path:
    """The snapshot `revision` names: through refs/<revision>, or a commit id directly.

    Never a guess: a revision the local copy does not have is an error, not its only snapshot.
    The one exception is a hand-made bundle with no refs/ at all, served for the default "main".
    """
    snapshots = repo_dir / "snapshots"
    if not valid_revision(revision):
        raise ConfigError("SGLANG_MODEL_REVISION", revision, "a branch, tag or commit name (no '..', no leading '/')")
    ref = repo_dir / "refs" / revision
    if os.path.lexists(ref) and not ref.is_dir():  # a FIFO or a link to a device too: the reader refuses it
        text = files.read_text(ref, SETTING, f"{repo_id}: a refs/{revision} file holding a commit id", files.SMALL_LIMIT)
        commit = text.strip()
        if not _COMMIT.match(commit):
            # Its contents are not quoted: a ref file is a name, never a path to follow.
            raise ConfigError(SETTING, repo_id, f"{ref} to hold a 40-hex commit id (it does not)")
        target = snapshots / commit
        if not target.is_dir():
            raise ConfigError(SETTING, repo_id, f"a complete bundle: {ref} names snapshot {commit}, which is missing from {snapshots}")
        return target
    if _COMMIT.match(revision) and (snapshots / revision).is_dir():
        return snapshots / revision
    found = sorted(p.name for p in snapshots.iterdir() if p.is_dir()) if snapshots.is_dir() else []
    if revision == "main" and not (repo_dir / "refs").exists() and len(found) == 1:
        return snapshots / found[0]
    refs = sorted(p.relative_to(repo_dir / "refs").as_posix() for p in (repo_dir / "refs").rglob("*") if not p.is_dir()) \
        if (repo_dir / "refs").is_dir() else []
    if not found:
        raise ConfigError(SETTING, repo_id, f"a complete bundle: {repo_dir} has no refs/{revision} and no snapshot")
    have = f"refs: {_listing(refs) or 'none'}; snapshots: {_listing(found)}"
    raise ConfigError("SGLANG_MODEL_REVISION", revision, f"a revision the local copy of {repo_id} has ({have})")


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
    # Read it now, safely: a FIFO, a link loop or a JSON list here would otherwise reach SGLang.
    files.read_json(snapshot / "config.json", SETTING, "config.json of the model (a JSON object)")
    indexes = [n for n in entries if n.endswith(".index.json") and any(s in n for s in WEIGHT_SUFFIXES)]
    if indexes:
        missing: set[str] = set()
        for index in indexes:
            data = files.read_json(snapshot / index, SETTING, "a readable weight index")
            weight_map = data.get("weight_map")
            if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
                raise ConfigError(SETTING, model, f"a weight index whose weight_map maps tensor names to file names ({snapshot / index})")
            for shard in set(weight_map.values()):
                if "/" in shard or shard not in entries or not (snapshot / shard).exists():
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
    try:
        is_dir = path.is_dir()
    except OSError as exc:  # a name too long for a path, say
        raise ConfigError(SETTING, model, f"a Hugging Face id or an existing model directory ({exc.strerror})") from None
    if is_dir:
        check_snapshot(model, path)
        return Found(path.resolve(), None, "local directory")
    if model.startswith((".", "/", "~")) or not looks_like_repo_id(model):
        raise ConfigError(SETTING, model, "a Hugging Face id (org/name) or an existing model directory")
    return None
