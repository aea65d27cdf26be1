"""TSTR vs TRTR on images (a small CNN per arm): synthetic images whose shape matches their class keep the
real classifier's lift; images whose labels say nothing about the shape lose it and fail the gate."""

from __future__ import annotations

import numpy as np
from audit_images import context, population

from evaluation.gate import decide
from evaluation.images.classifier import fit_predict_cnn
from synthdata.views.images import ImageAuditSet
from evaluation.utility.tstr import TSTRAudit

TRAIN, HOLDOUT = population(400, seed=1), population(200, seed=2)


def verdict(synthetic: ImageAuditSet):
    ctx = context(train=TRAIN, holdout=HOLDOUT, synthetic=synthetic, max_rows=400, bootstrap=100)
    audit = TSTRAudit()
    assert audit.applies_to(ctx)
    return decide(audit=audit, measurement=audit.measure(ctx), threshold=audit.default_threshold)


def test_class_faithful_images_keep_the_utility() -> None:
    result = verdict(population(400, seed=3))
    assert result.passed and result.value > 0.8
    assert result.details["headline_family"] == "cnn" and set(result.details["families"]) == {"cnn"}
    cnn = result.details["families"]["cnn"]
    assert cnn["not_informative"] is None and cnn["trtr_auc"] > 0.9 and cnn["tstr_macro_f1"] > 0.75
    assert set(cnn["per_class_f1"]) == {"bar", "blob"}


def test_labels_unrelated_to_the_images_fail_the_gate() -> None:
    synthetic = population(400, seed=3)
    shuffled = ImageAuditSet(pixels=synthetic.pixels, labels=np.random.default_rng(0).permutation(synthetic.labels))
    result = verdict(shuffled)
    assert result.passed is False and result.value < 0.3
    assert result.details["families"]["cnn"]["trtr_auc"] > 0.9  # the real arm still learns: the data is fine


def test_unlabelled_images_are_not_scored() -> None:
    unlabelled = ImageAuditSet(pixels=population(50, seed=4).pixels)
    ctx = context(train=TRAIN, holdout=HOLDOUT, synthetic=unlabelled, max_rows=400)
    assert not TSTRAudit().applies_to(ctx)


def test_cnn_family_balances_a_skewed_training_set() -> None:
    # 83% blobs (60 bars): unweighted, this CNN found 52% of the holdout's bars (30 bars: 10%); weighted 77%.
    train = population(400, seed=5)
    keep = np.flatnonzero(train.labels == "blob").tolist() + np.flatnonzero(train.labels == "bar")[:60].tolist()
    skewed = train.take(np.sort(np.array(keep)))
    y = (skewed.labels == "bar").astype(np.int64)
    proba = fit_predict_cnn(skewed.pixels, y, HOLDOUT.pixels, n_classes=2, seed=0)
    assert proba.shape == (len(HOLDOUT), 2) and np.allclose(proba.sum(axis=1), 1.0)
    predicted_bar = proba.argmax(axis=1) == 1
    truth = HOLDOUT.labels == "bar"
    assert predicted_bar[truth].mean() > 0.65 and (~predicted_bar[~truth]).mean() > 0.8
    assert fit_predict_cnn(skewed.pixels, np.zeros(len(y), dtype=np.int64), HOLDOUT.pixels, n_classes=2,
                           seed=0)[:, 0].min() == 1.0  # one class seen: that class
