"""The signal codec: declared range scaling, label channels, and the decode of what it encoded."""

from __future__ import annotations

import numpy as np

from synthdata.modalities.signal.codec import SignalCodec

CODEC = SignalCodec(kind="eeg", fs=100.0, channels=("O1", "O2"), units=("uV", "uV"), length=50,
                    amplitude=(-100.0, 100.0), classes=("closed", "open"))


def test_round_trip_within_the_declared_range_and_labels() -> None:
    rng = np.random.default_rng(0)
    data = rng.uniform(-90, 90, size=(6, 2, 50)).astype(np.float32)
    labels = np.array(["open", "closed", "open", "open", "closed", "closed"], dtype=object)
    rows = CODEC.encode(data, labels)
    assert rows.shape == (6, CODEC.width) == (6, 4 * 50) and rows.min() >= -1 and rows.max() <= 1
    back, decoded = CODEC.decode(rows)
    assert np.allclose(back, data, atol=1e-3) and list(decoded) == list(labels)


def test_values_outside_the_declared_range_are_clipped() -> None:
    data = np.full((1, 2, 50), 500.0, dtype=np.float32)
    back, _ = CODEC.decode(CODEC.encode(data, np.array(["open"], dtype=object)))
    assert np.allclose(back, 100.0)


def test_serialises() -> None:
    assert SignalCodec.from_dict(CODEC.to_dict()) == CODEC
