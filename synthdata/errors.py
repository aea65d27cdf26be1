"""Errors a user can act on, each with the CLI exit code it maps to.

Messages name the file, column or record count involved but never quote a private record: they may be
written to Dagster's event log, which keeps them forever.  Where an example value would help the data
steward fix their input, it goes into ``hint``, which only the local CLI prints.
"""

from __future__ import annotations


class SynthdataError(Exception):
    """Base class of every error synthdata raises on purpose."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class BadInputError(SynthdataError):
    """The input data, schema or spec is malformed; nothing was written (exit code 2)."""

    exit_code = 2


class GateFailedError(SynthdataError):
    """An audit gate failed; the report was written, no data was exported (exit code 3)."""

    exit_code = 3


class BudgetRefusedError(SynthdataError):
    """The run would exceed the dataset's privacy budget; it was refused before training (exit 4)."""

    exit_code = 4


class AwaitingApprovalError(SynthdataError):
    """Every gate passed, but the spec requires a named sign-off before export (exit code 5)."""

    exit_code = 5
