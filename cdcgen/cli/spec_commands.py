"""Commands that read specs and print about them: validate, impact, graph, schema,
init, import-dictionary. Each parses its arguments, calls the library and prints."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cdcgen.cli import app
from cdcgen.cli.output import emit_json, fail, fail_with, reported
from cdcgen.errors import SpecError

if TYPE_CHECKING:  # the library loads inside the commands, to keep `cdcgen --help` fast
    from cdcgen import impact
    from cdcgen.spec.model import Spec

DEFAULT_SPECS = "mappings/*.yml"


class ImpactFormat(StrEnum):
    text = "text"
    json = "json"
    yaml = "yaml"
    python = "python"


SpecFiles = Annotated[
    list[Path] | None,
    typer.Option(
        "--spec",
        "-s",
        exists=True,
        dir_okay=False,
        help=f"Spec file; repeat for several. Default: every {DEFAULT_SPECS}.",
    ),
]
OutputFile = Annotated[
    Path | None,
    typer.Option("--output", "-o", dir_okay=False, help="Write here instead of stdout."),
]


# --------------------------------------------------------------------------- commands


@app.command()
def validate(
    files: Annotated[
        list[Path],
        typer.Argument(
            exists=True, dir_okay=False, help="Spec files to check.", show_default=False
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for machines.")] = False,
) -> None:
    """Check spec files; print every problem as file:line:col: error: message."""
    checked: list[dict[str, object]] = []
    problems: list[SpecError] = []
    with reported(as_json):
        for file in files:
            try:
                spec = _check(file).spec
            except SpecError as exc:
                problems.append(exc)
                continue
            counts = {
                "sources": len(spec.sources),
                "facts": len(spec.facts),
                "dimensions": len(spec.dimensions),
            }
            checked.append({"file": str(file), **counts})
            if not as_json:
                summary = ", ".join(_count(n, noun[:-1]) for noun, n in counts.items())
                typer.echo(f"ok: {file} ({summary})")
        if problems:
            fail_with(SpecError([d for exc in problems for d in exc.diagnostics]), as_json)
    if as_json:
        emit_json({"ok": checked})


@app.command("impact")
def impact_command(
    column: Annotated[
        str | None,
        typer.Argument(
            metavar="[SOURCE.COLUMN]",
            help="One source column, e.g. companies.name. Default: every column.",
            show_default=False,
        ),
    ] = None,
    spec: SpecFiles = None,
    output_format: Annotated[
        ImpactFormat, typer.Option("--format", "-f", help="Output format.")
    ] = ImpactFormat.text,
) -> None:
    """Which fact and dimension columns each source column can change."""
    with reported(output_format is ImpactFormat.json):
        from cdcgen import impact

        checked = _check_all(spec)
        dictionary = impact.merge(
            impact.impact_dictionary(c.spec, c.source_columns) for c in checked
        )
        all_columns = {
            target: columns
            for c in checked
            for target, columns in impact.target_columns(c.spec).items()
        }
        if column is not None:
            # Validates the name first, so an unknown column fails in every format.
            targets = impact.lookup(dictionary, column)
            qualified = str(impact.parse_column_ref(column))
            if output_format is ImpactFormat.text:
                typer.echo(impact.render_line(qualified, targets, all_columns), nl=False)
                return
            dictionary = impact.select(dictionary, qualified)
        origin = ", ".join(c.file for c in checked)
        typer.echo(_render_impact(dictionary, output_format, all_columns, origin), nl=False)


@app.command("graph")
def graph_command(spec: SpecFiles = None, output: OutputFile = None) -> None:
    """Mermaid flowchart of sources into facts and dimensions."""
    with reported():
        from cdcgen import graph

        checked = _check_all(spec)
        _emit(graph.mermaid(c.spec for c in checked), output)


@app.command()
def schema(output: OutputFile = None) -> None:
    """JSON Schema of the spec language, for editor completion (yaml-language-server)."""
    from cdcgen import jsonschema

    _emit(json.dumps(jsonschema.spec_json_schema(), indent=2) + "\n", output)


@app.command()
def init(
    directory: Annotated[
        Path,
        typer.Argument(file_okay=False, help="Project directory (created if missing).")
    ] = Path("."),
    example: Annotated[
        str | None,
        typer.Option(
            "--example",
            help="Copy a packaged example spec instead (vendor or orders) into DIRECTORY/mappings.",
            show_default=False,
        ),
    ] = None,
    pipeline: Annotated[
        str, typer.Option("--pipeline", help="Name of the starter pipeline.")
    ] = "starter",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite files that exist with other content.")
    ] = False,
) -> None:
    """Start a project: a starter spec with the editor schema line, a catalog.yml stub,
    cdcgen.schema.json and a .gitignore entry; or one packaged example (--example)."""
    with reported():
        from cdcgen.spec.model import IDENT_PATTERN
        from cdcgen.starter import init_project

        if not re.match(IDENT_PATTERN, pipeline):
            fail(f"--pipeline {pipeline!r} is not a plain lowercase identifier", 2)
        for written in init_project(directory, example=example, pipeline=pipeline, force=force):
            typer.echo(f"{written.action:>9}  {written.path}")
        spec = (
            directory / "mappings" / f"{example}.yml"
            if example
            else directory / "mappings" / f"{pipeline}.yml"
        )
        typer.echo(f"next: cdcgen demo {spec}")


@app.command("import-dictionary")
def import_dictionary(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help="A seeds-style expanded_dictionary.py (read, never run) or .json.",
            show_default=False,
        ),
    ],
    output: OutputFile = None,
) -> None:
    """Draft a spec from a {source: {column: {fact: fact_column}}} dictionary."""
    with reported():
        from cdcgen import importer

        _emit(importer.draft_spec_from_dictionary(file), output)


# --------------------------------------------------------------------------- helpers


@dataclass(frozen=True)
class _Checked:
    file: str
    spec: Spec
    #: every source's columns as validation resolved them (catalog included)
    source_columns: Mapping[str, Mapping[str, str]]


def _check(path: Path) -> _Checked:
    from cdcgen.validate import validate_file

    validated = validate_file(path)
    return _Checked(str(path), validated.spec, validated.source_columns)


def _check_all(files: Sequence[Path] | None) -> list[_Checked]:
    """Every spec checked; all their problems reported together before failing."""
    paths = list(files) if files else sorted(Path().glob(DEFAULT_SPECS))
    if not paths:
        raise typer.BadParameter(f"no spec files match {DEFAULT_SPECS}", param_hint="--spec")
    checked: list[_Checked] = []
    problems: list[SpecError] = []
    for path in paths:
        try:
            checked.append(_check(path))
        except SpecError as exc:
            problems.append(exc)
    if problems:
        raise SpecError([d for exc in problems for d in exc.diagnostics])
    return checked


def _render_impact(
    dictionary: impact.ImpactDictionary,
    output_format: ImpactFormat,
    all_columns: Mapping[str, Sequence[str]],
    origin: str,
) -> str:
    from cdcgen import impact

    if output_format is ImpactFormat.json:
        return impact.render_json(dictionary)
    if output_format is ImpactFormat.yaml:
        return _yaml(dictionary)
    if output_format is ImpactFormat.python:
        return impact.render_python(dictionary, origin)
    return impact.render_text(dictionary, all_columns)


def _yaml(data: object) -> str:
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip mode keeps the spec's key order
    yaml.default_flow_style = False
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output}", err=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
