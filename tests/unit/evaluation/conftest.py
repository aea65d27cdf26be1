"""Fixtures for the audit tests: the real diabetes demo slice, split by patient into train / holdout / fresh.

The schema's ``categories: discover`` columns are filled from the data here (a test shortcut: in a release
they are learned with DP); identifiers are dropped from the frames the audits see.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evaluation.base import AuditContext, AuditSettings
from evaluation.benchmarks.gate_calibration import load_demo
from synthdata.modalities.table.schema import TableSchema

DATA = Path(__file__).resolve().parents[3] / "synthdata" / "data"
TARGET = "readmitted"


@dataclass(frozen=True)
class Demo:
    schema: TableSchema
    train: pd.DataFrame
    holdout: pd.DataFrame
    fresh: pd.DataFrame  # real rows disjoint (by patient) from train and holdout

    def context(self, synthetic: pd.DataFrame, **settings: int) -> AuditContext:
        return AuditContext(modality="table", train=self.train, holdout=self.holdout, synthetic=synthetic,
                            schema=self.schema, target=TARGET, settings=AuditSettings(**settings))


@pytest.fixture(scope="session")
def demo() -> Demo:
    frame, subjects, schema = load_demo(rows=4000)  # the audits are tested on 4,000 rows: fast
    # Split by patient (the privacy unit), so no patient's encounters straddle two parts.
    patients = subjects.unique()
    rng = np.random.default_rng(20240601)
    rng.shuffle(patients)
    # 40% train, 20% holdout, 40% fresh: the fresh part is large (about 1,600 rows) because the gates judge
    # the pessimistic end of an interval whose width shrinks with the number of synthetic rows.
    part = pd.Series(np.arange(len(patients)) % 5, index=patients)  # 0,1 train; 2 holdout; 3,4 fresh
    where = subjects.map(part).to_numpy()
    pick = lambda mask: frame[mask].reset_index(drop=True)  # noqa: E731
    return Demo(schema=schema, train=pick(where <= 1), holdout=pick(where == 2), fresh=pick(where >= 3))


@pytest.fixture(scope="session")
def copies(demo: Demo) -> pd.DataFrame:
    """A copy generator: synthetic rows drawn (with replacement) from the training rows."""
    rng = np.random.default_rng(1)
    return demo.train.iloc[rng.integers(0, len(demo.train), size=len(demo.holdout))].reset_index(drop=True)


@pytest.fixture(scope="session")
def independent(demo: Demo) -> pd.DataFrame:
    """An independent-columns generator: each column drawn independently from training's marginal."""
    rng = np.random.default_rng(2)
    n = len(demo.fresh)
    return pd.DataFrame({
        name: demo.train[name].to_numpy(dtype=object if demo.train[name].dtype == object else None)[
            rng.integers(0, len(demo.train), size=n)]
        for name in demo.train.columns
    })


@pytest.fixture(scope="session")
def fresh_quality(demo: Demo):
    """Quality audit of fresh real rows, default settings (shared: SDMetrics on 48 columns takes ~7 s)."""
    from evaluation.fidelity.quality import QualityAudit

    return QualityAudit().measure(demo.context(demo.fresh))


@pytest.fixture(scope="session")
def independent_quality(demo: Demo, independent: pd.DataFrame):
    from evaluation.fidelity.quality import QualityAudit

    return QualityAudit(replicates=0).measure(demo.context(independent))
