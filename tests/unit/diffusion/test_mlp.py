"""MLPDenoiser: shapes and Opacus compatibility."""

from __future__ import annotations

import pytest
import torch
from opacus.validators import ModuleValidator
from torch import nn

from synthdata.diffusion.denoisers import MLPDenoiser
from synthdata.diffusion.denoisers.mlp import timestep_embedding


def test_shapes_for_rows_and_grouped_rows() -> None:
    model = MLPDenoiser(data_dim=5, hidden=32, depth=2, time_dim=16)
    x = torch.randn(7, 5)
    assert model(x, torch.randint(0, 1000, (7,))).shape == (7, 5)
    grouped = torch.randn(4, 3, 5)
    assert model(grouped, torch.randint(0, 1000, (4, 3))).shape == (4, 3, 5)
    assert model(torch.zeros(0, 3, 5), torch.zeros(0, 3, dtype=torch.long)).shape == (0, 3, 5)


def test_rows_are_processed_independently() -> None:
    """No statistic is shared across rows (what per-record DP clipping relies on)."""
    torch.manual_seed(0)
    model = MLPDenoiser(data_dim=4, hidden=16, depth=2, time_dim=8)
    x, t = torch.randn(6, 4), torch.randint(0, 100, (6,))
    together = model(x, t)
    alone = torch.cat([model(x[i : i + 1], t[i : i + 1]) for i in range(6)])
    assert torch.allclose(together, alone, atol=1e-6)
    assert torch.allclose(model(x.view(2, 3, 4), t.view(2, 3)).view(6, 4), together, atol=1e-6)


def test_opacus_validator_finds_no_errors_and_only_linear_layers_have_parameters() -> None:
    model = MLPDenoiser(data_dim=5, hidden=32, depth=3, time_dim=16)
    assert ModuleValidator.validate(model, strict=True) == []
    assert list(model.buffers()) == []
    for module in model.modules():
        if any(True for _ in module.parameters(recurse=False)):
            assert type(module) is nn.Linear


def test_timestep_embedding() -> None:
    emb = timestep_embedding(torch.tensor([[0, 10], [999, 5]]), dim=8)
    assert emb.shape == (2, 2, 8)
    assert torch.allclose(emb[0, 0], torch.tensor([1.0] * 4 + [0.0] * 4))
    assert not torch.allclose(emb[0, 1], emb[1, 1])


def test_rejects_bad_configuration_and_inputs() -> None:
    with pytest.raises(ValueError):
        MLPDenoiser(data_dim=3, time_dim=7)
    with pytest.raises(ValueError):
        MLPDenoiser(data_dim=0)
    model = MLPDenoiser(data_dim=3, hidden=8, depth=1, time_dim=4)
    with pytest.raises(ValueError):
        model(torch.zeros(2, 4), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError):
        model(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))


def test_a_shared_sampling_timestep_is_embedded_once_with_the_same_output() -> None:
    torch.manual_seed(0)
    model = MLPDenoiser(data_dim=5, hidden=32, depth=2, time_dim=16).eval()
    x, t = torch.randn(64, 5), torch.full((64,), 417)
    rows_seen = []
    model.time_mlp.register_forward_hook(lambda module, inputs, output: rows_seen.append(inputs[0].shape[0]))
    with torch.no_grad():
        shared = model(x, t)
        mixed = model(x, torch.arange(64))  # different timesteps: one evaluation per row
    with torch.enable_grad():
        per_row = model(x, t)  # with gradients every row keeps its own activations
    assert rows_seen == [1, 64, 64]
    assert torch.allclose(shared, per_row.detach(), atol=1e-6)
    assert not torch.allclose(shared, mixed)
