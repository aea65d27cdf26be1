"""Memorization and membership audits on images: a generator returning its training images, with a little
noise or moved by a pixel, fails the shared gates (pixel space) and the feature-space attack; fresh images of
the same population pass.

Sizes: the DCR share and the attack hold the real reference sets fixed in their intervals, and on these
populations the DCR share of fresh images moves by about 0.015 from one draw of train/holdout sets to the next
(sd over draws: 0.022 at 500 images per side, 0.015 at 1,000 and 2,000), so the fresh generator is tested
against 2,000 real images per side (one draw in eight at 1,000 put its upper end above the 0.55 gate); the
copies, which fail by far, against 1,000.
"""

from __future__ import annotations

from functools import cache

import pytest
from audit_images import context, noisy_copies, population, shifted

from evaluation.attack.membership import MembershipInferenceAudit
from evaluation.gate import decide
from evaluation.attack.membership_features import FeatureMembershipAudit
from evaluation.memorization.image_ssim import SSIMCopiesAudit
from evaluation.memorization.dcr import DCRShareAudit
from evaluation.memorization.near_copies import NearCopiesAudit

TRAIN, HOLDOUT = population(1000, seed=1), population(1000, seed=2)
BIG_TRAIN, BIG_HOLDOUT = population(2000, seed=4), population(2000, seed=5)
PIXEL_AUDITS = (DCRShareAudit, NearCopiesAudit, MembershipInferenceAudit)


@cache
def generator(name: str):
    return {"noisy_copies": lambda: noisy_copies(TRAIN, sd=0.05), "shifted_copies": lambda: shifted(TRAIN),
            "fresh": lambda: population(4000, seed=6)}[name]()


def verdicts(name: str, audits, *, max_rows: int = 4000) -> dict:
    train, holdout = (BIG_TRAIN, BIG_HOLDOUT) if name == "fresh" else (TRAIN, HOLDOUT)
    ctx = context(train=train, holdout=holdout, synthetic=generator(name), max_rows=max_rows)
    results = {}
    for audit_type in audits:
        audit = audit_type()
        assert audit.applies_to(ctx)
        results[audit.name] = decide(audit=audit, measurement=audit.measure(ctx), threshold=audit.default_threshold)
    return results


@pytest.mark.parametrize("name", ["noisy_copies", "shifted_copies"])
def test_copying_generators_fail_the_pixel_space_gates(name: str) -> None:
    result = verdicts(name, PIXEL_AUDITS)
    dcr, near, mia = (result[a.name] for a in PIXEL_AUDITS)
    assert dcr.passed is False and dcr.value > 0.95
    assert near.passed is False and near.value > 0.4  # half the training set is searched per fold
    assert mia.passed is False and mia.value > 0.95
    if name == "shifted_copies":
        assert dcr.details["share_at_distance_zero_from_train"] == 1.0  # the shift tolerance finds the source


def test_fresh_images_pass_the_pixel_space_gates() -> None:
    result = verdicts("fresh", PIXEL_AUDITS)
    dcr, near, mia = (result[a.name] for a in PIXEL_AUDITS)
    assert dcr.passed and 0.46 < dcr.value < 0.54
    assert near.passed and abs(near.value) < 0.02
    assert mia.passed and mia.value < 0.55


def test_structural_similarity_flags_copies_and_not_fresh_images() -> None:
    copies = verdicts("noisy_copies", [SSIMCopiesAudit], max_rows=1000)["memorization.image_ssim"]
    fresh = verdicts("fresh", [SSIMCopiesAudit], max_rows=1000)["memorization.image_ssim"]
    assert copies.passed is False and fresh.passed
    assert copies.value > 0.9 and copies.details["ssim_to_nearest"]["train"]["median"] > 0.9
    assert fresh.details["share_above_threshold_train"] == 0.0 and fresh.value == 0.0
    assert fresh.details["ssim_to_nearest"]["train"]["95th_percentile"] < 0.8
    assert "SSIM of synthetic images to their nearest real image" in copies.figures


# The feature-space attack fits an encoder on the synthetic images: smaller sets keep it fast.
SMALL_TRAIN, SMALL_HOLDOUT = population(400, seed=11), population(400, seed=12)


@pytest.mark.parametrize("name", ["noisy", "shifted", "fresh"])
def test_feature_space_attack_flags_copies_and_not_fresh_images(name: str) -> None:
    synthetic = {"noisy": lambda: noisy_copies(SMALL_TRAIN, sd=0.05), "shifted": lambda: shifted(SMALL_TRAIN),
                 "fresh": lambda: population(800, seed=13)}[name]()
    audit = FeatureMembershipAudit()
    ctx = context(train=SMALL_TRAIN, holdout=SMALL_HOLDOUT, synthetic=synthetic, max_rows=800)
    assert audit.applies_to(ctx)
    result = decide(audit=audit, measurement=audit.measure(ctx), threshold=audit.default_threshold)
    if name == "fresh":
        assert result.passed and result.value < 0.56
    else:
        assert result.passed is False and result.value > 0.65
    assert ctx.cache["images.attacker_encoder"].notes["images"] == len(synthetic)  # fitted on synthetic only
