"""Image features for the fidelity audits, from an encoder fitted inside the audit: nothing is downloaded.

Fréchet distance, KID and precision/recall/density/coverage compare images in a feature space.  The usual
choice, an ImageNet Inception network, needs downloaded weights (this machine has no network at run time)
and describes photographs, not ultrasound or X-ray.  Instead a small :class:`~evaluation.images.network.ConvNet`
(``EMBED_DIM`` features) is fitted on the REAL TRAINING images of the run (at most ``settings.max_rows``),
once per audit run, as an autoencoder: reconstruct each image from its features through a small decoder
(mean squared error).  When the training images carry at least two classes, a linear class head on the
features is trained jointly (cross-entropy added to the reconstruction error), so the features also separate
what the classes differ in.  Why not a denoising objective: it teaches the features to ignore additive noise,
and a generator whose images are too noisy is one of the failures these audits must see.

``audit_encoder(context)`` fits the encoder (it depends on the training images and the public seed only, not
on the synthetic data) and ``audit_embeddings(context)`` embeds the three sides (each subsampled to at most
``settings.max_rows`` images with the public audit seed), each feature standardised by its mean and sd over
the training images (so that kernels and k-NN balls weigh the features alike); both are kept in
``context.cache`` so that all fidelity audits share one fitted encoder.

Caveat for readers of the figures: the encoder has seen the training images, not the holdout or the synthetic
ones, so the fidelity audits compare synthetic with HOLDOUT embeddings, and their real-vs-real yardstick
(training vs holdout) carries whatever the encoder overfitted.  Measured on the test populations (400
training, 200 holdout images): a set's Fréchet distance to the holdout was 1.17 with an encoder fitted on
that set and 1.18 with one fitted on another set, while four independent real sets ranged 0.73..1.18, so
the overfitting is small against plain sampling variation; read the yardstick as "about this much".

``attacker_encoder(context)`` fits the same recipe on the SYNTHETIC images instead, for the membership attack
in feature space (``evaluation.attack.membership_features``): an encoder fitted on the members could separate
them from unseen images by how well it learned them, with no help from the synthetic data.  An attacker
holding the released data can fit exactly this encoder.

Privacy caveat: the encoders are fitted on private (or, for the attacker, synthetic) images outside the DP
guarantee; they are never saved, released or logged.  Embeddings stay in memory; only aggregates of them
are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from evaluation.base import Audit, AuditContext
from evaluation.images.network import ConvNet, Decoder, apply, as_input, seeded, train
from synthdata.views.images import ImageAuditSet

EMBED_DIM = 64
MIN_IMAGES = 20
ENCODER_KEY = "images.encoder"
CACHE_KEY = "images.embeddings"
ATTACKER_KEY = "images.attacker_encoder"


@dataclass(frozen=True)
class Encoder:
    """A fitted feature network (kept in memory only) and how it was fitted."""

    net: ConvNet
    notes: dict[str, Any]

    def embed(self, images: ImageAuditSet) -> np.ndarray:
        """``(n, EMBED_DIM)`` float64 features of the images."""
        return apply(self.net, as_input(images.pixels))


def label_codes(labels: np.ndarray | None) -> tuple[np.ndarray | None, list[str]]:
    """Integer class codes of ``labels`` (sorted class names) or (None, []) without labels."""
    if labels is None:
        return None, []
    classes = sorted({str(v) for v in labels})
    index = {c: i for i, c in enumerate(classes)}
    return np.array([index[str(v)] for v in labels], dtype=np.int64), classes


def fit_encoder(*, images: ImageAuditSet, seed: int, rng: np.random.Generator) -> Encoder:
    """Fit the autoencoder (with a class head when there are two or more classes) on ``images``."""
    x = as_input(images.pixels)
    codes, classes = label_codes(images.labels)
    supervised = codes is not None and len(classes) >= 2
    y = torch.from_numpy(codes) if supervised else None
    with seeded(seed):
        net = ConvNet(channels=x.shape[1], width=EMBED_DIM)
        decoder = Decoder(channels=x.shape[1], size=tuple(x.shape[-2:]), width=EMBED_DIM)
        head = nn.Linear(EMBED_DIM, len(classes)) if supervised else None

        def loss(batch: torch.Tensor, index: np.ndarray) -> torch.Tensor:
            z = net(batch)
            value = F.mse_loss(decoder(z), batch)
            if head is not None:
                value = value + F.cross_entropy(head(z), y[torch.from_numpy(index)])
            return value

        parameters = [*net.parameters(), *decoder.parameters(), *(head.parameters() if head is not None else ())]
        fitted = train(parameters=parameters, loss=loss, x=x, rng=rng)
    objective = "reconstruction" + (f" + {len(classes)}-class cross-entropy" if supervised else "")
    return Encoder(net=net, notes={"objective": objective, "images": len(x), "features": EMBED_DIM,
                                   "input_size": list(x.shape[-2:]), **fitted})


@dataclass(frozen=True)
class Embeddings:
    """Encoder features of each side's subsample, and the encoder's notes."""

    train: np.ndarray
    holdout: np.ndarray
    synthetic: np.ndarray
    notes: dict[str, Any] = field(default_factory=dict)


def sample_rows(features: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` rows of ``features`` drawn without replacement, in their original order."""
    return features[np.sort(rng.choice(len(features), n, replace=False))]


def audit_encoder(context: AuditContext) -> Encoder:
    """The encoder fitted on (at most ``settings.max_rows``) real training images, once per context (cached).
    It depends on the training images and the public seed only, never on the synthetic data it judges."""
    if ENCODER_KEY not in context.cache:
        train = context.train.subsample(context.settings.max_rows, context.rng("images.encoder.train"))
        context.cache[ENCODER_KEY] = fit_encoder(images=train, seed=context.settings.seed,
                                                 rng=context.rng("images.encoder.fit"))
    return context.cache[ENCODER_KEY]


def audit_embeddings(context: AuditContext) -> Embeddings:
    """Features of every side from ``audit_encoder`` (each side subsampled to ``settings.max_rows``, the
    training side as the encoder saw it), standardised on the training features; once per context (cached)."""
    if CACHE_KEY not in context.cache:
        encoder = audit_encoder(context)
        rng = context.rng("images.embeddings")
        sides = {"train": context.train.subsample(context.settings.max_rows, context.rng("images.encoder.train")),
                 **{name: getattr(context, name).subsample(context.settings.max_rows, rng)
                    for name in ("holdout", "synthetic")}}
        features = {name: encoder.embed(side) for name, side in sides.items()}
        centre, scale = features["train"].mean(axis=0), features["train"].std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        context.cache[CACHE_KEY] = Embeddings(**{name: (f - centre) / scale for name, f in features.items()},
                                              notes={"fitted_on": "real training images",
                                                     "standardised_by": "training images' feature mean and sd",
                                                     **encoder.notes})
    return context.cache[CACHE_KEY]


def attacker_encoder(context: AuditContext) -> Encoder:
    """The same recipe fitted on the synthetic images only (the attacker's encoder), once per context."""
    if ATTACKER_KEY not in context.cache:
        rng = context.rng("images.attacker_encoder")
        synthetic = context.synthetic.subsample(context.settings.max_rows, rng)
        context.cache[ATTACKER_KEY] = fit_encoder(images=synthetic, seed=context.settings.seed, rng=rng)
    return context.cache[ATTACKER_KEY]


class FeatureAudit(Audit):
    """Base of the image fidelity audits in encoder features: images only, informative by default, at least
    ``MIN_IMAGES`` images on every side."""

    default_threshold = None
    views = (ImageAuditSet,)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and min(len(context.train), len(context.holdout),
                                                   len(context.synthetic)) >= MIN_IMAGES
