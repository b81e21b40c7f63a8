"""Waiting for an SGLang server to be ready to generate, not merely listening.

SGLang's start-up has three observable phases (see shared notes): the port is
closed while weights load; then `/health_generate` answers 503 until warm-up
ends; then 200 after a real one-token forward pass. `/v1/models` answers 200
before warm-up ends, so it is not a readiness signal and is never polled here.
"""

from __future__ import annotations

import os
import shlex
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

READY_PATH = "/health_generate"

# Phases, in the order a healthy start passes through them.
REFUSED = "refused"      # nothing listens yet (weights loading)
STARTING = "starting"    # listening, not warmed up (503)
READY = "ready"          # 200 from a real forward pass
UNEXPECTED = "unexpected"  # anything else: wrong URL, wrong key, proxy in the way

EXIT_READY, EXIT_TIMEOUT, EXIT_DIED = 0, 1, 4
DIED, FATAL, TIMEOUT = "died", "fatal", "timeout"
# How often the process and the log are looked at, whatever the HTTP poll interval: a fatal
# log line or a dead server ends the wait within this long.
TICK = 0.25


@dataclass(frozen=True)
class Observation:
    state: str
    detail: str


@dataclass(frozen=True)
class Outcome:
    result: str                 # READY, TIMEOUT, DIED or FATAL
    elapsed: float
    last: Observation | None
    exit_status: int | None = None  # the server's, when result == DIED and it could be read
    fatal: str | None = None        # the fatal log line's description, when result == FATAL

    @property
    def exit_code(self) -> int:
        return {READY: EXIT_READY, DIED: EXIT_DIED, FATAL: EXIT_DIED}.get(self.result, EXIT_TIMEOUT)


class LogWatch:
    """Follows a server log: the lines written since the last look, and the log's end for a diagnosis.

    The log is read from its start (it is this start's log), in bounded pieces, never blocking:
    a FIFO or a device given by mistake is refused like any other odd file.
    """

    CHUNK = 1 << 20
    TAIL = 8 << 20

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = os.fspath(path)
        self._offset = 0
        self._partial = b""
        # Called with every batch of new lines (empty on a quiet tick): the start-up phases (startup_view).
        self.observer: Callable[[list[str]], None] | None = None

    def _open(self) -> int | None:
        import stat

        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            return None  # not there yet: the server may not have written a line
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return fd

    def new_lines(self) -> list[str]:
        fd = self._open()
        if fd is None:
            return []
        try:
            size = os.fstat(fd).st_size
            if size < self._offset:  # truncated or replaced: start over
                self._offset, self._partial = 0, b""
            skipped = size - self._offset > self.TAIL
            if skipped:
                # Far behind (a big log when the wait starts): read from the end, so a fatal line
                # there is seen within a tick, not after the whole log has been read piece by piece.
                self._offset, self._partial = size - self.TAIL, b""
            os.lseek(fd, self._offset, os.SEEK_SET)
            data = os.read(fd, max(self.CHUNK, min(size - self._offset, self.TAIL)))
        finally:
            os.close(fd)
        self._offset += len(data)
        if skipped:
            data = data.partition(b"\n")[2]  # the cut line's head is gone: drop its tail too
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        if len(self._partial) > self.CHUNK:  # a line without end: look at it anyway
            complete, self._partial = data, b""
        return _lines(complete)

    def fatal(self) -> str | None:
        from . import causes

        lines = self.new_lines()
        if self.observer is not None:
            self.observer(lines)
        for line in lines:
            found = causes.fatal(line)
            if found:
                return found
        return None

    def tail_lines(self) -> list[str]:
        """The log's last TAIL bytes, as lines (for the root-cause diagnosis)."""
        fd = self._open()
        if fd is None:
            return []
        try:
            size = os.fstat(fd).st_size
            os.lseek(fd, max(0, size - self.TAIL), os.SEEK_SET)
            data = os.read(fd, self.TAIL)
        finally:
            os.close(fd)
        return _lines(data)


def _lines(data: bytes) -> list[str]:
    """A log's lines end at "\n" only (and a CRLF's "\r"): a "\r", "\x85" or U+2028 inside a line is
    the line's own text (shown escaped), never the start of a line that looks like the server's."""
    if not data:
        return []
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def classify_status(status: int) -> Observation:
    if status == 200:
        return Observation(READY, "200")
    if status == 503:
        return Observation(STARTING, "503")
    if status == 401:
        return Observation(UNEXPECTED, "401: the server wants a different API key")
    if status == 404:
        return Observation(UNEXPECTED, f"404: no {READY_PATH} here; is this an SGLang server?")
    return Observation(UNEXPECTED, str(status))


def probe(client, url: str, api_key: str | None, timeout: float) -> Observation:
    """One GET of /health_generate; connection errors become observations, never exceptions."""
    import httpx2

    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        # The status is the answer; the body is never read (a hostile peer may send one without end).
        with client.stream("GET", url.rstrip("/") + READY_PATH, headers=headers, timeout=timeout) as response:
            status = response.status_code
    except httpx2.ConnectError:
        return Observation(REFUSED, "connection refused")
    except httpx2.TimeoutException:
        # A warm-up forward pass can outlast our request: still starting.
        return Observation(STARTING, f"no answer within {timeout:.0f} s")
    except httpx2.HTTPError as exc:
        return Observation(UNEXPECTED, f"{type(exc).__name__}: {exc}")
    return classify_status(status)


def process_exit(pid: int) -> tuple[bool, int | None]:
    """(gone, exit status if it could be read) for a process we may or may not have started.

    Our own child is reaped with waitpid. Any other process is read from
    /proc/PID/stat: an exited process that its parent has not yet reaped is a
    zombie whose field 52 holds the wait status. Once reaped, only "gone" is known.
    """
    try:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return True, os.waitstatus_to_exitcode(status)
        return False, None
    except ChildProcessError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True, None
    except OSError:
        stat = ""
    if stat:
        # The command name (field 2) may hold spaces and parentheses; fields restart after the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if fields and fields[0] in ("Z", "X"):
            code = int(fields[49]) if len(fields) > 49 and fields[49].isdigit() else None
            return True, os.waitstatus_to_exitcode(code) if code is not None else None
        return False, None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True, None
    except PermissionError:
        pass
    return False, None


class StreamWatch(LogWatch):
    """The same, for a log arriving on a pipe (`--log -`): `flox services logs sglang --follow |
    sglang-runtime wait --log -`, `kubectl logs -f ... | sglang-runtime wait --log -`.
    Reads whatever has arrived without blocking; keeps the last lines for the diagnosis."""

    KEEP = 20000

    def __init__(self, fd: int = 0) -> None:
        import fcntl

        super().__init__("-")
        self._fd = fd
        self._ended = False
        self._seen: deque[str] = deque(maxlen=self.KEEP)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
        except OSError:
            self._ended = True

    def new_lines(self) -> list[str]:
        data = b""
        while not self._ended and len(data) < self.CHUNK:
            try:
                chunk = os.read(self._fd, self.CHUNK)
            except BlockingIOError:
                break
            except OSError:
                chunk = b""
            if not chunk:
                self._ended = True
                break
            data += chunk
        data = self._partial + data
        complete, _, self._partial = data.rpartition(b"\n")
        if self._ended and self._partial:
            complete, self._partial = data, b""
        lines = _lines(complete)
        self._seen.extend(lines)
        return lines

    def tail_lines(self) -> list[str]:
        self.new_lines()
        return list(self._seen)


def _probe_into(into: dict, client, url: str, api_key: str | None, timeout: float) -> None:
    try:
        into["seen"] = probe(client, url, api_key, timeout)
    except Exception as exc:  # noqa: BLE001 - a thread's traceback would reach the user's terminal
        into["seen"] = Observation(UNEXPECTED, type(exc).__name__)


def wait(url: str, timeout: float = 900.0, interval: float = 2.0, api_key: str | None = None,
         pid: int | None = None, on_change: Callable[[Observation, float], None] | None = None,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
         log: LogWatch | None = None) -> Outcome:
    """Poll until ready, the deadline, the server process (`pid`) exiting, or a fatal line in its `log`.

    The HTTP endpoint is polled every `interval`; the process and the log every TICK. The
    deadline is wall-clock: a server that answers a byte at a time cannot stretch it.
    """
    import httpx2

    from ..util.deadline import DeadlineExceeded, wall_clock

    start = clock()
    last: Observation | None = None
    next_probe = start

    def ended() -> Outcome | None:
        if pid is not None:
            gone, status = process_exit(pid)
            if gone:
                return Outcome(DIED, clock() - start, last, status)
        if log is not None:
            found = log.fatal()
            if found:
                return Outcome(FATAL, clock() - start, last, fatal=found)
        return None

    import threading

    pending: dict[str, Observation] = {}
    probing: threading.Thread | None = None
    try:
        with wall_clock(timeout), httpx2.Client(timeout=30.0) as client:
            while True:
                outcome = ended()
                if outcome is not None:
                    return outcome
                now = clock()
                remaining = timeout - (now - start)
                if remaining <= 0:
                    return Outcome(TIMEOUT, now - start, last)
                if probing is not None and not probing.is_alive():
                    probing = None
                    seen = pending.pop("seen")
                    if on_change is not None and (last is None or seen != last):
                        on_change(seen, clock() - start)
                    last = seen
                    if seen.state == READY:
                        return Outcome(READY, clock() - start, seen)
                    next_probe = clock() + interval
                if probing is None and clock() >= next_probe:
                    # In a thread of its own: a probe may take up to 30 s (a warm-up forward pass, a
                    # peer that accepts and never answers), and a dead server or a fatal log line
                    # must still end the wait within a TICK.
                    probing = threading.Thread(target=_probe_into, daemon=True,
                                               args=(pending, client, url, api_key, max(1.0, min(30.0, remaining))))
                    probing.start()
                sleep(min(TICK, max(0.0, timeout - (clock() - start))))
    except DeadlineExceeded:
        return ended() or Outcome(TIMEOUT, clock() - start, last)


def default_url(port: int, host: str = "127.0.0.1") -> str:
    return f"http://{host}:{port}"


def ready_exports(url: str, api_key: str | None, show_secrets: bool = False) -> list[str]:
    """Shell lines that point an OpenAI client at this server."""
    lines = [f"export OPENAI_BASE_URL={shlex.quote(url.rstrip('/') + '/v1')}"]
    if api_key is None:
        # OpenAI clients insist on some key; SGLang without --api-key ignores it.
        lines.append("export OPENAI_API_KEY=EMPTY")
    elif show_secrets:
        lines.append(f"export OPENAI_API_KEY={shlex.quote(api_key)}")
    else:
        lines.append("export OPENAI_API_KEY='***'  # masked: add --show-secrets to print it")
    return lines


def log_tail(watch: LogWatch, lines: int = 40, width: int = 2000) -> list[str]:
    """The last `lines` lines of the log (each cut at `width` characters), or why there are none."""
    if not isinstance(watch, StreamWatch):
        if not os.path.lexists(watch.path):
            return [f"(log file {watch.path} does not exist)"]
        if not os.path.isfile(watch.path):
            return [f"(log file {watch.path} is not a regular file)"]
    found = watch.tail_lines()[-lines:]
    return [line if len(line) <= width else line[:width] + " [...]" for line in found] or ["(the log is empty)"]
