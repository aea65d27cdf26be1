"""The ledger under real concurrency (separate OS processes), its logged budget changes and crash handling,
and cross-run composition checked against Opacus' own accountants."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import ledger_race as race
from opacus.accountants import PRVAccountant, RDPAccountant

from synthdata.cli import main
from synthdata.errors import BadInputError
from synthdata.privacy.composition import compose
from synthdata.privacy.ledger import Ledger


def test_concurrent_processes_never_overspend(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite'}"
    outcomes = race(url, processes=6)
    granted = [o["run"] for o in outcomes if o["ok"]]
    assert len(granted) == 3, outcomes  # 3 x 2.0 fits in 7.0; a 4th would overspend
    state = Ledger(url=url).state(fingerprint="shared")
    assert state.reserved == pytest.approx(6.0) and state.remaining == pytest.approx(1.0)
    assert sorted(c["run_id"] for c in Ledger(url=url).history(fingerprint="shared")) == sorted(granted)


def test_budget_changes_are_logged_and_crashed_runs_settle_in_full(tmp_path: Path) -> None:
    ledger = Ledger(path=tmp_path / "ledger.sqlite")
    ledger.reserve(fingerprint="a", name="d", run_id="crashed", release="x", epsilon=3, delta=1e-6, total_epsilon=5)
    ledger.set_total(fingerprint="a", total_epsilon=8, reason="board approved 2026-11")
    [change] = ledger.budget_changes(fingerprint="a")
    assert (change["old_total"], change["new_total"], change["reason"]) == (5, 8, "board approved 2026-11")
    state = ledger.settle_in_full(fingerprint="a", run_id="crashed", reason="killed")
    assert (state.spent, state.reserved) == (3, 0)
    with pytest.raises(BadInputError, match="no open reservation"):
        ledger.settle(fingerprint="a", run_id="crashed", epsilon=1, delta=1e-6, mechanisms=[])
    with pytest.raises(BadInputError, match="already holds a charge"):
        ledger.reserve(fingerprint="a", name="d", run_id="crashed", release="x", epsilon=1, delta=1e-6)


def test_cli_settles_a_crashed_run_and_shows_the_trail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SYNTHDATA_HOME", str(tmp_path))
    monkeypatch.delenv("SYNTHDATA_LEDGER_URL", raising=False)
    ledger = Ledger(path=tmp_path / "ledger.sqlite")
    ledger.reserve(fingerprint="f" * 64, name="d.csv", run_id="r1", release="x", epsilon=2, delta=1e-6)
    ledger.settle(fingerprint="f" * 64, run_id="r1", epsilon=2, delta=1e-6,
                  mechanisms=[{"stage": "training", "noise_multiplier": 1.0, "sample_rate": 0.01, "steps": 500,
                               "epsilon": 2, "delta": 1e-6}])
    ledger.reserve(fingerprint="f" * 64, name="d.csv", run_id="r2", release="x", epsilon=1.5, delta=1e-6)
    assert main(["budget", "settle", "r2"]) == 0
    assert main(["budget", "show"]) == 0
    out = capsys.readouterr().out
    assert "spent 3.5" in out and "reserved 0" in out
    assert "naive sum 3.5" in out and "RDP" in out and "PRV" in out
    assert "sigma 1 q 0.01 steps 500" in out
    assert main(["budget", "settle", "no-such-run"]) == 2


def test_composition_matches_opacus_accountants_for_a_known_plan() -> None:
    plan = {"noise_multiplier": 1.1, "sample_rate": 0.01, "steps": 1000}
    charges = [{"status": "spent", "epsilon": 2.0, "delta": 1e-5, "mechanisms": [{"stage": "training", **plan}]}] * 3
    composed = compose(charges=charges)
    rdp, prv = RDPAccountant(), PRVAccountant()
    rdp.history = prv.history = [(1.1, 0.01, 1000)] * 3
    assert composed.naive == pytest.approx(6.0)
    assert composed.rdp == pytest.approx(rdp.get_epsilon(delta=3e-5), rel=1e-9)
    assert composed.prv == pytest.approx(prv.get_epsilon(delta=3e-5), rel=1e-6)
    assert composed.composed < composed.naive / 2  # three runs compose far below 3 x 2.0


def test_composition_counts_reservations_and_pure_epsilon_conservatively() -> None:
    plan = {"noise_multiplier": 1.1, "sample_rate": 0.01, "steps": 1000}
    base = compose(charges=[{"status": "spent", "epsilon": 2.0, "delta": 1e-5, "mechanisms": [plan]}])
    with_pending = compose(charges=[
        {"status": "spent", "epsilon": 2.0, "delta": 1e-5, "mechanisms": [plan]},
        {"status": "reserved", "epsilon": 1.0, "delta": 0.0, "mechanisms": []},
        {"status": "cancelled", "epsilon": 5.0, "delta": 0.0, "mechanisms": []},
    ])
    assert with_pending.naive == pytest.approx(3.0)
    assert with_pending.prv == pytest.approx(base.prv + 1.0, rel=1e-6)  # a pending run counts in full
    assert base.rdp < with_pending.rdp <= base.rdp + 1.0 + 1e-9
    assert with_pending.composed <= with_pending.naive
