"""`wait` and `query` against hostile HTTP peers (real sockets on loopback): deadlines are wall-clock,
bodies and lines are bounded, and every ending is one line with a documented exit code."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


class Hostile:
    """Accepts connections and answers each by `behaviour`, a function of the socket."""

    def __init__(self, behaviour) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.behaviour = behaviour
        self.stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn) -> None:
        try:
            conn.recv(65536)
            self.behaviour(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


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
