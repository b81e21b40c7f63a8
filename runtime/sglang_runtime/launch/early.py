"""User mistakes that would otherwise surface late, or as "this is a bug": found at plan time (dry run
included), each one ConfigError line naming the setting. Pure: values in, an error or nothing out.
"""

from __future__ import annotations

import ipaddress
from typing import Sequence

from ..util.errors import ConfigError

# The kernel refuses a single argument (or environment string) longer than this at exec (E2BIG):
# MAX_ARG_STRLEN = 32 pages of 4096 bytes, including the terminating NUL (include/uapi/linux/binfmts.h).
MAX_ARG_STRLEN = 131072
HOST_EXPECTED = "an IP address or a host name (dot-separated labels of 1 to 63 letters, digits or '-', 253 characters in all)"


def check_bind_host(setting: str, host: str | None) -> None:
    """SGLANG_HOST: an address uvicorn can bind, or a name the resolver accepts (an over-long label
    makes Python's IDNA codec fail deep inside the server's start-up)."""
    from ..util.address import valid_host

    if not host:
        return
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not valid_host(host):
        raise ConfigError(setting, host, HOST_EXPECTED)


def check_arguments(setting: str, shown: str, tokens: Sequence[str]) -> None:
    """Arguments exec can pass: no NUL byte (a C string ends there), none longer than MAX_ARG_STRLEN."""
    for number, token in enumerate(tokens, 1):
        if "\0" in token:
            raise ConfigError(setting, shown, f"arguments without a NUL byte (argument {number} has one)")
        size = len(token.encode("utf-8", "surrogateescape")) + 1
        if size > MAX_ARG_STRLEN:
            raise ConfigError(setting, shown, f"arguments of at most {MAX_ARG_STRLEN - 1} bytes each, the kernel's limit "
                                              f"(argument {number} has {size - 1})")
