"""The privacy budget ledger: every run's epsilon, charged to the dataset it was computed from.

Datasets are keyed by a content fingerprint (``synthdata.privacy.fingerprint``), so a renamed or shuffled
copy draws on the same budget.  A run *reserves* its whole epsilon in one transaction before it touches the
private data, then *settles* the amount actually spent with its mechanism history (noise multiplier, sample
rate, steps).  A reservation that is never settled (a crashed run) keeps counting against the budget until
``synthdata resume`` finishes the run or ``synthdata budget settle`` closes it: conservative by design.  A
run whose gates fail has still spent its budget; so has every canary-audit training.

The budget check uses naive summation of ε (a new run's mechanism is unknown before it trains); the
tighter accountant composition across runs (``synthdata.privacy.composition``) is shown beside it.

Storage: SQLAlchemy Core over SQLite by default (``$SYNTHDATA_HOME/ledger.sqlite``, transactions opened with
``BEGIN IMMEDIATE``) or any URL in ``$SYNTHDATA_LEDGER_URL`` (e.g. ``postgresql+psycopg://...``, where the
dataset's row is locked with ``SELECT ... FOR UPDATE``).  Either way two processes releasing the same
dataset at once cannot both pass the budget check.  Every change of a dataset's total is logged.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import os
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.pool import NullPool

from synthdata.errors import BadInputError, BudgetRefusedError
from synthdata.privacy.composition import Composition, compose

DEFAULT_TOTAL_EPSILON = 10.0
LEDGER_URL_ENV = "SYNTHDATA_LEDGER_URL"

_metadata = sa.MetaData()
datasets_table = sa.Table(
    "datasets", _metadata,
    sa.Column("fingerprint", sa.Text, primary_key=True),
    # A random id that names the dataset wherever the ledger is quoted outside itself (manifests, reports,
    # Dagster, error messages): the fingerprint, a function of every record, never leaves the ledger.
    sa.Column("public_id", sa.Text),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("total_epsilon", sa.Float, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
)
charges_table = sa.Table(
    "charges", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.Text, sa.ForeignKey("datasets.fingerprint"), nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("release", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("epsilon", sa.Float, nullable=False),
    sa.Column("delta", sa.Float, nullable=False),
    sa.Column("mechanisms", sa.Text, nullable=False, server_default="[]"),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("settled", sa.Text),
    sa.CheckConstraint("status IN ('reserved', 'spent', 'cancelled')", name="charge_status"),
    sa.UniqueConstraint("fingerprint", "run_id", name="one_charge_per_run"),
)
budget_changes_table = sa.Table(
    "budget_changes", _metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.Text, sa.ForeignKey("datasets.fingerprint"), nullable=False),
    sa.Column("old_total", sa.Float, nullable=False),
    sa.Column("new_total", sa.Float, nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
)
aliases_table = sa.Table(
    "dataset_aliases", _metadata,
    sa.Column("fingerprint", sa.Text, primary_key=True),  # a derived dataset (``privacy.same_budget_as``)
    sa.Column("parent", sa.Text, sa.ForeignKey("datasets.fingerprint"), nullable=False),
    sa.Column("who", sa.Text, nullable=False),
    sa.Column("created", sa.Text, nullable=False),
)


def _new_public_id() -> str:
    return f"ds-{secrets.token_hex(8)}"


def _give_public_ids(db: Connection) -> None:
    """Migrate a ledger made before datasets had a public id: add the column, give each dataset a random id."""
    if "public_id" not in {c["name"] for c in sa.inspect(db).get_columns("datasets")}:
        db.exec_driver_sql("ALTER TABLE datasets ADD COLUMN public_id TEXT")
    for fingerprint in db.execute(sa.select(datasets_table.c.fingerprint)
                                  .where(datasets_table.c.public_id.is_(None))).scalars().all():
        db.execute(datasets_table.update().where(datasets_table.c.fingerprint == fingerprint)
                   .values(public_id=_new_public_id()))


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container without /etc/passwd entry
        return f"uid {os.getuid()}"


@dataclass(frozen=True)
class BudgetState:
    """A dataset's budget: ``spent`` and ``reserved`` are naive sums of ε (what the refusal check uses)."""

    fingerprint: str
    name: str
    total: float
    spent: float
    reserved: float
    dataset_id: str = ""

    @property
    def remaining(self) -> float:
        return max(self.total - self.spent - self.reserved, 0.0)

    def describe(self) -> str:
        return (
            f"dataset {self.name} (id {self.dataset_id}): total epsilon {self.total:g}, "
            f"spent {self.spent:.4g}, reserved {self.reserved:.4g}, remaining {self.remaining:.4g}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"fingerprint": self.fingerprint, "dataset_id": self.dataset_id, "name": self.name, "total_epsilon": self.total,
                "spent": self.spent, "reserved": self.reserved, "remaining": self.remaining}


def _engine(url: str) -> Engine:
    try:
        engine = sa.create_engine(url, poolclass=NullPool,
                                  connect_args={"timeout": 60} if url.startswith("sqlite") else {})
    except (ArgumentError, NoSuchModuleError) as exc:
        raise BadInputError(f"ledger URL {url!r} is not usable: {exc}") from None
    except ModuleNotFoundError as exc:
        raise BadInputError(
            f"ledger URL {url!r} needs the database driver {exc.name!r}; for PostgreSQL install "
            "`synthdata[postgres]` (psycopg)"
        ) from None
    if engine.dialect.name == "sqlite":
        # pysqlite's own transaction handling defers BEGIN; take the write lock up front instead, so the
        # budget check and the reservation happen under one lock.
        @sa.event.listens_for(engine, "connect")
        def _no_autobegin(dbapi_connection, _record) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin_immediate(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
    return engine


class Ledger:
    """Budget per dataset fingerprint, in one SQL database (SQLite file or a SQLAlchemy URL)."""

    def __init__(self, *, path: Path | None = None, url: str | None = None) -> None:
        if (path is None) == (url is None):
            raise ValueError("give the ledger exactly one of path= (SQLite file) or url= (SQLAlchemy URL)")
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{Path(path).resolve()}"
        self.url = str(url)
        self._engine = _engine(self.url)
        try:
            with self._engine.begin() as db:
                _metadata.create_all(db)
                _give_public_ids(db)
        except OperationalError as exc:
            raise BadInputError(f"cannot open the privacy ledger at {self.describe_location()}: {exc.orig}") from None

    def describe_location(self) -> str:
        """The ledger's URL without any password."""
        return sa.engine.make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._engine.begin() as db:
            yield db

    @staticmethod
    def _state(db: Connection, fingerprint: str, *, lock: bool = False) -> BudgetState | None:
        query = sa.select(datasets_table.c.name, datasets_table.c.total_epsilon, datasets_table.c.public_id).where(
            datasets_table.c.fingerprint == fingerprint)
        row = db.execute(query.with_for_update() if lock else query).first()
        if row is None:
            return None
        sums = dict(db.execute(
            sa.select(charges_table.c.status, sa.func.coalesce(sa.func.sum(charges_table.c.epsilon), 0.0))
            .where(charges_table.c.fingerprint == fingerprint).group_by(charges_table.c.status)
        ).all())
        return BudgetState(fingerprint, row.name, float(row.total_epsilon), float(sums.get("spent", 0.0)),
                           float(sums.get("reserved", 0.0)), row.public_id or "")

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
        (changing a budget takes an explicit, logged ``set_total``).
        """
        if not epsilon > 0:
            raise BadInputError(f"epsilon must be > 0 to reserve budget, got {epsilon}")
        total = DEFAULT_TOTAL_EPSILON if total_epsilon is None else float(total_epsilon)
        with self._transaction() as db:
            if self._state(db, fingerprint, lock=True) is None:
                values = {"fingerprint": fingerprint, "public_id": _new_public_id(), "name": name,
                          "total_epsilon": total, "created": _now()}
                if db.dialect.name == "postgresql":  # two first-time reservations race: the loser waits, then locks
                    from sqlalchemy.dialects.postgresql import insert as pg_insert

                    db.execute(pg_insert(datasets_table).values(**values).on_conflict_do_nothing())
                else:
                    db.execute(datasets_table.insert().values(**values))
            state = self._state(db, fingerprint, lock=True)
            assert state is not None
            if db.execute(sa.select(charges_table.c.id).where(
                    (charges_table.c.fingerprint == fingerprint) & (charges_table.c.run_id == run_id))).first():
                raise BadInputError(f"run {run_id} already holds a charge on dataset {state.name} (id {state.dataset_id})")
            if epsilon > state.remaining + 1e-12:
                raise BudgetRefusedError(
                    f"privacy budget refused: this run needs epsilon {epsilon:g} but {state.describe()}. "
                    "Lower --epsilon, or raise the dataset's budget with `synthdata budget set` if your "
                    "governance allows it."
                )
            db.execute(charges_table.insert().values(
                fingerprint=fingerprint, run_id=run_id, release=release, status="reserved", epsilon=float(epsilon),
                delta=float(delta), mechanisms="[]", who=_who(), created=_now()))
            return self._state(db, fingerprint)  # type: ignore[return-value]

    def _open_charge(self, db: Connection, fingerprint: str, run_id: str):
        row = db.execute(sa.select(charges_table.c.epsilon, charges_table.c.status).where(
            (charges_table.c.fingerprint == fingerprint) & (charges_table.c.run_id == run_id))).first()
        if row is None or row.status != "reserved":
            raise BadInputError(f"run {run_id} holds no open reservation on this dataset")
        return row

    def settle(
        self, *, fingerprint: str, run_id: str, epsilon: float, delta: float, mechanisms: list[dict[str, Any]]
    ) -> BudgetState:
        """Record what a run actually spent (at most what it reserved) and how (its mechanisms)."""
        with self._transaction() as db:
            self._state(db, fingerprint, lock=True)
            row = self._open_charge(db, fingerprint, run_id)
            if epsilon > row.epsilon * (1 + 1e-6) + 1e-9:
                raise BadInputError(f"run {run_id} spent epsilon {epsilon:g}, more than it reserved ({row.epsilon:g})")
            db.execute(charges_table.update().where(
                (charges_table.c.fingerprint == fingerprint) & (charges_table.c.run_id == run_id)
            ).values(status="spent", epsilon=float(epsilon), delta=float(delta), mechanisms=json.dumps(mechanisms),
                     settled=_now()))
            return self._state(db, fingerprint)  # type: ignore[return-value]

    def settle_in_full(self, *, fingerprint: str, run_id: str, reason: str) -> BudgetState:
        """Close a crashed run's reservation as spent in full (its true spend is unknown: conservative)."""
        with self._transaction() as db:
            self._state(db, fingerprint, lock=True)
            row = self._open_charge(db, fingerprint, run_id)
            db.execute(charges_table.update().where(
                (charges_table.c.fingerprint == fingerprint) & (charges_table.c.run_id == run_id)
            ).values(status="spent", settled=_now(), mechanisms=json.dumps(
                [{"stage": "settled in full by hand", "reason": reason, "by": _who(), "epsilon": float(row.epsilon)}])))
            return self._state(db, fingerprint)  # type: ignore[return-value]

    def cancel(self, *, fingerprint: str, run_id: str) -> None:
        """Drop a reservation of a run that stopped before it read any private data through a mechanism."""
        with self._transaction() as db:
            db.execute(charges_table.update().where(
                (charges_table.c.fingerprint == fingerprint) & (charges_table.c.run_id == run_id)
                & (charges_table.c.status == "reserved")
            ).values(status="cancelled", settled=_now()))

    def set_total(self, *, fingerprint: str, total_epsilon: float, reason: str = "") -> BudgetState:
        """Change a dataset's total budget; the change (old, new, who, when, why) is logged."""
        if not total_epsilon > 0:
            raise BadInputError(f"a total budget must be > 0, got {total_epsilon}")
        with self._transaction() as db:
            state = self._state(db, fingerprint, lock=True)
            if state is None:
                raise BadInputError("this dataset is not in the ledger")
            db.execute(datasets_table.update().where(datasets_table.c.fingerprint == fingerprint)
                       .values(total_epsilon=float(total_epsilon)))
            db.execute(budget_changes_table.insert().values(
                fingerprint=fingerprint, old_total=state.total, new_total=float(total_epsilon), who=_who(),
                created=_now(), reason=reason or "(no reason given)"))
            return self._state(db, fingerprint)  # type: ignore[return-value]

    def budget_key(self, *, fingerprint: str, legacy: Sequence[str] = (), same_budget_as: str | None = None,
                   write: bool = True) -> str:
        """The ledger key a dataset's charges go to: its own fingerprint, or its parent's when it was declared
        derived from a dataset already in the ledger (``same_budget_as``: that dataset's public id, e.g. from
        a manifest; remembered, so later releases of the derived dataset charge the parent too).

        A dataset a ledger knows under a ``legacy`` fingerprint (made before canonical values) has its
        charges moved to ``fingerprint`` first.  ``write=False`` (a dry run) changes nothing and answers as
        if it had.  Raises BadInputError for an unknown id or a dataset that already has a budget of its own.
        """
        with self._transaction() as db:
            if self._state(db, fingerprint, lock=write) is None:
                for old in legacy:
                    if old != fingerprint and self._state(db, old, lock=write) is not None:
                        if not write:
                            fingerprint = old
                            break
                        self._rekey(db, old=old, new=fingerprint)
                        break
            parent = db.execute(sa.select(aliases_table.c.parent)
                                .where(aliases_table.c.fingerprint == fingerprint)).scalar()
            if same_budget_as is None:
                return parent or fingerprint
            chosen = db.execute(sa.select(datasets_table.c.fingerprint)
                                .where(datasets_table.c.public_id == same_budget_as)).scalar()
            if chosen is None:
                raise BadInputError(f"privacy.same_budget_as: no dataset with id {same_budget_as!r} in the ledger at "
                                    f"{self.describe_location()} (`synthdata budget show` lists them)")
            if parent is not None and parent != chosen:
                raise BadInputError(f"this dataset is already charged to another dataset's budget; it cannot "
                                    f"move to {same_budget_as}")
            if chosen != fingerprint and self._state(db, fingerprint) is not None:
                raise BadInputError(f"this dataset already has a budget of its own in the ledger; its charges "
                                    f"cannot move to {same_budget_as}")
            if parent is None and chosen != fingerprint and write:
                db.execute(aliases_table.insert().values(fingerprint=fingerprint, parent=chosen, who=_who(),
                                                         created=_now()))
            return chosen

    @staticmethod
    def _rekey(db: Connection, *, old: str, new: str) -> None:
        """Move a dataset's row, charges, budget changes and aliases from key ``old`` to ``new``."""
        row = db.execute(sa.select(datasets_table).where(datasets_table.c.fingerprint == old)).mappings().one()
        db.execute(datasets_table.insert().values(**{**dict(row), "fingerprint": new}))
        for table, column in ((charges_table, "fingerprint"), (budget_changes_table, "fingerprint"),
                              (aliases_table, "parent")):
            db.execute(table.update().where(table.c[column] == old).values(**{column: new}))
        db.execute(datasets_table.delete().where(datasets_table.c.fingerprint == old))

    def datasets(self) -> list[BudgetState]:
        with self._transaction() as db:
            keys = db.execute(sa.select(datasets_table.c.fingerprint).order_by(datasets_table.c.created)).scalars()
            return [self._state(db, k) for k in list(keys)]  # type: ignore[misc]

    def history(self, *, fingerprint: str) -> list[dict[str, Any]]:
        """The audit trail of one dataset: who, when, which run, how much, which release, which mechanisms."""
        c = charges_table.c
        with self._transaction() as db:
            rows = db.execute(sa.select(c.run_id, c.release, c.status, c.epsilon, c.delta, c.who, c.created,
                                        c.settled, c.mechanisms).where(c.fingerprint == fingerprint)
                              .order_by(c.id)).mappings().all()
        return [{**dict(r), "mechanisms": json.loads(r["mechanisms"])} for r in rows]

    def budget_changes(self, *, fingerprint: str) -> list[dict[str, Any]]:
        """Every change of the dataset's total budget after it entered the ledger."""
        c = budget_changes_table.c
        with self._transaction() as db:
            rows = db.execute(sa.select(c.old_total, c.new_total, c.who, c.created, c.reason)
                              .where(c.fingerprint == fingerprint).order_by(c.id)).mappings().all()
        return [dict(r) for r in rows]

    def composition(self, *, fingerprint: str) -> Composition:
        """The dataset's total cost: naive summation beside RDP and PRV composition across its runs."""
        return compose(charges=self.history(fingerprint=fingerprint))

    def find_run(self, *, run_id: str) -> list[str]:
        """Fingerprints of the datasets a run holds charges on."""
        with self._transaction() as db:
            return list(db.execute(sa.select(charges_table.c.fingerprint)
                                   .where(charges_table.c.run_id == run_id)).scalars())


def default_ledger(*, home_folder: Path) -> Ledger:
    """The ledger at ``$SYNTHDATA_LEDGER_URL`` if set, else SQLite at ``<home>/ledger.sqlite``."""
    url = os.environ.get(LEDGER_URL_ENV)
    return Ledger(url=url) if url else Ledger(path=Path(home_folder) / "ledger.sqlite")
