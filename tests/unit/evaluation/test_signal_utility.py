"""TSTR vs TRTR on signal windows: synthetic windows that carry the class-specific rhythm keep the real
classifier's lift; windows whose labels say nothing about the signal lose it and fail the gate."""

from __future__ import annotations

import numpy as np

from evaluation.base import AuditContext, AuditSettings
from evaluation.gate import decide
from synthdata.views.signals import SignalSchema, SignalSet
from evaluation.utility.tstr import TSTRAudit

FS = 100.0
SCHEMA = SignalSchema(kind="eeg", fs=FS, channels=("O1", "O2"), units=("uV", "uV"), amplitude=(-100.0, 100.0),
                      classes=("eyes_closed", "eyes_open"))


def windows(n: int, seed: int, *, shuffle_labels: bool = False) -> SignalSet:
    """Eyes closed: strong 10 Hz alpha; eyes open: weak alpha. Noise in both."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(["eyes_closed", "eyes_open"], size=n)
    t = np.arange(int(2 * FS)) / FS
    alpha = np.where(labels == "eyes_closed", 20.0, 4.0)[:, None, None]
    data = alpha * np.sin(2 * np.pi * 10 * t + rng.uniform(0, 6.3, size=(n, 1, 1)))
    data = np.repeat(data, 2, axis=1) + rng.normal(0, 8.0, size=(n, 2, len(t)))
    if shuffle_labels:
        labels = rng.permutation(labels)
    return SignalSet(data=data.astype(np.float32), labels=labels)


def verdict(synthetic: SignalSet):
    context = AuditContext(modality="eeg", train=windows(300, 1), holdout=windows(200, 2), synthetic=synthetic,
                           schema=SCHEMA, target="label", settings=AuditSettings(max_rows=300, seed=0, bootstrap=100))
    audit = TSTRAudit()
    assert audit.applies_to(context)
    return decide(audit=audit, measurement=audit.measure(context), threshold=audit.default_threshold)


def test_class_faithful_windows_keep_the_utility() -> None:
    result = verdict(windows(300, 3))
    assert result.passed and result.value > 0.8
    assert result.details["families"]["logistic_regression"]["trtr_auc"] > 0.9


def test_labels_unrelated_to_the_signal_fail_the_gate() -> None:
    result = verdict(windows(300, 3, shuffle_labels=True))
    assert result.passed is False and result.value < 0.3
