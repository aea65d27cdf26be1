import math
from pathlib import Path

import pytest

from synthdata.config import default_delta

from synthdata.release_spec import load_spec, parse_spec
from synthdata.errors import BadInputError


def _raw(**privacy):
    return {"name": "x", "dataset": {"path": "/tmp/x.csv"}, "privacy": {"epsilon": 1, **privacy},
            "output": {"out": "/tmp/out"}}


@pytest.mark.parametrize("epsilon", [0, -1, float("inf"), float("nan")])
def test_epsilon_must_be_positive_and_finite(epsilon: float) -> None:
    with pytest.raises(BadInputError, match="privacy.epsilon"):
        parse_spec(_raw(epsilon=epsilon))


def test_an_epsilon_that_bounds_nothing_is_refused_at_once() -> None:
    """epsilon 1000 once hung ten minutes in noise calibration (PRV overflow) before it was stopped."""
    with pytest.raises(BadInputError, match="above 100"):
        parse_spec(_raw(epsilon=1000))
    assert parse_spec(_raw(epsilon=100)).privacy.epsilon == 100


def test_budget_shares_must_leave_training_something() -> None:
    with pytest.raises(BadInputError, match="marginals_share"):
        parse_spec(_raw(preprocessing_share=0.5, marginals_share=0.5))


def test_unknown_keys_are_refused() -> None:
    with pytest.raises(BadInputError, match="privacy.epsilonn"):
        parse_spec(_raw(epsilonn=1))


def test_relative_paths_resolve_against_the_spec_folder(tmp_path: Path) -> None:
    spec_file = tmp_path / "specs" / "s.yaml"
    spec_file.parent.mkdir()
    spec_file.write_text("name: s\ndataset: {path: ../data/d.csv, schema: d.yaml}\nprivacy: {epsilon: 1}\n"
                         "output: {out: '{home}/releases/{run_id}'}\n")
    spec = load_spec(spec_file)
    assert spec.dataset.path == (tmp_path / "data" / "d.csv").resolve()
    assert spec.dataset.schema_path == (tmp_path / "specs" / "d.yaml").resolve()
    assert spec.output_folder(run_id="r1", home=Path("/h")) == Path("/h/releases/r1")


def test_default_delta_is_well_below_one_over_n() -> None:
    assert default_delta(1000) == 1e-5
    assert default_delta(10**6) == pytest.approx(1e-7)
    assert default_delta(10**6) < 1 / 10**6


def test_signal_spec_declares_public_facts_and_refuses_inconsistent_ones() -> None:
    from synthdata.modalities.signal.settings import SignalSpec

    spec = SignalSpec(sample_rate=128, amplitude=(-2, 3), labels={"T1": "left", "T2": "right"})
    assert spec.privacy_unit == "subject" and spec.max_windows_per_subject == 8
    for bad, message in [({"amplitude": (3, 2)}, "low < high"),
                         ({"amplitude": (-1, 1), "bandpass": (0.5, 70)}, "below half the sample rate"),
                         ({"amplitude": (-1, 1), "segment": "beats"}, "needs labels"),
                         ({"amplitude": (-1, 1), "labels": {"N": "n"}, "label_table": "x.csv"}, "not both")]:
        with pytest.raises(ValueError, match=message):
            SignalSpec(sample_rate=128, **bad)


def test_group_privacy_bound() -> None:
    from synthdata.privacy.group import group_privacy

    assert group_privacy(epsilon=1.0, delta=1e-6, group_size=1) == (1.0, 1e-6)
    eps, delta = group_privacy(epsilon=0.5, delta=1e-6, group_size=4)
    assert eps == pytest.approx(2.0) and delta == pytest.approx(4 * math.exp(1.5) * 1e-6)
    assert group_privacy(epsilon=10.0, delta=1e-6, group_size=100)[1] == 1.0  # vacuous, said honestly
    with pytest.raises(ValueError):
        group_privacy(epsilon=1.0, delta=1e-6, group_size=0)
