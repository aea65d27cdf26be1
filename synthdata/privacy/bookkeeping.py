"""Book-keeping clipping: Opacus' ghost clipping in one backward pass, for models made of ``nn.Linear`` only.

Opacus' ghost clipping (``grad_sample_mode="ghost"``) runs two backward passes: the first computes each
unit's gradient norm from the layer inputs ``a`` and output gradients ``g`` without materialising per-unit
gradients, the second back-propagates ``sum_i c_i loss_i`` (``c_i = min(1, C / norm_i)``) to get the clipped
sum.  For a linear layer the second pass is not needed: the clipped sum of its weight gradients is
``sum_i c_i sum_t g_it a_it^T``, one matrix product over the ``a`` and ``g`` the first pass already saw
(Bu et al. 2023, "Differentially private optimization on large model at small cost", book-keeping).  This
module keeps ``a`` and ``g`` as the first pass's ghost-norm hook sees them and writes that clipped sum into
each parameter's ``.grad``, where the second pass would have left it; Opacus' DP optimizer then accumulates,
adds the noise once per step and divides as it always does.

The first pass needs each layer's output gradient ``g``, not its weight gradient: every layer input that
needs no gradient (the data, the time embedding) is made a leaf that does, and the pass back-propagates to
those leaves only (``backward(inputs=...)``), so autograd skips the weight gradients this module then
recomputes clipped.  A DP step of the table MLP on 1,024 demo-slice units (one thread, machine shared with
a peer benchmark) took 0.38-0.40 s against 0.43-0.44 s when the pass computed them too.

Privacy: the clipping is Opacus' own (its norms, its coefficients ``get_clipping_coef``); only how the
clipped sum is computed changes.  ``tests/unit/privacy/test_training.py`` runs its clipping, empty-batch and
passes tests on this mode too: the gradient equals ``sum_i min(1, C / |g_i|) g_i`` computed unit by unit with
autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from opacus.grad_sample.linear import compute_linear_norm_sample
from torch import nn

_STASH = "_synthdata_bookkeeping"
_LEAVES = "_synthdata_bookkeeping_leaves"


def applies_to(model: nn.Module) -> bool:
    """Whether every layer holding trainable parameters of its own is ``nn.Linear`` (and there is one)."""
    owners = [m for m in model.modules() if any(p.requires_grad for p in m.parameters(recurse=False))]
    return bool(owners) and all(type(m) is nn.Linear for m in owners)


def enable(dp_model: nn.Module) -> None:
    """Make the ghost-clipping module ``dp_model`` keep each linear layer's ``(a, g)`` beside its norms."""
    def norms_and_stash(layer: nn.Linear, activations: list[torch.Tensor], backprops: torch.Tensor):
        if hasattr(layer, _STASH):  # a layer applied twice would lose a use from its clipped sum: refuse
            raise RuntimeError(f"bookkeeping clipping: {layer} ran twice in one forward pass")
        setattr(layer, _STASH, (activations[0].to(backprops.dtype), backprops))
        return compute_linear_norm_sample(layer, activations, backprops)

    def input_as_leaf(layer: nn.Linear, inputs: tuple[torch.Tensor, ...]):
        """A layer input that needs no gradient (the data, a time embedding) becomes a leaf that does, kept on
        ``dp_model``: the backward pass then runs to these leaves only, through every layer's output."""
        if not (layer.training and torch.is_grad_enabled()) or inputs[0].requires_grad:
            return None
        leaf = inputs[0].detach().requires_grad_()
        getattr(dp_model, _LEAVES).append(leaf)
        return (leaf, *inputs[1:])

    dp_model.NORM_SAMPLERS = {**type(dp_model).NORM_SAMPLERS, nn.Linear: norms_and_stash}
    setattr(dp_model, _LEAVES, [])
    for layer in dp_model.modules():
        if type(layer) is nn.Linear:  # kept with Opacus' own hooks: its ``_close`` removes them all
            dp_model.autograd_grad_sample_hooks.append(layer.register_forward_pre_hook(input_as_leaf))


def backward(loss, *, dp_model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """``loss.backward()`` for Opacus' ghost-clipping loss in one pass: per-unit norms and coefficients as Opacus
    computes them, the first pass's (unclipped) gradients cleared by the DP optimizer as Opacus' two-pass
    backward clears them, then each linear layer's clipped gradient sum from its kept ``(a, g)``."""
    reduced = loss.loss_per_sample.mean() if loss.loss_reduction == "mean" else loss.loss_per_sample.sum()
    leaves = getattr(dp_model, _LEAVES)
    setattr(dp_model, _LEAVES, [])
    reduced.backward(inputs=leaves or None)  # gradients of every layer's output, no weight gradient (computed below)
    optimizer.zero_grad()
    coefficients = dp_model.get_clipping_coef()
    for layer in _linear_layers(dp_model):
        activations, backprops = getattr(layer, _STASH)
        delattr(layer, _STASH)
        scaled = backprops * coefficients.view(-1, *([1] * (backprops.dim() - 1))).to(backprops.dtype)
        scaled = scaled.reshape(-1, scaled.shape[-1])  # (units x rows, out): a unit's rows share its coefficient
        if layer.weight.requires_grad:
            layer.weight.grad = scaled.T @ activations.reshape(-1, activations.shape[-1])
        if layer.bias is not None and layer.bias.requires_grad:
            layer.bias.grad = scaled.sum(dim=0)


class OnePassCriterion:
    """Opacus' ghost-clipping criterion whose losses back-propagate in one pass (``backward`` above)."""

    def __init__(self, criterion: Callable, *, dp_model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        enable(dp_model)
        self.criterion, self.dp_model, self.optimizer = criterion, dp_model, optimizer

    def __call__(self, prediction: torch.Tensor, target: torch.Tensor) -> _OnePassLoss:
        return _OnePassLoss(self.criterion(prediction, target), dp_model=self.dp_model, optimizer=self.optimizer)


class _OnePassLoss:
    """A ghost-clipping loss (Opacus' ``DPTensorFastGradientClipping``) with the one-pass ``backward``."""

    def __init__(self, loss, *, dp_model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        self.loss, self.dp_model, self.optimizer = loss, dp_model, optimizer

    def backward(self) -> None:
        backward(self.loss, dp_model=self.dp_model, optimizer=self.optimizer)

    def detach(self) -> torch.Tensor:
        return self.loss.detach()


def _linear_layers(dp_model: nn.Module) -> Iterator[nn.Linear]:
    for module in dp_model.modules():
        if type(module) is nn.Linear and hasattr(module, _STASH):
            yield module
