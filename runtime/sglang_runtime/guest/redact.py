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


def _escapes(text: str) -> set[str]:
    """`text` as the inside of a Python repr (either quote) or a JSON string (ASCII or not, `/` escaped or not)."""
    import json

    escaped = text.replace("\\", "\\\\")
    return {
        escaped,
        escaped.replace("'", "\\'"),
        escaped.replace('"', '\\"'),
        escaped.replace('"', '\\"').replace("/", "\\/"),
        repr(text)[1:-1],
        json.dumps(text)[1:-1],
        json.dumps(text, ensure_ascii=False)[1:-1],
        text.encode("unicode_escape").decode("ascii"),
    }


def forms(secret: str) -> set[str]:
    """Every literal way a secret shows up in text SGLang writes: as is, inside a Python repr (either
    quote), inside JSON, both of those twice (a repr of a JSON text, a JSON of a repr), and
    URL-encoded with nothing safe. URL-encoding with any other `safe` set: url_pattern()."""
    once = {secret} | _escapes(secret)
    found = once | {twice for form in once for twice in _escapes(form)} | {quote(secret, safe="")}
    return {f for f in found if f}


# Bytes that urllib.parse.quote never encodes, whatever `safe` says.
_ALWAYS_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~")


def _hex_class(digit: str) -> str:
    return f"[{digit.upper()}{digit.lower()}]" if digit.isalpha() else digit


def url_pattern(secret: str) -> str | None:
    """A regex for the secret URL-encoded with ANY `safe` set (each character as itself or as its
    %XX bytes, either case of hex): quote(k, safe="/"), quote(k, safe=":@"), quote_plus, .... None
    when no character could be encoded (then the literal form is the only one)."""
    if all(b in _ALWAYS_SAFE for b in secret.encode("utf-8")):
        return None
    parts = []
    for char in secret:
        encoded = "".join("%" + "".join(_hex_class(d) for d in f"{b:02X}") for b in char.encode("utf-8"))
        plus = "|\\+" if char == " " else ""
        parts.append(f"(?:{encoded}|{re.escape(char)}{plus})")
    return "".join(parts)


def url_prefix_at(data: bytes, start: int, secret: bytes) -> bool:
    """Whether data[start:] is an unfinished URL-encoded form of `secret` (for holding it back)."""
    j, k = 0, start
    while k < len(data):
        if j == len(secret):
            return False
        if data[k] == 0x25:  # '%'
            digits = data[k + 1:k + 3]
            if not all(d in b"0123456789abcdefABCDEF" for d in digits):
                if secret[j] != 0x25:
                    return False
                k, j = k + 1, j + 1
                continue
            if len(digits) < 2:
                return True
            if int(digits, 16) == secret[j]:
                k, j = k + 3, j + 1
                continue
            if secret[j] != 0x25:
                return False
            k, j = k + 1, j + 1
        elif data[k] == secret[j]:
            k, j = k + 1, j + 1
        else:
            return False
    return j < len(secret)


def redact_text(text: str, secrets) -> str:
    """Replace every form of every secret, longest first (a secret may contain another)."""
    for form in sorted({f for s in secrets for f in forms(s)}, key=len, reverse=True):
        text = text.replace(form, MASK)
    for pattern in filter(None, (url_pattern(s) for s in set(secrets))):
        text = re.sub(pattern, MASK, text)
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
        self._url = [(re.compile(p.encode("utf-8")), s.encode("utf-8")) for s in set(secrets) if (p := url_pattern(s))]
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
        for _, secret in self._url:
            for i in range(max(0, len(data) - 3 * len(secret)), len(data) - keep):
                if data[i] in (secret[0], 0x25) and url_prefix_at(data, i, secret):
                    keep = len(data) - i
                    break
        return keep

    def _open_match(self, data: bytes) -> int:
        """Where a form that ends at the very end of `data` begins (else len(data)): the next write may
        make it a longer form ("...%" + "25" is the key's "%" encoded), which must win as it would whole."""
        start, end = len(data), len(data) - 2
        if b"\n" in data[end:]:
            return start
        for pattern in self._patterns:
            i = data.find(pattern, max(0, end - len(pattern)))
            if i != -1 and i + len(pattern) >= end:
                start = min(start, i)
        for pattern, secret in self._url:
            for m in pattern.finditer(data, max(0, end - 12 * len(secret))):
                if m.end() >= end:
                    start = min(start, m.start())
        return start

    def _emit(self, final: bool) -> None:
        cut = len(self._pending) if final else self._open_match(self._pending)
        data, rest = self._pending[:cut], self._pending[cut:]
        for pattern in self._patterns:
            data = data.replace(pattern, self._mask)
        for pattern, _ in self._url:
            data = pattern.sub(self._mask, data)
        keep = 0 if final else self._held_back(data)
        out, self._pending = (data[:-keep], data[-keep:] + rest) if keep else (data, rest)
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


# scheme://user:password@ or scheme://token@ : the userinfo of any URL, whoever wrote it (HF_ENDPOINT,
# a proxy, --url). Linear: the userinfo run stops at the first '/', '@' or space.
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]{0,30}://)[^/@\s]{1,2048}@")


def mask_url_credentials(text: str) -> str:
    return _USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)


def url_secrets(url: str) -> set[str]:
    """The password (or the token given as a user name) in a URL, as written and percent-decoded."""
    from urllib.parse import unquote, urlsplit

    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return set()
    found = {parts.password, parts.username if parts.password is None else None}
    return {form for value in found if value for form in (value, unquote(value)) if len(form) >= 4}


def mask(text: str, secrets=(), flags=()) -> str:
    """The rule, whole: known secrets in any form, then any secret flag's value, then any URL's credentials."""
    return mask_url_credentials(mask_flag_values(redact_text(text, secrets), flags))
