from pathlib import Path

import pytest

from synthdata.errors import BudgetRefusedError
from synthdata.privacy.ledger import DEFAULT_TOTAL_EPSILON, Ledger


def test_reserve_settle_and_refuse_without_writing(tmp_path: Path) -> None:
    ledger = Ledger(path=tmp_path / "ledger.sqlite")
    state = ledger.reserve(fingerprint="f" * 64, name="d.csv", run_id="r1", release="a", epsilon=3, delta=1e-6,
                           total_epsilon=5)
    assert (state.total, state.reserved, state.spent) == (5, 3, 0)
    state = ledger.settle(fingerprint="f" * 64, run_id="r1", epsilon=2.5, delta=1e-6, mechanisms=[{"stage": "t"}])
    assert (state.reserved, state.spent) == (0, 2.5)
    before = ledger.history(fingerprint="f" * 64)
    with pytest.raises(BudgetRefusedError) as refused:
        ledger.reserve(fingerprint="f" * 64, name="d.csv", run_id="r2", release="b", epsilon=3, delta=1e-6)
    assert "spent 2.5" in refused.value.message and "remaining 2.5" in refused.value.message
    assert ledger.history(fingerprint="f" * 64) == before
    assert ledger.history(fingerprint="f" * 64)[0]["mechanisms"] == [{"stage": "t"}]


def test_total_is_set_once_and_default(tmp_path: Path) -> None:
    ledger = Ledger(path=tmp_path / "ledger.sqlite")
    ledger.reserve(fingerprint="a", name="d", run_id="r1", release="x", epsilon=1, delta=1e-6)
    state = ledger.reserve(fingerprint="a", name="d", run_id="r2", release="x", epsilon=1, delta=1e-6,
                           total_epsilon=100)
    assert state.total == DEFAULT_TOTAL_EPSILON
    assert ledger.set_total(fingerprint="a", total_epsilon=20).remaining == pytest.approx(18)


def test_crashed_run_keeps_its_reservation(tmp_path: Path) -> None:
    ledger = Ledger(path=tmp_path / "ledger.sqlite")
    ledger.reserve(fingerprint="a", name="d", run_id="crashed", release="x", epsilon=9, delta=1e-6)
    reopened = Ledger(path=tmp_path / "ledger.sqlite")
    with pytest.raises(BudgetRefusedError):
        reopened.reserve(fingerprint="a", name="d", run_id="next", release="x", epsilon=2, delta=1e-6)
    reopened.cancel(fingerprint="a", run_id="crashed")
    assert reopened.state(fingerprint="a").remaining == pytest.approx(DEFAULT_TOTAL_EPSILON)


def test_a_run_settled_in_full_counts_whole_in_the_composed_epsilon(tmp_path: Path) -> None:
    """A 3.0 run settled with its DP-SGD plan and a crashed 5.0 run settled in full compose to at least 5:
    the settled-in-full charge carried no epsilon in its mechanism and was counted as 0 (7.05 -> 2.05)."""
    ledger = Ledger(path=tmp_path / "ledger.sqlite")
    ledger.reserve(fingerprint="f", name="d.csv", run_id="a", release="r", epsilon=3.0, delta=1e-6, total_epsilon=10)
    ledger.settle(fingerprint="f", run_id="a", epsilon=2.9, delta=1e-6, mechanisms=[
        {"stage": "training", "noise_multiplier": 1.2, "sample_rate": 0.05, "steps": 600, "epsilon": 2.9,
         "delta": 1e-6}])
    ledger.reserve(fingerprint="f", name="d.csv", run_id="b", release="r", epsilon=5.0, delta=1e-6)
    reserved = ledger.composition(fingerprint="f").composed
    ledger.settle_in_full(fingerprint="f", run_id="b", reason="crashed")
    settled = ledger.composition(fingerprint="f")
    assert settled.naive == pytest.approx(7.9)
    assert settled.composed >= 5.0 and settled.composed == pytest.approx(reserved)  # settling changed nothing


def test_a_ledger_made_before_public_ids_is_migrated(tmp_path: Path) -> None:
    """Older ledgers have no public_id column: opening one adds it and gives every dataset a random id."""
    import sqlite3

    path = tmp_path / "ledger.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE datasets (fingerprint TEXT PRIMARY KEY, name TEXT NOT NULL, "
                   "total_epsilon FLOAT NOT NULL, created TEXT NOT NULL)")
        db.execute("INSERT INTO datasets VALUES ('f' || hex(randomblob(31)), 'old.csv', 10.0, '2026-01-01')")
    (state,) = Ledger(path=path).datasets()
    assert state.dataset_id.startswith("ds-") and state.dataset_id not in state.fingerprint
    assert Ledger(path=path).datasets()[0].dataset_id == state.dataset_id  # stable once given


def test_approximate_dp_preprocessing_is_added_by_basic_composition_at_its_own_delta() -> None:
    """Category discovery is (eps, delta)-DP with delta > 0: it may not join the RDP curve as pure epsilon,
    and the Gaussian part is converted at the delta that is left (total delta = delta_train + delta_pre)."""
    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    from synthdata.privacy.composition import ORDERS, compose

    gaussian = {"stage": "training", "noise_multiplier": 2.0, "sample_rate": 0.02, "steps": 300}
    discovery = {"stage": "preprocessing", "epsilon": 0.3, "delta": 4e-6}
    charge = {"status": "spent", "epsilon": 3.0, "delta": 5e-6, "mechanisms": [discovery, gaussian]}
    composed = compose(charges=[charge])
    curve = compute_rdp(q=0.02, noise_multiplier=2.0, steps=300, orders=ORDERS)
    training_only = get_privacy_spent(orders=ORDERS, rdp=curve, delta=1e-6)[0]
    assert composed.delta == pytest.approx(5e-6)
    assert composed.rdp == pytest.approx(min(training_only + 0.3, 3.0))
    # the old accounting evaluated the Gaussian at the whole 5e-6 and folded 0.3 in as pure epsilon
    optimistic = min(get_privacy_spent(orders=ORDERS, rdp=[r + 0.5 * a * 0.09 for r, a in zip(curve, ORDERS)],
                                       delta=5e-6)[0], get_privacy_spent(orders=ORDERS, rdp=curve, delta=5e-6)[0] + 0.3)
    assert composed.rdp > optimistic


def test_charges_under_an_old_fingerprint_move_to_the_canonical_one(tmp_path: Path) -> None:
    """A ledger made before canonical values keeps counting: the first release that reads the dataset moves
    its charges to the new key; a dry run answers from the old key and moves nothing."""
    ledger = Ledger(path=tmp_path / "ledger.sqlite")
    ledger.reserve(fingerprint="old", name="d.csv", run_id="r1", release="a", epsilon=3, delta=1e-6, total_epsilon=5)
    ledger.settle(fingerprint="old", run_id="r1", epsilon=3, delta=1e-6, mechanisms=[])
    assert ledger.budget_key(fingerprint="new", legacy=["old"], write=False) == "old"
    assert ledger.state(fingerprint="new") is None
    assert ledger.budget_key(fingerprint="new", legacy=["old"]) == "new"
    assert ledger.state(fingerprint="old") is None and ledger.state(fingerprint="new").spent == 3
    with pytest.raises(BudgetRefusedError):
        ledger.reserve(fingerprint="new", name="d.csv", run_id="r2", release="a", epsilon=3, delta=1e-6)


def test_a_derived_dataset_is_charged_to_its_parent(tmp_path: Path) -> None:
    """`same_budget_as` ties a dataset no fingerprint can tie (a row dropped) to its parent, for good."""
    from synthdata.errors import BadInputError

    ledger = Ledger(path=tmp_path / "ledger.sqlite")
    parent = ledger.reserve(fingerprint="parent", name="d.csv", run_id="r1", release="a", epsilon=3, delta=1e-6,
                            total_epsilon=5)
    with pytest.raises(BadInputError, match="no dataset with id"):
        ledger.budget_key(fingerprint="child", same_budget_as="ds-0000000000000000")
    assert ledger.budget_key(fingerprint="child", same_budget_as=parent.dataset_id) == "parent"
    assert ledger.budget_key(fingerprint="child") == "parent"  # remembered without the flag
    with pytest.raises(BudgetRefusedError):
        ledger.reserve(fingerprint=ledger.budget_key(fingerprint="child"), name="d2.csv", run_id="r2", release="a",
                       epsilon=3, delta=1e-6)
    ledger.reserve(fingerprint="own", name="e.csv", run_id="r3", release="b", epsilon=1, delta=1e-6)
    with pytest.raises(BadInputError, match="budget of its own"):
        ledger.budget_key(fingerprint="own", same_budget_as=parent.dataset_id)
