"""Test harness: deploy a generated PostgreSQL rendering into a real database,
feed staging rows, run cycles, read results. Used by the scenario and property tests."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from cdcgen.render.build import render_pipeline
from cdcgen.sql.nodes import flat_image
from cdcgen.validate import validate_file

REPO = Path(__file__).resolve().parent.parent

_RENDER_CACHE: dict[str, dict[str, str]] = {}


def spec_with(
    spec: Path, out: Path, key: str, top: str, extra: Mapping[str, str] | None = None
) -> Path:
    """``spec`` copied into folder ``out`` with a pipeline-level ``key: top``, and
    per-object overrides: ``{"sources.customers": "full"}`` inserts ``key: full`` under
    that object. Example: ``spec_with(ORDERS, tmp_path, "audit", "keys")``."""
    lines: list[str] = []
    section = ""
    for line in spec.read_text(encoding="utf-8").splitlines():
        lines.append(line)
        if line.startswith("pipeline:"):
            lines.append(f"{key}: {top}")
        if line and not line.startswith(" ") and line.endswith(":"):
            section = line[:-1]
        for where, value in (extra or {}).items():
            group, name = where.split(".")
            if section == group and line == f"  {name}:":
                lines.append(f"    {key}: {value}")
    path = out / spec.name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def postgres_files(spec_path: str | Path) -> dict[str, str]:
    """The PostgreSQL rendering of a spec, rendered once per test session."""
    key = str(Path(spec_path).resolve())
    if key not in _RENDER_CACHE:
        _RENDER_CACHE[key] = render_pipeline(validate_file(spec_path), dialects=("postgres",))["postgres"]
    return _RENDER_CACHE[key]


@dataclass
class Pipeline:
    """A deployed pipeline in one test database."""

    conn: psycopg.Connection
    manifest: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.manifest["pipeline"])

    @property
    def schemas(self) -> dict[str, str]:
        return dict(self.manifest["schemas"])

    def source(self, name: str) -> dict[str, Any]:
        return next(s for s in self.manifest["sources"] if s["name"] == name)

    def columns(self, table: str) -> list[str]:
        obj = next(o for o in self.manifest["objects"] if o["name"] == table)
        return [c for c, _ in obj["columns"]]

    # -- feeding staging -------------------------------------------------
    def stage(self, source: str, *rows: Mapping[str, Any]) -> None:
        """Insert rows into the source's staging table (unspecified columns are NULL)."""
        table = self.source(source)["staging"]
        for row in rows:
            cols = list(row)
            stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
                sql.Identifier(*table.split(".")),
                sql.SQL(", ").join(sql.Identifier(c) for c in cols),
                sql.SQL(", ").join(sql.Placeholder() for _ in cols),
            )
            self.conn.execute(stmt, [_adapt(row[c]) for c in cols])

    def clear_staging(self, *sources: str) -> None:
        """What a window-mode ETL does between loads."""
        for s in sources or [s["name"] for s in self.manifest["sources"]]:
            table = self.source(s)["staging"]
            self.conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(*table.split("."))))

    # -- running -----------------------------------------------------------
    def run(self) -> int:
        """One cycle; returns its run id."""
        self.conn.execute(f"CALL {self.manifest['procedures']['run']}()")
        return self.last_run()["run_id"]

    def run_expecting_failure(self) -> str:
        try:
            self.conn.execute(f"CALL {self.manifest['procedures']['run']}()")
        except psycopg.Error as exc:
            return str(exc)
        raise AssertionError("the run was expected to fail")

    def rebuild(self, target: str) -> None:
        self.conn.execute(f"CALL {self.manifest['procedures']['rebuild']}(%s)", [target])

    def verify(self) -> dict[str, tuple[int, int, int]]:
        self.conn.execute(f"CALL {self.manifest['procedures']['verify']}()")
        rows = self.conn.execute(
            "SELECT target, missing_rows, extra_rows, different_rows FROM cdc.verify_log "
            "WHERE verified_at = (SELECT MAX(verified_at) FROM cdc.verify_log) AND check_name IS NULL"
        ).fetchall()
        return {t: (m, e, d) for t, m, e, d in rows}

    def checks(self, deep: bool = False) -> dict[tuple[str, str], tuple[int, str | None]]:
        """The audit-trail checks of a fresh verification (``deep``: with the change_log
        replay): (check, target) -> (findings, examples)."""
        self.conn.execute(f"CALL {self.manifest['procedures']['verify_deep' if deep else 'verify']}()")
        rows = self.conn.execute(
            "SELECT check_name, target, findings, examples FROM cdc.verify_log "
            "WHERE verified_at = (SELECT MAX(verified_at) FROM cdc.verify_log) AND check_name IS NOT NULL"
        ).fetchall()
        return {(c, t): (n, e) for c, t, n, e in rows}

    # -- reading -------------------------------------------------------------
    def last_run(self) -> dict[str, Any]:
        cur = self.conn.execute(
            "SELECT * FROM cdc.run_log WHERE pipeline = %s ORDER BY run_id DESC LIMIT 1", [self.name]
        )
        return _as_dict(cur)[0]

    def counts(self, run_id: int) -> dict[str, tuple[int, int, int]]:
        rows = self.conn.execute(
            "SELECT object_name, inserted, updated, deleted FROM cdc.run_counts WHERE run_id = %s",
            [run_id],
        ).fetchall()
        return {n: (i, u, d) for n, i, u, d in rows if (i, u, d) != (0, 0, 0)}

    def rows(self, table: str, columns: Iterable[str] | None = None, order_by: str | None = None) -> list[dict[str, Any]]:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns) if columns else sql.SQL("*")
        q = sql.SQL("SELECT {} FROM {}").format(cols, sql.Identifier(*table.split(".")))
        if order_by:
            q = q + sql.SQL(" ORDER BY {}").format(sql.SQL(order_by))
        return _as_dict(self.conn.execute(q))

    def fact(self, target: str, key_value: Any, columns: Iterable[str]) -> dict[str, Any] | None:
        t = next(t for t in self.manifest["targets"] if t["name"] == target)
        (key,) = t["key"]
        q = sql.SQL("SELECT {} FROM {} WHERE {} = %s").format(
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.Identifier(*t["table"].split(".")),
            sql.Identifier(key),
        )
        found = _as_dict(self.conn.execute(q, [key_value]))
        return found[0] if found else None

    def change_log(self, run_id: int | None = None) -> list[dict[str, Any]]:
        q = "SELECT * FROM cdc.change_log" + (" WHERE run_id = %s" if run_id else "") + " ORDER BY lsn"
        return _flat_images(_as_dict(self.conn.execute(q, [run_id] if run_id else [])))

    def fact_changes(self, run_id: int, target: str | None = None) -> list[dict[str, Any]]:
        q = "SELECT * FROM cdc.fact_change_log WHERE run_id = %s"
        args: list[Any] = [run_id]
        if target:
            q += " AND target = %s"
            args.append(target)
        return _flat_images(_as_dict(self.conn.execute(q + " ORDER BY target, key_text", args)))

    def dead_letters(self) -> list[dict[str, Any]]:
        return _as_dict(self.conn.execute("SELECT * FROM cdc.dead_letter ORDER BY run_id, source"))

    def dead_lettered(self, run_id: int) -> int:
        """Rows this run added to the dead-letter table, as its run_counts report them."""
        row = self.conn.execute(
            "SELECT COALESCE(SUM(dead_lettered), 0) FROM cdc.run_counts WHERE run_id = %s", [run_id]
        ).fetchone()
        return int(row[0]) if row else 0


def widen_staging(conn: psycopg.Connection, source: str, column: str, type_: str,
                  spec: str | Path | Mapping[str, str] | None = None) -> None:
    """What an ETL may do: land a staging column wider than the spec declares, or as
    text. PostgreSQL views are not late-binding (Redshift's are), so the source's changes
    view is dropped and recreated around the ALTER: from the generated file of ``spec``
    (a spec path, or its PostgreSQL files) when given (needed when the type changes
    family: PostgreSQL's stored definition drops casts that were no-ops for the old
    type), else from its stored definition."""
    view = f"cdc.{source}__changes"
    (definition,) = conn.execute("SELECT pg_get_viewdef(%s::regclass)", [view]).fetchone()
    conn.execute(f"DROP VIEW {view}")
    conn.execute(f"ALTER TABLE staging.{source} ALTER COLUMN {column} TYPE {type_}")
    if spec is None:
        conn.execute(f"CREATE VIEW {view} AS {definition}")
        return
    files = postgres_files(spec) if isinstance(spec, str | Path) else spec
    manifest = json.loads(files["manifest.json"])
    (obj,) = [o for o in manifest["objects"] if o["name"] == view]
    conn.execute(files[obj["file"]])


def _adapt(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def _flat_images(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Log rows with their before/after images as flat dicts (wide rows are nested)."""
    for r in rows:
        for image in ("before_row", "after_row"):
            r[image] = flat_image(r[image])
    return rows


def _as_dict(cur: psycopg.Cursor) -> list[dict[str, Any]]:
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def deploy(conn: psycopg.Connection, spec_path: str | Path, *, with_staging: bool = True) -> Pipeline:
    """Apply every generated object in manifest order (the test-side equivalent of deploy)."""
    files = postgres_files(spec_path)
    manifest = json.loads(files["manifest.json"])
    for obj in manifest["objects"]:
        if obj["kind"] == "staging_table" and not with_staging:
            continue
        conn.execute(files[obj["file"]])
    return Pipeline(conn, manifest)


def ts(day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A readable timestamp for test data: ts(3, 10) is 2024-01-03 10:00."""
    return dt.datetime(2024, 1, day, hour, minute)
