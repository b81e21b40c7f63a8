"""Text from outside (server logs, model files, server answers, variable names, URLs) made inert on a terminal.

A terminal acts on control characters: ESC starts sequences that move the cursor, set the window
title (OSC 0) or write the clipboard (OSC 52); CR and the Unicode line and paragraph separators
start a line that can pass for one of ours; bidi overrides reorder what is shown. Each of them is
shown escaped instead (`\\x1b`, `\\u202e`), so every byte we print is one the user can see.
Pure: str in, str out, linear (one str.translate).
"""

from __future__ import annotations

_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_LINES = (0x2028, 0x2029)


def _table(keep: str) -> dict[int, str]:
    table = {cp: f"\\x{cp:02x}" for cp in (*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)) if chr(cp) not in keep}
    table.update({cp: f"\\u{cp:04x}" for cp in (*_BIDI, *_LINES)})
    # Lone surrogates (undecodable bytes read with surrogateescape) cannot be written to a terminal at all.
    table.update({cp: f"\\u{cp:04x}" for cp in range(0xD800, 0xE000)})
    return table


_ONE_LINE = _table("\t")
_MULTI_LINE = _table("\t\n")


def line(text: object) -> str:
    """One line, inert: every control character (newlines too) escaped."""
    return str(text).translate(_ONE_LINE)


def block(text: object) -> str:
    """Inert text that may span lines (an answer, a JSON document): newlines kept, everything else escaped."""
    return str(text).translate(_MULTI_LINE)
