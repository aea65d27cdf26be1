"""Membership inference on images in feature space: the shared attack ensemble, on learned features.

``attack.membership_inference`` attacks images in pixel space (shift-tolerant L2, ``evaluation.images.similarity``),
which catches copies and near-copies of training images.  A generator can also leak membership without
reproducing pixels (a training image's content at another contrast or position), which a feature space sees
better.  This audit runs the same ensemble (distance to the closest synthetic image; DOMIAS-style k-NN density
ratio against one half of the holdout; members and non-members equally many; same bootstrap, same gate)
with Euclidean distance between encoder features.

Which encoder.  Not the fidelity audits' encoder: it was fitted on the real training images, i.e. on the
members, so its features of members differ from those of unseen images whatever the generator did (it
reconstructs and classifies them better), and the attack would score that, not the synthetic data.  The
encoder here is the same recipe fitted on the SYNTHETIC images only (``attacker_encoder``): members and
non-members are both unseen by it, and it is what an attacker holding the released data can fit.  When the
generator copied training images, the encoder has seen copies of the members: that is the leak to find.
(On the test populations, whose encoder fits are short, the real-data encoder did not yet score fresh
images visibly higher: AUC 0.50..0.57 against 0.48..0.56 over three draws; the choice is made on principle,
since the encoder's fit grows with the data and the number of steps.)

Measured on the test populations (400 training, 400 holdout images, so 200 members and 200 non-members):
training copies with noise of sd 0.05 score AUC 0.99, copies moved by one pixel 0.70 (the pixel-space
attack: 1.0), fresh images 0.48..0.56 over five draws, whose upper interval ends reach 0.55..0.61: with a
holdout of a few hundred images this gate can block a good generator by chance, as the pixel-space one can.

Gate: the upper end of the 95% interval of the strongest attack's ROC AUC at most 0.6, as the pixel-space
audit (the same rationale: an attacker ranking a training patient above an unseen one 60% of the time).

Privacy caveat: computed from private images outside the DP guarantee; only AUCs, TPRs and ROC curves
(aggregates) are reported.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from evaluation.attack.membership import MembershipInferenceAudit
from evaluation.base import AuditContext
from evaluation.images.encoder import Encoder, attacker_encoder
from synthdata.views.images import ImageAuditSet
from evaluation.memorization.encoding import EncodedRows, nearest_neighbours
from evaluation.memorization.space import DistanceSpace


class FeatureSpace:
    """ImageAuditSets encoded by a fitted encoder; Euclidean distance between the features."""

    def __init__(self, *, encoder: Encoder) -> None:
        self._encoder = encoder
        self.notes = [(f"Euclidean distance between {encoder.notes['features']} features of an encoder fitted "
                       f"on {encoder.notes['images']} synthetic images ({encoder.notes['objective']})")]

    def encode(self, side: ImageAuditSet) -> EncodedRows:
        features = self._encoder.embed(side).astype(np.float32)
        return EncodedRows(numeric=features, codes=np.zeros((len(features), 0), dtype=np.int64), levels=())

    def stack(self, encoded: Sequence[EncodedRows]) -> EncodedRows:
        return EncodedRows(numeric=np.vstack([e.numeric for e in encoded]),
                           codes=np.zeros((sum(len(e) for e in encoded), 0), dtype=np.int64), levels=())

    def neighbours(self, query: EncodedRows, reference: EncodedRows, *, k: int = 1) -> tuple[np.ndarray, np.ndarray]:
        return nearest_neighbours(query, reference, k=k)


class FeatureMembershipAudit(MembershipInferenceAudit):
    """The membership-inference ensemble in the feature space of an encoder fitted on the synthetic images."""

    name = "attack.membership_inference_features"
    title = "Membership inference on image features (can an attacker tell who was in the training data?)"
    explanation = (
        "Plays the attacker as the membership test above, but compares images by what a small network, "
        "trained only on the synthetic images, sees in them (shapes, textures) instead of pixel by pixel. It "
        "catches a generator that reproduces training images in altered form. 0.5 means the attacker does no "
        "better than a coin flip, 1 means they always know; the value is the strongest attack's score."
    )
    views = (ImageAuditSet,)

    def space(self, context: AuditContext, *, sides: list) -> DistanceSpace:
        return FeatureSpace(encoder=attacker_encoder(context))
