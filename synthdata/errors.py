"""Errors a user can act on, each with the CLI exit code it maps to.

Messages name the column, record position or count involved but never quote a private value: where an
example value would help the data steward fix their input, it goes into ``hint``, which only the local CLI
prints.  Messages may name the input file; before an error reaches Dagster's event log, which keeps it
forever, ``redacted`` replaces every input file and record name by its position (file names can hold MRNs).
"""

from __future__ import annotations

import re
from pathlib import Path


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


class PreprocessingFailedError(BadInputError):
    """DP preprocessing ran on the data and could not learn a domain: its epsilon is spent (exit code 2)."""


class GateFailedError(SynthdataError):
    """An audit gate failed; the report was written, no data was exported (exit code 3)."""

    exit_code = 3


class BudgetRefusedError(SynthdataError):
    """The run would exceed the dataset's privacy budget; it was refused before training (exit 4)."""

    exit_code = 4


class AwaitingApprovalError(SynthdataError):
    """Every gate passed, but the spec requires a named sign-off before export (exit code 5)."""

    exit_code = 5


def reader_hint(error: BaseException) -> str:
    """A ``hint`` holding what a file-reading library said about a file it could not read (for the local terminal
    only: the library's text may quote the file).  The message itself says what is wrong in synthdata's words,
    without the library's exception class."""
    text = " ".join(str(error).split())
    return f"the reader said: {text[:300]}" if text else "the reader gave no reason"


def redacted(error: SynthdataError, *, dataset: Path) -> SynthdataError:
    """A copy of ``error`` fit for a log that keeps it forever (Dagster's event log), without the hint.

    The names of the dataset's files may hold identifiers (a folder of recordings named by MRN): every input
    file's path and name is replaced by its position in the dataset ("input file 3 of 40"), a record name
    (a file's stem, where it follows "record" or stands in quotes) by its position among the records
    ("record #2 of 20"), and the dataset path itself by "the dataset (dataset.path)".  The full message and
    the hint stay with the local CLI.
    """
    message = error.message
    dataset = Path(dataset)
    files = sorted(p for p in dataset.rglob("*") if p.is_file()) if dataset.is_dir() else []
    for position, file in sorted(enumerate(files, 1), key=lambda item: -len(str(item[1]))):
        label = f"input file {position} of {len(files)}"
        for text in (str(file), str(file.relative_to(dataset)), file.name):
            message = message.replace(text, label)
    records = sorted({file.name.split(".")[0] for file in files}, key=lambda stem: (-len(stem), stem))
    order = {stem: k for k, stem in enumerate(sorted(records), 1)}
    for stem in records:
        label = f"#{order[stem]} of {len(records)}"
        message = re.sub(rf"(?<=record ){re.escape(stem)}(?![\w.-])", label, message)
        message = re.sub(rf"(['\"]){re.escape(stem)}\1", f"record {label}", message)
    for text in sorted({str(dataset.resolve()), str(dataset), dataset.name} - {""}, key=len, reverse=True):
        message = message.replace(text, "the dataset (dataset.path)")
    return type(error)(message)
