"""Release numbers as tuples: what SGLang, transformers and the flag data are compared by."""

from __future__ import annotations

Version = tuple[int, ...]


def parse_version(text: str) -> Version:
    """'0.5.10rc1' -> (0, 5, 10); only the leading numeric components count."""
    parts: list[int] = []
    for piece in text.strip().split("."):
        digits = ""
        for ch in piece:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(piece):
            break
    return tuple(parts)
