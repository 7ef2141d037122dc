"""``cdcgen demo`` (the vendor pipeline end to end on a throwaway PostgreSQL) and
``cdcgen schedule`` (the EventBridge definition that runs a pipeline in Redshift)."""

from __future__ import annotations

import json
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cdcgen.cli import app
from cdcgen.cli.output import TOOL_FAILED, reported, scrub
from cdcgen.errors import CdcgenError

if TYPE_CHECKING:  # rich, the demo data and boto3 load inside the commands
    from rich.console import Console

    from cdcgen.demo import DemoOptions, DemoResult, DemoServer


@app.command()
def demo(
    dsn: Annotated[
        str,
        typer.Option(
            "--dsn",
            help="Run on this PostgreSQL (postgresql://…) instead of an embedded server. "
            "Use an empty database, or --reset. CDCGEN_DSN is deliberately not read.",
            show_default=False,
        ),
    ] = "",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            file_okay=False,
            help="Data directory of the embedded server (default: a temporary one).",
        ),
    ] = None,
    scale: Annotated[
        float,
        typer.Option("--scale", min=0.01, help="Data size: 1 = 300 companies, 10 = 3,000."),
    ] = 1.0,
    cycles: Annotated[
        int, typer.Option("--cycles", min=0, help="CDC cycles to run after the bootstrap.")
    ] = 4,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same data and changes.")] = 42,
    keep: Annotated[
        bool,
        typer.Option("--keep", help="Leave the embedded server running and print how to connect."),
    ] = False,
    reset: Annotated[
        bool,
        typer.Option("--reset", help="First drop what an earlier demo deployed in the database."),
    ] = False,
    spec: Annotated[
        Path | None,
        typer.Option(
            "--spec", dir_okay=False, help="The vendor spec (default mappings/vendor.yml)."
        ),
    ] = None,
) -> None:
    """Start an embedded PostgreSQL, deploy the vendor pipeline, load sample data, then run
    cycles of realistic changes and show what each run changed and that it verifies."""
    from rich.console import Console

    from cdcgen.demo import DemoOptions, start_server

    console = Console(highlight=False)
    if dsn and (data_dir or keep):
        _fail(
            console, "--dsn runs on your server: --data-dir and --keep are for the embedded one", 2
        )
    options = DemoOptions(scale=scale, cycles=cycles, seed=seed, spec=spec, reset=reset)
    started = time.perf_counter()
    server: DemoServer | None = None
    try:
        if not dsn:
            with console.status("starting PostgreSQL"):
                server = start_server(data_dir, keep=keep)
            console.print(f"[green]✓[/] PostgreSQL started ({server.backend}) in {server.data_dir}")
        result = _run(console, dsn or (server.dsn if server else ""), options)
    except CdcgenError as exc:
        _fail(console, str(exc), exc.exit_code)
    except Exception as exc:  # the exit-code contract: a crash is the tool's failure
        _fail(console, f"internal error: {type(exc).__name__}: {exc}", TOOL_FAILED)
    finally:
        if server is not None:
            _stop_or_keep(console, server, keep)
    _summary(console, result, time.perf_counter() - started)
    if not result.ok:
        raise typer.Exit(1)


def _run(console: Console, dsn: str, options: DemoOptions) -> DemoResult:
    from cdcgen.demo import run_demo
    from cdcgen.demo.console import RichObserver
    from cdcgen.deploy.connect import connect, dsn_secrets, redact

    with connect(dsn) as db:
        shown = redact(dsn, (*db.secrets, *dsn_secrets(dsn)))
        console.print(f"[green]✓[/] connected to {shown}", soft_wrap=True)
        return run_demo(db, options, RichObserver(console))


def _stop_or_keep(console: Console, server: DemoServer, keep: bool) -> None:
    if not keep:
        server.stop()
        console.print("[green]✓[/] PostgreSQL stopped")
        return
    console.print(
        "\n[bold]The server keeps running.[/]\n"
        f"  connect:  {server.psql_command}\n"
        f"  socket:   {server.socket_dir}\n"
        f"  try:      cdcgen status vendor --dsn '{server.dsn}'\n"
        f"  stop it:  {server.stop_hint}"
    )


def _summary(console: Console, result: DemoResult, seconds: float) -> None:
    cycles = len(result.cycles) - 1
    verdict = (
        "[bold green]every run verified with 0 differences[/]"
        if result.ok
        else "[bold red]some runs left facts differing from their definition[/]"
    )
    console.rule()
    console.print(
        f"demo finished in {seconds:.1f}s: bootstrap + {cycles} cycles on "
        f"{sum(result.world_rows.values()):,} source rows; {verdict}"
    )


def _fail(console: Console, message: str, code: int) -> None:
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]error: {escape(scrub(message))}[/]"
    )
    raise typer.Exit(code)


# --------------------------------------------------------------------------- schedule


class ScheduleFormat(StrEnum):
    cloudformation = "cloudformation"
    cloudformation_json = "cloudformation-json"
    cli_json = "cli-json"


@app.command()
def schedule(
    pipeline_or_spec: Annotated[
        str,
        typer.Argument(
            help="A spec (mappings/vendor.yml) or a build: pipeline name, generated/<pipeline>, "
            "or a directory holding manifest.json.",
            show_default=False,
        ),
    ],
    cluster_arn: Annotated[
        str | None, typer.Option("--cluster-arn", help="Provisioned cluster to run on.")
    ] = None,
    workgroup_arn: Annotated[
        str | None, typer.Option("--workgroup-arn", help="Serverless workgroup to run on.")
    ] = None,
    database: Annotated[str, typer.Option("--database", help="Database of the pipeline.")] = "dev",
    db_user: Annotated[
        str | None,
        typer.Option("--db-user", help="Provisioned: run as this user (temporary credentials)."),
    ] = None,
    secret_arn: Annotated[
        str | None, typer.Option("--secret-arn", help="Or log in with this Secrets Manager secret.")
    ] = None,
    role_arn: Annotated[
        str | None,
        typer.Option(
            "--role-arn",
            help="Existing role EventBridge assumes (needed for cli-json and --apply; the "
            "CloudFormation template creates one when omitted).",
        ),
    ] = None,
    output_format: Annotated[
        ScheduleFormat, typer.Option("--format", help="What to print.")
    ] = ScheduleFormat.cloudformation,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Create or update the rule and target now, with boto3."),
    ] = False,
) -> None:
    """Emit the EventBridge rule that CALLs the pipeline's run procedure through the
    Redshift Data API on the spec's cron (a Redshift "scheduled query"), or create it."""
    with reported(output_format is not ScheduleFormat.cloudformation):
        from cdcgen.schedule import (
            apply_schedule,
            cli_requests,
            cloudformation_template,
            define_schedule,
            pipeline_schedule,
            template_yaml,
        )

        definition = define_schedule(
            pipeline_schedule(pipeline_or_spec),
            cluster_arn=cluster_arn,
            workgroup_arn=workgroup_arn,
            database=database,
            db_user=db_user,
            secret_arn=secret_arn,
            role_arn=role_arn,
        )
        if apply:
            rule_arn = apply_schedule(definition)
            typer.echo(f"scheduled {definition.sql} as {definition.rule_name}: {rule_arn}")
            return
        if output_format is ScheduleFormat.cli_json:
            requests = cli_requests(definition)
            typer.echo(json.dumps(requests, indent=2))
            typer.echo(
                "# feed each part to the AWS CLI, e.g.: "
                'aws events put-rule --cli-input-json "$(jq \'."put-rule"\' out.json)"',
                err=True,
            )
            return
        template = cloudformation_template(definition)
        if output_format is ScheduleFormat.cloudformation_json:
            typer.echo(json.dumps(template, indent=2))
        else:
            typer.echo(template_yaml(template), nl=False)
