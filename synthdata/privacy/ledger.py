"""The privacy budget ledger: every run's epsilon, charged to the dataset it was computed from.

Datasets are keyed by a content fingerprint (``synthdata.privacy.fingerprint``), so a renamed or shuffled
copy draws on the same budget.  A run *reserves* its whole epsilon in one transaction before it touches the
private data, then *settles* the amount actually spent.  A reservation that is never settled (a crashed run)
keeps counting against the budget: conservative by design.  A run whose gates fail has still spent its
budget.  Budgets compose by basic summation here (an upper bound on the true composition).

Storage is SQLite with ``BEGIN IMMEDIATE`` transactions, so two processes releasing the same dataset at
once cannot both pass the budget check.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import sqlite3
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from synthdata.errors import BadInputError, BudgetRefusedError

DEFAULT_TOTAL_EPSILON = 10.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    fingerprint TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    total_epsilon REAL NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS charges (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL REFERENCES datasets(fingerprint),
    run_id TEXT NOT NULL,
    release TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('reserved', 'spent', 'cancelled')),
    epsilon REAL NOT NULL,
    delta REAL NOT NULL,
    mechanisms TEXT NOT NULL DEFAULT '[]',
    who TEXT NOT NULL,
    created TEXT NOT NULL,
    settled TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS one_charge_per_run ON charges(fingerprint, run_id);
"""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class BudgetState:
    fingerprint: str
    name: str
    total: float
    spent: float
    reserved: float

    @property
    def remaining(self) -> float:
        return max(self.total - self.spent - self.reserved, 0.0)

    def describe(self) -> str:
        return (
            f"dataset {self.name} ({self.fingerprint[:12]}): total epsilon {self.total:g}, "
            f"spent {self.spent:.4g}, reserved {self.reserved:.4g}, remaining {self.remaining:.4g}"
        )


class Ledger:
    """Budget per dataset fingerprint, in one SQLite file."""

    def __init__(self, *, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=60)
        try:
            db.executescript(_SCHEMA)
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    @staticmethod
    def _state(db: sqlite3.Connection, fingerprint: str) -> BudgetState | None:
        row = db.execute(
            "SELECT name, total_epsilon FROM datasets WHERE fingerprint = ?", (fingerprint,)
        ).fetchone()
        if row is None:
            return None
        sums = dict(
            db.execute(
                "SELECT status, COALESCE(SUM(epsilon), 0) FROM charges WHERE fingerprint = ? GROUP BY status",
                (fingerprint,),
            ).fetchall()
        )
        return BudgetState(fingerprint, row[0], row[1], sums.get("spent", 0.0), sums.get("reserved", 0.0))

    def state(self, *, fingerprint: str) -> BudgetState | None:
        with self._transaction() as db:
            return self._state(db, fingerprint)

    def reserve(
        self,
        *,
        fingerprint: str,
        name: str,
        run_id: str,
        release: str,
        epsilon: float,
        delta: float,
        total_epsilon: float | None = None,
    ) -> BudgetState:
        """Reserve ``epsilon`` for a run, or raise BudgetRefusedError (nothing is written then).

        ``total_epsilon`` sets the dataset's budget when it first enters the ledger; later it is ignored
        (raising a budget takes an explicit ``set_total``).
        """
        if not epsilon > 0:
            raise BadInputError(f"epsilon must be > 0 to reserve budget, got {epsilon}")
        with self._transaction() as db:
            state = self._state(db, fingerprint)
            if state is None:
                total = DEFAULT_TOTAL_EPSILON if total_epsilon is None else float(total_epsilon)
                db.execute(
                    "INSERT INTO datasets VALUES (?, ?, ?, ?)", (fingerprint, name, total, _now())
                )
                state = BudgetState(fingerprint, name, total, 0.0, 0.0)
            if epsilon > state.remaining + 1e-12:
                raise BudgetRefusedError(
                    f"privacy budget refused: this release needs epsilon {epsilon:g} but "
                    f"{state.describe()}. Lower --epsilon, or raise the dataset's budget with "
                    "`synthdata budget set` if your governance allows it."
                )
            db.execute(
                "INSERT INTO charges (fingerprint, run_id, release, status, epsilon, delta, who, created) "
                "VALUES (?, ?, ?, 'reserved', ?, ?, ?, ?)",
                (fingerprint, run_id, release, epsilon, delta, getpass.getuser(), _now()),
            )
            return self._state(db, fingerprint)  # type: ignore[return-value]

    def settle(
        self, *, fingerprint: str, run_id: str, epsilon: float, delta: float, mechanisms: list[dict[str, Any]]
    ) -> BudgetState:
        """Record what a run actually spent (at most what it reserved)."""
        with self._transaction() as db:
            row = db.execute(
                "SELECT epsilon, status FROM charges WHERE fingerprint = ? AND run_id = ?", (fingerprint, run_id)
            ).fetchone()
            if row is None or row[1] != "reserved":
                raise BadInputError(f"run {run_id} holds no open reservation on this dataset")
            if epsilon > row[0] * (1 + 1e-6) + 1e-9:
                raise BadInputError(f"run {run_id} spent epsilon {epsilon:g}, more than it reserved ({row[0]:g})")
            db.execute(
                "UPDATE charges SET status = 'spent', epsilon = ?, delta = ?, mechanisms = ?, settled = ? "
                "WHERE fingerprint = ? AND run_id = ?",
                (epsilon, delta, json.dumps(mechanisms), _now(), fingerprint, run_id),
            )
            return self._state(db, fingerprint)  # type: ignore[return-value]

    def cancel(self, *, fingerprint: str, run_id: str) -> None:
        """Drop a reservation of a run that stopped before it read any private data through a mechanism."""
        with self._transaction() as db:
            db.execute(
                "UPDATE charges SET status = 'cancelled', settled = ? "
                "WHERE fingerprint = ? AND run_id = ? AND status = 'reserved'",
                (_now(), fingerprint, run_id),
            )

    def set_total(self, *, fingerprint: str, total_epsilon: float) -> BudgetState:
        with self._transaction() as db:
            if self._state(db, fingerprint) is None:
                raise BadInputError(f"dataset {fingerprint[:12]} is not in the ledger")
            db.execute("UPDATE datasets SET total_epsilon = ? WHERE fingerprint = ?", (total_epsilon, fingerprint))
            return self._state(db, fingerprint)  # type: ignore[return-value]

    def datasets(self) -> list[BudgetState]:
        with self._transaction() as db:
            keys = [r[0] for r in db.execute("SELECT fingerprint FROM datasets ORDER BY created").fetchall()]
            return [self._state(db, k) for k in keys]  # type: ignore[misc]

    def history(self, *, fingerprint: str) -> list[dict[str, Any]]:
        """The audit trail of one dataset: who, when, which run, how much, which release."""
        with self._transaction() as db:
            rows = db.execute(
                "SELECT run_id, release, status, epsilon, delta, who, created, settled, mechanisms "
                "FROM charges WHERE fingerprint = ? ORDER BY id",
                (fingerprint,),
            ).fetchall()
        keys = ("run_id", "release", "status", "epsilon", "delta", "who", "created", "settled", "mechanisms")
        return [{**dict(zip(keys, r)), "mechanisms": json.loads(r[8])} for r in rows]
