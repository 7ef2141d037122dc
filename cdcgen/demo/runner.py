"""The demo's story: deploy a pipeline with its staging tables, generate its data,
bootstrap, then run a few cycles of realistic changes and read back what each run
did — counts, fact changes (before → after) and a verification after every run.

The data is either the vendor spec's curated supplier network (``cdcgen demo``,
:mod:`cdcgen.demo.data`) or generated from any spec (``cdcgen demo SPEC``,
:mod:`cdcgen.demo.synth`).

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
from typing import TYPE_CHECKING, Any, Protocol

from cdcgen import starter
from cdcgen.demo import synth
from cdcgen.demo.data import World, generate_world
from cdcgen.demo.mutations import Staged, initial_staging, mutate
from cdcgen.demo.staging import load_staging, staging_types
from cdcgen.demo.synth import SynthWorld
from cdcgen.deploy import ops
from cdcgen.deploy.apply import DeployResult, apply_plan
from cdcgen.deploy.connect import Database
from cdcgen.deploy.errors import DeployError
from cdcgen.deploy.manifest import MANIFEST_FILE, Manifest, load_manifest
from cdcgen.deploy.plan import build_plan, quote_qualified
from cdcgen.sql.nodes import flat_image

if TYPE_CHECKING:
    from cdcgen.validate import ValidatedSpec

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
    spec: Path | None = None  # default: the packaged vendor spec (cdcgen/examples/vendor.yml)
    reset: bool = False  # drop what an earlier demo left in the database first
    #: Data generated from the spec itself (``cdcgen demo SPEC``); otherwise the vendor
    #: spec's curated supplier network (``cdcgen demo``).
    synthetic: bool = False


class DemoData(Protocol):
    """The operational world the ETL copies from, and what each cycle loads."""

    def counts(self) -> dict[str, int]: ...

    def initial_staging(self) -> Staged: ...

    def cycle(self, number: int) -> tuple[tuple[str, ...], Staged]: ...


class CuratedVendorData:
    """The vendor spec's hand-written supplier network (``cdcgen.demo.data``)."""

    def __init__(self, world: World, rng: random.Random):
        self.world = world
        self.rng = rng

    def counts(self) -> dict[str, int]:
        return self.world.counts()

    def initial_staging(self) -> Staged:
        return initial_staging(self.world)

    def cycle(self, number: int) -> tuple[tuple[str, ...], Staged]:
        cycle = mutate(self.world, self.rng, number)
        return tuple(cycle.mutations), cycle.staging()


class SyntheticData:
    """Data generated from any spec (``cdcgen.demo.synth``)."""

    def __init__(self, world: SynthWorld):
        self.world = world

    def counts(self) -> dict[str, int]:
        return self.world.counts()

    def initial_staging(self) -> Staged:
        return self.world.initial_staging()

    def cycle(self, number: int) -> tuple[tuple[str, ...], Staged]:
        changes = self.world.cycle(number)
        return changes.mutations, changes.staged


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

    def generated(self, data: DemoData) -> None: ...

    def cycle(self, report: CycleReport) -> None: ...


class SilentObserver:
    def step(self, label: str) -> AbstractContextManager[Progress]:
        return nullcontext(lambda done, total: None)

    def deployed(self, result: DeployResult) -> None:
        pass

    def generated(self, data: DemoData) -> None:
        pass

    def cycle(self, report: CycleReport) -> None:
        pass


# --------------------------------------------------------------------------- the story


def run_demo(db: Database, options: DemoOptions, observer: Observer | None = None) -> DemoResult:
    observer = observer or SilentObserver()
    if db.dialect != "postgres":
        raise DeployError("the demo runs the PostgreSQL rendering: point --dsn at PostgreSQL")
    rng = random.Random(options.seed)
    spec = options.spec or default_spec()
    with ExitStack() as stack:
        with observer.step(f"preparing the PostgreSQL build of {spec.name}"):
            manifest, vspec = build_and_validate(spec, stack, curated=not options.synthetic)
        if options.reset:
            with observer.step("removing an earlier demo"):
                reset_demo(db, manifest)
        _refuse_loaded_database(db, manifest)
        with observer.step("deploying (with staging tables)"):
            deployment = apply_plan(db, build_plan(db, manifest, with_staging=True))
        observer.deployed(deployment)

        columns = staging_types(manifest)
        data: DemoData
        if options.synthetic:
            with observer.step("generating data from the spec") as progress:
                data = SyntheticData(synth.generate(vspec, scale=options.scale, rng=rng, progress=progress))
        else:
            with observer.step("generating sample data") as progress:
                world = generate_world(columns, scale=options.scale, rng=rng, progress=progress)
            data = CuratedVendorData(world, rng)
        observer.generated(data)
        reports = [_bootstrap(db, manifest, data, columns, observer)]
        observer.cycle(reports[0])
        for number in range(1, options.cycles + 1):
            report = _cycle(db, manifest, data, columns, (number, options.cycles), observer)
            reports.append(report)
            observer.cycle(report)
        return DemoResult(manifest, deployment, data.counts(), tuple(reports))


def _bootstrap(
    db: Database,
    manifest: Manifest,
    data: DemoData,
    columns: dict[str, dict[str, str]],
    observer: Observer,
) -> CycleReport:
    staged = data.initial_staging()
    with observer.step(f"loading {staged.total:,} rows into staging (COPY)") as progress:
        load_staging(db, manifest, staged, columns, progress=progress)
    with observer.step("bootstrapping: first run, then a rebuild of every target"):
        result = ops.bootstrap(db, manifest)
    mutations = ("every source in full, loaded as inserts; then every target rebuilt",)
    return _report(db, manifest, 0, mutations, staged, result.run, observer)


def _cycle(
    db: Database,
    manifest: Manifest,
    data: DemoData,
    columns: dict[str, dict[str, str]],
    of: tuple[int, int],
    observer: Observer,
) -> CycleReport:
    number, total = of
    mutations, staged = data.cycle(number)
    with observer.step(f"cycle {number} of {total}: loading staging and running") as progress:
        progress(number - 1, total)
        load_staging(db, manifest, staged, columns)
        run = ops.run_cycle(db, manifest)
    return _report(db, manifest, number, mutations, staged, run, observer)


def _report(
    db: Database,
    manifest: Manifest,
    number: int,
    mutations: tuple[str, ...],
    staged: Staged,
    run: ops.RunResult,
    observer: Observer,
) -> CycleReport:
    run_id = run.run["run_id"]
    targets = len(manifest.targets)
    with observer.step(f"verifying {targets} target{'s' if targets != 1 else ''}") as progress:
        progress(0, targets)
        verify = ops.verify(db, manifest, raise_on_difference=False)
        progress(targets, targets)
    return CycleReport(
        number=number,
        mutations=mutations,
        staged={source: len(rows) for source, rows in staged.rows.items()},
        run=run,
        changes=tuple(sample_fact_changes(db, manifest, run_id)),
        changes_per_target=fact_changes_per_target(db, manifest, run_id),
        verify=verify,
        fact_rows=fact_row_counts(db, manifest),
    )


# --------------------------------------------------------------------------- the build


#: The example specs shipped inside the package (kept identical to the repository's
#: mappings/ by tests/test_examples.py), so the demo works after a plain pip install.
EXAMPLES = starter.EXAMPLES


def example_spec(name: str) -> Path:
    """A packaged example spec: ``vendor`` or ``orders``."""
    path = EXAMPLES / f"{name}.yml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in EXAMPLES.glob("*.yml")))
        raise DeployError(f"no example named {name!r}; the examples are: {known}")
    return path


def default_spec() -> Path:
    """The packaged vendor spec: the same file as mappings/vendor.yml of the repository."""
    return example_spec("vendor")


def demo_build(spec: Path | None, stack: ExitStack, *, curated: bool = True) -> Manifest:
    """The PostgreSQL build of a spec (default: the packaged vendor spec)."""
    return build_and_validate(spec or default_spec(), stack, curated=curated)[0]


def build_and_validate(
    spec: Path, stack: ExitStack, *, curated: bool = True
) -> tuple[Manifest, ValidatedSpec]:
    """The PostgreSQL build of a spec, and the validated spec.

    A committed ``generated/<pipeline>/postgres`` is used when it was built from this
    very spec (same bytes; rendering the vendor spec takes several seconds); otherwise
    the spec is rendered into a temporary directory that lives as long as ``stack``.
    """
    from cdcgen.render.build import spec_digest
    from cdcgen.validate import validate_file

    if not spec.is_file():
        raise DeployError(f"{spec}: no such spec file")
    vspec = validate_file(spec)
    if curated:
        _check_vendor_sources(vspec.spec.sources, spec)
    digest = spec_digest(vspec)
    for root in dict.fromkeys((spec.resolve().parent.parent, EXAMPLES.parent.parent, Path.cwd())):
        committed = root / "generated" / vspec.spec.pipeline / "postgres"
        if (committed / MANIFEST_FILE).is_file():
            recorded = json.loads((committed / MANIFEST_FILE).read_text(encoding="utf-8"))
            if recorded.get("spec_sha256") == digest:
                return load_manifest(committed), vspec
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cdcgen-demo-build-")))
    for name, text in postgres_rendering(vspec).items():
        (directory / name).write_text(text, encoding="utf-8")
    return load_manifest(directory), vspec


def postgres_rendering(vspec: ValidatedSpec) -> dict[str, str]:
    """What ``cdcgen build`` writes to ``generated/<pipeline>/postgres`` (the spec named by
    its file name), without rendering the Redshift half the demo does not deploy (about
    half the time)."""
    from cdcgen.render.build import render_pipeline

    root = Path(vspec.file).resolve().parent
    return render_pipeline(vspec, root, dialects=("postgres",))["postgres"]


def _check_vendor_sources(sources: Any, spec: Path) -> None:
    missing = sorted(VENDOR_SOURCES - set(sources))
    if missing:
        raise DeployError(
            f"{spec} lacks the vendor sources the curated demo data is for: "
            f"{', '.join(missing)}; run `cdcgen demo {spec}` to generate data from the spec"
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
