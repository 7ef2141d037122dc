"""The demo's story: deploy the vendor pipeline with its staging tables, generate a
supplier network, bootstrap, then run a few cycles of realistic changes and read back
what each run did — counts, fact changes (before → after) and a verification.

Everything goes through the deploy library (``cdcgen.deploy``) exactly as ``cdcgen
deploy/bootstrap/run/verify`` would; the demo adds only the ETL's part (loading
staging). What it shows is told to an :class:`Observer`, so the same run can be
printed with rich, asserted in tests, or stay silent.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cdcgen.demo.data import World, generate_world
from cdcgen.demo.mutations import Staged, initial_staging, mutate
from cdcgen.demo.staging import load_staging, staging_types
from cdcgen.deploy import ops
from cdcgen.deploy.apply import DeployResult, apply_plan
from cdcgen.deploy.connect import Database
from cdcgen.deploy.errors import DeployError
from cdcgen.deploy.manifest import MANIFEST_FILE, Manifest, load_manifest
from cdcgen.deploy.plan import build_plan, quote_qualified
from cdcgen.sql.nodes import flat_image

#: The demo's data generator knows these sources (mappings/vendor.yml).
VENDOR_SOURCES = frozenset(
    {
        "companies",
        "buyer_seller_company_mappings",
        "users",
        "teams",
        "team_members",
        "cities",
        "countries",
        "product_categories",
        "user_company_mappings",
        "taggings",
        "tags",
        "preferred_vendor_item_mappings",
    }
)
CHANGE_SAMPLE = 8

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class DemoOptions:
    scale: float = 1.0
    cycles: int = 4
    seed: int = 42
    spec: Path | None = None  # default: mappings/vendor.yml of this checkout
    reset: bool = False  # drop what an earlier demo left in the database first


@dataclass(frozen=True)
class FactChange:
    target: str
    op: str  # I, U, D
    key: str
    columns: tuple[tuple[str, Any, Any], ...]  # (column, before, after) of an update
    row: dict[str, Any] = field(default_factory=dict)  # the inserted or deleted row


@dataclass(frozen=True)
class CycleReport:
    number: int  # 0: the bootstrap
    mutations: tuple[str, ...]
    staged: dict[str, int]
    run: ops.RunResult
    changes: tuple[FactChange, ...]  # a sample, updates first
    changes_per_target: dict[str, int]
    verify: ops.VerifyResult
    fact_rows: dict[str, int]

    @property
    def differences(self) -> int:
        return sum(
            int(r.get(c) or 0)
            for r in self.verify.rows
            for c in ("missing_rows", "extra_rows", "different_rows")
        )


@dataclass(frozen=True)
class DemoResult:
    manifest: Manifest
    deployment: DeployResult
    world_rows: dict[str, int]
    cycles: tuple[CycleReport, ...]

    @property
    def ok(self) -> bool:
        return all(c.verify.ok for c in self.cycles)


class Observer(Protocol):
    """Told what the demo does, as it does it."""

    def step(self, label: str) -> AbstractContextManager[Progress]:
        """A slow step; the context yields a ``progress(done, total)`` callback."""
        ...

    def deployed(self, result: DeployResult) -> None: ...

    def generated(self, world: World) -> None: ...

    def cycle(self, report: CycleReport) -> None: ...


class SilentObserver:
    def step(self, label: str) -> AbstractContextManager[Progress]:
        return nullcontext(lambda done, total: None)

    def deployed(self, result: DeployResult) -> None:
        pass

    def generated(self, world: World) -> None:
        pass

    def cycle(self, report: CycleReport) -> None:
        pass


# --------------------------------------------------------------------------- the story


def run_demo(db: Database, options: DemoOptions, observer: Observer | None = None) -> DemoResult:
    observer = observer or SilentObserver()
    if db.dialect != "postgres":
        raise DeployError("the demo runs the PostgreSQL rendering: point --dsn at PostgreSQL")
    rng = random.Random(options.seed)
    with ExitStack() as stack:
        with observer.step("preparing the vendor pipeline's PostgreSQL build"):
            manifest = demo_build(options.spec, stack)
        if options.reset:
            with observer.step("removing an earlier demo"):
                reset_demo(db, manifest)
        _refuse_loaded_database(db, manifest)
        with observer.step("deploying (with staging tables)"):
            deployment = apply_plan(db, build_plan(db, manifest, with_staging=True))
        observer.deployed(deployment)

        columns = staging_types(manifest)
        with observer.step("generating sample data") as progress:
            world = generate_world(columns, scale=options.scale, rng=rng, progress=progress)
        observer.generated(world)
        reports = [_bootstrap(db, manifest, world, columns, observer)]
        observer.cycle(reports[0])
        for number in range(1, options.cycles + 1):
            report = _cycle(db, manifest, world, columns, rng, number, observer)
            reports.append(report)
            observer.cycle(report)
        return DemoResult(manifest, deployment, world.counts(), tuple(reports))


def _bootstrap(
    db: Database,
    manifest: Manifest,
    world: World,
    columns: dict[str, dict[str, str]],
    observer: Observer,
) -> CycleReport:
    staged = initial_staging(world)
    with observer.step(f"loading {staged.total:,} rows into staging (COPY)") as progress:
        load_staging(db, manifest, staged, columns, progress=progress)
    with observer.step("bootstrapping: first run, then a rebuild of every fact"):
        result = ops.bootstrap(db, manifest)
    mutations = ("every source in full, loaded as inserts; then every target rebuilt",)
    return _report(db, manifest, 0, mutations, staged, result.run)


def _cycle(
    db: Database,
    manifest: Manifest,
    world: World,
    columns: dict[str, dict[str, str]],
    rng: random.Random,
    number: int,
    observer: Observer,
) -> CycleReport:
    cycle = mutate(world, rng, number)
    staged = cycle.staging()
    with observer.step(f"cycle {number}: loading staging and running"):
        load_staging(db, manifest, staged, columns)
        run = ops.run_cycle(db, manifest)
    return _report(db, manifest, number, tuple(cycle.mutations), staged, run)


def _report(
    db: Database,
    manifest: Manifest,
    number: int,
    mutations: tuple[str, ...],
    staged: Staged,
    run: ops.RunResult,
) -> CycleReport:
    run_id = run.run["run_id"]
    return CycleReport(
        number=number,
        mutations=mutations,
        staged={source: len(rows) for source, rows in staged.rows.items()},
        run=run,
        changes=tuple(sample_fact_changes(db, manifest, run_id)),
        changes_per_target=fact_changes_per_target(db, manifest, run_id),
        verify=ops.verify(db, manifest, raise_on_difference=False),
        fact_rows=fact_row_counts(db, manifest),
    )


# --------------------------------------------------------------------------- the build


def default_spec() -> Path:
    """mappings/vendor.yml of the checkout cdcgen runs from (or of the working directory)."""
    for root in (Path(__file__).resolve().parents[2], Path.cwd()):
        candidate = root / "mappings" / "vendor.yml"
        if candidate.is_file():
            return candidate
    raise DeployError(
        "mappings/vendor.yml not found next to cdcgen nor in the working directory; pass --spec"
    )


def demo_build(spec: Path | None, stack: ExitStack) -> Manifest:
    """The PostgreSQL build of the vendor spec.

    The committed ``generated/<pipeline>/postgres`` is used when it was built from this
    very spec (rendering takes several seconds); otherwise the spec is rendered into a
    temporary directory that lives as long as ``stack``.
    """
    from cdcgen.render.build import render_pipeline, spec_digest
    from cdcgen.validate import validate_file

    spec = spec or default_spec()
    vspec = validate_file(spec)
    _check_vendor_sources(vspec.spec.sources, spec)
    committed = spec.resolve().parent.parent / "generated" / vspec.spec.pipeline / "postgres"
    if (committed / MANIFEST_FILE).is_file():
        recorded = json.loads((committed / MANIFEST_FILE).read_text(encoding="utf-8"))
        if recorded.get("spec_sha256") == spec_digest(vspec):
            return load_manifest(committed)
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cdcgen-demo-build-")))
    for name, text in render_pipeline(vspec)["postgres"].items():
        (directory / name).write_text(text, encoding="utf-8")
    return load_manifest(directory)


def _check_vendor_sources(sources: Any, spec: Path) -> None:
    missing = sorted(VENDOR_SOURCES - set(sources))
    if missing:
        raise DeployError(
            f"{spec} lacks the vendor sources the demo generates data for: {', '.join(missing)}"
        )


# --------------------------------------------------------------------------- the database


def _refuse_loaded_database(db: Database, manifest: Manifest) -> None:
    for source in manifest.sources:
        if _has_rows(db, source.baseline):
            raise DeployError(
                f"{source.baseline} already holds rows (an earlier demo?): use an empty "
                "database, or --reset to drop what the demo created"
            )


def _has_rows(db: Database, table: str) -> bool:
    exists = db.scalar("SELECT to_regclass(%s) IS NOT NULL", [table], what=f"look for {table}")
    return bool(exists) and bool(db.fetchall(f"SELECT 1 FROM {quote_qualified(table)} LIMIT 1"))


def reset_demo(db: Database, manifest: Manifest) -> None:
    """Drop what the demo deploys: its own schemas whole, and only the pipeline's tables
    in a shared schema such as ``public``."""
    owned = {manifest.schemas.get(role) for role in ("staging", "target", "cdc")} - {None, "public"}
    with db.transaction():
        for schema in sorted(s for s in owned if s):
            db.execute(
                f"DROP SCHEMA IF EXISTS {quote_qualified(schema)} CASCADE", what=f"drop {schema}"
            )
        for source in manifest.sources:
            db.execute(
                f"DROP TABLE IF EXISTS {quote_qualified(source.baseline)} CASCADE",
                what=f"drop {source.baseline}",
            )


# --------------------------------------------------------------------------- reading back


def sample_fact_changes(db: Database, manifest: Manifest, run_id: int) -> list[FactChange]:
    """A few of the run's fact changes: updates first (they show before → after), spread
    over the facts."""
    rows = db.fetch_dicts(
        f"""
        SELECT target, op, key_text, changed_columns, before_row, after_row
        FROM (
            SELECT l.*, row_number() OVER (PARTITION BY target, op ORDER BY key_text) AS n
            FROM {manifest.cdc_schema}.fact_change_log l
            WHERE run_id = %s AND pipeline = %s
        ) ranked
        WHERE n <= 3
        """,
        [run_id, manifest.pipeline],
        what="read the run's fact changes",
    )
    order = {target.name: i for i, target in enumerate(manifest.targets)}
    op_order = {"U": 0, "D": 1, "I": 2}
    rows.sort(
        key=lambda r: (
            op_order.get(str(r["op"]).strip(), 3),
            order.get(r["target"], 99),
            r["key_text"],
        )
    )
    return [_fact_change(row) for row in rows[:CHANGE_SAMPLE]]


def _fact_change(row: dict[str, Any]) -> FactChange:
    before = flat_image(_json(row["before_row"])) or {}
    after = flat_image(_json(row["after_row"])) or {}
    op = str(row["op"]).strip()
    names = [c for c in str(row["changed_columns"] or "").split(",") if c]
    columns = tuple((c, before.get(c), after.get(c)) for c in names)
    return FactChange(str(row["target"]), op, str(row["key_text"]), columns, after or before)


def _json(value: Any) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    loaded = json.loads(value)
    return loaded if isinstance(loaded, dict) else None


def fact_changes_per_target(db: Database, manifest: Manifest, run_id: int) -> dict[str, int]:
    rows = db.fetchall(
        f"SELECT target, count(*) FROM {manifest.cdc_schema}.fact_change_log "
        "WHERE run_id = %s AND pipeline = %s GROUP BY target ORDER BY target",
        [run_id, manifest.pipeline],
        what="count the run's fact changes",
    )
    return {str(target): int(count) for target, count in rows}


def fact_row_counts(db: Database, manifest: Manifest) -> dict[str, int]:
    return {
        target.name: int(db.scalar(f"SELECT count(*) FROM {quote_qualified(target.table)}") or 0)
        for target in manifest.targets
    }
