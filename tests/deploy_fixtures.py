"""Fixtures of the deploy/run tests, kept out of conftest.py (owned by the lead).
Import the ones a module uses: ``from tests.deploy_fixtures import rs_dsn  # noqa: F401``."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.rs_shim import redshift_connector_on_postgres, unix_socket_path

#: A password the tests hand to cdcgen through the environment, to prove it never
#: appears in any output. PostgreSQL's trust authentication ignores it.
SECRET_PASSWORD = "s3cret-Pa55-never-print"


@pytest.fixture
def secret_password(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("CDCGEN_PASSWORD", SECRET_PASSWORD)
    return SECRET_PASSWORD


@pytest.fixture
def rs_dsn(pg_dsn: str, secret_password: str) -> Iterator[str]:
    """A ``redshift://`` DSN for the test's fresh PostgreSQL database, opened by the REAL
    redshift_connector through the test-only shim (tests/rs_shim.py). The server is
    PostgreSQL, so whatever is deployed through it is the *postgres* rendering."""
    database = urlsplit(pg_dsn).path.lstrip("/")
    socket_file = unix_socket_path(pg_dsn)
    with redshift_connector_on_postgres():
        yield f"redshift://postgres@/{database}?unix_sock={socket_file}&ssl=false"


# --------------------------------------------------------------------------- builds

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def mini_build(tmp_path: Path) -> Path:
    """A private copy of the hand-written mini build (tests/fixtures/generated_mini), laid out
    as ``generated/mini/postgres``, so a test may edit it like a rebuild would."""
    root = tmp_path / "generated" / "mini"
    shutil.copytree(FIXTURES / "generated_mini", root)
    return root / "postgres"


@pytest.fixture(name="edit_build")
def edit_build_fixture() -> Callable[..., None]:
    """:func:`edit_build`, as a fixture: test modules take helpers from here through
    fixtures, so pytest can still rewrite this module's asserts."""
    return edit_build


def edit_build(
    build: Path,
    name: str,
    *,
    sql: str | None = None,
    replace: tuple[str, str] | None = None,
    columns: list[list[str]] | None = None,
    key: list[str] | None = None,
    storage: list[str] | None = None,
) -> None:
    """Change one object of a build the way ``cdcgen build`` would: its file, then its
    manifest entry (checksum, columns, key, storage statements)."""
    manifest_path = build / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = next(o for o in manifest["objects"] if o["name"] == name)
    path = build / entry["file"]
    text = path.read_text() if sql is None else sql
    if replace is not None:
        assert replace[0] in text, f"{replace[0]!r} not in {path.name}"
        text = text.replace(*replace)
    path.write_text(text)
    entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    if columns is not None:
        entry["columns"] = columns
    if key is not None:
        entry["key"] = key
    if storage is not None:
        entry["storage"] = storage
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")
