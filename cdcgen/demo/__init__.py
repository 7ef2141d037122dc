"""``cdcgen demo [SPEC]``: a pipeline on a throwaway PostgreSQL, with sample data
(the vendor example's curated data, or data generated from any spec) and a few
cycles of realistic changes, verified after every run. The CLI lives in ``cdcgen.cli.demo_commands``;
this package never imports the CLI."""

from cdcgen.demo.runner import (
    CycleReport,
    DemoOptions,
    DemoResult,
    Observer,
    SilentObserver,
    default_spec,
    example_spec,
    run_demo,
)
from cdcgen.demo.server import DemoServer, ServerFailed, start_server

__all__ = [
    "CycleReport",
    "DemoOptions",
    "DemoResult",
    "DemoServer",
    "Observer",
    "ServerFailed",
    "SilentObserver",
    "default_spec",
    "example_spec",
    "run_demo",
    "start_server",
]
