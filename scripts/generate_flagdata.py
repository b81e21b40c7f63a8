#!/usr/bin/env python3
"""Write SGLang's own flags and environment variables, per release, as data the launcher reads.

For every release in the test matrix (scripts/sglang-deps-*.txt, installed by
scripts/install-sglang.sh), ask the release's REAL parser
(`ServerArgs.add_cli_args` on an `argparse.ArgumentParser`, in a worker from
tests/sglang_support.py) for its actions, and its environment registry (the
`Envs` class plus the SGLANG_*/SGL_* literals of its sources,
sglang_support.env_registry), and write one small JSON file per release to
runtime/sglang_runtime/launch/releases/sglang-VERSION.json. The launcher loads only
the file of the release it builds for (sglang_runtime.launch.flagdata).

tests/test_contract.py (test_flag_data_matches_the_real_release) regenerates
every file and fails on any difference, so the data cannot drift from the releases.

Usage: .venv/bin/python scripts/generate_flagdata.py [VERSION ...]   (default: the whole matrix)
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = REPO / "runtime" / "sglang_runtime" / "launch" / "releases"
sys.path.insert(0, str(REPO / "tests"))
import sglang_support as sg  # noqa: E402

COLUMNS = ["option strings (space-separated)", "dest", "nargs (values taken; argparse's ?, *, +)",
           "type (null: text; int and float are checked before launch, other SGLang converters are not)",
           "choices", "marks"]
MARKS = {
    "s": "carries a secret: masked in everything printed",
    "d": "deprecated (a Deprecated* action: SGLang warns when it is used, or fails: see refused)",
}

# Secret-bearing flags, found by reading every release's parser: a flag that
# takes one free-text value and whose name ends in one of these words or
# whose help speaks of one. In 0.5.9-0.5.23 that is --api-key,
# --admin-api-key and --ssl-keyfile-password (0.5.10 on). Near misses that
# are not secrets: --ssl-keyfile / --ssl-certfile (paths), --speculative-token-map
# (a path), --kt-max-deferred-experts-per-token and other *-token(s) counts (ints).
SECRET_WORDS = frozenset({"key", "password", "passwd", "passphrase", "secret", "token", "credential", "credentials"})
SECRET_HELP = re.compile(r"\b(api[ -]key|password|passphrase|secret|credentials?|access[ -]key|bearer)\b", re.I)
TEXT_TYPES = frozenset({None, "str", "nullable_str"})
# Secret by what SGLang itself redacts, not by name: --watermark-config (0.5.22 on) takes a path or
# inline JSON holding the watermark keys, and SGLang's own launch-command rendering hides its value.
SECRET_OPTIONS = frozenset({"--watermark-config"})


def _nargs(action: dict) -> int | str:
    nargs = action["nargs"]
    return 1 if nargs is None else nargs


def is_secret(action: dict) -> bool:
    if _nargs(action) != 1 or action["type"] not in TEXT_TYPES or action["action"] != "_StoreAction":
        return False
    if SECRET_OPTIONS.intersection(action["option_strings"]):
        return True
    named = any(option.lstrip("-").split("-")[-1] in SECRET_WORDS for option in action["option_strings"])
    return named or bool(SECRET_HELP.search(action["help"] or ""))


def _type(action: dict) -> str | None:
    return None if action["type"] == "str" else action["type"]


def release_data(version: str) -> dict:
    """The data for one release, from its real parser and registry."""
    parser = sg.parser_actions(version)
    if not parser["allow_abbrev"] or parser["prefix_chars"] != "-":
        # The launcher's reading of extra arguments assumes argparse's defaults.
        raise SystemExit(f"sglang {version}: parser has allow_abbrev={parser['allow_abbrev']} "
                         f"prefix_chars={parser['prefix_chars']!r}; update sglang_runtime.launch.flagdata")
    rows = []
    for action in parser["actions"]:
        marks = ("s" if is_secret(action) else "") + ("d" if action["action"].startswith("Deprecated") else "")
        rows.append([" ".join(action["option_strings"]), action["dest"], _nargs(action), _type(action),
                     action["choices"], marks])
    # Flags the parser still lists but refuses whenever they are used, with SGLang's own message.
    refused = {action["option_strings"][0]: action["error_message"]
               for action in parser["actions"] if action["error_message"]}
    return {"sglang": version, "generated_by": "scripts/generate_flagdata.py", "allow_abbrev": True,
            "columns": COLUMNS, "marks": MARKS, "refused": refused, "actions": rows, "env": sorted(sg.env_registry(version))}


def render(data: dict) -> str:
    """Stable text: one action or variable per line, so a release's diff reads as what changed."""
    head = {k: v for k, v in data.items() if k not in ("actions", "env")}
    lines = ["{"]
    lines += [f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    lines.append('"actions": [')
    lines.append(",\n".join(json.dumps(row, ensure_ascii=False) for row in data["actions"]))
    lines.append("],")
    lines.append('"env": [')
    lines.append(",\n".join(json.dumps(name) for name in data["env"]))
    lines.append("]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def path_for(version: str) -> Path:
    return DATA_DIR / f"sglang-{version}.json"


def write(version: str) -> Path:
    text = render(release_data(version))
    json.loads(text)  # never write what the launcher could not read
    target = path_for(version)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, target)
    return target


def main(argv: list[str]) -> None:
    versions = argv or list(sg.VERSIONS)
    unknown = [v for v in versions if v not in sg.VERSIONS]
    if unknown:
        raise SystemExit(f"not in the matrix (no scripts/sglang-deps-VERSION.txt): {', '.join(unknown)}")
    for i, version in enumerate(versions):
        if i + 1 < len(versions):
            sg.prefetch(versions[i + 1])
        target = write(version)
        print(f"{target.relative_to(REPO)}: {target.stat().st_size} bytes", file=sys.stderr)
    if not argv:
        for stale in set(DATA_DIR.glob("sglang-*.json")) - {path_for(v) for v in versions}:
            stale.unlink()
            print(f"removed {stale.relative_to(REPO)} (no longer in the matrix)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
