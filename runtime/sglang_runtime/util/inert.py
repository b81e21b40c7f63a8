"""Text from outside (server logs, model files, server answers, variable names, URLs) made inert on a terminal.

A terminal acts on control characters: ESC starts sequences that move the cursor, set the window
title (OSC 0) or write the clipboard (OSC 52); CR and the Unicode line and paragraph separators
start a line that can pass for one of ours; bidi overrides reorder what is shown. Each of them is
shown escaped instead (`\\x1b`, `\\u202e`), so every byte we print is one the user can see.
Pure: str in, str out, linear (one regex character class).
"""

from __future__ import annotations

import re

# C0 controls, DEL, C1 controls; bidi marks and overrides; line and paragraph separators; lone surrogates
# (undecodable bytes read with surrogateescape cannot be written to a terminal at all). A character class,
# not a translation table: building a 2,300-entry table cost 3 ms of every command's start.
_OTHERS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff"
_ONE_LINE = re.compile(f"[\x00-\x08\x0a-\x1f\x7f-\x9f{_OTHERS}]")
_MULTI_LINE = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f{_OTHERS}]")


def _escaped(match: re.Match) -> str:
    cp = ord(match.group())
    return f"\\x{cp:02x}" if cp < 0x100 else f"\\u{cp:04x}"


def line(text: object) -> str:
    """One line, inert: every control character (newlines too) escaped."""
    return _ONE_LINE.sub(_escaped, str(text))


def block(text: object) -> str:
    """Inert text that may span lines (an answer, a JSON document): newlines kept, everything else escaped."""
    return _MULTI_LINE.sub(_escaped, str(text))
