"""What GPUs the host has, from nvidia-smi's CSV query, and which of them CUDA_VISIBLE_DEVICES selects.

nvidia-smi is used rather than torch or NVML bindings: it ships with the driver
(so it works before any Python CUDA stack is installed), starts in well under a
second, and is what SGLang itself runs to size its memory defaults.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass

QUERY_FIELDS = ("index", "name", "compute_cap", "memory.total", "driver_version")
NVIDIA_SMI_ARGS = ("--query-gpu=" + ",".join(QUERY_FIELDS), "--format=csv,noheader,nounits")

# nvidia-smi prints these instead of a value when a field does not apply.
_MISSING = frozenset({"[N/A]", "[Not Supported]", "N/A", ""})


@dataclass(frozen=True)
class Gpu:
    index: int
    name: str
    compute_cap: tuple[int, int] | None
    memory_mib: int | None
    driver: str

    @property
    def sm(self) -> str:
        """'SM90' style label; '?' when nvidia-smi could not say."""
        if self.compute_cap is None:
            return "?"
        major, minor = self.compute_cap
        return f"SM{major}{minor}"


@dataclass(frozen=True)
class Probe:
    """The outcome of asking nvidia-smi: GPUs, or why there are none."""

    gpus: tuple[Gpu, ...]
    error: str | None = None


def parse_compute_cap(text: str) -> tuple[int, int] | None:
    text = text.strip()
    if text in _MISSING:
        return None
    major, _, minor = text.partition(".")
    if not major.isdigit() or not (minor or "0").isdigit():
        raise ValueError(f"compute capability {text!r} is not MAJOR.MINOR")
    return int(major), int(minor or "0")


def parse_query_csv(text: str) -> list[Gpu]:
    """Rows of `nvidia-smi --query-gpu=index,name,compute_cap,memory.total,driver_version
    --format=csv,noheader,nounits` -> Gpu values. Raises ValueError on a malformed row."""
    gpus = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        # A GPU name never contains ", " but be strict about the count so a
        # different field list (an older caller) fails loudly, not silently.
        cells = [c.strip() for c in line.split(",")]
        if len(cells) != len(QUERY_FIELDS):
            raise ValueError(f"line {lineno}: expected {len(QUERY_FIELDS)} comma-separated fields, got {len(cells)}: {line[:80]!r}")
        index, name, cap, memory, driver = cells
        if not index.isdigit():
            raise ValueError(f"line {lineno}: GPU index {index!r} is not a number")
        try:
            mem = None if memory in _MISSING else int(float(memory))
        except (ValueError, OverflowError):
            raise ValueError(f"line {lineno}: memory {memory[:20]!r} is not a number of MiB") from None
        if mem is not None and mem < 0:
            raise ValueError(f"line {lineno}: memory {memory[:20]!r} is negative")
        try:
            compute_cap = parse_compute_cap(cap)
        except ValueError as exc:
            raise ValueError(f"line {lineno}: {exc}") from None
        gpus.append(Gpu(int(index), name, compute_cap, mem, driver))
    return gpus


def driver_major(version: str) -> int | None:
    head = version.strip().split(".", 1)[0]
    return int(head) if head.isdigit() else None


def probe(nvidia_smi: str = "nvidia-smi", timeout: float = 15.0) -> Probe:
    """Run nvidia-smi (the only effect in this module); never raises for a missing or failing tool."""
    try:
        # errors="replace": a broken driver or a wrong binary may print anything.
        done = subprocess.run([nvidia_smi, *NVIDIA_SMI_ARGS], capture_output=True, text=True, errors="replace",
                              timeout=timeout)
    except FileNotFoundError:
        return Probe((), f"{nvidia_smi} not found: no NVIDIA driver on this host (or it is not on PATH)")
    except PermissionError:
        return Probe((), f"{nvidia_smi} is not executable")
    except OSError as exc:
        return Probe((), f"{nvidia_smi} could not be run ({exc.strerror or type(exc).__name__})")
    except subprocess.TimeoutExpired:
        return Probe((), f"{nvidia_smi} did not answer within {timeout:.0f} s (driver hung?)")
    if done.returncode != 0:
        detail = (done.stderr.strip() or done.stdout.strip()).splitlines()
        reason = detail[-1] if detail else f"exit status {done.returncode}"
        if "compute_cap" in reason:
            reason += " (drivers older than 510 cannot report compute capability)"
        return Probe((), f"{nvidia_smi} failed: {reason}")
    try:
        gpus = parse_query_csv(done.stdout)
    except ValueError as exc:
        return Probe((), f"could not read {nvidia_smi} output: {exc}")
    if not gpus:
        return Probe((), f"{nvidia_smi} lists no GPU")
    return Probe(tuple(gpus))


@dataclass(frozen=True)
class Visible:
    gpus: tuple[Gpu, ...]
    problems: tuple[str, ...] = ()


def visible(gpus: list[Gpu] | tuple[Gpu, ...], cuda_visible_devices: str | None) -> Visible:
    """The GPUs a CUDA process will see, and what in CUDA_VISIBLE_DEVICES does not match the host.

    CUDA stops at the first entry it cannot resolve, so a bad entry hides every
    device after it; we report that rather than guess past it.
    """
    if cuda_visible_devices is None:
        return Visible(tuple(gpus))
    value = cuda_visible_devices.strip()
    if value in ("", "-1", "none", "NoDevFiles"):
        return Visible((), (f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} hides every GPU",))
    by_index = {g.index: g for g in gpus}
    chosen: list[Gpu] = []
    problems: list[str] = []
    for entry in value.split(","):
        entry = entry.strip()
        if entry.startswith(("GPU-", "MIG-")):
            # UUIDs are not in our query; trust them but say we could not check.
            problems.append(f"CUDA_VISIBLE_DEVICES entry {entry!r} is a UUID; not checked against nvidia-smi")
            continue
        if not entry.isdigit():
            problems.append(f"CUDA_VISIBLE_DEVICES entry {entry!r} is not a device index; CUDA ignores it and everything after it")
            break
        gpu = by_index.get(int(entry))
        if gpu is None:
            problems.append(f"CUDA_VISIBLE_DEVICES names GPU {entry}, but nvidia-smi lists only {sorted(by_index)}")
            break
        if gpu in chosen:
            problems.append(f"CUDA_VISIBLE_DEVICES lists GPU {entry} twice")
            break
        chosen.append(gpu)
    return Visible(tuple(chosen), tuple(problems))
