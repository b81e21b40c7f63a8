"""A cold page cache for one file, without root (../shared/notes/page-cache.md): the prefetch tests and
benchmarks/cold_start.py start from it."""

from __future__ import annotations

import os
from pathlib import Path


def evict(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)  # dirty pages are not dropped
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
