"""What a refusal must look like (docs/guide.md, "Bad input"), checked on one corpus case."""

from __future__ import annotations

import re
from pathlib import Path

from bad_input.corpus import Case, Invocation
from synthdata.cli import main
from synthdata.privacy.ledger import Ledger

#: A Python class name (``UnicodeDecodeError``, ``BadZipFile``, ``np.str_``, ``dagster._core...``) in a message
#: means an internal error leaked to the steward instead of a sentence about the input.
INTERNAL = re.compile(r"\b[A-Z]\w*(Error|Exception|Warning|File)\b|\bnp\.\w+|\bdagster\.|\bTraceback\b")


def seed_ledger(home: Path) -> Ledger:
    """The ledger of ``home`` holding one earlier dataset with a charge, so "untouched" compares two states."""
    ledger = Ledger(path=home / "ledger.sqlite")
    ledger.reserve(fingerprint="earlier-dataset", name="earlier.csv", run_id="earlier-run", release="earlier",
                   epsilon=1.5, delta=1e-6, total_epsilon=10.0)
    ledger.settle_in_full(fingerprint="earlier-dataset", run_id="earlier-run", reason="seeded by the test")
    return ledger


def ledger_state(home: Path) -> list[tuple]:
    """Every dataset in the ledger with its budget, spend, reservations and number of charges."""
    ledger = Ledger(path=home / "ledger.sqlite")
    return [(s.fingerprint, s.total, s.spent, s.reserved, len(ledger.history(fingerprint=s.fingerprint)))
            for s in ledger.datasets()]


def folder_state(path: Path) -> list[tuple[str, int]] | None:
    """The files under ``path`` and their sizes (None when it does not exist)."""
    if not path.exists():
        return None
    return sorted((str(p.relative_to(path)), p.stat().st_size) for p in path.rglob("*"))


def run(invocation: Invocation, capsys) -> tuple[int, str, str]:
    """Call the CLI; returns the exit code, the error line(s) and everything printed."""
    code = main(invocation.argv)
    captured = capsys.readouterr()
    printed = captured.err + captured.out
    errors = "\n".join(line for line in printed.splitlines() if line.startswith("error:"))
    return code, errors, printed


def assert_refused(case: Case, *, root: Path, home: Path, capsys) -> str:
    """Build ``case`` under ``root`` and check the refusal: exit 2, a message naming what the case names and
    its problem, no traceback or class name, the export folder as it was, no work area, the ledger
    untouched.  Returns the error message."""
    invocation = case.build(root)
    seed_ledger(home)
    ledger_before, out_before = ledger_state(home), folder_state(invocation.out)
    code, message, printed = run(invocation, capsys)
    assert code == 2, printed
    assert message, printed
    for name in invocation.names:
        assert name in message, f"{name!r} not named in: {message}"
    for word in case.problem:
        assert word in message.lower(), f"{word!r} not said in: {message}"
    assert not INTERNAL.search(printed), printed
    assert len(message) < 4000, f"a message of {len(message)} characters"
    assert folder_state(invocation.out) == out_before, "the export folder was written"
    runs = home / "runs"
    assert not runs.exists() or not any(runs.iterdir()), f"a work area was left: {list(runs.iterdir())}"
    assert ledger_state(home) == ledger_before, "the ledger changed"
    return message
