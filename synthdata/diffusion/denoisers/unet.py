"""A U-Net denoiser for signal windows (1-D: ECG leads, EEG channels) and images (2-D), DP-SGD compatible.

One network for both: residual blocks of group normalisation, SiLU and convolutions over the window's time
axis or the image's two axes, a timestep embedding (plus an optional class embedding) added in every block,
strided-convolution downsampling, nearest-neighbour upsampling and skip connections.  Two choices make it
exact under per-unit DP clipping:

* **The privacy unit stays the batch dimension.** The trainer hands the network ``(B, S, d)``: B privacy
  units, each with S rows (a subject's windows or images times the augmentation draws, each row at its
  own timestep).  Opacus computes per-sample gradients over a layer's first dimension, so a layer that
  saw ``(B*S, C, ...)`` would clip per *row*, not per unit.  Every layer therefore takes
  ``(B, S, C, *spatial)``; the convolutions (:class:`~synthdata.diffusion.denoisers.row_conv.RowConv`)
  convolve each row on its own and come with a grad sampler that sums a unit's rows into one gradient.
* **Normalisation has no parameters and no shared statistics.** Each row (one window or image at one noise
  level) is normalised on its own (``F.group_norm`` over its channel groups and positions); a learned
  GroupNorm over ``(C, S, ...)`` would mix a unit's rows, which sit at different noise levels.  The scale a
  learned norm would add is absorbed by the next convolution.  There is no BatchNorm and no buffer, so
  nothing is shared between the units of a batch (``opacus.validators.ModuleValidator`` finds nothing to
  fix).

Position: convolutions are translation-equivariant, but a beat window has its R peak at a fixed sample
and a medical image its anatomy at fixed places.  The input layer therefore also sees one coordinate ramp
per spatial axis (``CoordConv``, Liu et al. 2018): public constants, the same for every record.

Opacus' ghost clipping would give only the Linear layers (timestep and class embeddings) ghost norms and
fall back to per-unit gradients for the convolutions while still paying its second backward pass, so the
trainer clips this model with per-unit gradients throughout (``grad_sample_mode_for``: hooks), whose memory
grows with batch x channels^2 x kernel (``evaluation/benchmarks/signal.py`` and ``image.py`` measure it).

Shape contract (shared with the MLP, so the trainer and samplers need no change): ``forward(x, t)`` takes
``x`` of shape ``(n, d)`` or ``(B, S, d)`` with ``d = channels * prod(shape) + classes``: a window or image
flattened channel-major, then (with ``classes = K > 0``) a K-wide condition, the one-hot class or all zeros
for "no class" (see ``GaussianDiffusion``'s conditioning); ``t`` has shape ``x.shape[:-1]``.  It returns
the prediction for the data part, ``x.shape[:-1] + (channels * prod(shape),)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from synthdata.diffusion.denoisers.mlp import timestep_embedding
from synthdata.diffusion.denoisers.row_conv import RowConv


def _groups(channels: int) -> int:
    for groups in (8, 4, 2):
        if channels % groups == 0:
            return groups
    return 1


def _rows(h: Tensor) -> Tensor:
    """The ``(B*S, C, *spatial)`` view of ``(B, S, C, *spatial)``."""
    return h.reshape(h.shape[0] * h.shape[1], *h.shape[2:])


def _upsample(rows: Tensor, size: tuple[int, ...]) -> Tensor:
    """Nearest-neighbour upsampling of ``(N, C, *spatial)`` to ``size``: each value repeated twice along every
    axis (a strided view, 2-3x faster than ``F.interpolate`` here) when ``size`` doubles every axis, which the
    U-Net's padding makes the rule; ``F.interpolate`` otherwise.  The same values either way."""
    spatial = rows.shape[2:]
    if tuple(size) != tuple(2 * s for s in spatial):
        return F.interpolate(rows, size=size, mode="nearest")
    index = (slice(None), slice(None), *(a for _ in spatial for a in (slice(None), None)))
    return rows[index].expand(*rows.shape[:2], *(n for s in spatial for n in (s, 2))).reshape(*rows.shape[:2], *size)


def patchify(h: Tensor, patch: int) -> Tensor:
    """Space-to-depth of ``(B, S, C, *spatial)``: each ``patch``-wide block (``patch x patch`` in 2-D) of every
    channel becomes ``patch**dims`` channels at one position, ``(B, S, C * patch**dims, *spatial / patch)``
    (``F.pixel_unshuffle``'s channel order in 2-D).  A permutation of the values: :func:`unpatchify` inverts it
    exactly.  Every spatial size must be a multiple of ``patch``."""
    if patch == 1:
        return h
    b, s, c, *spatial = h.shape
    if len(spatial) == 2:
        return F.pixel_unshuffle(h.reshape(b * s, c, *spatial), patch).reshape(b, s, c * patch**2,
                                                                              *(n // patch for n in spatial))
    (length,) = spatial
    return h.reshape(b, s, c, length // patch, patch).transpose(3, 4).reshape(b, s, c * patch, length // patch)


def unpatchify(h: Tensor, patch: int) -> Tensor:
    """Depth-to-space, the inverse of :func:`patchify`: ``(B, S, C * patch**dims, *spatial)`` ->
    ``(B, S, C, *spatial * patch)``."""
    if patch == 1:
        return h
    b, s, c, *spatial = h.shape
    if len(spatial) == 2:
        return F.pixel_shuffle(h.reshape(b * s, c, *spatial), patch).reshape(b, s, c // patch**2,
                                                                            *(n * patch for n in spatial))
    (length,) = spatial
    return h.reshape(b, s, c // patch, patch, length).transpose(3, 4).reshape(b, s, c // patch, length * patch)


def _row_norm(h: Tensor) -> Tensor:
    """Group normalisation of each row on its own: ``h`` is (B, S, C, *spatial); statistics per row."""
    return F.group_norm(_rows(h), _groups(h.shape[2])).reshape(h.shape)


class _ResBlock(nn.Module):
    """norm -> SiLU -> conv, plus the (time, class) embedding, then norm -> SiLU -> conv, with a skip."""

    def __init__(self, dims: int, channels_in: int, channels_out: int, embed_dim: int) -> None:
        super().__init__()
        self.dims = dims
        self.conv1 = RowConv(dims=dims, channels_in=channels_in, channels_out=channels_out)
        self.embed = nn.Linear(embed_dim, channels_out)
        self.conv2 = RowConv(dims=dims, channels_in=channels_out, channels_out=channels_out)
        self.act1, self.act2 = nn.SiLU(), nn.SiLU()
        self.skip = (RowConv(dims=dims, channels_in=channels_in, channels_out=channels_out, kernel=1)
                     if channels_in != channels_out else None)

    def forward(self, h: Tensor, emb: Tensor) -> Tensor:
        # emb: (B, S, embed_dim) -> (B, S, C_out, 1[, 1])
        added = self.embed(emb).reshape(*emb.shape[:2], -1, *(1,) * self.dims)
        out = self.conv1(self.act1(_row_norm(h))) + added
        out = self.conv2(self.act2(_row_norm(out)))
        return out + (self.skip(h) if self.skip is not None else h)


class UNetDenoiser(nn.Module):
    """Predicts x0 (or the noise) of ``(channels, *shape)`` windows or images from noised ones and timesteps.

    Args:
        channels: data channels (ECG leads, EEG channels, image colour channels).
        shape: ``(length,)`` for signal windows or ``(height, width)`` for images; padded internally to a
            multiple of ``2 ** (len(multipliers) - 1)`` along each axis.
        classes: width ``K`` of the class condition at the end of each input row (0: unconditional).  The
            class embedding is a bias-free Linear of the one-hot vector, so the all-zero "no class" input
            adds nothing: the unconditional model of classifier-free guidance.
        base: channels of the first level; level ``i`` has ``base * multipliers[i]``.
        multipliers: one entry per resolution level (each level after the first halves every axis).
        time_dim: size of the sinusoidal timestep embedding.
        coordinates: give the input layer a coordinate ramp in [-1, 1] per spatial axis.
        patch: a space-to-depth stem (``patch`` > 1): the padded input and its coordinate ramps are cut into
            ``patch``-wide blocks (``patch x patch`` in 2-D) that become channels (:func:`patchify`, an exact
            permutation of the values, as a pixel-unshuffle or a ViT patch embedding does), every level runs at
            ``1 / patch`` of the resolution, and the output layer predicts ``patch**dims`` values per position,
            put back in place by :func:`unpatchify`.  Measured on 2 cores at 64 x 64 (``patch=2``): a DP step
            about 5x cheaper, since the full-resolution levels dominated (``docs/benchmarks.md``).  Images pick
            it from their declared size (``synthdata.modalities.image.modality.stem_patch``); signals keep 1.
    """

    #: Records per sampling chunk (twice as many rows with guidance): measured on 2 cores at 28 x 28, 128 rows
    #: per forward pass ran 1.5-2x faster than 512-8,192 (the activations stay in cache).
    sample_batch_size = 64
    #: bfloat16 forward passes when sampling (``synthdata.diffusion.samplers.precision_for``): measured on
    #: BreastMNIST, the same TSTR AUC as float32 (0.779 against 0.778), about twice the images per second.
    low_precision_sampling = True

    def __init__(self, *, channels: int, shape: tuple[int, ...], classes: int = 0, base: int = 32,
                 multipliers: tuple[int, ...] = (1, 2, 2, 2), time_dim: int = 64, coordinates: bool = True,
                 patch: int = 1) -> None:
        super().__init__()
        shape = tuple(int(s) for s in shape)
        if channels < 1 or len(shape) not in (1, 2) or min(shape) < 2 or base < 4 or not multipliers or classes < 0:
            raise ValueError(f"bad U-Net size: channels {channels}, shape {shape}, classes {classes}, base {base}, "
                             f"multipliers {multipliers}")
        if time_dim < 2 or time_dim % 2:
            raise ValueError(f"time_dim must be an even number >= 2, got {time_dim}")
        if patch < 1 or min(shape) < 2 * patch:
            raise ValueError(f"patch must be >= 1 and at most half the smallest side {min(shape)}, got {patch}")
        self.channels, self.shape, self.classes, self.time_dim = channels, shape, classes, time_dim
        self.patch = patch
        self.factor = 2 ** (len(multipliers) - 1) * patch
        dims = len(shape)
        widths = [base * m for m in multipliers]
        embed_dim = 4 * base
        self.time_mlp = nn.Sequential(nn.Linear(time_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.class_embed = nn.Linear(classes, embed_dim, bias=False) if classes else None
        self.coordinates = coordinates
        self.input = RowConv(dims=dims, channels_in=(channels + (dims if coordinates else 0)) * patch**dims,
                             channels_out=widths[0])
        self.down_blocks = nn.ModuleList()
        self.downsamples = nn.ModuleList()
        previous = widths[0]
        for i, width in enumerate(widths):
            self.down_blocks.append(_ResBlock(dims, previous, width, embed_dim))
            previous = width
            if i < len(widths) - 1:
                self.downsamples.append(RowConv(dims=dims, channels_in=width, channels_out=width, stride=2))
        self.middle = _ResBlock(dims, previous, previous, embed_dim)
        self.up_convs = nn.ModuleList()
        self.up_blocks = nn.ModuleList()
        for width in reversed(widths[:-1]):
            self.up_convs.append(RowConv(dims=dims, channels_in=previous, channels_out=width))
            self.up_blocks.append(_ResBlock(dims, 2 * width, width, embed_dim))
            previous = width
        self.out_act = nn.SiLU()
        self.output = RowConv(dims=dims, channels_in=previous, channels_out=channels * patch**dims)

    @property
    def data_dim(self) -> int:
        """Width of the data part of a row (what the network predicts)."""
        return self.channels * math.prod(self.shape)

    def _ramps(self, h: Tensor) -> Tensor:
        """(B, S, len(shape), *padded) coordinate channels: -1 at the first sample of an axis, 1 at the last."""
        b, s = h.shape[:2]
        padded = h.shape[3:]
        ramps = []
        for axis, (size, total) in enumerate(zip(self.shape, padded)):
            line = torch.arange(total, dtype=h.dtype, device=h.device) / max(size - 1, 1) * 2 - 1
            view = [1] * len(padded)
            view[axis] = total
            ramps.append(line.reshape(view).expand(padded))
        return torch.stack(ramps).expand(b, s, len(padded), *padded)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if x.shape[-1] != self.data_dim + self.classes:
            raise ValueError(f"x has {x.shape[-1]} features, the denoiser expects {self.channels} x "
                             f"{' x '.join(map(str, self.shape))} + {self.classes} class inputs")
        if tuple(t.shape) != tuple(x.shape[:-1]):
            raise ValueError(f"t has shape {tuple(t.shape)}, expected {tuple(x.shape[:-1])}")
        if x.dim() not in (2, 3):
            raise ValueError(f"x must be (n, d) or (units, rows, d), got {x.dim()}-D")
        flat = x.dim() == 2
        if flat:
            x, t = x.unsqueeze(1), t.unsqueeze(1)
        b, s, _ = x.shape
        data, condition = x[..., : self.data_dim], x[..., self.data_dim:]
        h = data.reshape(b, s, self.channels, *self.shape)  # (B, S, C, *shape)
        pads = [p for size in reversed(self.shape) for p in (0, (-size) % self.factor)]
        if any(pads):
            h = F.pad(h, pads)
        if self.coordinates:
            h = torch.cat([h, self._ramps(h)], dim=2)
        emb = self.time_mlp(timestep_embedding(t, dim=self.time_dim))  # (B, S, embed_dim)
        if self.class_embed is not None:
            emb = emb + self.class_embed(condition)
        h = self.input(patchify(h, self.patch))
        skips = []
        for i, block in enumerate(self.down_blocks):
            h = block(h, emb)
            if i < len(self.downsamples):
                skips.append(h)
                h = self.downsamples[i](h)
        h = self.middle(h, emb)
        for conv, block in zip(self.up_convs, self.up_blocks):
            skip = skips.pop()
            up = _upsample(_rows(h), tuple(skip.shape[3:]))
            h = conv(up.reshape(b, s, *up.shape[1:]))
            h = block(torch.cat([h, skip], dim=2), emb)
        h = unpatchify(self.output(self.out_act(_row_norm(h))), self.patch)
        h = h[(..., *(slice(0, size) for size in self.shape))]  # drop the padding: (B, S, C, *shape)
        out = h.reshape(b, s, self.data_dim)
        return out.squeeze(1) if flat else out
