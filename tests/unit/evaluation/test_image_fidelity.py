"""Image fidelity audits on generated populations: fresh images of the population score like the real-vs-real
yardstick; blurred, noisy, dimmed, collapsed and garbage generators score clearly worse.  Also the encoder
(fitted once per run, seeded, leaving torch's global generator alone) and the synthetic-only sample grid."""

from __future__ import annotations

import base64
from functools import cache

import numpy as np
import pytest
import torch
from audit_images import SCHEMA, blurred, context, population, with_pixels

from evaluation.images.encoder import CACHE_KEY, ENCODER_KEY, audit_embeddings
from evaluation.fidelity.frechet import FrechetAudit, frechet_distance, kernel_inception_distance
from evaluation.fidelity.intensity import IntensityHistogramAudit, image_histograms, suppressed
from evaluation.images.plots import sample_grid
from evaluation.fidelity.prdc import PRDCAudit, expected_coverage, prdc
from synthdata.views.images import ImageAuditSet

TRAIN, HOLDOUT, FRESH = population(400, seed=1), population(200, seed=2), population(400, seed=3)


def _generator(name: str) -> ImageAuditSet:
    rng = np.random.default_rng(0)
    return {
        "fresh": lambda: FRESH,
        "blurred": lambda: blurred(FRESH, sigma=1.5),
        "noisy": lambda: with_pixels(FRESH, FRESH.pixels + rng.normal(0, 0.3, FRESH.pixels.shape)),
        "dimmed": lambda: with_pixels(FRESH, FRESH.pixels * 0.6 - 0.3),
        "collapsed": lambda: FRESH.take(np.repeat(np.arange(10), 40)),  # ten images, forty times each
        "garbage": lambda: with_pixels(FRESH, rng.uniform(-1, 1, FRESH.pixels.shape)),
    }[name]()


@cache
def measured(name: str) -> dict:
    """The three fidelity audits on one generator, sharing one context (one encoder fit).

    The encoder depends on the training images and the seed only (``test_encoder_...`` checks that a new
    context fits the same one), so the contexts of the other generators reuse the fresh context's fit."""
    ctx = context(train=TRAIN, holdout=HOLDOUT, synthetic=_generator(name), max_rows=400)
    if name != "fresh":
        ctx.cache[ENCODER_KEY] = measured("fresh")["context"].cache[ENCODER_KEY]
    state = torch.random.get_rng_state()
    out = {}
    for audit in (FrechetAudit(), PRDCAudit(), IntensityHistogramAudit()):
        assert audit.applies_to(ctx)
        out[audit.name] = audit.measure(ctx)
    assert torch.equal(torch.random.get_rng_state(), state)  # seeded fits fork torch's generator
    out["context"] = ctx
    return out


def test_frechet_and_kid_rank_fresh_images_with_the_real_yardstick_and_degraded_ones_far_behind() -> None:
    fresh = measured("fresh")["fidelity.frechet"]
    yardstick = fresh.details["real_vs_real"]
    assert fresh.value < 1.5 * yardstick["frechet"]
    low, high = fresh.details["kid_interval"]
    assert low < 0 < high and abs(fresh.details["kid"]) < 0.1  # KID is unbiased: about 0 for fresh images
    blur, noisy, garbage = (measured(n)["fidelity.frechet"] for n in ("blurred", "noisy", "garbage"))
    real_like = max(fresh.value, yardstick["frechet"])
    assert blur.value > 3 * real_like and noisy.value > 3 * real_like
    assert garbage.value > 5 * max(blur.value, noisy.value)
    assert blur.details["kid"] > high and noisy.details["kid_interval"][0] > high
    assert "Fréchet distance and KID, synthetic vs real-vs-real" in fresh.figures
    assert fresh.details["encoder"]["objective"] == "reconstruction + 2-class cross-entropy"


def test_frechet_and_kid_formulas() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3000, 4))
    shifted = a + np.array([1.0, 0, 0, 0])
    assert frechet_distance(a, shifted) == pytest.approx(1.0, abs=1e-9)  # same covariance: |mean difference|^2
    scaled = a * 2.0  # means m and 2m, covariances C and 4C: |m|^2 + tr C + 4 tr C - 2 tr (2C) = |m|^2 + tr C
    expected = a.mean(axis=0) @ a.mean(axis=0) + np.trace(np.cov(a, rowvar=False))
    assert frechet_distance(a, scaled) == pytest.approx(expected, rel=1e-9)
    assert abs(kernel_inception_distance(a[:1500], a[1500:])) < 0.01 < kernel_inception_distance(a, shifted)


def test_prdc_sees_fresh_images_like_real_ones_and_separates_collapse_from_garbage() -> None:
    fresh = measured("fresh")["fidelity.prdc"]
    assert fresh.value > 0.9 and fresh.details["precision"] > 0.9 and fresh.details["recall"] > 0.9
    assert 0.8 < fresh.details["density"] < 1.2
    assert abs(fresh.value - fresh.details["real_vs_real"]["coverage"]) < 0.05
    assert fresh.details["expected_coverage_same_distribution"] == pytest.approx(0.97, abs=0.005)
    garbage = measured("garbage")["fidelity.prdc"]
    assert garbage.value < 0.05 and garbage.details["precision"] < 0.05
    collapsed = measured("collapsed")["fidelity.prdc"]
    assert collapsed.details["precision"] > 0.8  # the ten images are realistic...
    assert collapsed.details["recall"] < 0.1 and collapsed.value < 0.4  # ...but cover little of the variety


def test_prdc_definitions_on_points() -> None:
    real = np.array([[0.0], [1.0], [2.0], [3.0]])
    # k = 1: each real ball reaches its nearest neighbour (radius 1); synthetic at 0.5 and 10.
    scores = prdc(real=real, synthetic=np.array([[0.5], [10.0], [10.5]]), k=1)
    assert scores["precision"] == pytest.approx(1 / 3)  # only 0.5 lies in a real ball
    assert scores["coverage"] == pytest.approx(2 / 4)  # the balls of 0 and 1 hold 0.5
    assert scores["density"] == pytest.approx(2 / 3)  # 0.5 is in two balls, over k = 1 and 3 synthetic
    assert scores["recall"] == 1.0  # the ball of 0.5 reaches its neighbour 10 (radius 9.5): every real point
    assert expected_coverage(n_real=10**6, n_synthetic=10**6, k=5) == pytest.approx(1 - 0.5 ** 5, abs=1e-4)


def test_intensity_histograms_flag_wrong_grey_levels() -> None:
    fresh, dimmed, blur = (measured(n)["fidelity.intensity"] for n in ("fresh", "dimmed", "blurred"))
    assert fresh.value < 2 * fresh.details["real_vs_real"] + 0.01 and fresh.value < 0.03
    assert 0 < fresh.details["bootstrap_se"] < 0.01
    assert dimmed.value > 0.15 and dimmed.value > 5 * fresh.value + 10 * dimmed.details["bootstrap_se"]
    assert blur.value > 0.15  # blurring removes the noise texture, narrowing the background's grey levels
    assert "Pixel intensities, real vs synthetic" in fresh.figures


def test_intensity_bins_and_small_cell_suppression() -> None:
    pixels = np.full((12, 1, 4, 4), -1.0, dtype=np.float32)
    pixels[:3, 0, 0, 0] = 0.99  # a grey level only three images reach
    counts = image_histograms(pixels, bins=8)
    assert counts.shape == (12, 1, 8) and counts[0, 0, 7] == 1 and counts[0, 0, 0] == 15
    pooled = suppressed(counts)
    assert np.isnan(pooled[0, 7]) and pooled[0, 0] == 12 * 16 - 3  # fed by 3 < 10 images: hidden


def test_encoder_is_fitted_once_per_run_and_reproducible() -> None:
    ctx = measured("fresh")["context"]
    first = ctx.cache[CACHE_KEY]
    assert audit_embeddings(ctx) is first  # the three audits shared one fit
    assert first.train.shape == (400, 64) and first.holdout.shape == (200, 64)
    assert np.allclose(first.train.mean(axis=0), 0.0, atol=1e-9)  # standardised on the training features
    other = context(train=TRAIN, holdout=HOLDOUT, synthetic=population(100, seed=9), max_rows=400)
    again = audit_embeddings(other)  # another synthetic set: a new fit, the same encoder
    assert np.allclose(again.holdout, first.holdout, atol=1e-5)
    assert again.synthetic.shape == (100, 64)


def test_sample_grid_shows_synthetic_images_per_class() -> None:
    synthetic = population(30, seed=7)
    figures = sample_grid(synthetic=synthetic, schema=SCHEMA, per_class=4)
    assert [title for title, _ in figures] == ["Synthetic examples: blob", "Synthetic examples: bar"]
    assert all(base64.b64decode(png)[:8] == b"\x89PNG\r\n\x1a\n" for _, png in figures)
    unlabelled = sample_grid(synthetic=ImageAuditSet(pixels=synthetic.pixels), schema=SCHEMA)
    assert [title for title, _ in unlabelled] == ["Synthetic examples: all images"]
