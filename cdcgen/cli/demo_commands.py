"""``cdcgen demo [SPEC]`` (a pipeline end to end on a throwaway PostgreSQL) and
``cdcgen schedule`` (the EventBridge definition that runs a pipeline in Redshift)."""

from __future__ import annotations

import io
import json
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from cdcgen.cli import app
from cdcgen.cli.output import TOOL_FAILED, fail, fail_with, reported, scrub
from cdcgen.errors import CdcgenError

if TYPE_CHECKING:  # rich, the demo data and boto3 load inside the commands
    from rich.console import Console

    from cdcgen.demo import DemoOptions, DemoResult, DemoServer


@app.command()
def demo(
    spec: Annotated[
        Path | None,
        typer.Argument(
            dir_okay=False,
            help="Any spec: its data is generated from the spec itself. Without it, the "
            "packaged vendor example with its curated supplier network.",
            show_default=False,
        ),
    ] = None,
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
        typer.Option(
            "--scale",
            min=0.01,
            help="Data size: 1 = 300 vendor companies, or 200 rows per main source of SPEC.",
        ),
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
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only a JSON summary (failures too).")
    ] = False,
    curated_spec: Annotated[
        Path | None,
        typer.Option(
            "--spec",
            dir_okay=False,
            hidden=True,
            help="A variant of the vendor spec to run with the curated vendor data.",
        ),
    ] = None,
) -> None:
    """Start an embedded PostgreSQL, deploy a pipeline, load data, then run cycles of
    realistic changes, show what each run changed and verify every run (exit 1 on any
    difference)."""
    from rich.console import Console

    from cdcgen.demo import DemoOptions, start_server

    quiet = io.StringIO()
    console = Console(file=quiet) if as_json else Console(highlight=False)
    if dsn and (data_dir or keep):
        _fail(
            console,
            "--dsn runs on your server: --data-dir and --keep are for the embedded one",
            2,
            as_json,
        )
    if spec is not None and curated_spec is not None:
        _fail(console, "give SPEC or --spec, not both", 2, as_json)
    options = DemoOptions(
        scale=scale,
        cycles=cycles,
        seed=seed,
        spec=spec or curated_spec,
        reset=reset,
        synthetic=spec is not None,
    )
    started = time.perf_counter()
    server: DemoServer | None = None
    try:
        if options.spec is not None:  # a wrong spec is told before any server starts
            _check_spec(options.spec)
        if not dsn:
            with console.status("starting PostgreSQL"):
                server = start_server(data_dir, keep=keep)
            console.print(
                f"[green]✓[/] PostgreSQL started ({server.backend}) in {server.data_dir}",
                soft_wrap=True,
            )
        result = _run(console, dsn or (server.dsn if server else ""), options, as_json)
    except CdcgenError as exc:
        if as_json:
            fail_with(exc, as_json)
        _fail(console, str(exc), exc.exit_code, as_json)
    except Exception as exc:  # the exit-code contract: a crash is the tool's failure
        _fail(console, f"internal error: {type(exc).__name__}: {exc}", TOOL_FAILED, as_json)
    finally:
        if server is not None:
            _stop_or_keep(console, server, keep, _pipeline_name(options))
    seconds = time.perf_counter() - started
    if as_json:
        from cdcgen.cli.output import emit_json
        from cdcgen.demo.report import demo_json

        summary = demo_json(result, seconds)
        if server is not None and keep:
            summary["server"] = {
                "dsn": server.dsn,
                "psql": server.psql_command,
                "stop": server.stop_hint,
            }
        if not result.ok:
            failed = [c.number for c in result.cycles if not c.verify.ok]
            summary["error"] = (
                f"targets differ from their full definition after cycle(s) "
                f"{', '.join(map(str, failed))} (0 = the bootstrap)"
            )
            summary["exit_code"] = 1
        emit_json(summary)
    else:
        _summary(console, result, seconds)
    if not result.ok:
        raise typer.Exit(1)


def _check_spec(spec: Path) -> None:
    from cdcgen.deploy.errors import DeployError
    from cdcgen.validate import validate_file

    if not spec.is_file():
        raise DeployError(f"{spec}: no such spec file")
    validate_file(spec)


def _pipeline_name(options: DemoOptions) -> str:
    """The pipeline's name for the hints printed with --keep (the spec's file name when
    the spec cannot be read: the hint is still right for the examples)."""
    from cdcgen.demo.runner import default_spec

    spec = options.spec or default_spec()
    try:
        from cdcgen.spec.loader import load_spec

        return load_spec(spec).spec.pipeline
    except Exception:
        return spec.stem


def _run(console: Console, dsn: str, options: DemoOptions, as_json: bool) -> DemoResult:
    from cdcgen.demo import SilentObserver, run_demo
    from cdcgen.demo.console import RichObserver
    from cdcgen.deploy.connect import connect, dsn_secrets, redact

    with connect(dsn) as db:
        shown = redact(dsn, (*db.secrets, *dsn_secrets(dsn)))
        console.print(f"[green]✓[/] connected to {shown}", soft_wrap=True)
        observer = SilentObserver() if as_json else RichObserver(console)
        return run_demo(db, options, observer)


def _stop_or_keep(console: Console, server: DemoServer, keep: bool, pipeline: str) -> None:
    if not keep:
        server.stop()
        console.print("[green]✓[/] PostgreSQL stopped")
        return
    # One line each, never wrapped: these are pasted into a shell.
    console.print("\n[bold]The server keeps running.[/]")
    for label, text in (
        ("connect:", server.psql_command),
        ("dsn:", server.dsn),
        ("socket:", str(server.socket_dir)),
        ("try:", f"cdcgen status {pipeline} --dsn '{server.dsn}'"),
        ("stop it:", server.stop_hint),
    ):
        console.print(f"  {label:<9} {text}", soft_wrap=True, markup=False, highlight=False)


def _summary(console: Console, result: DemoResult, seconds: float) -> None:
    cycles = len(result.cycles) - 1
    verdict = (
        "[bold green]every run verified with 0 differences[/]"
        if result.ok
        else "[bold red]some runs left facts differing from their definition[/]"
    )
    console.rule()
    console.print(
        f"demo of {result.manifest.pipeline} finished in {seconds:.1f}s: bootstrap + {cycles} "
        f"cycles on {sum(result.world_rows.values()):,} source rows; {verdict}"
    )


def _fail(console: Console, message: str, code: int, as_json: bool = False) -> NoReturn:
    from rich.console import Console
    from rich.markup import escape

    if as_json:
        fail(message, code, as_json=True)
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
            help="A spec (mappings/vendor.yml) or a build: pipeline name (under --build-dir), "
            "DIR/<pipeline> or DIR/<pipeline>/redshift.",
            show_default=False,
        ),
    ],
    build_dir: Annotated[
        str,
        typer.Option(
            "--build-dir",
            envvar="CDCGEN_BUILD_DIR",
            show_envvar=True,
            help="Where a pipeline name is looked up: the DIR of build -o DIR [default: generated].",
            show_default=False,
        ),
    ] = "",
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
    alert_topic: Annotated[
        str | None,
        typer.Option(
            "--alert-topic",
            metavar="SNS_ARN",
            help="Also send failed or aborted runs and freshness checks to this SNS topic "
            "(an EventBridge rule on the Data API's statement events, and the topic policy).",
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
    """Emit the EventBridge rules that CALL the pipeline's run procedure and its freshness
    check through the Redshift Data API on the spec's cron (Redshift "scheduled queries"),
    with --alert-topic the rule that sends their failures to SNS; or create them."""
    with reported(output_format is not ScheduleFormat.cloudformation):
        from cdcgen.schedule import (
            apply_schedule_rules,
            cli_requests,
            cloudformation_template,
            define_schedule,
            pipeline_schedule,
            template_yaml,
        )

        definition = define_schedule(
            pipeline_schedule(pipeline_or_spec, build_dir=build_dir or None),
            cluster_arn=cluster_arn,
            workgroup_arn=workgroup_arn,
            database=database,
            db_user=db_user,
            secret_arn=secret_arn,
            role_arn=role_arn,
            alert_topic_arn=alert_topic,
        )
        if apply:
            arns = apply_schedule_rules(definition)
            typer.echo(
                f"scheduled {definition.sql} as {definition.rule_name}: {arns.pop(definition.rule_name)}"
            )
            if definition.freshness_rule_name:
                typer.echo(
                    f"scheduled {definition.freshness_sql} as {definition.freshness_rule_name}: "
                    f"{arns.pop(definition.freshness_rule_name)}"
                )
            if definition.alert_topic is not None:
                typer.echo(
                    f"alerts: {definition.alert_rule_name} ({arns.pop(definition.alert_rule_name)}) "
                    f"sends FAILED/ABORTED statements to {definition.alert_topic.text}"
                )
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
