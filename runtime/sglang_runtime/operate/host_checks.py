"""The GPU and host checks doctor runs: pure, facts in (nvidia-smi rows, a /dev/shm size), checks out."""

from __future__ import annotations

import os
from typing import Sequence

from ..host import gpu
from ..util.checks import FAIL, OK, WARN, Check
from ..util.errors import ConfigError

MIN_DRIVER = 550
SHM_MIN_BYTES = 1 << 30
TARGETS_SETTING = "SGLANG_CUDA_CAPABILITIES"
DEFAULT_TARGETS = "7.5,8.0,8.6,8.9,9.0,10.0,12.0"  # SM75..SM120, the default build


def parse_targets(text: str) -> tuple[tuple[int, int], ...]:
    """'7.5,8.0,9.0' or 'sm_75,sm_90' -> ((7, 5), (8, 0), (9, 0)); ConfigError names the setting."""
    targets = []
    for item in text.replace(";", ",").split(","):
        item = item.strip().lower().removeprefix("sm_").removeprefix("sm").removeprefix("compute_")
        if not item:
            continue
        try:
            if "." in item:
                major, minor = item.split(".", 1)
                targets.append((int(major), int(minor.rstrip("af"))))
            else:
                digits = item.rstrip("af")
                targets.append((int(digits[:-1]), int(digits[-1])))
        except ValueError:
            raise ConfigError(TARGETS_SETTING, text, "comma-separated compute capabilities such as 7.5,8.0,9.0,12.0") from None
    if not targets:
        raise ConfigError(TARGETS_SETTING, text, "at least one compute capability such as 9.0")
    return tuple(sorted(set(targets)))


def runs_on(cap: tuple[int, int], targets: Sequence[tuple[int, int]]) -> bool:
    """CUDA binaries built for M.n run on M.m with m >= n (same major), not across majors."""
    return any(t_major == cap[0] and t_minor <= cap[1] for t_major, t_minor in targets)


def _targets_text(targets: Sequence[tuple[int, int]]) -> str:
    return ", ".join(f"SM{a}{b}" for a, b in targets)


def gpu_checks(probe: gpu.Probe, cuda_visible_devices: str | None,
               targets: Sequence[tuple[int, int]]) -> list[Check]:
    if probe.error is not None:
        return [Check("gpus", FAIL, f"no GPU: {probe.error}",
                      "SGLang needs an NVIDIA GPU and driver; on Kubernetes request nvidia.com/gpu and use "
                      "flox.dev/activate-mode: dev so CUDA detection runs")]
    checks = []
    names = "; ".join(f"{g.index}: {g.name}, {g.sm}, {g.memory_mib} MiB, driver {g.driver}" for g in probe.gpus)
    checks.append(Check("gpus", OK, f"{len(probe.gpus)} GPU(s): {names}"))

    unsupported = [g for g in probe.gpus if g.compute_cap is None or not runs_on(g.compute_cap, targets)]
    if unsupported:
        bad = ", ".join(f"GPU {g.index} {g.name} ({g.sm})" for g in unsupported)
        checks.append(Check("compute-capability", FAIL,
                            f"{bad} not in the build's targets ({_targets_text(targets)})",
                            f"use a GPU the build targets, or a build for this architecture (then set {TARGETS_SETTING})"))
    else:
        checks.append(Check("compute-capability", OK, f"{', '.join(sorted({g.sm for g in probe.gpus}))} within {_targets_text(targets)}"))

    drivers = sorted({g.driver for g in probe.gpus})
    old = [d for d in drivers if (gpu.driver_major(d) or 0) < MIN_DRIVER]
    if old:
        checks.append(Check("driver", FAIL, f"driver {', '.join(old)} is older than {MIN_DRIVER}",
                            f"install an NVIDIA driver >= {MIN_DRIVER} (the CUDA 12 runtime SGLang ships needs it)"))
    else:
        checks.append(Check("driver", OK, f"driver {', '.join(drivers)} (>= {MIN_DRIVER})"))

    seen = gpu.visible(probe.gpus, cuda_visible_devices)
    if cuda_visible_devices is None:
        checks.append(Check("visible-devices", OK, f"CUDA_VISIBLE_DEVICES unset: all {len(seen.gpus)} GPU(s) visible"))
    elif any("not checked" not in p for p in seen.problems) or not (seen.gpus or seen.problems):
        checks.append(Check("visible-devices", FAIL, "; ".join(seen.problems) or f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r} selects no GPU",
                            f"set CUDA_VISIBLE_DEVICES to indices nvidia-smi lists ({', '.join(str(g.index) for g in probe.gpus)}) or unset it"))
    elif seen.problems:
        checks.append(Check("visible-devices", WARN, "; ".join(seen.problems)))
    else:
        checks.append(Check("visible-devices", OK, f"CUDA_VISIBLE_DEVICES={cuda_visible_devices} -> GPU(s) {', '.join(str(g.index) for g in seen.gpus)}"))
    return checks


def shm_check(size_bytes: int | None, tp: int) -> Check:
    if size_bytes is None:
        return Check("shm", WARN if tp > 1 else OK, "/dev/shm not found" + (" (tensor parallel needs it)" if tp > 1 else ""),
                     "mount a tmpfs at /dev/shm (Kubernetes: an emptyDir with medium: Memory)" if tp > 1 else "")
    size = f"/dev/shm is {size_bytes / (1 << 20):.0f} MiB"
    if tp > 1 and size_bytes < SHM_MIN_BYTES:
        return Check("shm", WARN, f"{size} with tensor parallel {tp}: NCCL and the TP broadcast queue need more",
                     "give /dev/shm at least 1 GiB (docker --shm-size=16g; Kubernetes: emptyDir medium: Memory, sizeLimit: 16Gi)")
    return Check("shm", OK, size)


def shm_size(path: str = "/dev/shm") -> int | None:
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_frsize * st.f_blocks
