"""A 1-D U-Net denoiser for multichannel signal windows (ECG leads, EEG channels), DP-SGD compatible.

The network is a 1-D U-Net: residual blocks of group normalisation, SiLU and convolutions along time, a
timestep embedding added in every block, strided-convolution downsampling, nearest-neighbour upsampling
and skip connections.  Two choices make it exact under per-unit DP clipping:

* **The privacy unit stays the batch dimension.** The trainer hands the network ``(B, S, d)``: B privacy
  units, each with S rows (a subject's windows times the augmentation draws, each row at its own
  timestep).  Opacus computes per-sample gradients over a layer's first dimension, so a layer that saw
  ``(B*S, C, L)`` would clip per *row*, not per unit.  The convolutions are therefore ``nn.Conv2d`` with
  ``(1, k)`` kernels over ``(B, C, S, L)``: a 1-D convolution along time applied to each row
  independently, with B as the batch.
* **Normalisation has no parameters and no shared statistics.** Each row (one window at one noise level)
  is normalised on its own (``F.group_norm`` over its channel groups and time); a learned GroupNorm over
  ``(C, S, L)`` would mix a unit's rows, which sit at different noise levels.  The scale a learned norm
  would add is absorbed by the next convolution.  There is no BatchNorm and no buffer, so nothing is
  shared between the units of a batch (``opacus.validators.ModuleValidator`` finds nothing to fix).

Only the Linear layers (timestep embedding) get Opacus ghost norms; the convolutions fall back to
per-sample gradients, whose memory grows with batch x rows x channels x length
(``evaluation/benchmarks/signal.py`` measures it).

Shape contract (shared with the MLP, so the trainer and samplers need no change): ``forward(x, t)`` takes
``x`` of shape ``(n, d)`` or ``(B, S, d)`` with ``d = channels * length`` (a window flattened
channel-major) and ``t`` of shape ``x.shape[:-1]``; it returns the shape of ``x``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from synthdata.diffusion.denoisers.mlp import timestep_embedding


def _groups(channels: int) -> int:
    for groups in (8, 4, 2):
        if channels % groups == 0:
            return groups
    return 1


def _conv(channels_in: int, channels_out: int, *, kernel: int = 3, stride: int = 1) -> nn.Conv2d:
    """A 1-D convolution along time, applied to every row of every unit: Conv2d with a (1, k) kernel."""
    return nn.Conv2d(channels_in, channels_out, kernel_size=(1, kernel), stride=(1, stride), padding=(0, kernel // 2))


def _row_norm(h: Tensor) -> Tensor:
    """Group normalisation of each row on its own: ``h`` is (B, C, S, L); statistics over (C/g, L)."""
    b, c, s, length = h.shape
    rows = h.permute(0, 2, 1, 3).reshape(b * s, c, length)
    rows = F.group_norm(rows, _groups(c))
    return rows.reshape(b, s, c, length).permute(0, 2, 1, 3)


class _ResBlock(nn.Module):
    """norm -> SiLU -> conv, plus the timestep embedding, then norm -> SiLU -> conv, with a skip."""

    def __init__(self, channels_in: int, channels_out: int, time_dim: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels_in, channels_out)
        self.time = nn.Linear(time_dim, channels_out)
        self.conv2 = _conv(channels_out, channels_out)
        self.act1, self.act2 = nn.SiLU(), nn.SiLU()
        self.skip = _conv(channels_in, channels_out, kernel=1) if channels_in != channels_out else None

    def forward(self, h: Tensor, temb: Tensor) -> Tensor:
        # temb: (B, S, time_dim) -> (B, C_out, S, 1)
        out = self.conv1(self.act1(_row_norm(h))) + self.time(temb).permute(0, 2, 1).unsqueeze(-1)
        out = self.conv2(self.act2(_row_norm(out)))
        return out + (self.skip(h) if self.skip is not None else h)


class UNet1DDenoiser(nn.Module):
    """Predicts x0 (or the noise) of ``(channels, length)`` windows from their noised versions and timesteps.

    Args:
        channels: input channels (leads or EEG channels, plus any label channels).
        length: samples per window; padded internally to a multiple of ``2 ** (len(multipliers) - 1)``.
        base: channels of the first level; level ``i`` has ``base * multipliers[i]``.
        multipliers: one entry per resolution level (each level after the first halves the length).
        time_dim: size of the sinusoidal timestep embedding.
    """

    def __init__(self, *, channels: int, length: int, base: int = 32, multipliers: tuple[int, ...] = (1, 2, 2),
                 time_dim: int = 64) -> None:
        super().__init__()
        if channels < 1 or length < 2 or base < 4 or not multipliers:
            raise ValueError(f"bad U-Net size: channels {channels}, length {length}, base {base}, {multipliers}")
        if time_dim < 2 or time_dim % 2:
            raise ValueError(f"time_dim must be an even number >= 2, got {time_dim}")
        self.channels, self.length, self.time_dim = channels, length, time_dim
        self.factor = 2 ** (len(multipliers) - 1)
        widths = [base * m for m in multipliers]
        temb = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, temb), nn.SiLU(), nn.Linear(temb, temb))
        self.input = _conv(channels, widths[0])
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        previous = widths[0]
        for i, width in enumerate(widths):
            self.down_blocks.append(_ResBlock(previous, width, temb))
            previous = width
            if i < len(widths) - 1:
                self.downsamples.append(_conv(width, width, stride=2))
        self.middle = _ResBlock(previous, previous, temb)
        self.up_convs = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up_convs.append(_conv(previous, width))
            self.up_blocks.append(_ResBlock(2 * width, width, temb))
            previous = width
        self.out_act = nn.SiLU()
        self.output = _conv(previous, channels)

    @property
    def data_dim(self) -> int:
        return self.channels * self.length

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if x.shape[-1] != self.data_dim:
            raise ValueError(f"x has {x.shape[-1]} features, the denoiser expects {self.channels} x {self.length}")
        if tuple(t.shape) != tuple(x.shape[:-1]):
            raise ValueError(f"t has shape {tuple(t.shape)}, expected {tuple(x.shape[:-1])}")
        if x.dim() not in (2, 3):
            raise ValueError(f"x must be (n, d) or (units, rows, d), got {x.dim()}-D")
        flat = x.dim() == 2
        if flat:
            x, t = x.unsqueeze(1), t.unsqueeze(1)
        b, s, _ = x.shape
        h = x.reshape(b, s, self.channels, self.length).permute(0, 2, 1, 3)  # (B, C, S, L)
        pad = (-self.length) % self.factor
        if pad:
            h = F.pad(h, (0, pad))
        temb = self.time_mlp(timestep_embedding(t, dim=self.time_dim))  # (B, S, temb)
        h = self.input(h)
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, temb)
            if i < len(self.downsamples):
                skips.append(h)
                h = self.downsamples[i](h)
        h = self.middle(h, temb)
        for conv, block in zip(self.up_convs, self.up_blocks):
            skip = skips.pop()
            h = conv(F.interpolate(h, size=skip.shape[-2:], mode="nearest"))
            h = block(torch.cat([h, skip], dim=1), temb)
        h = self.output(self.out_act(_row_norm(h)))[..., : self.length]  # (B, C, S, L)
        out = h.permute(0, 2, 1, 3).reshape(b, s, self.data_dim)
        return out.squeeze(1) if flat else out
