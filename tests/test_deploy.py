"""Deploy plans and their application, against a real PostgreSQL (pgserver), on the
hand-written mini build (tests/fixtures/generated_mini: the build output contract)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cdcgen.deploy.apply import apply_plan
from cdcgen.deploy.connect import Database, connect
from cdcgen.deploy.errors import BuildNotFound, DatabaseError, DestructiveChangeRefused
from cdcgen.deploy.manifest import load_manifest
from cdcgen.deploy.plan import Action, DeployPlan, build_plan, explain

FACT_COLUMNS = [["item_id", "bigint"], ["item_name", "varchar(100)"]]


@pytest.fixture
def db(pg_dsn):
    with connect(pg_dsn) as database:
        yield database


def plan_for(db: Database, build, **options) -> DeployPlan:
    return build_plan(db, load_manifest(build), **options)


def deploy(db: Database, build, **options):
    return apply_plan(db, plan_for(db, build, **options))


def actions(plan: DeployPlan) -> dict[str, str]:
    return {s.obj.name: ("drift" if s.drift else s.action.value) for s in plan.steps}


def load_items(db: Database, *rows: tuple[int, str]) -> None:
    for item_id, name in rows:
        db.execute("INSERT INTO staging.items VALUES (%s, %s, LOCALTIMESTAMP)", [item_id, name])
    db.execute("CALL cdc.sp_mini_run()")


def test_first_deploy_creates_everything_and_records_it(db, mini_build):
    plan = plan_for(db, mini_build)
    assert plan.previous is None
    assert set(actions(plan).values()) == {"create"}
    assert "staging.items" not in actions(plan)  # staging belongs to the ETL
    assert "Plan: 16 to create." in explain(plan)

    result = apply_plan(db, plan)

    assert result.deployment_id == 1
    assert db.scalar("SELECT count(*) FROM mart.fact_item") == 0
    assert db.scalar("SELECT to_regclass('staging.items')") is None
    recorded = dict(
        db.fetchall(
            "SELECT object_name, fingerprint FROM cdc.deployed_objects WHERE kind <> 'column'"
        )
    )
    assert len(recorded) == 16
    assert recorded["cdc.mini_status"] and recorded["cdc.sp_mini_run"]  # read back from the catalog
    assert (
        db.scalar("SELECT count(*) FROM cdc.deployed_objects WHERE kind = 'column'") == 37 + 3 + 2
    )  # state, baseline, target columns
    deployment = db.fetch_dicts("SELECT pipeline, deployed_by, tool_version FROM cdc.deployments")
    assert deployment == [{"pipeline": "mini", "deployed_by": "postgres", "tool_version": "0.1.0"}]


def test_redeploying_the_same_build_is_a_noop(db, mini_build):
    deploy(db, mini_build, with_staging=True)
    plan = plan_for(db, mini_build, with_staging=True)
    assert plan.is_noop
    assert set(actions(plan).values()) == {"unchanged"}
    assert explain(plan).endswith("Nothing to do: the database matches this build.")
    assert apply_plan(db, plan).deployment_id is None
    assert db.scalar("SELECT count(*) FROM cdc.deployments") == 1


def test_plan_reports_drift_of_views_and_procedures_changed_by_hand(db, mini_build):
    deploy(db, mini_build)
    db.execute(
        "CREATE OR REPLACE VIEW cdc.mini_status AS SELECT run_id, kind, status, started_at, "
        "finished_at, duration_ms, rows_changed, error FROM cdc.run_log WHERE pipeline = 'other'"
    )
    db.execute(
        "CREATE OR REPLACE PROCEDURE cdc.sp_mini_verify() AS $$ BEGIN NULL; END; $$ LANGUAGE plpgsql"
    )
    plan = plan_for(db, mini_build)
    assert {k: v for k, v in actions(plan).items() if v != "unchanged"} == {
        "cdc.mini_status": "drift",
        "cdc.sp_mini_verify": "drift",
    }
    text = explain(plan)
    assert "~ drift     view cdc.mini_status" in text
    assert "changed by hand since deployment 1 (drift)" in text
    assert "2 drifted" in text

    apply_plan(db, plan)  # deploy puts the built version back

    assert "'mini'" in db.scalar("SELECT pg_get_viewdef('cdc.mini_status'::regclass)")
    assert plan_for(db, mini_build).is_noop


def test_a_view_dropped_by_hand_is_drift_and_recreated(db, mini_build):
    deploy(db, mini_build)
    db.execute("DROP VIEW cdc.mini_freshness")
    plan = plan_for(db, mini_build)
    step = next(s for s in plan.steps if s.obj.name == "cdc.mini_freshness")
    assert (step.action, step.drift) == (Action.CREATE, True)
    apply_plan(db, plan)
    assert db.scalar("SELECT count(*) FROM cdc.mini_freshness") == 1


def test_added_target_column_is_migrated_and_backfilled(db, mini_build, edit_build):
    deploy(db, mini_build, with_staging=True)
    load_items(db, (1, "anvil"), (2, "rope"))
    add_item_code(edit_build, mini_build)

    plan = plan_for(db, mini_build, with_staging=True)
    step = next(s for s in plan.steps if s.obj.name == "mart.fact_item")
    assert step.action is Action.MIGRATE
    assert [s.sql for s in step.statements] == [
        'ALTER TABLE "mart"."fact_item" ADD COLUMN "item_code" varchar(20)'
    ]
    assert step.backfill == "fact_item"
    assert "then backfill: CALL cdc.sp_mini_rebuild('fact_item')" in explain(plan)

    result = apply_plan(db, plan)

    assert result.backfilled == ("fact_item",)
    assert db.fetchall("SELECT item_id, item_code FROM mart.fact_item ORDER BY 1") == [
        (1, "ANVIL"),
        (2, "ROPE"),
    ]
    assert plan_for(db, mini_build, with_staging=True).is_noop


def test_view_whose_columns_change_is_dropped_and_recreated(db, mini_build, edit_build):
    deploy(db, mini_build)
    # A renamed view column: CREATE OR REPLACE VIEW refuses it on PostgreSQL (42P16).
    edit_build(mini_build, "cdc.fact_item__full", replace=("AS item_name", "AS item_label"))
    deploy(db, mini_build)
    columns = db.fetchall(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'cdc' AND table_name = 'fact_item__full' ORDER BY ordinal_position"
    )
    assert [c[0] for c in columns] == ["item_id", "item_label"]


def test_removed_column_is_refused_without_allow_destructive(db, mini_build, edit_build):
    deploy(db, mini_build)
    drop_item_name(edit_build, mini_build)

    plan = plan_for(db, mini_build)
    step = next(s for s in plan.steps if s.obj.name == "mart.fact_item")
    assert step.action is Action.REFUSED
    assert "column item_name was dropped from the build" in step.reasons
    with pytest.raises(DestructiveChangeRefused, match="--allow-destructive") as caught:
        apply_plan(db, plan)
    assert caught.value.exit_code == 1
    assert db.scalar("SELECT count(*) FROM cdc.deployments") == 1  # nothing applied

    deploy(db, mini_build, allow_destructive=True)
    columns = db.fetchall(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'mart' AND table_name = 'fact_item'"
    )
    assert [c[0] for c in columns] == ["item_id"]


def test_columns_added_by_hand_are_left_alone(db, mini_build):
    deploy(db, mini_build)
    db.execute("ALTER TABLE mart.fact_item ADD COLUMN analyst_note text")
    plan = plan_for(db, mini_build)
    step = next(s for s in plan.steps if s.obj.name == "mart.fact_item")
    assert step.action is Action.UNCHANGED
    assert step.reasons == ("columns not managed by cdcgen, left alone: analyst_note",)
    assert plan.is_noop


def test_state_tables_are_never_changed_destructively(db, mini_build, edit_build):
    deploy(db, mini_build)
    edit_build(
        mini_build,
        "cdc.run_log",
        replace=("  error VARCHAR(65535)\n", "  error VARCHAR(1000)\n"),
        columns=[*RUN_LOG_COLUMNS[:-1], ["error", "varchar(1000)"]],
    )
    step = next(
        s
        for s in plan_for(db, mini_build, allow_destructive=True).steps
        if s.obj.name == "cdc.run_log"
    )
    assert step.action is Action.REFUSED
    assert any("never changed destructively" in r for r in step.reasons)


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
def test_the_manifest_lists_the_storage_statements_of_each_change_log(dialect):
    """What a kept table takes on a redeploy is listed by the build, not searched for in
    its file: each PostgreSQL change log's ``SET STORAGE`` (its file holds it too), and
    nothing on Redshift, which has no such statement."""
    manifest = load_manifest(Path(__file__).resolve().parent.parent / "generated" / "vendor" / dialect)
    stored = {o.name: o.storage for o in manifest.objects if o.storage}
    if dialect == "redshift":
        assert stored == {}
        return
    assert sorted(stored) == ["cdc.change_log", "cdc.fact_change_log"]
    for obj in manifest.objects:
        for statement in obj.storage:
            assert "SET STORAGE EXTERNAL" in statement
            assert statement in manifest.sql(obj).splitlines()


def test_a_kept_table_takes_the_storage_its_build_gained(db, mini_build, edit_build):
    """A deployment from before the change logs' images were stored uncompressed gets
    the build's ``SET STORAGE`` on its next deploy (the table and its rows are kept)."""
    deploy(db, mini_build)
    db.execute("INSERT INTO cdc.verify_log VALUES (LOCALTIMESTAMP, 'mini', 'fact_item', 0, 0, 0)")
    stored = "ALTER TABLE cdc.verify_log ALTER COLUMN target SET STORAGE EXTERNAL;"
    edit_build(
        mini_build, "cdc.verify_log", replace=(");\n", f");\n{stored}\n"), storage=[stored]
    )

    plan = plan_for(db, mini_build)
    step = next(s for s in plan.steps if s.obj.name == "cdc.verify_log")
    assert step.action is Action.MIGRATE and step.backfill is None
    assert [s.sql for s in step.statements] == [
        "ALTER TABLE cdc.verify_log ALTER COLUMN target SET STORAGE EXTERNAL"
    ]
    apply_plan(db, plan)

    storage = db.scalar(
        "SELECT attstorage FROM pg_attribute"
        " WHERE attrelid = 'cdc.verify_log'::regclass AND attname = 'target'"
    )
    assert storage == "e"
    assert db.scalar("SELECT count(*) FROM cdc.verify_log") == 1
    assert plan_for(db, mini_build).is_noop


def test_a_table_whose_ddl_changed_but_not_its_columns_is_kept_and_said_so(db, mini_build, edit_build):
    """A new DISTKEY or SORTKEY (a spec's ``redshift`` hints) changes a table's DDL text and
    nothing else: the deployed table and its rows are kept, and the plan says how to
    apply the new layout by hand (redistributing a table is an operator's decision)."""
    deploy(db, mini_build, with_staging=True)
    load_items(db, (1, "anvil"))
    edit_build(mini_build, "mart.fact_item", replace=(");\n", ");\n-- re-sorted\n"))

    plan = plan_for(db, mini_build, with_staging=True)
    step = next(s for s in plan.steps if s.obj.name == "mart.fact_item")
    assert step.action is Action.UNCHANGED and not step.statements
    assert any("ALTER DISTKEY" in reason for reason in step.reasons), step.reasons
    apply_plan(db, plan)
    assert db.fetchall("SELECT item_id, item_name FROM mart.fact_item") == [(1, "anvil")]


def test_key_change_of_a_target_is_refused_then_backfilled(db, mini_build, edit_build):
    deploy(db, mini_build)
    edit_build(mini_build, "mart.fact_item", key=["item_id", "item_name"])
    step = next(s for s in plan_for(db, mini_build).steps if s.obj.name == "mart.fact_item")
    assert step.action is Action.REFUSED
    assert "key changed to (item_id, item_name) since the last deployment" in step.reasons
    result = deploy(db, mini_build, allow_destructive=True)
    assert result.backfilled == ("fact_item",)


def test_a_hand_edited_generated_file_is_rejected(mini_build):
    path = mini_build / "050_view__cdc.mini_status.sql"
    path.write_text(path.read_text() + "\n-- tweak\n")
    with pytest.raises(BuildNotFound, match="edited after the build"):
        load_manifest(mini_build)


def test_the_deploy_is_one_transaction(db, mini_build, edit_build):
    edit_build(
        mini_build,
        "cdc.mini_status",
        sql="CREATE OR REPLACE VIEW cdc.mini_status AS SELECT nope FROM cdc.run_log;",
    )
    with pytest.raises(DatabaseError, match=r"050_view__cdc\.mini_status\.sql: column \"nope\""):
        deploy(db, mini_build)
    assert db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname IN ('cdc', 'mart')") == 0


# --------------------------------------------------------------------------- build edits

RUN_LOG_COLUMNS = [
    ["run_id", "bigint"],
    ["pipeline", "varchar(127)"],
    ["kind", "varchar(16)"],
    ["status", "varchar(16)"],
    ["started_at", "timestamp"],
    ["finished_at", "timestamp"],
    ["duration_ms", "bigint"],
    ["rows_changed", "bigint"],
    ["error", "varchar(65535)"],
]


def add_item_code(edit_build, build) -> None:
    """A new mapped column: item_code = UPPER(items.name), in table, view and procedures."""
    edit_build(
        build,
        "mart.fact_item",
        replace=(
            "  item_name VARCHAR(100),\n",
            "  item_name VARCHAR(100),\n  item_code VARCHAR(20),\n",
        ),
        columns=[*FACT_COLUMNS, ["item_code", "varchar(20)"]],
    )
    edit_build(
        build,
        "cdc.fact_item__full",
        replace=(
            "items.name AS item_name\n",
            "items.name AS item_name, UPPER(items.name)::VARCHAR(20) AS item_code\n",
        ),
    )
    for procedure in ("cdc.sp_mini_rebuild", "cdc.sp_mini_run"):
        edit_build(
            build,
            procedure,
            replace=(
                "INSERT INTO mart.fact_item (item_id, item_name)\n  SELECT item_id, item_name FROM",
                "INSERT INTO mart.fact_item (item_id, item_name, item_code)\n  SELECT item_id, item_name, item_code FROM",
            )
            if procedure.endswith("rebuild")
            else (
                "INSERT INTO mart.fact_item (item_id, item_name)\n    SELECT item_id, item_name FROM",
                "INSERT INTO mart.fact_item (item_id, item_name, item_code)\n    SELECT item_id, item_name, item_code FROM",
            ),
        )


def drop_item_name(edit_build, build) -> None:
    edit_build(
        build,
        "mart.fact_item",
        replace=("  item_name VARCHAR(100),\n", ""),
        columns=FACT_COLUMNS[:1],
    )


def _overloads(db: Database, name: str) -> list[str]:
    return [
        r[0]
        for r in db.fetchall(
            "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname = %s ORDER BY 1", [name]
        )
    ]


def test_a_procedure_whose_arguments_changed_replaces_the_old_one(db, mini_build, edit_build):
    """CREATE OR REPLACE with other argument types adds an overload; the old procedure
    would stay callable beside the new one. Deploy drops it first (a step procedure that
    gained its INOUT statement counter is such a change)."""
    deploy(db, mini_build)
    edit_build(
        mini_build,
        "cdc.sp_mini_rebuild",
        replace=("sp_mini_rebuild(p_target VARCHAR)", "sp_mini_rebuild(p_target VARCHAR, INOUT p_n BIGINT)"),
    )
    plan = plan_for(db, mini_build)
    step = next(s for s in plan.steps if s.obj.name == "cdc.sp_mini_rebuild")
    drop, create = step.statements
    assert drop.sql == 'DROP PROCEDURE "cdc"."sp_mini_rebuild"(character varying)'
    assert "CREATE OR REPLACE PROCEDURE" in create.sql
    apply_plan(db, plan)
    assert _overloads(db, "sp_mini_rebuild") == ["cdc.sp_mini_rebuild(character varying,bigint)"]
    assert plan_for(db, mini_build).is_noop


def test_a_procedure_replaced_with_the_same_arguments_keeps_its_grants(db, mini_build, edit_build):
    """Only overloads with other arguments are dropped: a replaced procedure keeps its OID,
    so an EXECUTE grant to a scheduler's role survives a deploy."""
    deploy(db, mini_build)
    role = "cdc_scheduler_" + db.scalar("SELECT current_database()")
    db.execute(f"CREATE ROLE {role}")
    acl = "SELECT proacl::text FROM pg_proc WHERE oid = 'cdc.sp_mini_verify()'::regprocedure"
    try:
        db.execute(f"GRANT EXECUTE ON PROCEDURE cdc.sp_mini_verify() TO {role}")
        assert f"{role}=X" in db.scalar(acl)
        edit_build(mini_build, "cdc.sp_mini_verify", replace=("BEGIN", "BEGIN\n  -- changed"))
        plan = plan_for(db, mini_build)
        step = next(s for s in plan.steps if s.obj.name == "cdc.sp_mini_verify")
        assert step.action is Action.REPLACE and len(step.statements) == 1
        apply_plan(db, plan)
        assert f"{role}=X" in db.scalar(acl)
    finally:
        db.execute(f"REVOKE ALL ON ALL PROCEDURES IN SCHEMA cdc FROM {role}")
        db.execute(f"DROP ROLE {role}")
