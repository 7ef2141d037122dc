"""``cdcgen init``: the files of a new cdcgen project, or a copy of a packaged example.

A starter project is a spec that validates and demos as written, with the editor
schema line (yaml-language-server completion from ``cdcgen.schema.json``), a
catalog stub for ``cdcgen introspect`` to fill, and a ``.gitignore`` entry for the
demo's data directory. Nothing is overwritten unless asked.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from cdcgen.errors import CdcgenError

EXAMPLES = Path(__file__).resolve().parent / "examples"
SCHEMA_FILE = "cdcgen.schema.json"
GITIGNORE_ENTRY = ".cdcgen-demo/"

STARTER_SPEC = """\
# yaml-language-server: $schema=../{schema}
#
# A starter pipeline: customers and their orders, denormalised into fact_order.
# Try it on an embedded PostgreSQL with generated data:
#   cdcgen demo mappings/{pipeline}.yml
# Check it:   cdcgen validate mappings/{pipeline}.yml
# Build SQL:  cdcgen build mappings/{pipeline}.yml
#
# Column types come from `columns` below, or from catalog.yml once
# `cdcgen introspect --dsn ... --schema staging -o mappings/catalog.yml` has filled it.

pipeline: {pipeline}
schemas: {{staging: staging, baseline: public, target: analytics, cdc: cdc}}
catalog: catalog.yml

sources:
  customers:
    key: [id]
    updated_at: updated_at
    deletes: {{when: "deleted_at IS NOT NULL"}}
    columns:
      id: bigint
      name: varchar(200)
      segment: varchar(20)        # consumer, smb, enterprise
      updated_at: timestamp
      deleted_at: timestamp

  orders:
    key: [id]
    updated_at: updated_at
    deletes: {{op_column: op}}      # a DMS-style feed: I, U or D
    checks:
      non_negative_total: "total >= 0"
    columns:
      id: bigint
      customer_id: bigint
      status: varchar(20)         # placed, paid, shipped, cancelled
      total: numeric(12,2)
      updated_at: timestamp
      op: char(1)

facts:
  fact_order:
    key: [order_id]
    from: orders
    where: "orders.status <> 'cancelled'"
    join:
      - {{source: customers, on: "customers.id = orders.customer_id"}}
    columns:
      order_id: orders.id
      status: orders.status
      total: orders.total
      customer_name: customers.name
      customer_segment: customers.segment

dimensions:
  dim_customer:
    key: [customer_id]
    from: customers
    columns:
      customer_id: customers.id
      name: customers.name
      segment: customers.segment
    history: [segment]            # a segment change opens a new version

schedule: {{cron: "rate(30 minutes)"}}
freshness: {{warn_after: 1h, error_after: 3h}}
"""

CATALOG_STUB = """\
# Column types of the staging tables, for specs that say `catalog: catalog.yml`.
# Fill it from the database instead of by hand:
#   cdcgen introspect --dsn postgresql://... --schema staging -o mappings/catalog.yml
# A spec's own `columns` override what is listed here.
schema: staging
tables: {}
"""


class InitRefused(CdcgenError):
    exit_code = 1


@dataclass(frozen=True)
class Written:
    path: Path
    action: str  # created | updated | unchanged


def examples() -> list[str]:
    return sorted(p.stem for p in EXAMPLES.glob("*.yml"))


def init_project(
    directory: Path, *, example: str | None = None, pipeline: str = "starter", force: bool = False
) -> list[Written]:
    """Write a starter project (or one example spec) into ``directory``/mappings."""
    from cdcgen import jsonschema

    mappings = directory / "mappings"
    files: dict[Path, str] = {}
    if example is not None:
        source = EXAMPLES / f"{example}.yml"
        if not source.is_file():
            raise InitRefused(
                f"no example named {example!r}; the examples are: {', '.join(examples())}"
            )
        files[mappings / source.name] = source.read_text(encoding="utf-8")
    else:
        files[mappings / f"{pipeline}.yml"] = STARTER_SPEC.format(
            pipeline=pipeline, schema=SCHEMA_FILE
        )
        files[mappings / "catalog.yml"] = CATALOG_STUB
    files[directory / SCHEMA_FILE] = json.dumps(jsonschema.spec_json_schema(), indent=2) + "\n"
    clashes = [
        p
        for p in files
        if p.exists() and p.read_text(encoding="utf-8") != files[p] and p.name != SCHEMA_FILE
    ]
    if clashes and not force:
        raise InitRefused(
            f"{', '.join(str(p) for p in clashes)}: already there with other content; "
            "nothing was written (--force overwrites)"
        )
    written = []
    for path, text in files.items():
        before = path.read_text(encoding="utf-8") if path.exists() else None
        if before == text:
            written.append(Written(path, "unchanged"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(Written(path, "created" if before is None else "updated"))
    written.append(_gitignore(directory))
    return written


def _gitignore(directory: Path) -> Written:
    path = directory / ".gitignore"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if GITIGNORE_ENTRY in text.splitlines():
        return Written(path, "unchanged")
    prefix = "" if not text or text.endswith("\n") else "\n"
    path.write_text(
        f"{text}{prefix}# data directory of `cdcgen demo --data-dir .cdcgen-demo`\n{GITIGNORE_ENTRY}\n",
        encoding="utf-8",
    )
    return Written(path, "updated" if text else "created")
