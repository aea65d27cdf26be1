"""The ledger on a real PostgreSQL server: a throwaway cluster (initdb + pg_ctl, Unix socket only) when the
PostgreSQL server binaries are installed; skipped, saying why, when they are not."""

from __future__ import annotations

import pytest
from helpers import PostgresServer
from helpers import ledger_race as race

from synthdata.errors import BudgetRefusedError
from synthdata.privacy.ledger import Ledger


@pytest.fixture(scope="module")
def postgres_url(postgres_server: PostgresServer) -> str:
    """A database of its own on the session's throwaway server (``postgres_server`` in conftest.py)."""
    return postgres_server.url(postgres_server.create_database("ledger_tests"))


def test_postgres_ledger_reserves_settles_refuses(postgres_url: str) -> None:
    ledger = Ledger(url=postgres_url)
    ledger.reserve(fingerprint="pg", name="d.csv", run_id="r1", release="x", epsilon=3, delta=1e-6, total_epsilon=4)
    state = ledger.settle(fingerprint="pg", run_id="r1", epsilon=2.5, delta=1e-6,
                          mechanisms=[{"noise_multiplier": 2.0, "sample_rate": 0.02, "steps": 100}])
    assert (state.spent, state.reserved) == (2.5, 0)
    before = ledger.history(fingerprint="pg")
    with pytest.raises(BudgetRefusedError):
        ledger.reserve(fingerprint="pg", name="d.csv", run_id="r2", release="x", epsilon=2, delta=1e-6)
    assert ledger.history(fingerprint="pg") == before
    assert ledger.composition(fingerprint="pg").composed <= 2.5


def test_postgres_concurrent_processes_never_overspend(postgres_url: str) -> None:
    outcomes = race(postgres_url, processes=6)
    assert sum(o["ok"] for o in outcomes) == 3, outcomes
    assert Ledger(url=postgres_url).state(fingerprint="shared").reserved == pytest.approx(6.0)


def test_postgres_ledger_moves_old_keys_and_ties_derived_datasets(postgres_url: str) -> None:
    """Re-keying under PostgreSQL's enforced foreign keys, and an alias to a parent's budget."""
    ledger = Ledger(url=postgres_url)
    parent = ledger.reserve(fingerprint="pg-old", name="d.csv", run_id="pg-m1", release="a", epsilon=2, delta=1e-6,
                            total_epsilon=5)
    ledger.set_total(fingerprint="pg-old", total_epsilon=6, reason="test")
    assert ledger.budget_key(fingerprint="pg-new", legacy=["pg-old"]) == "pg-new"
    moved = ledger.state(fingerprint="pg-new")
    assert moved.reserved == 2 and moved.total == 6 and moved.dataset_id == parent.dataset_id
    assert ledger.budget_key(fingerprint="pg-child", same_budget_as=parent.dataset_id) == "pg-new"
    assert ledger.budget_key(fingerprint="pg-child") == "pg-new"
