"""The thin Typer CLI. Each command parses its arguments, calls one library
function and prints. Commands are grouped by stage in sibling modules:

- ``spec_commands``: validate, impact, graph, schema, import-dictionary
- ``build_commands``: build
- ``db_commands``: deploy, bootstrap, run, status, verify, rebuild, introspect
- ``demo_commands``: demo, schedule

Exit codes (``cdcgen.cli.output``): 0 ok, 1 the input or the data is wrong,
2 the tool or the connection failed (uncaught exceptions included).

Start-up stays fast: command modules import the library (sqlglot, pydantic,
psycopg, redshift_connector, rich, boto3) inside the command functions, so
``cdcgen --help`` loads none of it (tests/test_cli_startup.py).
"""

from __future__ import annotations

import importlib
import sys

import typer

from cdcgen.cli import output
from cdcgen.cli.output import TOOL_FAILED, scrub

app = typer.Typer(
    name="cdcgen",
    help="Compile YAML mapping specs into pure-SQL CDC for Amazon Redshift.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain Click help: it wraps option help at any width instead of cutting it with
    # "…" in narrow rich panels, and it spares --help the import of rich.
    rich_markup_mode=None,
)

for _module in ("spec_commands", "build_commands", "db_commands", "demo_commands"):
    try:
        importlib.import_module(f"cdcgen.cli.{_module}")
    except ModuleNotFoundError as exc:  # a stage not built yet
        if exc.name != f"cdcgen.cli.{_module}":
            raise


def main() -> None:
    """The console script: a crash that escaped a command still exits 2, not 1."""
    output.ONE_SHOT = True
    try:
        app()
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except BaseException as exc:
        typer.secho(
            scrub(f"error: internal error: {type(exc).__name__}: {exc}"), fg="red", err=True
        )
        sys.exit(TOOL_FAILED)
