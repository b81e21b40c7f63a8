"""A check's result, as doctor reports it: name, status, message, and the fix.

Below both doctor (host checks) and the model readers (model checks), which produce them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

OK, WARN, FAIL = "ok", "warn", "fail"


@dataclass(frozen=True)
class Check:
    name: str
    status: str
    message: str
    fix: str = ""

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def failed(checks: Sequence[Check]) -> bool:
    return any(c.status == FAIL for c in checks)


# ---------------------------------------------------------------- GPUs
