"""Wall-clock deadlines: a command given N seconds ends after N seconds, whatever the peer does.

An HTTP client's timeout bounds each read, not the whole exchange: a server
that trickles one byte every half second keeps a 30 s read timeout happy for
ever. A real-time interval timer (SIGALRM) interrupts any blocking call at the
deadline instead. Signals reach only the main thread, which is where the CLI
runs; elsewhere (a library caller's worker thread) the block runs unbounded
and the caller's own per-call timeouts apply.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator


class DeadlineExceeded(Exception):
    """The wall-clock deadline passed."""


@contextmanager
def wall_clock(seconds: float | None) -> Iterator[None]:
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise DeadlineExceeded()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
