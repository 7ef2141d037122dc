"""``cdcgen demo``: the vendor pipeline on a throwaway PostgreSQL, with sample data
and a few cycles of realistic changes. The CLI lives in ``cdcgen.cli.demo_commands``;
this package never imports the CLI."""

from cdcgen.demo.runner import CycleReport, DemoOptions, DemoResult, Observer, run_demo
from cdcgen.demo.server import DemoServer, ServerFailed, start_server

__all__ = [
    "CycleReport",
    "DemoOptions",
    "DemoResult",
    "DemoServer",
    "Observer",
    "ServerFailed",
    "run_demo",
    "start_server",
]
