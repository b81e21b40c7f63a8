"""`wait` and `query` against hostile HTTP peers (real sockets on loopback): deadlines are wall-clock,
bodies and lines are bounded, and every ending is one line with a documented exit code.
The peers are tests/standin_http.Hostile: raw sockets, for misbehaviour no HTTP server library produces."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from standin_http import Hostile

BIN = Path(sys.executable).parent


def trickle_headers(conn, stop):
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 10_000:
        if stop.is_set():
            return
        conn.sendall(bytes([byte]))
        time.sleep(0.3)


def trickle_stream(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n")
    while not stop.is_set():
        conn.sendall(b"d")
        time.sleep(0.3)


def endless_body(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"choices\": [")
    chunk = b'{"x": 1}, ' * 10_000
    while not stop.is_set():
        conn.sendall(chunk)


def endless_event(conn, stop):
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\ndata: ")
    chunk = b"x" * 100_000
    while not stop.is_set():
        conn.sendall(chunk)


def _cli(*args, timeout=60):
    started = time.monotonic()
    proc = subprocess.run([str(BIN / "sglang-runtime"), *args], capture_output=True, text=True, timeout=timeout,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    return proc, time.monotonic() - started


WAIT = ["wait", "--timeout", "3", "--interval", "0.5"]
QUERY = ["query", "hi", "--timeout", "3", "--model", "m"]


# `wait` reads only the status line and headers, so only a trickle before them can hold it.
@pytest.mark.parametrize("args, behaviour", [(WAIT, trickle_headers), (QUERY, trickle_headers), (QUERY, trickle_stream),
                                             (QUERY + ["--stream"], trickle_headers), (QUERY + ["--stream"], trickle_stream)])
def test_a_trickling_server_cannot_stretch_the_deadline(args, behaviour):
    peer = Hostile(behaviour)
    try:
        proc, took = _cli(*args, "--url", peer.url)
    finally:
        peer.close()
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert took < 3 + 5, f"ran {took:.1f} s for a 3 s deadline"
    assert len([line for line in proc.stderr.splitlines() if ": error: " in line]) == 1


@pytest.mark.parametrize("behaviour, stream, says", [(endless_body, False, "exceeds 16 MiB"),
                                                     (endless_event, True, "an event longer than 1 MiB")])
def test_an_endless_answer_is_cut_off_not_buffered(behaviour, stream, says):
    peer = Hostile(behaviour)
    try:
        proc, took = _cli("query", "hi", "--timeout", "60", "--model", "m", "--url", peer.url, *(["--stream"] if stream else []))
    finally:
        peer.close()
    assert proc.returncode == 1 and says in proc.stderr and took < 30, proc.stderr
