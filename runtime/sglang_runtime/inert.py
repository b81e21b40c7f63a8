"""Text from outside (a server log, a model file) made inert before it reaches a terminal."""

from __future__ import annotations

# C0 controls but tab, DEL, and C1 controls (0x80-0x9f: a lone 0x9b is a CSI on some terminals).
_TABLE = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), *range(0x0a, 0x20), 0x7f, *range(0x80, 0xa0))}


def inert(text: str) -> str:
    """`text` with every control character but tab written as \\xNN: no escape sequence, no carriage return."""
    return text.translate(_TABLE)
