"""The thin Typer CLI. Each command parses its arguments, calls one library
function and prints. Commands are grouped by stage in sibling modules:

- ``spec_commands``: validate, impact, graph, schema, import-dictionary
- ``build_commands``: build
- ``db_commands``: deploy, bootstrap, run, status, verify, rebuild, introspect, demo, schedule

Exit codes: 0 ok, 1 problems found in the input (spec errors, stale build,
verify differences), 2 the tool itself failed.
"""

from __future__ import annotations

import importlib
import sys

import typer

from cdcgen.errors import CdcgenError

app = typer.Typer(
    name="cdcgen",
    help="Compile YAML mapping specs into pure-SQL CDC for Amazon Redshift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in ("spec_commands", "build_commands", "db_commands", "demo_commands"):
    try:
        importlib.import_module(f"cdcgen.cli.{_module}")
    except ModuleNotFoundError as exc:  # a stage not built yet
        if exc.name != f"cdcgen.cli.{_module}":
            raise


def main() -> None:
    try:
        app()
    except CdcgenError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
