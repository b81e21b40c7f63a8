"""host:port as SGLang's distributed flags take it: DNS names, IPv4, bracketed IPv6.

Below the settings table (which parses SGLANG_DIST_INIT_ADDR with it) and the topology rules (nodes.py).
"""

from __future__ import annotations

import ipaddress
import re

from .errors import ConfigError

_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
ADDRESS_EXPECTED = "host:port ([v6 address]:port for IPv6), or auto in a LeaderWorkerSet pod"


def valid_host(host: str) -> bool:
    """A DNS name (RFC 1123 labels) or an IPv4 address; IPv6 is handled by split_host_port."""
    if not host or len(host) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in host.rstrip(".").split("."))


def split_host_port(name: str, raw: str) -> tuple[str, int]:
    """'host:port' or '[v6]:port' -> (host, port); the host keeps its brackets, as SGLang expects them."""
    text = raw.strip()
    if text.startswith("["):
        end = text.find("]")
        inner = text[1:end] if end > 0 else ""
        try:
            ipaddress.IPv6Address(inner)
        except ValueError:
            raise ConfigError(name, raw, f"{ADDRESS_EXPECTED}; {text[:end + 1] or text!r} is not an IPv6 address") from None
        host, rest = text[:end + 1], text[end + 1:]
        if not rest.startswith(":"):
            raise ConfigError(name, raw, f"{ADDRESS_EXPECTED}; no :port after {host}")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep:
            raise ConfigError(name, raw, f"{ADDRESS_EXPECTED}; no :port")
        if ":" in host:
            raise ConfigError(name, raw, f"{ADDRESS_EXPECTED}; write an IPv6 address in brackets: [{host}]:{port_text}")
        if not valid_host(host):
            raise ConfigError(name, raw, f"{ADDRESS_EXPECTED}; {host!r} is not a host name or IPv4 address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ConfigError(name, raw, f"{ADDRESS_EXPECTED}; the port must be an integer from 1 to 65535")
    return host, int(port_text)


def parse_address(name: str, raw: str) -> str:
    """The settings table's parser for SGLANG_DIST_INIT_ADDR: 'auto' or a validated host:port."""
    if raw.strip().lower() == "auto":
        return "auto"
    host, port = split_host_port(name, raw)
    return f"{host}:{port}"


def join_host_port(host: str, port: int) -> str:
    try:
        ipaddress.IPv6Address(host)
    except ValueError:
        return f"{host}:{port}"
    return f"[{host}]:{port}"
