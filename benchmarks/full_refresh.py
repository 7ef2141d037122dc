"""Approach 2, what teams do today: bring the baseline up to date with staging, then
rebuild every fact table from its definition (``DELETE`` + ``INSERT … SELECT`` from
the ``cdc.<fact>__full`` views). One transaction.

The baseline sync here is a plain hand-written upsert, deliberately independent of
cdcgen's generated detect/sync: newest staged version per key, stale versions
skipped, delete-then-insert, the source's delete rule honoured (``when`` predicate,
``op`` column, full snapshot), append feeds read beyond a watermark. It skips what
cdcgen also does (checks and dead letters, change flags, the audit trail), so it is
the cheaper kind of sync. The dbt approach reuses it.
"""

from __future__ import annotations

import psycopg
from cdcgen.spec.model import Source
from psycopg import sql

from pipeline import Pipeline

WATERMARK = "bench.sync_watermark"


def create_watermark(conn: psycopg.Connection, pipe: Pipeline) -> None:
    """The sync's own append-feed watermark, set to what staging holds at bootstrap."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS bench")
    conn.execute(f"CREATE TABLE {WATERMARK} (source TEXT PRIMARY KEY, loaded_at TIMESTAMP)")
    for name, rule, staging, _ in pipe.sources:
        if rule.mode == "append":
            conn.execute(
                sql.SQL("INSERT INTO {} SELECT %s, MAX({}) FROM {}").format(
                    sql.SQL(WATERMARK), sql.Identifier(rule.loaded_at or ""), _ident(staging)
                ),
                [name],
            )


def sync_baseline(conn: psycopg.Connection, pipe: Pipeline) -> int:
    """Apply staging to the baseline; returns the number of staged versions applied."""
    applied = 0
    for name, rule, staging, baseline in pipe.sources:
        applied += _sync_source(conn, pipe, name, rule, staging, baseline)
    return applied


def _sync_source(
    conn: psycopg.Connection, pipe: Pipeline, name: str, rule: Source, staging: str, baseline: str
) -> int:
    (key,) = rule.key
    columns = pipe.columns(baseline)
    cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
    newest = sql.SQL("ORDER BY {k}, {u} DESC{l}").format(
        k=sql.Identifier(key),
        u=sql.Identifier(rule.updated_at),
        l=sql.SQL(", {} DESC").format(sql.Identifier(rule.loaded_at))
        if rule.loaded_at
        else sql.SQL(""),
    )
    window = sql.SQL("TRUE")
    if rule.mode == "append":
        window = sql.SQL("{} > (SELECT loaded_at FROM {} WHERE source = {})").format(
            sql.Identifier(rule.loaded_at or ""), sql.SQL(WATERMARK), sql.Literal(name)
        )
    conn.execute("DROP TABLE IF EXISTS pg_temp.bench_sync")
    conn.execute(
        sql.SQL(
            "CREATE TEMP TABLE bench_sync AS SELECT DISTINCT ON ({k}) * FROM {s} "
            "WHERE {k} IS NOT NULL AND {w} {o}"
        ).format(k=sql.Identifier(key), s=_ident(staging), w=window, o=newest)
    )
    conn.execute(
        sql.SQL(
            "DELETE FROM bench_sync s USING {b} b WHERE b.{k} = s.{k} AND b.{u} > s.{u}"
        ).format(b=_ident(baseline), k=sql.Identifier(key), u=sql.Identifier(rule.updated_at))
    )
    conn.execute(
        sql.SQL("DELETE FROM {b} b USING bench_sync s WHERE b.{k} = s.{k}").format(
            b=_ident(baseline), k=sql.Identifier(key)
        )
    )
    cur = conn.execute(
        sql.SQL("INSERT INTO {b} ({c}) SELECT {c} FROM bench_sync WHERE NOT ({d})").format(
            b=_ident(baseline), c=cols, d=_deleted(rule)
        )
    )
    applied = cur.rowcount
    if rule.deletes and rule.deletes.snapshot:
        conn.execute(
            sql.SQL(
                "DELETE FROM {b} b WHERE NOT EXISTS (SELECT 1 FROM {s} s WHERE s.{k} = b.{k})"
            ).format(b=_ident(baseline), s=_ident(staging), k=sql.Identifier(key))
        )
    if rule.mode == "append":
        conn.execute(
            sql.SQL(
                "UPDATE {} SET loaded_at = COALESCE((SELECT MAX({}) FROM {}), loaded_at) WHERE source = %s"
            ).format(sql.SQL(WATERMARK), sql.Identifier(rule.loaded_at or ""), _ident(staging)),
            [name],
        )
    return applied


def _deleted(rule: Source) -> sql.Composable:
    """The source's delete rule as a predicate over a staged row."""
    if rule.deletes and rule.deletes.when:
        return sql.SQL("COALESCE(({}), FALSE)").format(sql.SQL(rule.deletes.when))
    if rule.deletes and rule.deletes.op_column:
        return sql.SQL("COALESCE({} = 'D', FALSE)").format(sql.Identifier(rule.deletes.op_column))
    return sql.SQL("FALSE")


def rebuild_facts(conn: psycopg.Connection, pipe: Pipeline) -> int:
    """``DELETE`` + ``INSERT … SELECT`` every fact from its full view; rows inserted."""
    written = 0
    for name, _, table, _ in pipe.facts:
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in pipe.columns(table))
        conn.execute(sql.SQL("DELETE FROM {}").format(_ident(table)))
        cur = conn.execute(
            sql.SQL("INSERT INTO {t} ({c}) SELECT {c} FROM {v}").format(
                t=_ident(table), c=cols, v=_ident(pipe.full_view(name))
            )
        )
        written += cur.rowcount
    return written


def full_refresh(conn: psycopg.Connection, pipe: Pipeline) -> int:
    """The whole approach, in one transaction; returns the fact rows written."""
    with conn.transaction():
        sync_baseline(conn, pipe)
        return rebuild_facts(conn, pipe)


def _ident(qualified: str) -> sql.Identifier:
    return sql.Identifier(*qualified.split("."))
