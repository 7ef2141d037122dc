"""Render a plan into ordered, named SQL objects for one dialect.

Statements come from ``cdcgen.sql`` as sqlglot trees and are written by the
dialect module; Jinja2 templates only wrap procedure bodies and PL/pgSQL control
flow (lock, run log, exception handling, IF)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from types import ModuleType
from typing import Literal, TypeVar

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlglot import exp

from cdcgen.plan.model import PipelinePlan, SourcePlan, TargetPlan
from cdcgen.render import dollar, postgres, redshift
from cdcgen.sql import (
    builders,
    ddl,
    detect,
    dimensions,
    dispatch,
    facts,
    rollback,
    sync,
    tables,
    typed_staging,
    verify,
    views,
)

T = TypeVar("T")
Dialect = Literal["redshift", "postgres"]
DIALECTS: tuple[Dialect, ...] = ("redshift", "postgres")

Kind = Literal[
    "schema",
    "state_table",
    "staging_table",
    "baseline_table",
    "target_table",
    "index",
    "staging_index",
    "view",
    "procedure",
]
_ORDER: dict[str, str] = {
    "schema": "000_schema",
    "state_table": "010_state",
    "staging_table": "020_staging",
    "baseline_table": "030_baseline",
    "target_table": "040_target",
    "index": "045_index",
    "staging_index": "046_staging_index",
    "view": "050_view",
    "procedure": "060_procedure",
}


@dataclass(frozen=True)
class SqlObject:
    name: str
    kind: Kind
    sql: str
    columns: tuple[tuple[str, str], ...] = ()
    key: tuple[str, ...] = ()
    #: statements after the CREATE that a kept table also takes (``SET STORAGE``)
    storage: tuple[str, ...] = ()

    @property
    def file(self) -> str:
        return f"{_ORDER[self.kind]}__{self.name}.sql"


#: executed-statement counter of every procedure a run calls (see Renderer.counted)
COUNTER = "v_statements"
COUNTER_DECLARE = f"{COUNTER} BIGINT := 0"
#: A step procedure's last argument: its caller's counter, which it advances by its own
#: statements. One UPDATE of run_log at the run's close then records them all, where each
#: step used to UPDATE it (Redshift compiles and queues every statement; INOUT is how a
#: nested CALL returns a value there: AWS, r_CALL_procedure, "Nested calls").
STEP_COUNTER = "p_statements"
STEP_COUNTER_ARG = f"INOUT {STEP_COUNTER} BIGINT"


def step_call(proc: str, *args: str) -> str:
    """``CALL proc(args…, v_statements)``: a step's call, passing the caller's counter."""
    return f"CALL {proc}({', '.join((*args, COUNTER))});"


class Trees:
    """Statement trees are dialect-neutral: build each once, render it for both dialects.
    (Rendering copies the tree, so sharing them is safe.)"""

    def __init__(self) -> None:
        self._built: dict[tuple[str, ...], object] = {}

    def get(self, key: tuple[str, ...], build: Callable[[], T]) -> T:
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]  # type: ignore[return-value]


#: A file every templates folder holds: how a candidate folder is recognised.
_TEMPLATE_MARK = Path("common") / "procedure.sql.j2"


@cache
def templates_directory() -> Path:
    """The Jinja procedure templates: ``common/``, ``redshift/``, ``postgres/``.

    They live in the repository's top-level ``templates/`` folder, which a wheel installs
    as the package data ``cdcgen/templates`` (setup.py maps it). An installed package
    finds them inside itself; a source checkout or an editable install finds them next
    to the package, at ``<checkout>/templates``."""
    package = Path(__file__).resolve().parent.parent
    candidates = (package / "templates", package.parent / "templates")
    for candidate in candidates:
        if (candidate / _TEMPLATE_MARK).is_file():
            return candidate
    raise FileNotFoundError(
        "cdcgen's procedure templates are missing: looked for "
        + " and ".join(str(c / _TEMPLATE_MARK) for c in candidates)
        + "; reinstall cdcgen"
    )


@cache
def _environment(dialect: Dialect) -> Environment:
    """One Jinja environment per dialect for the process: each compiles a template once,
    however many renderers (two a spec) and specs use it. The dialect's folder comes
    first, then ``common/``."""
    root = templates_directory()
    return Environment(
        loader=FileSystemLoader([root / dialect, root / "common"], encoding="utf-8"),
        undefined=StrictUndefined,
        keep_trailing_newline=False,
        autoescape=False,
    )


@dataclass(frozen=True)
class Renderer:
    dialect: Dialect
    trees: Trees = field(default_factory=Trees, compare=False)
    env: Environment = field(init=False, repr=False, compare=False)
    #: id(tree) -> (tree, text): a tree is written once per dialect
    _rendered: dict[int, tuple[exp.Expression, str]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", _environment(self.dialect))
        object.__setattr__(self, "_rendered", {})

    @property
    def module(self) -> ModuleType:
        """The dialect's rendering module (``render.redshift``, ``render.postgres``)."""
        return redshift if self.dialect == "redshift" else postgres

    def statement(self, e: exp.Expression) -> str:
        if isinstance(e, builders.OnlyIf):
            raise TypeError("an OnlyIf statement is rendered by Renderer.counted, with its IF")
        if isinstance(e, builders.DropTemp):
            prefix = "pg_temp." if self.dialect == "postgres" else ""
            return f"DROP TABLE IF EXISTS {', '.join(prefix + n.name for n in e.expressions)};"
        if isinstance(e, builders.AnalyzeTemp):
            return self._analyze(e)
        cached = self._rendered.get(id(e))
        if cached is not None and cached[0] is e:
            return cached[1]
        module = self.module
        # copy=False: the generators do not mutate these trees (build --check proves the
        # output unchanged), and copying every tree before writing it was most of a build.
        text = module.DIALECT().generate(e, copy=False, pretty=True) + ";"
        self._rendered[id(e)] = (e, text)
        return text

    def _analyze(self, e: builders.AnalyzeTemp) -> str:
        """ANALYZE on PostgreSQL; on Redshift only after INSERTs (CTAS analyzes; see
        AnalyzeTemp)."""
        if self.dialect != "postgres" and not e.args.get("filled"):
            return ""
        gen = self.module.DIALECT()
        columns = [gen.generate(c, copy=False) for c in e.expressions]
        listed = f" ({', '.join(columns)})" if columns else ""
        return f"ANALYZE {e.this.name}{listed};"

    def body(self, stmts: Sequence[exp.Expression], indent: int = 2) -> str:
        pad = " " * indent
        lines: list[str] = []
        for s in stmts:
            lines.extend(pad + line if line else line for line in self.statement(s).splitlines())
        return "\n".join(lines)

    def counted(
        self, stmts: Sequence[exp.Expression], indent: int = 2, then: Sequence[str] = ()
    ) -> str:
        """A block of statements, then the PL/pgSQL counter of executed statements
        advanced by their number (an assignment, not a statement: no diagnostics item
        counts statements; the sum lands in run_log.statements). ``then``: PL/pgSQL lines
        that must follow the statements directly (``GET DIAGNOSTICS`` reads the last one)."""
        blocks: list[str] = []
        run: list[exp.Expression] = []
        for s in stmts:
            if isinstance(s, builders.OnlyIf):
                blocks += [self._counted_run(run, indent), self._only_if(s, indent)]
                run = []
            else:
                run.append(s)
        blocks.append(self._counted_run(run, indent, then))
        return "\n".join(b for b in blocks if b)

    def _counted_run(
        self, stmts: Sequence[exp.Expression], indent: int, then: Sequence[str] = ()
    ) -> str:
        pad = " " * indent
        text = "\n".join([self.body(stmts, indent), *(pad + line for line in then)])
        n = sum(1 for s in stmts if self.statement(s))  # rendered once: cached
        return f"{text}\n{pad}{COUNTER} := {COUNTER} + {n};" if n else text

    def _only_if(self, e: builders.OnlyIf, indent: int) -> str:
        """``IF condition THEN statements; counter + n; END IF;``: counted only when run."""
        return self.if_block(e.text("condition"), self._counted_run(e.expressions, 2), indent)

    def if_block(self, condition: str, block: str, indent: int = 0) -> str:
        """``IF condition THEN block END IF;`` (``block`` indented two spaces deeper)."""
        text = self.template("only_if.sql.j2", condition=condition, block=block)
        return _indented(text.rstrip(), " " * indent)

    def template(self, template_name: str, **context: object) -> str:
        return self.env.get_template(template_name).render(**context).rstrip() + "\n"


def _indented(text: str, pad: str = "  ") -> str:
    """``text`` with every non-empty line indented by ``pad`` (a block nested in a body)."""
    return "\n".join(pad + line if line else line for line in text.splitlines())


def _table_object(
    r: Renderer, kind: Kind, d: ddl.TableDef, storage: exp.Expression | None = None
) -> SqlObject:
    create = r.trees.get(("create_table", kind, str(d.table)), partial(ddl.create_table, d))
    kept = (r.statement(storage),) if storage is not None and r.dialect == "postgres" else ()
    return SqlObject(
        str(d.table),
        kind,
        "".join(s + "\n" for s in (r.statement(create), *kept)),
        tuple((c.name, c.type) for c in d.columns),
        d.key,
        kept,
    )


def _procedure(
    r: Renderer,
    name: str,
    args: str,
    body: str,
    declare: Sequence[str] = (),
    settings: Sequence[str] = (),
) -> SqlObject:
    """``settings``: ``SET name = value`` clauses of the procedure (PostgreSQL: in force
    while it runs, restored when it returns; such a procedure cannot COMMIT)."""
    body = dollar.check_body(name, body)
    text = r.template(
        "procedure.sql.j2",
        name=name,
        args=args,
        declare=list(declare),
        body=body,
        settings=list(settings),
    )
    return SqlObject(name, "procedure", text)


def _step_procedure(
    r: Renderer,
    name: str,
    args: str,
    body: str,
    declare: Sequence[str] = (),
    settings: Sequence[str] = (),
) -> SqlObject:
    """A step of a run: counts the statements it executes and hands them to its caller."""
    return _procedure(
        r,
        name,
        f"{args}, {STEP_COUNTER_ARG}",
        f"{body}\n  {STEP_COUNTER} := {STEP_COUNTER} + {COUNTER};",
        declare=[*declare, COUNTER_DECLARE],
        settings=settings,
    )


#: the dispatchers' variable holding their probe of open dead letters, passed to each step
#: that may close one (detect.OPEN_LETTERS)
_OPEN_LETTERS_VAR = "v_open_letters"
#: the arguments of a step that may close dead letters
_RESOLVING_ARGS = f"p_run_id BIGINT, {detect.OPEN_LETTERS} BIGINT"


def detect_source_proc(p: PipelinePlan, src: SourcePlan) -> str:
    return p.proc(f"detect__{src.name}")


def sync_source_proc(p: PipelinePlan, src: SourcePlan) -> str:
    return p.proc(f"sync__{src.name}")


def _detect_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    """One cheap check per source, all in one statement; a source with something to
    detect calls its own procedure. PL/pgSQL parses a procedure's whole body on its
    first call in a session (and a scheduled run is always a new session): one body
    holding every source's detection cost a no-op run more than all its statements."""
    staged_vars = [f"v_staged_{i}" for i, _ in enumerate(p.sources, 1)]
    probes = r.trees.get(("probes",), lambda: dispatch.probes(p, p.sources))
    values = [builders.col(dispatch.probe_column(i)) for i, _ in enumerate(p.sources, 1)]
    values.append(builders.col(dispatch.OPEN_LETTERS_COLUMN))
    blocks = [_select_into(r, values, [*staged_vars, _OPEN_LETTERS_VAR], probes)]
    names = [n for src in p.sources for n in detect.temp_names(p, src)]
    drop = r.trees.get(("detect_temps",), lambda: dispatch.drop_step_temps(staged_vars, names))
    blocks.append(r.counted([drop], 0))
    staged = {src.name: v for src, v in zip(p.sources, staged_vars, strict=True)}
    typed_block, typed_vars = _typed_block(r, p, staged)
    blocks.append(typed_block)
    blocks += [
        _detect_source(r, p, src, v, typed_vars.get(src.name))
        for src, v in zip(p.sources, staged_vars, strict=True)
    ]
    # a full snapshot left alone reports what it read, in its own block above
    idle = [
        ("source", s.name, v)
        for s, v in zip(p.sources, staged_vars, strict=True)
        if s.delete_kind != "snapshot"
    ]
    blocks.append(_idle_block(r, p, idle, dispatch.SOURCE_ZEROS))
    body = _indented("\n".join(b for b in blocks if b))
    return _step_procedure(
        r,
        p.proc("detect"),
        "p_run_id BIGINT",
        body,
        declare=[f"{v} BIGINT" for v in (*staged_vars, _OPEN_LETTERS_VAR, *typed_vars.values())],
    )


def _idle_block(
    r: Renderer, p: PipelinePlan, idle: Sequence[tuple[str, str, str]], zeros: int
) -> str:
    """The zero counts of every object its dispatcher left alone, in one statement."""
    if not idle:
        return ""
    names = tuple(name for _, name, _ in idle)
    stmt = r.trees.get(("idle", *names), lambda: dispatch.idle_counts(p, idle, zeros))
    return r.template(
        "idle_counts.sql.j2",
        any_idle=" OR ".join(f"{v} = 0" for _, _, v in idle),
        zeros=r.counted([stmt], 2),
    ).rstrip()


def _detect_source_procedure(r: Renderer, p: PipelinePlan, src: SourcePlan) -> SqlObject:
    steps = _detect_steps(r, p, src)
    rest = r.counted(steps.rest, 2)
    if not steps.checked:
        body = r.counted(steps.staged, 2) + "\n" + rest
        return _step_procedure(r, detect_source_proc(p, src), _RESOLVING_ARGS, body)
    staged = r.template(
        "typed_staging.sql.j2",
        typed_var=detect.TYPED_ARG,
        path_var=detect.STAGED_PATH_VAR,
        columns=len(steps.checked),
        typed=r.counted(steps.typed_staged, 2),
        checked=r.counted(steps.staged, 2),
    ).rstrip()
    staged = _indented(staged)
    return _step_procedure(
        r,
        detect_source_proc(p, src),
        f"{_RESOLVING_ARGS}, {detect.TYPED_ARG} BIGINT",
        staged + "\n" + rest,
        declare=[f"{detect.STAGED_PATH_VAR} VARCHAR(8)"],
    )


def _detect_steps(r: Renderer, p: PipelinePlan, src: SourcePlan) -> detect.DetectSteps:
    return r.trees.get(("detect", src.name), partial(detect.detect_steps, p, src))


def _typed_block(r: Renderer, p: PipelinePlan, staged: dict[str, str]) -> tuple[str, dict[str, str]]:
    """The catalog read of every source with cast-checked columns (their staged copies
    may skip the castability patterns), in one statement made only when one of them has
    staged rows; and each such source's variable holding its answer. On Redshift the
    catalog is the leader node's: this read stays apart from any read of a table."""
    # (number, source, its cast-checked columns): the answer is column typed_<n>
    checked = [
        (i, s, columns)
        for i, s in enumerate(p.sources, 1)
        if (columns := _detect_steps(r, p, s).checked)
    ]
    if not checked:
        return "", {}
    query = r.trees.get(
        ("typed_counts",),
        lambda: typed_staging.typed_columns_counts([(f"typed_{i}", s, c) for i, s, c in checked]),
    )
    typed = {s.name: f"v_typed_{i}" for i, s, _ in checked}
    values = [builders.col(f"typed_{i}") for i, _, _ in checked]
    select = _select_into(r, values, list(typed.values()), query)
    condition = " OR ".join(f"{staged[name]} > 0" for name in typed)
    note = "-- Which staging tables hold their cast-checked columns typed: one catalog read for all."
    return f"{note}\n{r.if_block(condition, _indented(select))}", typed


def _detect_source(
    r: Renderer, p: PipelinePlan, src: SourcePlan, staged_var: str, typed_var: str | None
) -> str:
    """A source's detection, called only when its probe found something. A full
    snapshot identical to its baseline still reports what it read (its own counts)."""
    skipped = ""
    if src.delete_kind == "snapshot":
        stmts = r.trees.get(("skipped", src.name), partial(detect.skipped_statements, p, src))
        skipped = r.counted(stmts, 2)
    return r.template(
        "detect_source.sql.j2",
        source=src.name,
        staged_var=staged_var,
        detect="  " + step_call(
            detect_source_proc(p, src), "p_run_id", _OPEN_LETTERS_VAR, *filter(None, [typed_var])
        ),
        skipped=skipped,
    ).rstrip()


def _inline(r: Renderer, e: exp.Expression) -> str:
    """A query on one line, to sit inside a template's statement."""
    return r.module.DIALECT().generate(e, copy=False, pretty=False)


def _select_into(
    r: Renderer, values: Sequence[exp.Expression], targets: Sequence[str], source: exp.Expression
) -> str:
    """``SELECT values INTO targets FROM (source) AS cdc__c;`` and its counter step: one
    statement that fills several PL/pgSQL variables."""
    listed = ", ".join(_inline(r, v) for v in values)
    return (
        f"SELECT {listed} INTO {', '.join(targets)} FROM ({_inline(r, source)}) AS cdc__c;\n"
        f"{COUNTER} := {COUNTER} + 1;"
    )


def _sync_source_procedure(r: Renderer, p: PipelinePlan, src: SourcePlan) -> SqlObject:
    """A changed source's baseline sync and logs (its own procedure: see _detect_procedure)."""
    changes = r.trees.get(("sync", src.name), partial(sync.changes_statements, p, src))
    args = f"p_run_id BIGINT, {sync.INSERTED} BIGINT, {sync.DELETED} BIGINT"
    return _step_procedure(r, sync_source_proc(p, src), args, r.counted(changes, 2))


def _sync_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    """Each source's baseline, logs and watermark, guarded by the counts detection
    logged: an unchanged source's delta is never read (it was never made)."""
    values: list[exp.Expression] = []
    targets: list[str] = []
    blocks = []
    for i, src in enumerate(p.sources, 1):
        marks = r.trees.get(("watermark", src.name), partial(sync.watermark_statements, p, src))
        values.append(detect.logged_changes(src.name))
        targets.append(f"v_changes_{i}")
        # the source's inserts and deletes: its tombstone statements run only for them
        values += [detect.logged_sum(src.name, builders.col(c)) for c in ("inserted", "deleted")]
        targets += [f"v_inserted_{i}", f"v_deleted_{i}"]
        if marks:
            values.append(detect.logged_sum(src.name, builders.col("read_rows")))
            targets.append(f"v_read_{i}")
        blocks.append(
            r.template(
                "sync_source.sql.j2", source=src.name, changes_var=f"v_changes_{i}",
                read_var=f"v_read_{i}",
                changes="  " + step_call(
                    sync_source_proc(p, src), "p_run_id", f"v_inserted_{i}", f"v_deleted_{i}"
                ),
                watermark=r.counted(marks, 2),
            ).rstrip()
        )
    logged = r.trees.get(("logged_counts",), lambda: detect.logged_counts(p))
    blocks.insert(0, _select_into(r, values, targets, logged))
    body = _indented("\n".join(blocks))
    return _step_procedure(
        r, p.proc("sync_baseline"), "p_run_id BIGINT", body,
        declare=[f"{v} BIGINT" for v in targets],
    )


def apply_proc_name(p: PipelinePlan, t: TargetPlan) -> str:
    return p.proc(f"apply_{t.name}")


def _apply_statements(p: PipelinePlan, t: TargetPlan) -> list[exp.Expression]:
    if t.kind == "dimension":
        return dimensions.apply_statements(p, t)
    return facts.apply_statements(p, t)


#: after each insert into a target's key table: its rows, added up, are the affected keys
#: (the table starts empty), so no COUNT(*) reads the table again. Redshift's one
#: diagnostics item (AWS c_PLpgSQL-structure, built-in variables), right after the INSERT.
_KEYS_ADDED = ("GET DIAGNOSTICS v_rows := ROW_COUNT;", "v_keys := v_keys + v_rows;")


#: an apply's argument: whether the fact holds rows (0 or 1; _ROWS_UNREAD: the apply reads it)
_TARGET_ROWS_ARG = "p_target_rows"
_ROWS_UNREAD = "-1"


def _apply_args(t: TargetPlan) -> list[str]:
    """An apply's arguments after the run id: the full flag, the open dead letters, the
    changes of each source it reads (as detection counted them), and for a fact whether
    it holds rows. Its dispatcher reads them all in one statement: each apply read its
    own used to cost a statement per reached target."""
    changed = [f"p_changed_{i} BIGINT" for i, _ in enumerate(facts.read_sources(t), 1)]
    rows = [f"{_TARGET_ROWS_ARG} BIGINT"] if t.kind == "fact" else []
    return ["p_full BOOLEAN", f"{detect.OPEN_LETTERS} BIGINT", *changed, *rows]


def _apply_call(p: PipelinePlan, t: TargetPlan, run_id: str, values: Sequence[str]) -> str:
    return step_call(apply_proc_name(p, t), run_id, *values)


def _apply_procedure(r: Renderer, p: PipelinePlan, t: TargetPlan) -> SqlObject:
    sources = facts.read_sources(t)
    changed_vars = [f"p_changed_{i}" for i, _ in enumerate(sources, 1)]
    number = dict(zip(sources, changed_vars, strict=True))
    parts = r.trees.get(("key_parts", t.name), lambda: facts.affected_key_parts(p, t))
    inserts = [
        r.trees.get(("keys_insert", t.name, s), partial(facts.keys_insert, p, t, parts[s]))
        for s in sorted(parts)
    ]
    changed = ""
    dim_vars: list[str] = []
    target_probe = ""
    if t.kind == "fact":
        # whether the fact is empty (a first load takes plain inserts): a rebuild passes -1
        one_row = r.trees.get(("target_one_row", t.name), lambda: facts.target_one_row(t))
        target_probe = _select_into(r, [exp.Count(this=exp.Star())], [facts.TARGET_ROWS_VAR], one_row)
    key_inserts = [
        (s, number[s], r.counted([stmt], 6, then=_KEYS_ADDED))
        for s, stmt in zip(sorted(parts), inserts, strict=True)
    ]
    # Point-in-time lookups: the dimensions' changes in this run (applied before this fact)
    # reach the fact rows whose as-of time falls in a changed validity range.
    looked_up = sorted({a.dimension for a in t.as_of})
    if looked_up:
        dim_vars = [f"v_changed_dim_{i}" for i, _ in enumerate(looked_up, 1)]
        dim_parts = r.trees.get(("as_of_parts", t.name), lambda: facts.as_of_key_parts(p, t))
        dim_logged = r.trees.get(
            ("dim_logged", t.name), lambda: facts.logged_dimension_counts(p, looked_up)
        )
        values = [detect.logged_changes(d) for d in looked_up]
        changed = _select_into(r, values, dim_vars, dim_logged)
        changed_vars += dim_vars
        for d, var in zip(looked_up, dim_vars, strict=True):
            stmt = r.trees.get(
                ("as_of_insert", t.name, d), partial(facts.keys_insert, p, t, dim_parts[d])
            )
            key_inserts.append((f"dimension {d}", var, r.counted([stmt], 6, then=_KEYS_ADDED)))
    body = r.template(
        "apply_body.sql.j2",
        target=t.name,
        changed=changed,
        changed_sum=" + ".join(changed_vars),
        target_rows_arg=_TARGET_ROWS_ARG,
        rows_unread=_ROWS_UNREAD,
        target_probe=_indented(target_probe),
        full_keys=r.counted(
            r.trees.get(("full_keys", t.name), lambda: facts.full_keys_statements(p, t)), 4
        ),
        keys_shell=r.counted(r.trees.get(("keys_shell", t.name), lambda: facts.keys_shell(p, t)), 4),
        key_inserts=key_inserts,
        keys_analyze=r.counted(
            r.trees.get(("keys_analyze", t.name), lambda: [facts.keys_analyze(p, t)]), 4
        ),
        keys_table=facts.keys_name(p, t),
        analyze_target=r.counted(
            r.trees.get(("analyze_target", t.name), lambda: [facts.analyze_target(t)]),
            6 if t.kind == "fact" else 4,
        ),
        apply=r.counted(
            r.trees.get(("apply", t.name), lambda: _apply_statements(p, t)),
            4 if t.kind == "fact" else 2,
        ),
        **_whole_blocks(r, p, t),
        no_change=r.counted(r.trees.get(("no_change", t.name), lambda: [facts.zero_counts(p, t)]), 2),
        **_load_blocks(r, p, t),
    )
    indented = _indented(body.rstrip())
    declare = ["v_keys BIGINT", "v_rows BIGINT", "v_changed BIGINT"]
    declare += [f"{v} BIGINT" for v in dim_vars] + (
        [f"{facts.TARGET_ROWS_VAR} BIGINT", "v_target_count BIGINT", f"{facts.PATH_VAR} VARCHAR(8)"]
        if t.kind == "fact"
        else []
    )
    settings = r.module.APPLY_SETTINGS
    return _step_procedure(
        r,
        apply_proc_name(p, t),
        ", ".join(["p_run_id BIGINT", *_apply_args(t)]),
        indented,
        declare=declare,
        settings=settings,
    )


def whole_apply_proc(p: PipelinePlan, t: TargetPlan) -> str:
    return p.proc(f"apply_{t.name}__whole")


def _whole_blocks(r: Renderer, p: PipelinePlan, t: TargetPlan) -> dict[str, object]:
    """A fact's path by cost: the whole recompute, taken when the affected keys are a
    large share of it (dimensions keep the keyed path: their history is per key). It is
    its own procedure, so the usual keyed run never parses it (see _detect_procedure)."""
    if t.kind != "fact":
        return {"whole_apply": ""}
    return {
        "whole_apply": "    " + step_call(whole_apply_proc(p, t), "p_run_id", detect.OPEN_LETTERS),
        "whole_pct": facts.WHOLE_PATH_PCT,
        "whole_min_keys": facts.WHOLE_PATH_MIN_KEYS,
    }


def _whole_apply_procedure(r: Renderer, p: PipelinePlan, t: TargetPlan) -> SqlObject:
    """The whole recompute's diff table (its caller merges and logs it)."""
    whole = r.trees.get(("whole_apply", t.name), lambda: facts.whole_apply_statements(p, t))
    return _step_procedure(r, whole_apply_proc(p, t), _RESOLVING_ARGS, r.counted(whole, 2))


def _load_blocks(r: Renderer, p: PipelinePlan, t: TargetPlan) -> dict[str, str]:
    """A fact's load: INSERT into an empty target, else MERGE; then its logs."""
    if t.kind != "fact":
        return {"merge": ""}
    return {
        "target_table": str(t.table),
        "insert": r.counted(r.trees.get(("insert", t.name), lambda: facts.insert_statements(p, t)), 4),
        "merge": r.counted(r.trees.get(("merge", t.name), lambda: facts.merge_statements(p, t)), 4),
        "log": r.counted(r.trees.get(("log", t.name), lambda: facts.log_statements(p, t)), 2),
    }


def _guarded(
    r: Renderer, p: PipelinePlan, name: str, args: str, kind: str, body: str,
    declare: Sequence[str] = (),
) -> SqlObject:
    # PostgreSQL's guard runs the body in an inner BEGIN … EXCEPTION block: one level deeper
    pad = "    " if r.dialect == "postgres" else "  "
    body = _indented(body.rstrip(), pad)
    text = r.template(
        "guarded.sql.j2",
        name=name,
        args=args,
        kind=kind,
        body=dollar.check_body(name, body),
        cdc=p.cdc_schema,
        pipeline=p.name,
        declare=list(declare),
        counter=COUNTER,
    )
    return SqlObject(name, "procedure", text)


def _run_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    calls = [step_call(p.proc(step), "v_run_id") for step in ("detect", "sync_baseline", "apply")]
    return _guarded(r, p, p.proc("run"), "", "run", "\n".join(calls))


def _reaching_sources(p: PipelinePlan, t: TargetPlan) -> list[str]:
    """The sources whose changes can reach ``t``: those it reads, and those of the
    dimensions it looks up as of a time (their new versions move its rows)."""
    by_name = {d.name: d for d in p.dimensions}
    looked_up = [by_name[a.dimension] for a in t.as_of]
    return sorted({s for x in (t, *looked_up) for s in facts.read_sources(x)})


def _apply_dispatch_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    """Calls a target's apply only when a source that reaches it changed; otherwise
    writes its zero counts here. The reason is the same as for detection: PL/pgSQL
    parses a procedure's whole body on its first call in a session, and a fact's
    apply is tens of kilobytes a no-op run would parse for nothing."""
    reaching = [_reaching_sources(p, t) for t in p.targets]
    changed_vars = [f"v_changed_{i}" for i, _ in enumerate(p.targets, 1)]
    every = sorted({s for sources in reaching for s in sources})
    logged = r.trees.get(("logged", "apply"), lambda: detect.logged_counts(p, every))
    values = [detect.logged_changes_of(sources) for sources in reaching]
    into = [*changed_vars, _OPEN_LETTERS_VAR]
    values.append(r.trees.get(("open_letters",), lambda: detect.open_letters_probe(p)))
    # what each apply would read for itself: each source's changes, each fact's rows
    read = sorted({s for t in p.targets for s in facts.read_sources(t)})
    source_vars = {s: f"v_source_{i}" for i, s in enumerate(read, 1)}
    values += [detect.logged_changes(s) for s in read]
    into += list(source_vars.values())
    rows_vars = {t.name: f"v_rows_{i}" for i, t in enumerate(p.facts, 1)}
    values += [r.trees.get(("target_probe", t.name), partial(facts.target_probe, t)) for t in p.facts]
    into += list(rows_vars.values())

    def call(t: TargetPlan) -> str:
        rows = [rows_vars[t.name]] if t.kind == "fact" else []
        changes = [source_vars[s] for s in facts.read_sources(t)]
        return _apply_call(p, t, "p_run_id", ["FALSE", _OPEN_LETTERS_VAR, *changes, *rows])

    blocks = [
        r.template(
            "apply_target.sql.j2",
            target=t.name,
            sources=", ".join(sources),
            changed_var=var,
            call="  " + call(t),
        ).rstrip()
        for t, sources, var in zip(p.targets, reaching, changed_vars, strict=True)
    ]
    idle = [(t.kind, t.name, v) for t, v in zip(p.targets, changed_vars, strict=True)]
    blocks.append(_idle_block(r, p, idle, dispatch.TARGET_ZEROS))
    names = [n for t in p.targets for n in facts.temp_names(p, t)]
    drop = r.trees.get(("apply_temps",), lambda: dispatch.drop_step_temps(changed_vars, names))
    probe = _select_into(r, values, into, logged)
    body = "\n".join([probe, r.counted([drop], 0), *blocks])
    return _step_procedure(
        r, p.proc("apply"), "p_run_id BIGINT", _indented(body),
        declare=[f"{v} BIGINT" for v in into],
    )


def _rebuild_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    # A rebuilt dimension may open and close versions: the facts that look it up as of a
    # time are rebuilt after it (their rows follow the versions).
    def rebuilt(t: TargetPlan) -> list[TargetPlan]:
        return [t, *(f for f in p.facts if any(a.dimension == t.name for a in f.as_of))]

    def call(t: TargetPlan) -> str:
        # "1": a letter may be open; a rebuild is rare, so it looks rather than probes first.
        # A full apply reads no source's changes; it reads whether the fact holds rows
        # itself (-1: plain literals, as AWS's CALL examples pass).
        changes = ["0"] * len(facts.read_sources(t))
        rows = [_ROWS_UNREAD] if t.kind == "fact" else []
        return _apply_call(p, t, "v_run_id", ["TRUE", "1", *changes, *rows])

    calls = [(t.name, [call(x) for x in rebuilt(t)]) for t in p.targets]
    dispatch = r.template("rebuild_body.sql.j2", targets=calls)
    return _guarded(r, p, p.proc("rebuild"), "p_target VARCHAR(127)", "rebuild", dispatch)


def _undo_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    audits = [(s.name, s.audit) for s in p.sources] + [(t.name, t.audit) for t in p.facts]
    lean = [f"{name} (audit: keys)" for name, audit in audits if audit == "keys"]
    dims = [(t.name, str(tables.version_log(p, t))) for t in p.dimensions]
    checks = r.template(
        "undo_checks.sql.j2", cdc=p.cdc_schema, pipeline=p.name, lean=lean, dimensions=dims
    )
    checked = _indented(checks.rstrip())
    # Undo restores rows from before-images: key-only images do not hold the row, so
    # the procedure only refuses. (An update's changed-columns image does: undo reads
    # its other columns from the current row, which the undone run left unchanged.)
    stmts = [] if lean else r.trees.get(("undo",), lambda: rollback.undo_statements(p))
    body = checked + "\n" + r.counted(stmts)
    return _step_procedure(
        r, p.proc("undo"), "p_run_id BIGINT, p_target_run BIGINT", body,
        declare=["v_latest BIGINT"]
        + (["v_dimension_changes BIGINT", "v_logged BIGINT"] if dims else []),
    )


def _rollback_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    call = step_call(p.proc("undo"), "v_run_id", "p_target_run")
    return _guarded(r, p, p.proc("rollback"), "p_target_run BIGINT", "rollback", call)


def _rollback_to_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    """Undo every later successful run, newest first, in the one transaction (and under the
    run lock) of a guarded rollback: the per-run undo, called in a loop."""
    body = r.template(
        "rollback_to_body.sql.j2", cdc=p.cdc_schema, pipeline=p.name, counter=COUNTER,
        undo=step_call(p.proc("undo"), "v_run_id", "v_undo"),
    )
    return _guarded(
        r, p, p.proc("rollback_to"), "p_target_run BIGINT", "rollback",
        body, declare=["v_found BIGINT", "v_undo BIGINT"],
    )


def _verify_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    stmts = r.trees.get(
        ("verify",),
        lambda: [
            *[
                dimensions.verify_insert(p, t) if t.kind == "dimension" else facts.verify_insert(p, t)
                for t in p.targets
            ],
            *verify.log_checks(p),
        ],
    )
    return _procedure(r, p.proc("verify"), "", r.body(stmts))


def _verify_deep_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    """verify, then the change_log replayed against the baseline, in one transaction (so
    every row shares verified_at)."""
    pad = "    " if r.dialect == "postgres" else "  "
    stmts = r.trees.get(("verify_deep",), lambda: verify.deep_checks(p))
    body = f"{pad}CALL {p.proc('verify')}();\n" + r.body(stmts)
    return _procedure(r, p.proc("verify_deep"), "", body)


def _check_freshness_procedure(r: Renderer, p: PipelinePlan) -> SqlObject:
    """Raise when a source is past ``freshness.error_after`` (the freshness view's
    ``status = 'error'``), so a scheduled CALL fails and its Data API event alerts; without
    freshness thresholds it only says so. Sources only: targets are derived from them."""
    if p.freshness_warn_seconds is None or p.freshness_error_seconds is None:
        body = f"  RAISE INFO 'pipeline {p.name} has no freshness thresholds: nothing to check';"
        return _procedure(r, p.proc("check_freshness"), "", body)
    view = f"{p.cdc_schema}.{p.name}_freshness"
    body = r.template(
        "check_freshness.sql.j2",
        view=view,
        pipeline=p.name,
        error_after=p.freshness_error_seconds,
    )
    body = _indented(body.rstrip())
    return _procedure(
        r, p.proc("check_freshness"), "", body,
        declare=["v_late BIGINT", "v_source VARCHAR(127)", "v_lag BIGINT"],
    )


def _view_object(r: Renderer, key: str, build: Callable[[], tuple[str, exp.Create]]) -> SqlObject:
    name, create = r.trees.get(("view", key), build)
    return SqlObject(name, "view", r.statement(create) + "\n")


def _view_makers(p: PipelinePlan) -> list[tuple[str, Callable[[], tuple[str, exp.Create]]]]:
    """(tree key, builder) of every view: one each, so that no maker holds them all."""
    made = [(f"changes:{s.name}", partial(views.changes_view, p, s)) for s in p.sources]
    made += [(f"full:{t.name}", partial(views.full_view, p, t)) for t in p.targets]
    return [*made, ("status", partial(views.status_view, p)), ("freshness", partial(views.freshness_view, p))]


#: Renders one object when called (see ``object_makers``).
Maker = Callable[[], SqlObject]


def render_objects(
    p: PipelinePlan, dialect: Dialect, trees: Trees | None = None
) -> list[SqlObject]:
    """Every object of a pipeline for one dialect, in deployment order."""
    return [make() for _, make in object_makers(p, dialect, trees)]


def object_makers(
    p: PipelinePlan, dialect: Dialect, trees: Trees | None = None
) -> list[tuple[str, Maker]]:
    """The objects of ``render_objects``, unrendered, in the same order, each under a key
    that names the same object in every dialect (``"table:cdc.run_log"``). No maker
    depends on another, so they may run in any order or process: ``cdcgen build`` shares
    them between two."""
    r = Renderer(dialect, trees or Trees())

    def one(key: str, make: Callable[..., SqlObject], *args: object) -> tuple[str, Maker]:
        return key, lambda: make(*args)

    schemas = dict.fromkeys([p.cdc_schema, p.staging_schema, p.baseline_schema, p.target_schema])
    makers = [one(f"schema:{s}", _schema_object, r, s) for s in schemas]
    tables: list[tuple[Kind, ddl.TableDef, exp.Expression | None]] = [
        ("state_table", d, ddl.uncompressed_columns(p, d)) for d in ddl.state_tables(p)
    ]
    tables += [
        ("state_table", d, None)
        for d in [*ddl.tombstone_tables(p), *ddl.tombstone_log_tables(p), *ddl.version_log_tables(p)]
    ]
    tables += [("staging_table", d, None) for d in ddl.staging_tables(p)]
    tables += [("baseline_table", d, None) for d in ddl.baseline_tables(p)]
    tables += [("target_table", ddl.target_table(t), None) for t in p.targets]
    makers += [one(f"table:{d.table}", _table_object, r, k, d, u) for k, d, u in tables]
    if dialect == "postgres":
        indexes: list[tuple[Kind, ddl.IndexDef]] = [
            ("index", ix) for ix in [*ddl.postgres_indexes(p), *ddl.current_version_indexes(p)]
        ]
        indexes += [("staging_index", ix) for ix in ddl.staging_indexes(p)]
        makers += [one(f"index:{ix.name}", _index_object, r, k, ix) for k, ix in indexes]
    makers += [one(f"view:{key}", _view_object, r, key, build) for key, build in _view_makers(p)]
    makers += [one(f"detect:{s.name}", _detect_source_procedure, r, p, s) for s in p.sources]
    makers += [one(f"sync:{s.name}", _sync_source_procedure, r, p, s) for s in p.sources]
    makers += [one("detect", _detect_procedure, r, p), one("sync", _sync_procedure, r, p)]
    makers += [one(f"whole_apply:{t.name}", _whole_apply_procedure, r, p, t) for t in p.facts]
    makers += [one(f"apply:{t.name}", _apply_procedure, r, p, t) for t in p.targets]
    whole_pipeline = (
        _apply_dispatch_procedure, _run_procedure, _rebuild_procedure, _verify_procedure,
        _verify_deep_procedure, _check_freshness_procedure, _undo_procedure,
        _rollback_procedure, _rollback_to_procedure,
    )  # fmt: skip
    makers += [one(f.__name__, f, r, p) for f in whole_pipeline]
    return makers


def _schema_object(r: Renderer, schema: str) -> SqlObject:
    return SqlObject(schema, "schema", r.statement(ddl.create_schema(schema)) + "\n")


def _index_object(r: Renderer, kind: Kind, ix: ddl.IndexDef) -> SqlObject:
    return SqlObject(ix.name, kind, r.statement(ddl.create_index(ix)) + "\n")
