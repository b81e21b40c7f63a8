"""The one safe reader: odd files become one ConfigError naming the file, never a hang or a traceback."""

from __future__ import annotations

import json
import os
import threading

import pytest

from sglang_runtime.util import files
from sglang_runtime.util.errors import ConfigError


def _refused(path, **kw) -> str:
    with pytest.raises(ConfigError) as info:
        files.read_json(path, "SGLANG_X", "a config", **kw)
    message = str(info.value)
    assert message.startswith("SGLANG_X=") and "\n" not in message
    return message


def test_fifo_is_refused_at_once_not_waited_on(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    done = threading.Event()
    result = {}

    def read():
        try:
            files.read_text(fifo, "SGLANG_ARGS_FILE", "a file of arguments", files.ARGS_LIMIT)
        except ConfigError as exc:
            result["error"] = str(exc)
        done.set()

    threading.Thread(target=read, daemon=True).start()
    assert done.wait(5), "reading a FIFO blocked"
    assert "a regular file, not a FIFO" in result["error"]


def test_endless_device_is_refused_without_reading_it():
    message = _refused("/dev/zero")
    assert "not a character device" in message


def test_directory_and_missing_file(tmp_path):
    assert "not a directory" in _refused(tmp_path)
    assert "No such file" in _refused(tmp_path / "absent.json")


def test_size_cap_names_the_limit(tmp_path):
    big = tmp_path / "big.json"
    big.write_bytes(b" " * (2 * files.KiB + 1))
    assert "at most 2 KiB" in _refused(big, limit=2 * files.KiB)


@pytest.mark.parametrize("content, expected", [
    (b"\xff\xfe{}", "in UTF-8"),
    (b"[1, 2]", "as a JSON object, not a JSON array"),
    (b'"text"', "not a JSON string"),
    (b"{", "in valid JSON (line 1"),
    (b"[" * 100000 + b"]" * 100000, "nested"),
    (b'{"a": ' + b"9" * 5000 + b"}", "a number too large"),
    (("{\"a\": " + "[" * 70 + "1" + "]" * 70 + "}").encode(), "nested more than"),
])
def test_decoding_and_shape_errors_are_one_line(tmp_path, content, expected):
    path = tmp_path / "c.json"
    path.write_bytes(content)
    message = _refused(path)
    assert expected in message
    assert len(message) < 300  # the file's contents are never quoted


def test_byte_order_mark_is_dropped(tmp_path):
    path = tmp_path / "c.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"ok": 1}).encode())
    assert files.read_json(path, "SGLANG_X", "a config") == {"ok": 1}


def test_optional_file(tmp_path):
    assert files.read_json_if_present(tmp_path / "none.json", "SGLANG_X", "a config") is None
