"""The heart-rhythm audit on generated ECG-like windows: the right rate scores near the real-vs-real
yardstick, a wrong rate far from it, flat windows are not informative."""

from __future__ import annotations

import numpy as np

from evaluation.base import AuditContext, AuditSettings
from evaluation.fidelity.heart_rate import HeartRateAudit
from synthdata.views.signals import SignalSchema, SignalSet

FS = 360.0
SCHEMA = SignalSchema(kind="ecg", fs=FS, channels=("MLII",), units=("mV",), amplitude=(-3.0, 3.0))


def ecg(n: int, seed: int, *, bpm: float = 70.0) -> SignalSet:
    rng = np.random.default_rng(seed)
    t = np.arange(int(6 * FS)) / FS
    out = np.empty((n, 1, len(t)), dtype=np.float32)
    for i in range(n):
        period = 60.0 / (bpm * rng.uniform(0.9, 1.1))
        beats = np.arange(rng.uniform(0, period), 6.0, period)
        beats = beats + rng.normal(0, 0.01, size=len(beats))
        wave = sum(1.2 * np.exp(-((t - b) / 0.012) ** 2) - 0.2 * np.exp(-((t - b - 0.25) / 0.06) ** 2) for b in beats)
        out[i, 0] = wave + rng.normal(0, 0.03, size=len(t))
    return SignalSet(data=out)


def measure(synthetic: SignalSet):
    context = AuditContext(modality="ecg", train=ecg(40, 1), holdout=ecg(40, 2), synthetic=synthetic, schema=SCHEMA,
                           settings=AuditSettings(max_rows=100, seed=0))
    assert HeartRateAudit().applies_to(context)
    return HeartRateAudit().measure(context)


def test_rhythm_distance_separates_rates() -> None:
    same, fast = measure(ecg(40, 3)), measure(ecg(40, 3, bpm=110.0))
    assert same.not_informative is None and same.value < 0.25
    assert fast.value > 0.7
    assert 60 < same.details["median_heart_rate_bpm"]["synthetic"] < 80
    assert fast.details["median_heart_rate_bpm"]["synthetic"] > 95


def test_flat_synthetic_windows_are_not_informative() -> None:
    flat = SignalSet(data=np.zeros((40, 1, int(6 * FS)), dtype=np.float32))
    result = measure(flat)
    assert result.not_informative and result.details["share_windows_without_two_beats"]["synthetic"] == 1.0
