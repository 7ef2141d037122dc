"""Errors of the deploy/run stage. Each message says what happened and what to do;
none may contain a password (``connect.redact`` scrubs driver messages first)."""

from __future__ import annotations

from cdcgen.errors import CdcgenError


class DeployError(CdcgenError):
    """The tool could not do its job: a bad DSN, an unreadable build, a database error."""

    exit_code = 2


class ConnectionFailed(DeployError):
    """The database could not be reached or refused the login."""


class DatabaseError(DeployError):
    """A statement failed; the message names what was being done and the server's text."""

    def __init__(self, message: str, *, sqlstate: str | None = None):
        self.sqlstate = sqlstate
        super().__init__(message)


class BuildNotFound(DeployError):
    """No ``manifest.json`` where the build output was expected, or not a valid one: the
    BUILD argument is wrong, hence exit code 1."""

    exit_code = 1


class UnknownTarget(CdcgenError):
    """A fact or dimension name the build does not have (``cdcgen rebuild``)."""

    exit_code = 1


class NotDeployed(CdcgenError):
    """The pipeline's state tables are not in the database: nothing to run or read."""

    exit_code = 1

    def __init__(self, pipeline: str, where: str):
        self.pipeline = pipeline
        super().__init__(
            f"nothing deployed for pipeline {pipeline} in {where}: run cdcgen deploy first"
        )


class BootstrapRefused(CdcgenError):
    """Bootstrap onto baselines that already hold rows, without ``--force``."""

    exit_code = 1


class DestructiveChangeRefused(CdcgenError):
    """The build would drop or retype columns or change a key; refused without
    ``--allow-destructive``. A problem in the input, hence exit code 1."""

    exit_code = 1


class RunFailed(CdcgenError):
    """The run procedure raised; the warehouse logged a ``failed`` run_log row."""

    exit_code = 1


class VerifyFailed(CdcgenError):
    """At least one target differs from its full definition over the baseline."""

    exit_code = 1
