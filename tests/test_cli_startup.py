"""``cdcgen --help`` starts fast: importing the CLI loads none of the heavy libraries
(they load inside the command functions). Asserted on sys.modules, not on timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = (
    "sqlglot",
    "pydantic",
    "psycopg",
    "redshift_connector",
    "rich",
    "boto3",
    "botocore",
    "jinja2",
    "ruamel",
    "yaml",
    "cdcgen.validate",
    "cdcgen.spec.model",
    "cdcgen.render",
    "cdcgen.deploy.ops",
    "cdcgen.demo",
)

PROBE = """
import json, sys
import cdcgen.cli
EXTRA
heavy = HEAVY
loaded = {m for m in sys.modules for h in heavy if m == h or m.startswith(h + ".")}
print(json.dumps(sorted(loaded)))
"""


def _loaded(extra: str = "") -> list[str]:
    env = {**os.environ, "COLUMNS": "80"}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.replace("EXTRA", extra).replace("HEAVY", repr(HEAVY))],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return json.loads(out.splitlines()[-1])


def test_importing_the_cli_loads_no_heavy_module() -> None:
    assert _loaded() == []


HELP = """
from cdcgen.cli import app
from typer.main import get_command
command = get_command(app)
for args in ARGS:
    try:
        command.main(args, prog_name="cdcgen", standalone_mode=False)
    except SystemExit:
        pass
"""


def test_help_loads_no_heavy_module() -> None:
    assert _loaded(HELP.replace("ARGS", repr([["--help"]]))) == []


def test_command_help_loads_only_what_typer_needs() -> None:
    """Typer (0.29) coerces parameters with pydantic, so a command's --help loads it;
    nothing of cdcgen's own heavy imports loads."""
    commands = ["validate", "build", "deploy", "run", "status", "schedule", "demo"]
    loaded = _loaded(HELP.replace("ARGS", repr([[c, "--help"] for c in commands])))
    assert [m for m in loaded if not m.startswith("pydantic")] == []


def test_help_is_readable_at_80_columns() -> None:
    """Plain Click help wraps option help instead of cutting it with '…' in a panel."""
    env = {**os.environ, "COLUMNS": "80"}
    commands = ("deploy", "schedule", "demo", "build", "bootstrap", "run", "rebuild", "status")
    for args in (["--help"], *([c, "--help"] for c in commands)):
        text = subprocess.run(
            [sys.executable, "-c", "from cdcgen.cli import main; main()", *args],
            capture_output=True,
            text=True,
            env=env,
        ).stdout
        assert text, args
        assert all(len(line) <= 80 for line in text.splitlines()), args
        assert not any(line.rstrip().endswith("…") for line in text.splitlines()), args


def test_python_m_cdcgen_help_loads_no_heavy_module() -> None:
    """``python -m cdcgen --help`` (cdcgen/__main__.py) is as light as the console script."""
    run = """
import runpy
sys.argv = ["cdcgen", "--help"]
try:
    runpy.run_module("cdcgen", run_name="__main__")
except SystemExit:
    pass
"""
    assert _loaded(run) == []


def test_one_shot_is_only_the_console_script() -> None:
    """Importing the CLI (as tests and other programs do) leaves the collector policy of
    a one-shot process off; cdcgen.cli.main turns it on."""
    probe = "import cdcgen.cli.output as o; print(o.ONE_SHOT)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
