"""The signal codec: declared range scaling, the one-hot class condition, and the decode of what it encoded."""

from __future__ import annotations

import numpy as np
import pytest

from synthdata.modalities.classes import ClassCondition
from synthdata.modalities.signal.codec import SignalCodec

CODEC = SignalCodec(kind="eeg", fs=100.0, channels=("O1", "O2"), units=("uV", "uV"), length=50,
                    amplitude=(-100.0, 100.0), condition=ClassCondition(("closed", "open"), (0.5, 0.5)))


def test_round_trip_within_the_declared_range_and_labels() -> None:
    rng = np.random.default_rng(0)
    data = rng.uniform(-90, 90, size=(6, 2, 50)).astype(np.float32)
    labels = np.array(["open", "closed", "open", "open", "closed", "closed"], dtype=object)
    rows = CODEC.encode(data, labels)
    assert rows.shape == (6, CODEC.width) == (6, 2 * 50 + 2) and rows.min() >= -1 and rows.max() <= 1
    assert rows[:, -2:].tolist() == [[0, 1], [1, 0], [0, 1], [0, 1], [1, 0], [1, 0]]
    back, decoded = CODEC.decode(rows)
    assert np.allclose(back, data, atol=1e-3) and list(decoded) == list(labels)


def test_values_outside_the_declared_range_are_clipped() -> None:
    data = np.full((1, 2, 50), 500.0, dtype=np.float32)
    back, _ = CODEC.decode(CODEC.encode(data, np.array(["open"], dtype=object)))
    assert np.allclose(back, 100.0)


def test_labels_are_required_when_classes_are_declared_and_absent_otherwise() -> None:
    with pytest.raises(ValueError, match="labels"):
        CODEC.encode(np.zeros((1, 2, 50)), None)
    plain = SignalCodec(kind="ecg", fs=100.0, channels=("II",), units=("mV",), length=50, amplitude=(-2.0, 2.0))
    rows = plain.encode(np.zeros((3, 1, 50)), None)
    assert rows.shape == (3, 50) and plain.decode(rows)[1] is None


def test_serialises() -> None:
    assert SignalCodec.from_dict(CODEC.to_dict()) == CODEC
