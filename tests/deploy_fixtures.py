"""Fixtures of the deploy/run tests, kept out of conftest.py (owned by the lead).
Import the ones a module uses: ``from tests.deploy_fixtures import rs_dsn  # noqa: F401``."""

from __future__ import annotations

from collections.abc import Iterator
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
