"""DenoisingLoss: the per-record loss that Opacus clips."""

from __future__ import annotations

import pytest
import torch

from synthdata.diffusion.process import DenoisingLoss, pack_target


def _example() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    prediction = torch.randn(3, 4, 2, generator=generator)
    noise = torch.randn(3, 4, 2, generator=generator)
    weight = torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]])
    return prediction, noise, weight


def test_equals_hand_computation() -> None:
    prediction, noise, weight = _example()
    loss = DenoisingLoss(reduction="none")(prediction, pack_target(noise=noise, weight=weight))
    expected = []
    for b in range(3):
        rows = [((prediction[b, l] - noise[b, l]) ** 2).mean() for l in range(4) if weight[b, l] > 0]
        expected.append(sum(rows) / len(rows))
    assert torch.allclose(loss, torch.stack(expected))


def test_padding_rows_do_not_change_the_loss() -> None:
    prediction, noise, weight = _example()
    criterion = DenoisingLoss(reduction="none")
    base = criterion(prediction, pack_target(noise=noise, weight=weight))
    garbage = torch.full_like(prediction, 123.0)
    padded_pred = torch.where(weight.unsqueeze(-1) > 0, prediction, garbage)
    padded_noise = torch.where(weight.unsqueeze(-1) > 0, noise, -garbage)
    assert torch.allclose(criterion(padded_pred, pack_target(noise=padded_noise, weight=weight)), base)
    # Appending extra all-padding rows changes nothing either.
    more_pred = torch.cat([prediction, torch.randn(3, 5, 2)], dim=1)
    more_noise = torch.cat([noise, torch.randn(3, 5, 2)], dim=1)
    more_weight = torch.cat([weight, torch.zeros(3, 5)], dim=1)
    assert torch.allclose(criterion(more_pred, pack_target(noise=more_noise, weight=more_weight)), base)


def test_repeated_rows_average_like_one_copy() -> None:
    """Augmentation multiplicity: the same draw repeated K times gives the same per-record loss."""
    prediction, noise, weight = _example()
    criterion = DenoisingLoss(reduction="none")
    base = criterion(prediction, pack_target(noise=noise, weight=weight))
    target = pack_target(noise=noise.repeat(1, 3, 1), weight=weight.repeat(1, 3))
    repeated = criterion(prediction.repeat(1, 3, 1), target)
    assert torch.allclose(repeated, base)


def test_reductions_and_shapes() -> None:
    prediction, noise, weight = _example()
    target = pack_target(noise=noise, weight=weight)
    assert target.shape == (3, 4, 3)
    per_record = DenoisingLoss(reduction="none")(prediction, target)
    assert per_record.shape == (3,)
    assert DenoisingLoss()(prediction, target).shape == ()
    assert DenoisingLoss().reduction == "mean"
    assert torch.allclose(DenoisingLoss()(prediction, target), per_record.mean())
    assert torch.allclose(DenoisingLoss(reduction="sum")(prediction, target), per_record.sum())


def test_all_padding_record_and_empty_batch_are_finite() -> None:
    criterion = DenoisingLoss(reduction="none")
    loss = criterion(torch.ones(1, 2, 3), pack_target(noise=torch.zeros(1, 2, 3), weight=torch.zeros(1, 2)))
    assert loss.tolist() == [0.0]
    empty = criterion(torch.zeros(0, 2, 3), pack_target(noise=torch.zeros(0, 2, 3), weight=torch.zeros(0, 2)))
    assert empty.shape == (0,)


def test_rejects_mismatched_target_and_bad_reduction() -> None:
    with pytest.raises(ValueError):
        DenoisingLoss()(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4))
    with pytest.raises(ValueError):
        DenoisingLoss(reduction="median")
    with pytest.raises(ValueError):
        pack_target(noise=torch.zeros(2, 3, 4), weight=torch.zeros(2, 4))
