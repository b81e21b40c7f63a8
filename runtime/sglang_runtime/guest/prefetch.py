"""Read the model's weight files into the page cache from the hand-over, while SGLang imports (runs INSIDE the server).

SGLang opens its first weight file only after its imports and the scheduler's
spawn (~7 s on our CPU runs, longer with CUDA initialisation). The launcher
knows the files before that, so the bootstrap starts this reader the moment
it runs, before SGLang imports anything: a forked process of its own
(so it never holds SGLang's GIL), that the kernel kills when the server's
main process ends (PR_SET_PDEATHSIG), and that the server reaps when it is done.

What it does, and why:
- reads each file sequentially with large `preadv()`s into one reused
  buffer, opened O_RDONLY: the kernel's readahead hint (WILLNEED) did
  nothing on our filesystem (../shared/notes/page-cache.md), a plain read does;
- before each block, asks the kernel with RWF_NOWAIT whether the block's
  last page is already cached; if so it skips the block without waiting: a warm cache costs one
  4 KiB probe per block, and where SGLang's loader (or its own prefetch
  threads) got there first this reader does not read behind it;
- runs at the lowest CPU priority (nice 19): it needs little CPU, SGLang's
  imports need all they can get;
- writes one line when done (files, bytes read, bytes already cached, seconds).

Which files, in which order and whether they fit in memory is decided by the
launcher (prefetch_plan.py) and handed over as JSON in _SGLANG_RUNTIME_PREFETCH:
{"dir": model directory, "files": [names in SGLang's load order], "block": bytes}.

Standard library only, Python 3.10 syntax (see bootstrap.py).
"""

from __future__ import annotations

import json
import os
import threading
import time

ENV = "_SGLANG_RUNTIME_PREFETCH"
BLOCK = 32 << 20
PAGE = 4096
NAME = "sglang-prefetch"  # the reader's process name (15 characters at most)
PR_SET_PDEATHSIG, PR_SET_NAME = 1, 15


def parse(raw: str) -> tuple[list[str], int] | None:
    """The hand-over's (file paths, block size), or None if it is not what the launcher writes."""
    try:
        spec = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("dir"), str) or not isinstance(spec.get("files"), list):
        return None
    names = spec["files"]
    # Names inside the directory only: the launcher lists them, nothing else may be read.
    if not all(isinstance(n, str) and n and "/" not in n and n not in (".", "..") for n in names):
        return None
    block = spec.get("block", BLOCK)
    if not isinstance(block, int) or isinstance(block, bool) or not PAGE <= block <= 1 << 30:
        return None
    return [os.path.join(spec["dir"], n) for n in names], block


def cached(fd: int, offset: int, probe: bytearray) -> bool:
    """Whether the page at `offset` is in the page cache, asked without waiting for the disk."""
    try:
        return os.preadv(fd, [probe], offset, os.RWF_NOWAIT) > 0
    except (OSError, AttributeError, ValueError):
        # EAGAIN: not cached. Other errors (no RWF_NOWAIT on this kernel or filesystem): we cannot tell, so read.
        return False


def read_file(path: str, buffer: bytearray, alive=lambda: True) -> tuple[int, int]:
    """(bytes read, bytes skipped because already cached) for one file, read-only."""
    view, probe = memoryview(buffer), bytearray(PAGE)
    done = skipped = 0
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        offset = 0
        while offset < size and alive():
            n = min(len(buffer), size - offset)
            if cached(fd, max(offset, offset + n - PAGE), probe):
                skipped += n
            else:
                got = os.preadv(fd, [view[:n]], offset)
                if got <= 0:
                    break
                n = got
                done += n
            offset += n
    finally:
        os.close(fd)
    return done, skipped


def _printable(text: str) -> str:
    # File names come from the model folder: never a terminal escape in the log.
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def run(paths: list[str], block: int, log, alive=lambda: True) -> dict:
    """Read every file in order while alive(); one line to `log` at the end. Never raises for a file it cannot read."""
    began = time.monotonic()
    buffer = bytearray(block)
    read = skipped = 0
    failed: list[str] = []
    for path in paths:
        if not alive():
            break
        try:
            r, s = read_file(path, buffer, alive)
        except OSError as exc:
            failed.append(_printable(f"{os.path.basename(path)} ({exc.strerror or exc})"))
            continue
        read, skipped = read + r, skipped + s
    seconds = time.monotonic() - began
    result = {"files": len(paths), "read": read, "cached": skipped, "seconds": round(seconds, 3), "failed": failed}
    problems = f"; could not read {', '.join(failed)}" if failed else ""
    log(f"sglang-runtime prefetch: {len(paths)} weight file(s): {read / 1e9:.2f} GB read, "
        f"{skipped / 1e9:.2f} GB already cached, in {seconds:.1f} s{problems}\n")
    return result


def _die_with(parent: int) -> None:
    """The reader must not outlive the server: the kernel kills it when its parent ends (Linux)."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        libc.prctl(PR_SET_NAME, NAME.encode(), 0, 0, 0)
    except (OSError, AttributeError):
        pass  # no prctl: alive() below still stops it at the next block
    if os.getppid() != parent:  # the parent ended before prctl took effect
        os._exit(0)


def _reader(paths: list[str], block: int, parent: int) -> None:
    code = 1
    try:
        _die_with(parent)
        try:
            # The lowest CPU priority: the reader needs little CPU, SGLang's imports need all they can get.
            # A process of its own, so a niced reader never holds SGLang's GIL.
            os.setpriority(os.PRIO_PROCESS, 0, 19)
        except OSError:
            pass
        run(paths, block, lambda line: os.write(2, line.encode("utf-8", "backslashreplace")),
            lambda: os.getppid() == parent)
        code = 0
    finally:
        os._exit(code)  # never the server's atexit handlers, never its buffers


def start(environ, log) -> int | None:
    """Take the hand-over out of `environ` (SGLang's children must not see it) and fork the reader.
    Called before SGLang's imports, while this process has one thread: fork is safe here."""
    raw = environ.pop(ENV, None)
    if not raw:
        return None
    parsed = parse(raw)
    if parsed is None:
        log(f"sglang-runtime prefetch: {ENV} is not the launcher's hand-over; not prefetching\n")
        return None
    paths, block = parsed
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError as exc:
        log(f"sglang-runtime prefetch: cannot start the reader ({exc.strerror}); not prefetching\n")
        return None
    if pid == 0:
        _reader(paths, block, parent)
    # Reap it when it ends, so no zombie stays beside the server (waitpid releases the GIL while it waits).
    threading.Thread(target=_reap, args=(pid,), name=NAME, daemon=True).start()
    return pid


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
