"""Approach 4 (optional): fact_vendor as a dbt incremental model.

A dbt project is generated into a temporary directory: one model, ``fact_vendor``,
whose SQL is the spec's full definition (the generated ``cdc.fact_vendor__full`` view
body) plus ``companies.updated_at AS grain_updated_at``, materialised ``incremental``
with ``unique_key='vendor_id'`` and the ``merge`` strategy; ``is_incremental()``
keeps only grain rows updated since the newest one in the table. dbt reads the
baseline, so each run is the hand-written baseline sync (as in the full refresh)
followed by ``dbt run``.

This is the textbook incremental model, and it is wrong in the textbook ways: a
change to a lookup (a city renamed, a contact renamed) or to the qualifying
relationship never touches ``companies.updated_at``; a company that stops qualifying
(or is deleted) is filtered out rather than removed. Only fact_vendor is maintained.

dbt runs from its own virtualenv (``benchmarks/.venv-dbt``, see the README), never
the project's; if it is absent the approach is skipped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from databases import Cluster
from pipeline import Pipeline

DBT = Path(__file__).resolve().parent / ".venv-dbt" / "bin" / "dbt"
SCHEMA = "dbt_bench"
TABLE = f"{SCHEMA}.fact_vendor"
FACT = "fact_vendor"

PROJECT = """\
name: bench
version: "1.0"
config-version: 2
profile: bench
model-paths: [models]
"""
PROFILE = """\
bench:
  target: bench
  outputs:
    bench:
      type: postgres
      host: "{host}"
      port: {port}
      user: "{user}"
      password: "{password}"
      dbname: "{{{{ env_var('BENCH_DB') }}}}"
      schema: {schema}
      threads: 1
"""
MODEL = """\
{{{{ config(materialized='incremental', unique_key='vendor_id', incremental_strategy='merge') }}}}
SELECT * FROM (
{body}
) AS src
{{% if is_incremental() %}}
WHERE grain_updated_at > (SELECT MAX(grain_updated_at) FROM {{{{ this }}}})
{{% endif %}}
"""


@dataclass(frozen=True)
class DbtRun:
    wall_s: float  # the whole `dbt run` process, startup and parsing included
    model_s: float  # the model's own execution, as dbt reports it
    rows: int


def available() -> bool:
    return DBT.is_file()


def model_sql(pipe: Pipeline) -> str:
    """The full view's body with the grain's updated_at added to the select list."""
    obj = next(o for o in pipe.manifest.objects if o.name == pipe.full_view(FACT))
    text = pipe.manifest.sql(obj)
    body = re.split(r"CREATE OR REPLACE VIEW \S+ AS\s*\n", text, maxsplit=1)[1].rstrip().rstrip(";")
    grain = pipe.spec.facts[FACT].from_
    updated = pipe.spec.sources[grain].updated_at
    return body.replace("SELECT\n", f"SELECT\n  {grain}.{updated} AS grain_updated_at,\n", 1)


def write_project(directory: Path, cluster: Cluster, pipe: Pipeline) -> None:
    params = cluster.params()
    (directory / "models").mkdir(parents=True, exist_ok=True)
    (directory / "dbt_project.yml").write_text(PROJECT)
    (directory / "profiles.yml").write_text(
        PROFILE.format(schema=SCHEMA, **{**params, "port": params["port"] or "5432"})
    )
    (directory / "models" / f"{FACT}.sql").write_text(MODEL.format(body=model_sql(pipe)))


def dbt_run(directory: Path, database: str) -> DbtRun:
    """``dbt run`` against ``database``; raises with dbt's output when it fails."""
    env = {
        **os.environ,
        "BENCH_DB": database,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "DO_NOT_TRACK": "1",
    }
    command = [str(DBT), "run", "--project-dir", str(directory), "--profiles-dir", str(directory)]
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=directory, env=env, capture_output=True, text=True, check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"dbt run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}"
        )
    results = json.loads((directory / "target" / "run_results.json").read_text())["results"]
    model_s = sum(float(r["execution_time"]) for r in results)
    rows = sum(int((r.get("adapter_response") or {}).get("rows_affected") or 0) for r in results)
    return DbtRun(wall, model_s, rows)


def remove_project(directory: Path) -> None:
    shutil.rmtree(directory, ignore_errors=True)
