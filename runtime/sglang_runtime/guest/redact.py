"""The one masking rule: every printed text loses every form of every secret, and every secret flag's value.

Used where text leaves the launcher (cli) and inside SGLang's processes (bootstrap, which
loads this file by path: it runs under the serving interpreter, where this package is not
importable). Standard library only, Python 3.10 syntax, for the same reason.
"""

from __future__ import annotations

import io
import re
from urllib.parse import quote

MASK = "***"


def forms(secret: str) -> set[str]:
    """Every way a secret shows up in text SGLang writes: as is, inside a Python repr (either
    quote), inside JSON, and URL-encoded."""
    escaped = secret.replace("\\", "\\\\")
    found = {
        secret,
        escaped,
        escaped.replace("'", "\\'"),
        escaped.replace('"', '\\"'),
        escaped.replace('"', '\\"').replace("/", "\\/"),
        quote(secret, safe=""),
        secret.encode("unicode_escape").decode("ascii"),
    }
    return {f for f in found if f}


def redact_text(text: str, secrets) -> str:
    """Replace every form of every secret, longest first (a secret may contain another)."""
    for form in sorted({f for s in secrets for f in forms(s)}, key=len, reverse=True):
        text = text.replace(form, MASK)
    return text


class RedactingWriter(io.RawIOBase):
    """A binary stream that writes to `sink` with every form of every secret replaced.

    A secret can be split across two writes; bytes that could be the start of one are held
    back until the next write shows whether they are. Newlines never occur in a secret
    (the launcher refuses such keys), so a line always passes in full.
    """

    def __init__(self, sink, secrets, encoding: str = "utf-8") -> None:
        super().__init__()
        self._sink = sink
        patterns = set()
        for form in {f for s in secrets for f in forms(s)}:
            patterns.add(form.encode("utf-8"))
            patterns.add(form.encode(encoding, "backslashreplace"))
        self._patterns = sorted(patterns, key=len, reverse=True)
        self._mask = MASK.encode("ascii")
        self._pending = b""

    def writable(self) -> bool:
        return True

    def _held_back(self, data: bytes) -> int:
        """How many trailing bytes might be the beginning of a secret (the longest such tail)."""
        keep = 0
        for pattern in self._patterns:
            i = data.find(pattern[:1], max(0, len(data) - len(pattern) + 1))
            while i != -1:
                if pattern.startswith(data[i:]):
                    keep = max(keep, len(data) - i)
                    break
                i = data.find(pattern[:1], i + 1)
        return keep

    def _emit(self, final: bool) -> None:
        data = self._pending
        for pattern in self._patterns:
            data = data.replace(pattern, self._mask)
        keep = 0 if final else self._held_back(data)
        out, self._pending = (data[:-keep], data[-keep:]) if keep else (data, b"")
        if out:
            self._sink.write(out)
        self._sink.flush()

    def write(self, b) -> int:
        self._pending += bytes(b)
        self._emit(final=False)
        return len(b)

    def flush(self) -> None:
        if not self.closed:
            self._emit(final=False)

    def drain(self) -> None:
        self._emit(final=True)

    def isatty(self) -> bool:
        return self._sink.isatty()

    def fileno(self) -> int:
        return self._sink.fileno()


MIN_PREFIX = 5  # argparse takes any unique prefix of a flag: "--api-k" is --api-key


def secret_flag_for(name: str, flags) -> str | None:
    """The secret flag `name` spells — itself or, as argparse allows, a prefix of it — else None."""
    if name in flags:
        return name
    if len(name) < MIN_PREFIX or not name.startswith("--"):
        return None
    matches = [flag for flag in flags if flag.startswith(name)]
    return matches[0] if len(matches) == 1 else None


def _prefix_pattern(flag: str) -> str:
    """--api-key -> --api(?:-(?:k(?:e(?:y)?)?)?)? : the flag or any prefix of it MIN_PREFIX long or more."""
    head, tail = flag[:MIN_PREFIX], flag[MIN_PREFIX:]
    pattern = ""
    for char in reversed(tail):
        pattern = f"(?:{re.escape(char)}{pattern})?"
    return re.escape(head) + pattern


def mask_flag_values(text: str, flags) -> str:
    """`--api-key K` / `--api-key=K` (or any prefix argparse would take) -> `--api-key ***` in free text
    (a refused argument list, say), including a quoted value; for values the caller could not know."""
    if not flags:
        return text
    names = "|".join(_prefix_pattern(f) for f in sorted(flags, key=len, reverse=True))
    # A quoted value (closed, or cut short at whitespace) or a bare word, glued together as a shell would.
    value = r"""(?:'[^']*'|"(?:\\.|[^"\\])*"|'[^'\s]*|"[^"\s]*|[^\s'"]+)+"""

    def hide(m: re.Match) -> str:
        found = m.group(2)
        if found.strip("'\"") == MASK:  # already masked (a quoted argv): leave its quoting alone
            return m.group(0)
        # The flag was inside a quoted word ('--api-key=K'): the word's closing quote is not the value's.
        tail = found[-1] if found[-1] in "'\"" and found.count(found[-1]) % 2 else ""
        return m.group(1) + MASK + tail

    return re.sub(rf"((?:{names})(?![\w-])(?:=|\s+))({value})", hide, text)


def mask(text: str, secrets=(), flags=()) -> str:
    """The rule, whole: known secrets in any form, then any secret flag's value."""
    return mask_flag_values(redact_text(text, secrets), flags)
