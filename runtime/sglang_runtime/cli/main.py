"""Command line: the only module that prints or exits, and so the one place where text leaves the program.

Exit codes: 0 success (or dry run); 1 did not succeed (wait timed out, query failed, doctor
found a failure, or an unexpected error: one line, the traceback only with
SGLANG_RUNTIME_DEBUG=1); 2 bad configuration; 3 preflight failed; 4 the server died or
logged that it cannot become ready.

Everything printed goes through `output.emit`, which applies the one masking rule (redact.mask):
every form of every secret this invocation has seen, and the value of every secret flag.
"""

from __future__ import annotations

import os
import sys

# PYTHONPATH belongs to the serving interpreter (the Flox hook points it at SGLang's closure,
# built for another Python); the launcher only reads it as data (versions.site_dirs), so its
# own imports must come from its own environment first. Stable sort: moves those entries last.
_serving = frozenset(filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)))
sys.path.sort(key=_serving.__contains__)

import importlib  # noqa: E402

import click  # noqa: E402

from .. import DISTRIBUTION  # noqa: E402
from . import serving  # noqa: E402
from .output import settings_epilog  # noqa: E402

# Commands the service path never runs load only when named (or for --help): `sglang-serve` imports
# serving.py and nothing else of the command line (benchmarks/cli_startup.py).
LAZY = {"wait": "operating:wait_cmd", "query": "operating:query_cmd", "doctor": "operating:doctor_cmd",
        "batch": "batch_cli:batch_cmd"}


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY and name not in self.commands:
            module, attr = LAZY[name].split(":")
            self.add_command(getattr(importlib.import_module(f"{__package__}.{module}"), attr), name)
        return super().get_command(ctx, name)


@click.group(cls=_Group, epilog=settings_epilog())
@click.version_option(package_name=DISTRIBUTION, prog_name="sglang-runtime")
def main() -> None:
    """Run SGLang reproducibly: resolve the model, validate settings, launch and operate the server."""


for _command in (serving.resolve_model, serving.serve, serving.settings_cmd, serving.flags_cmd, serving.activate_env):
    main.add_command(_command)


def resolve_model_main() -> None:
    serving.resolve_model(prog_name="sglang-resolve-model")


def serve_main() -> None:
    serving.serve(prog_name="sglang-serve")
