"""The image family of the utility audit: a small CNN trained on one arm's images, scored on the holdout.

``fit_predict_cnn`` has the signature of the table families in ``evaluation.features`` (``utility.tstr`` calls
every family alike): it trains a :class:`~evaluation.images.network.ConvNet` with a linear class head on
``x_train`` (images ``(n, C, H, W)`` in [-1, 1]) for ``EPOCHS`` epochs with class-balanced cross-entropy (each
class weighted by the inverse of its share of the arm's training images, so that a skewed set such as
BreastMNIST, 73% one class, does not teach "always the majority") and returns class probabilities of
``x_test``.  The table-only arguments ``native`` and ``categorical`` are ignored.

Privacy caveat: the network is fitted on private (TRTR) or synthetic (TSTR) images outside the DP guarantee
and discarded after predicting; only scores are reported.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evaluation.images.network import ConvNet, apply, as_input, seeded, train

EPOCHS = 15


def fit_predict_cnn(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, *, n_classes: int, seed: int,
    native: np.ndarray | None = None, categorical: np.ndarray | None = None,
) -> np.ndarray:
    """CNN class probabilities ``(n_test, n_classes)``; a single-class training set predicts that class."""
    present = np.unique(y_train)
    proba = np.zeros((len(x_test), n_classes))
    if present.size < 2:
        proba[:, present] = 1.0
        return proba
    x = as_input(x_train)
    y = torch.from_numpy(np.asarray(y_train, dtype=np.int64))
    counts = np.bincount(y_train, minlength=n_classes).astype(np.float64)
    weights = torch.tensor(np.where(counts > 0, len(y_train) / (present.size * np.maximum(counts, 1)), 0.0),
                           dtype=torch.float32)
    with seeded(seed):
        model = nn.Sequential(ConvNet(channels=x.shape[1]), nn.SiLU(), nn.Linear(64, n_classes))

        def loss(batch: torch.Tensor, index: np.ndarray) -> torch.Tensor:
            return F.cross_entropy(model(batch), y[torch.from_numpy(index)], weight=weights)

        train(parameters=list(model.parameters()), loss=loss, x=x, rng=np.random.default_rng(seed), epochs=EPOCHS)
    logits = apply(model, as_input(x_test))
    logits -= logits.max(axis=1, keepdims=True)
    return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
