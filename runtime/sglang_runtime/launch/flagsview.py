"""What `sglang-runtime flags` shows: for one release, the flags the launcher manages and all the others. Pure."""

from __future__ import annotations

from typing import Any

from . import argv, flagdata
from ..config import settings


def _usage(action: flagdata.Action) -> str:
    """An option as argparse's usage writes it: `--x`, `--x VALUE`, `--x {a,b}`, `--x VALUE [VALUE ...]`."""
    meta = "{" + ",".join(map(str, action.choices)) + "}" if action.choices else "VALUE"
    nargs = action.nargs
    if nargs == 0:
        return ""
    if nargs == "?":
        return f" [{meta}]"
    if nargs == "*":
        return f" [{meta} ...]"
    if nargs == "+":
        return f" {meta} [{meta} ...]"
    return " " + " ".join([meta] * int(nargs))


def describe(version: str, release: flagdata.Release) -> dict[str, Any]:
    """{"sglang", "data", "managed": [...], "other": [...]} as plain data (the --json output)."""
    always = argv.managed(release)
    managed = []
    for s in settings.TABLE:
        if not s.flags:
            continue
        dests = {d for d, (env, _) in argv.managed(release, {s.env: True}).items() if env == s.env}
        managed.append({
            "setting": s.env,
            "flag": argv.spelling(s, release),
            "refused_in_extra_args": [o for a in release.actions if a.dest in dests for o in a.options],
            "only_while_set": sorted({d for d in dests if d not in always}),
        })
    conditional = {d: m["setting"] for m in managed for d in m["only_while_set"]}
    other = []
    for a in release.actions:
        if a.dest in always or a.dest == "help":
            continue
        other.append({"options": list(a.options), "dest": a.dest, "nargs": a.nargs, "type": a.type,
                      "choices": list(a.choices) if a.choices is not None else None,
                      "secret": a.secret, "deprecated": a.deprecated,
                      "refused_while_set": conditional.get(a.dest)})
    return {"sglang": version, "data": release.version, "managed": managed, "other": other}


def text(view: dict[str, Any]) -> list[str]:
    lines = [f"SGLang {view['sglang']} (flag data of SGLang {view['data']})", "",
             "Managed by the launcher: set the variable; SGLANG_EXTRA_ARGS / SGLANG_ARGS_FILE may not set these flags",
             "under any spelling (aliases and unique prefixes included):"]
    width = max(len(m["setting"]) for m in view["managed"])
    for m in view["managed"]:
        flag = m["flag"] or f"(no flag in SGLang {view['data']})"
        also = [o for o in m["refused_in_extra_args"] if o not in (m["flag"] or "").split()]
        note = f"   also refused: {', '.join(also)}" if also else ""
        lines.append(f"  {m['setting']:<{width}}  {flag}{note}")
    lines += ["", f"Other flags of SGLang {view['data']} ({len(view['other'])}), for SGLANG_EXTRA_ARGS / SGLANG_ARGS_FILE:"]
    for o in view["other"]:
        action = flagdata.Action(tuple(o["options"]), o["dest"], o["nargs"], o["type"],
                                 tuple(o["choices"]) if o["choices"] is not None else None, "")
        marks = [m for m, on in (("secret: masked when printed", o["secret"]), ("deprecated", o["deprecated"])) if on]
        if o["refused_while_set"]:
            marks.append(f"refused while {o['refused_while_set']} is on")
        tail = f"   ({'; '.join(marks)})" if marks else ""
        lines.append(f"  {', '.join(o['options'])}{_usage(action)}{tail}")
    return lines
