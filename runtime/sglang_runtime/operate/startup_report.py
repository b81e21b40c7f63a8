"""The start-up report: how long each phase of the last few starts took, and whether the compile caches were warm.

Two small JSON files beside the compile caches (the SGLANG_RUNTIME_CACHE root):

- startup-pending.json, written by `serve` just before it execs SGLang: the start's
  key (a hash of the release and SGLang's arguments, without secrets, host or
  port: "the same model and settings"), the model, the server's PID (exec keeps
  it), and which compile-cache folders already held files. Only the launcher can
  tell that: once SGLang runs, it fills them.
- startup-report.json, written by `wait` when the start ends: per key, the last
  KEEP starts (phase durations, total, caches); at most KEYS keys, the least
  recently started dropped first. `wait` reads it for its estimate, `doctor` to
  show the last starts.

Both are written atomically and read defensively: a damaged or foreign file is
treated as empty, never as an error. Recording is best effort: a read-only cache
costs the report, never the start.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

PENDING = "startup-pending.json"
REPORT = "startup-report.json"
KEEP = 5
KEYS = 20
MAX_BYTES = 1 << 20
_UNKEYED = ("--host", "--port")


def start_key(version: str, public_args: Sequence[str]) -> str:
    """Same release and same SGLang arguments (host and port aside): the same kind of start."""
    kept: list[str] = []
    skip = False
    for arg in public_args:
        if skip:
            skip = False
            continue
        if arg in _UNKEYED:
            skip = True
            continue
        if arg.split("=", 1)[0] in _UNKEYED:
            continue
        kept.append(arg)
    return hashlib.sha256(json.dumps([version, kept]).encode()).hexdigest()[:16]


def warm_caches(dirs: Mapping[str, str]) -> list[str]:
    """The cache folders (by variable name) that already hold something."""
    warm = []
    for name, path in sorted(dirs.items()):
        try:
            with os.scandir(path) as entries:
                if any(True for _ in entries):
                    warm.append(name)
        except OSError:
            pass  # not there yet: cold
    return warm


def _read(path: Path) -> Any:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        return json.loads(data) if len(data) <= MAX_BYTES else None
    except (OSError, ValueError):
        return None


def _write(path: Path, obj: Any) -> bool:
    from ..util.envfile import write_atomic

    try:
        write_atomic(path, json.dumps(obj, indent=1) + "\n", mode=0o644)  # not sorted: phases keep their order
        return True
    except OSError:
        return False


def note_start(root: Path, key: str, model: str, version: str, pid: int, caches: Sequence[str]) -> bool:
    return _write(root / PENDING, {"key": key, "model": model, "version": version, "pid": pid,
                                   "warm_caches": list(caches), "at": time.time()})


def pending(root: Path, pid: int | None) -> dict | None:
    """The start `serve` noted: for `pid` if given, else if its process still runs."""
    found = _read(root / PENDING)
    if not isinstance(found, dict) or not isinstance(found.get("key"), str) or not isinstance(found.get("pid"), int):
        return None
    if pid is not None:
        return found if found["pid"] == pid else None
    return found if os.path.exists(f"/proc/{found['pid']}") else None


def _starts(root: Path) -> dict[str, list[dict]]:
    found = _read(root / REPORT)
    starts = found.get("starts") if isinstance(found, dict) else None
    if not isinstance(starts, dict):
        return {}
    return {k: [e for e in v if isinstance(e, dict)] for k, v in starts.items() if isinstance(k, str) and isinstance(v, list)}


def last_start(root: Path, key: str) -> dict | None:
    """The newest recorded start of this key that became ready (what the estimate comes from)."""
    ready = [e for e in _starts(root).get(key, []) if e.get("result") == "ready" and isinstance(e.get("total"), (int, float))]
    return ready[-1] if ready else None


def record(root: Path, start: Mapping[str, Any], result: str, total: float, phases: Mapping[str, float]) -> dict:
    """Add this start to the report (bounded) and return its entry."""
    entry = {"at": round(time.time(), 3), "model": start.get("model"), "version": start.get("version"), "result": result,
             "total": round(total, 1), "phases": dict(phases), "warm_caches": list(start.get("warm_caches") or [])}
    starts = _starts(root)
    starts[start["key"]] = (starts.get(start["key"], []) + [entry])[-KEEP:]
    newest = sorted(starts, key=lambda k: max((e.get("at", 0) for e in starts[k] if isinstance(e.get("at"), (int, float))),
                                              default=0))
    for old in newest[:-KEYS]:
        del starts[old]
    _write(root / REPORT, {"starts": starts})
    return entry


def summary(entry: Mapping[str, Any]) -> str:
    """'ready in 34.0 s: imports 12 s, weights 41 s, graphs 63 s (cold caches)'."""
    phases = entry.get("phases") if isinstance(entry.get("phases"), dict) else {}
    parts = [f"{name} {seconds:.0f} s" for name, seconds in phases.items()
             if isinstance(seconds, (int, float)) and seconds >= 0.5]
    warm = [str(w) for w in entry.get("warm_caches") or []]
    caches = f"warm caches: {', '.join(warm)}" if warm else "cold caches"
    total = entry.get("total")
    total_text = f"{total:.1f} s" if isinstance(total, (int, float)) else "?"
    return f"{entry.get('result', '?')} after {total_text}: {', '.join(parts) or 'every phase under 1 s'} ({caches})"


def recent(root: Path, limit: int = 3) -> list[str]:
    """The last `limit` starts of any key, newest first, one line each (for doctor)."""
    entries = [e for v in _starts(root).values() for e in v if isinstance(e.get("at"), (int, float))]
    entries = [e for _, e in sorted(enumerate(entries), key=lambda p: (p[1]["at"], p[0]), reverse=True)]
    lines = []
    for e in entries[:limit]:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e["at"]))
        lines.append(f"{when} {e.get('model')} (SGLang {e.get('version')}): {summary(e)}")
    return lines


# ------------------------------------------------------------------ the edges `serve` and `wait` call

def note_launch(values, plan_, pid: int) -> None:
    """`serve`, just before exec: which caches were warm, and the key of this start."""
    from ..launch import plan as launch
    from ..config import settings

    root = settings.path(values, "SGLANG_RUNTIME_CACHE")
    dirs = {name: plan_.env_changes.get(name) or os.environ.get(name, "") for name in launch.CACHE_DIRS}
    public, _ = plan_.split()
    model = plan_.model_dir.name if plan_.model_dir is not None else str(values.get("SGLANG_MODEL"))
    note_start(root, start_key(plan_.version, public), str(values.get("SGLANG_MODEL") or model), plan_.version, pid,
               warm_caches({k: v for k, v in dirs.items() if v}))


def watch_view(values, pid: int | None, as_json: bool):
    """(the view `wait` feeds, the start `serve` noted or None). The estimate is the last same start's total."""
    import sys
    import time

    from ..config import settings
    from . import startup_view

    root = settings.path(values, "SGLANG_RUNTIME_CACHE")
    start = pending(root, pid)
    last = last_start(root, start["key"]) if start else None
    mode = "json" if as_json else ("live" if sys.stderr.isatty() else "plain")
    view = startup_view.StartupView(mode, sys.stdout if as_json else sys.stderr, time.monotonic,
                                    offset=startup_view.process_age(pid) if pid else 0.0,
                                    estimate=last["total"] if last else None)
    return view, start


def finish(values, start: Mapping[str, Any], view, result: str) -> str:
    """Record the start; the line `wait` prints about it."""
    from ..config import settings

    root = settings.path(values, "SGLANG_RUNTIME_CACHE")
    entry = record(root, start, result, view.now(), view.durations())
    return f"start-up report ({root / REPORT}): {summary(entry)}"
