"""The image audit view and the pixel-space similarity: shift-tolerant RMS distance, SSIM as scikit-image."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from audit_images import context, noisy_copies, population, shifted

from evaluation.images.similarity import ImageSpace, aligned_ssim, ssim
from synthdata.views.images import ImageAuditSet
from evaluation.memorization.space import SPACES, distance_space

TRAIN = population(200, seed=1)


def test_audit_set_checks_shapes_and_subsamples_in_order() -> None:
    with pytest.raises(ValueError, match="channels"):
        ImageAuditSet(pixels=np.zeros((3, 2, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="labels"):
        ImageAuditSet(pixels=np.zeros((3, 1, 8, 8), dtype=np.float32), labels=np.array(["a"]))
    part = TRAIN.subsample(50, np.random.default_rng(0))
    assert len(part) == 50 and part.pixels.shape == (50, 1, 28, 28) and len(part.labels) == 50
    index = [int(np.flatnonzero((TRAIN.pixels == image).all(axis=(1, 2, 3)))[0]) for image in part.pixels]
    assert index == sorted(index)  # drawn without replacement, original order kept
    assert TRAIN.subsample(500, np.random.default_rng(0)) is TRAIN


def test_distance_is_rms_pixel_difference_tolerating_one_pixel_shifts() -> None:
    space = ImageSpace()
    assert ImageAuditSet in SPACES  # images are searched in this space, whichever modality made them
    reference = space.encode(TRAIN)
    copies = shifted(TRAIN.take(np.arange(20)))
    distances, indices = space.neighbours(space.encode(copies), reference, k=2)
    assert np.array_equal(indices[:, 0], np.arange(20)) and np.all(distances[:, 0] == 0.0)  # exact 0: float64 refit
    assert np.all(distances[:, 1] > 0.1)
    noisy = space.neighbours(space.encode(noisy_copies(TRAIN, sd=0.05)), reference)[0][:, 0]
    assert noisy == pytest.approx(np.full(len(TRAIN), 0.05), abs=0.005)  # RMS difference = the noise's sd
    fresh = space.neighbours(space.encode(population(100, seed=2)), reference)[0][:, 0]
    assert np.median(fresh) > 0.12
    moved_far = space.neighbours(space.encode(shifted(TRAIN.take(np.arange(20)), pixels=3)), reference)[0][:, 0]
    assert np.median(moved_far) > 0.1  # three pixels is beyond the shift tolerance


def test_neighbours_match_a_brute_force_search() -> None:
    space = distance_space(context(train=TRAIN, holdout=TRAIN, synthetic=TRAIN, max_rows=10), sides=[])
    assert isinstance(space, ImageSpace)
    rng = np.random.default_rng(3)
    query, reference = (rng.uniform(-1, 1, size=(n, 1, 10, 12)).astype(np.float32) for n in (7, 30))
    distances, indices = space.neighbours(query, reference, k=3)
    brute = np.full((7, 30), np.inf)
    crop = reference[:, :, 1:-1, 1:-1].reshape(30, -1).astype(np.float64)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            moved = query[:, :, 1 + dy:9 + dy, 1 + dx:11 + dx].reshape(7, 1, -1).astype(np.float64)
            brute = np.minimum(brute, np.sqrt(((moved - crop) ** 2).mean(axis=-1)))
    assert np.allclose(distances, np.sort(brute, axis=1)[:, :3], atol=1e-9)
    assert np.array_equal(indices, np.argsort(brute, axis=1)[:, :3])


def test_ssim_equals_scikit_image_with_the_wang_settings() -> None:
    # Reference values from skimage.metrics.structural_similarity 0.26 (gaussian_weights=True, sigma=1.5,
    # use_sample_covariance=False, data_range=2; channel_axis=0 for the two-channel pair).
    y, x = np.mgrid[0:20, 0:24] / 10.0
    a = np.stack([np.sin(3 * x + y), np.cos(2 * y) * 0.5])[None]
    b = np.stack([np.sin(3 * x + y + 0.4), np.cos(2 * y) * 0.3 + 0.2 * np.sin(5 * x)])[None]
    assert ssim(a, b)[0] == pytest.approx(0.3801875372428297, abs=1e-12)
    assert ssim(a[:, :1], b[:, :1])[0] == pytest.approx(0.4369857625859608, abs=1e-12)
    assert ssim(a, a)[0] == pytest.approx(1.0)


def test_aligned_ssim_sees_through_a_one_pixel_shift() -> None:
    images = TRAIN.take(np.arange(10))
    moved = shifted(images).pixels
    assert np.all(ssim(moved, images.pixels) < 0.8)
    assert np.allclose(aligned_ssim(moved, images.pixels), 1.0)
    unrelated = aligned_ssim(population(10, seed=5).pixels, images.pixels)
    assert np.all(unrelated < 0.8)


def test_search_leaves_torch_thread_setting_alone() -> None:
    before = torch.get_num_threads()
    ImageSpace().neighbours(TRAIN.pixels[:5], TRAIN.pixels, k=1)
    assert torch.get_num_threads() == before
