"""Which weight files SGLang will read and in which order, whether reading them ahead fits in memory,
and what `serve` hands the bootstrap so that prefetch.py reads them from the hand-over.

Pure: `load_order()`, `reserve()`, `decide()`, the memory parsers. Edges: `gather()` lists the model
folder and reads /proc/meminfo and the cgroup's memory files.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from . import flagdata
from ..guest import prefetch
from ..config import settings

SETTING = "SGLANG_PREFETCH_WEIGHTS"
# Test and benchmark hook (not a setting): pretend this many bytes of memory are available, so the
# oversized-model path can be taken on a small machine.
MEMORY_OVERRIDE = "_SGLANG_RUNTIME_MEMORY_AVAILABLE"
# Host memory SGLang's own processes take beside the weights: 2.9-3.7 GB for the three processes of a
# CPU server with a tiny model (../shared/notes/sglang-on-cpu.md). Kept free, so that the cache we fill
# never pushes the server itself into reclaim.
SERVER_RESERVE = 4 << 30
# The hand-over travels in one environment variable; Linux caps one at 128 KiB.
HANDOVER_MAX = 100_000

# SGLang's loader for a local directory (sglang/srt/model_loader/loader.py, DefaultModelLoader._prepare_weights,
# and weight_utils.py; the same in 0.5.9 and 0.5.23 but for the order):
# - "*.safetensors" (glob: no hidden files); only when there are none, "*.bin";
# - with model.safetensors.index.json only the files its weight_map names (filter_duplicate_safetensors_files);
#   without one, of exactly consolidated.safetensors + model.safetensors only the latter;
# - .bin files minus training state (filter_files_not_needed_for_inference);
# - order: from 0.5.10 sorted (SGLANG_SORT_WEIGHT_FILES: 0, the default, sorts; -1 keeps glob order;
#   k > 0 staggers per TP rank, still all files); 0.5.9 keeps glob order (os.scandir's).
SORTED_SINCE = (0, 5, 10)
INDEX = "model.safetensors.index.json"
NOT_FOR_INFERENCE = ("training_args.bin", "optimizer.bin", "optimizer.pt", "scheduler.pt", "scaler.pt")
# --load-format values whose loader reads these files with plain reads; any other (dummy, gguf, remote,
# fastsafetensors, ...) reads something else or nothing: no prefetch.
READS_FILES = ("auto", "safetensors")

GB = 1e9


def sorts(version: settings.Version, sort_env: str | None) -> bool:
    if version < SORTED_SINCE:
        return False
    try:
        return int((sort_env or "0").strip()) >= 0
    except ValueError:
        return True


def load_order(names: Sequence[str], indexed: set[str] | None, version: settings.Version,
               sort_env: str | None = None) -> list[str]:
    """The weight files SGLang reads, in its order. names: the folder's entries in directory order;
    indexed: the files the safetensors index names (None: no index)."""
    visible = [n for n in names if not n.startswith(".")]
    chosen = [n for n in visible if n.endswith(".safetensors")]
    if chosen:
        if indexed is not None:
            chosen = [n for n in chosen if n in indexed]
        elif sorted(chosen) == ["consolidated.safetensors", "model.safetensors"]:
            chosen = ["model.safetensors"]
    else:
        chosen = [n for n in visible if n.endswith(".bin") and not n.endswith(NOT_FOR_INFERENCE)]
    return sorted(chosen) if sorts(version, sort_env) else chosen


def option_value(args: Sequence[str], release: flagdata.Release, dest: str) -> str | None:
    """The last value SGLang's parser would give `dest` from these arguments (prefixes and --x=v included)."""
    value = None
    for i, token in enumerate(args):
        if not token.startswith("-"):
            continue
        reading = release.read(token)
        if reading.kind == flagdata.OPTION and reading.action is not None and reading.action.dest == dest:
            value = reading.explicit if reading.explicit is not None else (args[i + 1] if i + 1 < len(args) else None)
    return value


def reserve(total: int, device: str | None) -> int:
    """Memory to leave free beside the prefetched files: the server's own, and on a CPU device the
    weights again (SGLang copies them out of the files into its own memory)."""
    return SERVER_RESERVE + (total if (device or "").strip().lower() == "cpu" else 0)


def _gb(n: float) -> str:
    return f"{n / GB:.2f} GB"


def decide(mode: str, total: int, count: int, available: int | None, kept: int) -> str | None:
    """Why nothing will be prefetched, or None: read the files."""
    if mode == "off":
        return f"{SETTING}=off"
    if not count:
        return "no weight files SGLang would read (*.safetensors, *.bin) in the model directory"
    if mode == "on":
        return None
    if available is None:
        return f"available memory unknown (no MemAvailable in /proc/meminfo); {SETTING}=on reads them anyway"
    if total + kept > available:
        return (f"the weights ({_gb(total)}) do not fit beside the server: {_gb(available)} available, "
                f"{_gb(kept)} kept for the server; {SETTING}=on reads them anyway")
    return None


# ------------------------------------------------------------------ memory figures

def meminfo_available(text: str) -> int | None:
    for line in text.splitlines():
        if line.startswith("MemAvailable:"):
            parts = line.split()
            if len(parts) >= 2 and parts[1].isdigit():
                return int(parts[1]) * 1024
    return None


def _stat_value(text: str, key: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key and parts[1].isdigit():
            return int(parts[1])
    return 0


def cgroup_room(limit: str, usage: str, stat: str, cache_key: str) -> int | None:
    """Bytes the cgroup can still take (its page cache counts as reclaimable), None when unlimited."""
    limit, usage = limit.strip(), usage.strip()
    if not limit.isdigit() or not usage.isdigit():
        return None  # "max" (v2), or unreadable
    if int(limit) >= 1 << 60:
        return None  # v1's "unlimited"
    return max(int(limit) - int(usage) + _stat_value(stat, cache_key), 0)


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            return fh.read(1 << 20)
    except OSError:
        return ""


def _cgroup_dirs(proc_cgroup: str) -> list[tuple[tuple[str, str], str, str, str, str]]:
    """For v2 and v1: ((own directory, mount root), limit, usage, stat file, cache key). Inside a cgroup
    namespace the own path is not under the mount: there the mount root is the process's cgroup."""
    found = []
    for line in proc_cgroup.splitlines():
        _, controllers, path = (line.split(":", 2) + ["", ""])[:3]
        if controllers == "":
            root = "/sys/fs/cgroup"
            found.append(((os.path.join(root, path.lstrip("/")), root), "memory.max", "memory.current", "memory.stat", "file"))
        elif "memory" in controllers.split(","):
            root = "/sys/fs/cgroup/memory"
            found.append(((os.path.join(root, path.lstrip("/")), root), "memory.limit_in_bytes", "memory.usage_in_bytes",
                          "memory.stat", "total_cache"))
    return found


def memory_available(read: Callable[[str], str] = _read) -> int | None:
    """MemAvailable, lowered to what this process's memory cgroup (a pod's limit) still allows."""
    figures = [meminfo_available(read("/proc/meminfo"))]
    for directories, limit, usage, stat, key in _cgroup_dirs(read("/proc/self/cgroup")):
        directory = next((d for d in directories if read(os.path.join(d, limit))), None)
        if directory is not None:
            figures.append(cgroup_room(read(os.path.join(directory, limit)), read(os.path.join(directory, usage)),
                                       read(os.path.join(directory, stat)), key))
    known = [f for f in figures if f is not None]
    return min(known) if known else None


# ------------------------------------------------------------------ the plan for one launch

@dataclass(frozen=True)
class Prefetch:
    mode: str
    directory: str | None = None
    files: tuple[tuple[str, int], ...] = ()  # (name, bytes) in SGLang's load order
    available: int | None = None
    kept: int = 0
    skip: str | None = None  # why nothing is read; None: the files are read from the hand-over

    @property
    def total(self) -> int:
        return sum(size for _, size in self.files)

    def handover(self) -> dict[str, str]:
        """What the server's environment gets: the bootstrap takes it out and starts the reader."""
        if self.skip is not None or self.directory is None:
            return {}
        return {prefetch.ENV: json.dumps({"dir": self.directory, "files": [name for name, _ in self.files],
                                          "block": prefetch.BLOCK})}

    def line(self) -> str | None:
        """One line saying what will happen (None when the user turned it off)."""
        if self.mode == "off":
            return None
        if self.skip is not None:
            return f"prefetch: skipped: {self.skip}"
        room = (f"fits: {_gb(self.available)} available, {_gb(self.kept)} kept for the server"
                if self.available is not None and self.mode == "auto" else f"{SETTING}={self.mode}")
        return (f"prefetch: {len(self.files)} weight file(s), {_gb(self.total)}, read into the page cache from the "
                f"hand-over while SGLang imports ({room})")

    def as_dict(self) -> dict:
        return {"mode": self.mode, "directory": self.directory, "files": [name for name, _ in self.files],
                "bytes": self.total, "available": self.available, "kept_for_server": self.kept,
                "reads": self.skip is None, "skipped": self.skip}


def _indexed(directory: Path) -> set[str] | None:
    index = directory / INDEX
    if not index.is_file():
        return None
    try:
        with index.open(encoding="utf-8") as fh:
            weight_map = json.loads(fh.read(64 << 20))["weight_map"]
        return {os.path.basename(str(v)) for v in weight_map.values()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return set()  # SGLang fails on such an index itself; nothing to read ahead


def gather(mode: str, model_dir: Path | None, version: str, args: Sequence[str], env: Mapping[str, str]) -> Prefetch:
    """The prefetch for this model and release: files, sizes, memory, decision. args: launch_server's arguments."""
    if mode == "off":
        return Prefetch(mode, skip=decide(mode, 0, 0, None, 0))
    if model_dir is None:
        return Prefetch(mode, skip="the model is not a local directory (SGLang downloads it)")
    release, _ = flagdata.for_version(version)
    load_format = (option_value(args, release, "load_format") or "auto").strip().lower()
    if load_format not in READS_FILES:
        return Prefetch(mode, str(model_dir), skip=f"--load-format {load_format} does not read the checkpoint files as the default loader does")
    try:
        names = [entry.name for entry in os.scandir(model_dir)]
        order = load_order(names, _indexed(model_dir), settings.parse_version(version), env.get("SGLANG_SORT_WEIGHT_FILES"))
        files = tuple((name, os.stat(model_dir / name).st_size) for name in order)
    except OSError as exc:
        return Prefetch(mode, str(model_dir), skip=f"cannot list the weight files ({exc.strerror or exc})")
    override = env.get(MEMORY_OVERRIDE, "").strip()
    available = int(override) if override.isdigit() else memory_available()
    total = sum(size for _, size in files)
    kept = reserve(total, option_value(args, release, "device"))
    skip = decide(mode, total, len(files), available, kept)
    plan = Prefetch(mode, str(model_dir), files, available, kept, skip)
    if skip is None and len(plan.handover().get(prefetch.ENV, "")) > HANDOVER_MAX:
        return Prefetch(mode, str(model_dir), files, available, kept, f"{len(files)} weight files are too many to hand over")
    return plan


def sglang_own(release: flagdata.Release) -> str:
    """SGLang's own start-up options for this release, and the settings that turn them on."""
    have = []
    if release.action("--weight-loader-prefetch-checkpoints"):
        have.append("--weight-loader-prefetch-checkpoints (SGLANG_WEIGHT_LOADER_PREFETCH=1)")
    if release.action("--startup-weight-load-mode"):
        have.append("--startup-weight-load-mode overlap (SGLANG_STARTUP_WEIGHT_LOAD_MODE=overlap)")
    if not have:
        return f"SGLang {release.version} has no prefetch of its own"
    return f"SGLang {release.version} also has " + " and ".join(have)
