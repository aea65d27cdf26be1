"""The audit suite never crashes on signal windows and images that passed input validation: 28-window sets,
single-class or unlabelled records, flat windows, blank images, collapsed generators, 10-image sets.  Each
audit answers with a value or says why it could not judge (the table corpus is ``test_audit_corpus.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.base import AuditContext, AuditSettings
from evaluation.gate import run_audits
from synthdata.views.images import ImageAuditSet, ImageSchema
from synthdata.views.signals import SignalSchema, SignalSet

FS = 100.0


def _windows(n: int, rng: np.random.Generator, *, channels: int = 2, classes: tuple[str, ...] = ("a", "b"),
             flat: bool = False) -> SignalSet:
    t = np.arange(int(2 * FS)) / FS
    f = rng.uniform(1.0, 12.0, size=(n, channels, 1))
    data = np.zeros((n, channels, len(t))) if flat else np.sin(2 * np.pi * f * t) + rng.normal(0, 0.1, (n, channels, len(t)))
    labels = None if not classes else rng.choice(np.array(classes, dtype=object), n)
    return SignalSet(data=data.astype(np.float32), labels=labels)


def _images(n: int, rng: np.random.Generator, *, channels: int = 1, classes: tuple[str, ...] = ("0", "1"),
            blank: bool = False) -> ImageAuditSet:
    pixels = -np.ones((n, channels, 16, 16)) if blank else np.tanh(rng.normal(0, 1, (n, channels, 16, 16)))
    labels = None if not classes else rng.choice(np.array(classes, dtype=object), n)
    return ImageAuditSet(pixels=pixels.astype(np.float32), labels=labels)


def _corpus() -> dict[str, tuple[object, object, object, object]]:
    """name -> (schema, train, holdout, synthetic)."""
    rng = np.random.default_rng(0)
    ecg = SignalSchema(kind="ecg", fs=FS, channels=("I", "II"), units=("mV", "mV"), amplitude=(-3.0, 3.0),
                       classes=("a", "b"))
    eeg1 = SignalSchema(kind="eeg", fs=FS, channels=("Oz",), units=("uV",), amplitude=(-150.0, 150.0))
    grey = ImageSchema(size=(16, 16), channels=1, window=(0.0, 255.0), classes=("0", "1"))
    rgb = ImageSchema(size=(16, 16), channels=3, window=(0.0, 255.0))
    w, i = _windows, _images
    cases: dict[str, tuple[object, object, object, object]] = {
        "signal_28_windows": (ecg, w(20, rng), w(8, rng), w(28, rng)),
        "signal_single_class": (ecg, w(60, rng, classes=("a",)), w(30, rng, classes=("a",)), w(60, rng, classes=("a",))),
        "signal_one_window_of_a_class": (ecg, SignalSet(data=w(60, rng).data, labels=np.array(["a"] * 59 + ["b"], dtype=object)),
                                         w(30, rng), w(60, rng)),
        "signal_flat_windows": (ecg, w(60, rng, flat=True), w(30, rng, flat=True), w(60, rng, flat=True)),
        "signal_collapsed_generator": (ecg, w(60, rng), w(30, rng), SignalSet(data=np.repeat(w(1, rng).data, 60, axis=0),
                                                                               labels=np.array(["a"] * 60, dtype=object))),
        "signal_unlabelled_one_channel": (eeg1, w(60, rng, channels=1, classes=()), w(30, rng, channels=1, classes=()),
                                          w(60, rng, channels=1, classes=())),
        "image_ten_each": (grey, i(10, rng), i(10, rng), i(10, rng)),
        "image_single_class": (grey, i(60, rng, classes=("0",)), i(30, rng, classes=("0",)), i(60, rng, classes=("0",))),
        "image_blank": (grey, i(60, rng, blank=True), i(30, rng, blank=True), i(60, rng, blank=True)),
        "image_rgb_unlabelled": (rgb, i(60, rng, channels=3, classes=()), i(30, rng, channels=3, classes=()),
                                 i(60, rng, channels=3, classes=())),
        "image_collapsed_generator": (grey, i(60, rng), i(30, rng), ImageAuditSet(pixels=np.repeat(i(1, rng).pixels, 60, axis=0),
                                                                                   labels=np.array(["0"] * 60, dtype=object))),
    }
    return cases


CORPUS = _corpus()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_audit_answers_on_an_edge_case(name: str) -> None:
    schema, train, holdout, synthetic = CORPUS[name]
    target = "label" if train.labels is not None else None
    context = AuditContext(modality=name.split("_")[0], train=train, holdout=holdout, synthetic=synthetic,
                           schema=schema, target=target, settings=AuditSettings(max_rows=300, bootstrap=50))
    results = run_audits(context=context)
    assert results
    for result in results:
        answered = result.value is not None and np.isfinite(result.value)
        assert answered or (result.passed is not True and result.note), (name, result.name, result.note)
        assert "could not be computed" not in (result.note or ""), (name, result.name, result.note)
