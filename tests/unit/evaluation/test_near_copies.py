"""Near copies (``memorization.near_copies``): copiers caught, clean data passed, and the null's spread true.

The null is exact only if it moves whole privacy units and is blind to the order records come in; the tests
below would fail on a bootstrap over synthetic rows (too narrow when units repeat), on a search of a training
subsample (a 10% near-copier passed the old audit), and on a pool searched training-first (ties credited to
training).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evaluation.base import AuditContext, AuditSettings
from evaluation.gate import decide
from evaluation.memorization.exact_copies import ExactCopiesAudit
from evaluation.memorization.near_copies import NEIGHBOURS, NearCopiesAudit

AUDIT = NearCopiesAudit()


def passed(measurement) -> bool | None:
    return decide(audit=AUDIT, measurement=measurement, threshold=AUDIT.default_threshold).passed


def near_copier(demo, *, share: float, seed: int) -> pd.DataFrame:
    """Fresh real rows with ``share`` of them replaced by training rows whose lab-procedure count moved by 1."""
    rng = np.random.default_rng(seed)
    k = int(round(share * len(demo.fresh)))
    copied = demo.train.iloc[rng.choice(len(demo.train), size=k, replace=False)].reset_index(drop=True)
    copied["num_lab_procedures"] = copied["num_lab_procedures"] + rng.choice([-1.0, 1.0], size=k)
    return pd.concat([demo.fresh.iloc[k:], copied], ignore_index=True)


def test_copies_fail_and_unseen_records_pass(demo, copies, independent) -> None:
    fresh, copied, shuffled = (AUDIT.measure(demo.context(s)) for s in (demo.fresh, copies, independent))
    assert copied.value > 0.8 and passed(copied) is False
    assert passed(fresh) is True and fresh.interval[0] < 0 < fresh.interval[1]
    assert passed(shuffled) is True and shuffled.interval[1] < AUDIT.default_threshold
    assert copied.details["close_rows_nearest_in_training"] > 0.95 > fresh.details["close_rows_nearest_in_training"]


def test_a_ten_percent_near_copier_is_caught_where_exact_copies_see_nothing(demo) -> None:
    # The audit this replaced searched a holdout-sized training subsample and passed this copier.
    synthetic = near_copier(demo, share=0.10, seed=3)
    context = demo.context(synthetic)
    assert ExactCopiesAudit().measure(context).value == 0
    measurement = AUDIT.measure(context)
    assert measurement.interval[0] > AUDIT.default_threshold and passed(measurement) is False
    assert 0.06 < measurement.value < 0.12


def test_the_null_spread_is_true_when_each_patient_has_two_identical_records(demo) -> None:
    # Each unit holds two identical records and the split moves units whole.  The radius must ignore a unit's
    # own records (else it is 0 and nothing is ever close), and value / null sd must behave like a z-score
    # over random splits (sd 1): a null that moved records one by one is about 1.4x too narrow here.
    pool = pd.concat([demo.train, demo.holdout], ignore_index=True)
    frame = pd.concat([pool, pool], ignore_index=True)
    units = np.tile(np.arange(len(pool)), 2)
    z, close = [], []
    for draw in range(20):
        rng = np.random.default_rng(draw)
        in_train = np.isin(units, rng.choice(len(pool), size=int(0.8 * len(pool)), replace=False))
        context = AuditContext(
            modality="table", train=frame[in_train].reset_index(drop=True),
            holdout=frame[~in_train].reset_index(drop=True), synthetic=demo.fresh, schema=demo.schema,
            settings=AuditSettings(seed=draw, max_rows=1000),
            groups={"train": units[in_train], "holdout": units[~in_train]})
        measurement = AUDIT.measure(context)
        assert passed(measurement) is not False, f"a clean draw ({draw}) was blocked"
        z.append(measurement.value / measurement.details["null_sd"])
        close.append(measurement.details["share_close"])
    z = np.array(z)
    assert min(close) > 0.02
    assert abs(z.mean()) < 0.7 and 0.6 < z.std() < 1.5, (z.mean(), z.std())


def test_rows_tied_with_many_records_are_not_credited_to_training(demo) -> None:
    # Two columns with a few levels: every synthetic row ties with hundreds of real records.  Searched in
    # the order training-then-holdout, the kept neighbours would all be training records (value near 1).
    columns = ["race", "gender"]
    schema = demo.schema.model_copy(update={"columns": {c: demo.schema.columns[c] for c in columns}})
    context = AuditContext(modality="table", train=demo.train[columns], holdout=demo.holdout[columns],
                           synthetic=demo.fresh[columns], schema=schema, settings=AuditSettings())
    measurement = AUDIT.measure(context)
    assert measurement.details["rows_tied_beyond_neighbours"] > 0.9 * len(demo.fresh)
    assert measurement.details["share_close"] > 0.9
    assert abs(measurement.value) < 0.05 and passed(measurement) is True
    assert NEIGHBOURS < 100


def test_a_unit_on_both_sides_is_refused(demo) -> None:
    groups = {"train": np.array(["a"] * len(demo.train)), "holdout": np.array(["a"] * len(demo.holdout))}
    context = AuditContext(modality="table", train=demo.train, holdout=demo.holdout, synthetic=demo.fresh,
                           schema=demo.schema, groups=groups)
    with pytest.raises(ValueError, match="both training and holdout"):
        AUDIT.measure(context)
