"""Declared classes of labelled records (signal windows, images): the condition the diffusion model gets.

A labelled modality generates each synthetic record *for* a class: the class is a one-hot condition at the
end of the encoded row (``GaussianDiffusion``'s conditioning, classifier-free guidance when sampling), so
the number of synthetic records per class is chosen, not left to chance.  Those numbers follow class
proportions that are either DECLARED in the spec (public: e.g. balanced classes, or published prevalences)
or measured with DP from the preprocessing share of the budget (``dp_class_proportions``, Laplace noise on
the per-class counts of the training split, sensitivity = records per privacy unit).

The class list itself is always declared (public); a label outside it is a user error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from synthdata.modalities.base import Preprocessing
from synthdata.privacy.dp_statistics import allocate, dp_class_proportions


@dataclass(frozen=True)
class ClassCondition:
    """Declared class names (their order fixes the one-hot columns) and the proportions to sample by."""

    classes: tuple[str, ...]
    proportions: tuple[float, ...]

    def one_hot(self, labels: Sequence[str]) -> np.ndarray:
        """``(n, K)`` float32 one-hot rows of ``labels`` (each one of ``classes``)."""
        index = {c: i for i, c in enumerate(self.classes)}
        rows = np.zeros((len(labels), len(self.classes)), dtype=np.float32)
        rows[np.arange(len(labels)), [index[str(v)] for v in labels]] = 1.0
        return rows

    def labels(self, condition: np.ndarray) -> np.ndarray:
        """Class names of ``(n, K)`` condition rows (the largest entry)."""
        return np.asarray(self.classes, dtype=object)[np.asarray(condition).argmax(axis=1)]

    def append(self, rows: np.ndarray, labels: Sequence[str] | None) -> np.ndarray:
        """Encoded data rows ``(n, d)`` followed by the labels' one-hot condition: ``(n, d + K)``."""
        if labels is None:
            raise ValueError("labels are required: the codec declares classes")
        return np.concatenate([rows, self.one_hot(labels)], axis=1)

    def draw(self, *, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, K)`` one-hot conditions in the stated proportions (largest-remainder counts), shuffled."""
        counts = allocate(proportions=self.proportions, n=n)
        labels = np.repeat(np.asarray(self.classes, dtype=object), counts)
        return self.one_hot(labels[rng.permutation(n)])

    def to_dict(self) -> dict[str, list]:
        return {"classes": list(self.classes), "proportions": list(self.proportions)}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Sequence]) -> ClassCondition:
        return cls(classes=tuple(str(c) for c in raw["classes"]),
                   proportions=tuple(float(p) for p in raw["proportions"]))


def split_rows(rows: np.ndarray, *, data_width: int,
               condition: ClassCondition | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Model rows ``(n, d + K)`` -> the data part ``(n, d)`` and the class labels (None without classes)."""
    rows = np.asarray(rows, dtype=np.float32)
    labels = None if condition is None else condition.labels(rows[:, data_width:])
    return rows[:, :data_width], labels


def resolve_condition(
    *, classes: Sequence[str], declared: Mapping[str, float] | None, labels: Sequence[str], epsilon: float,
    sensitivity: int, rng: np.random.Generator,
) -> tuple[ClassCondition, Preprocessing]:
    """The class condition of a release: declared proportions cost nothing; otherwise the training labels'
    proportions are measured with ``epsilon``-DP (``sensitivity`` = most records one privacy unit holds,
    enforced by the caller) and the spend is reported."""
    classes = tuple(str(c) for c in classes)
    if declared is not None:
        total = float(sum(declared.values()))
        proportions = tuple(float(declared[c]) / total for c in classes)
        note = "Class proportions of the synthetic data are declared in the spec."
        return ClassCondition(classes, proportions), Preprocessing(notes=[note])
    shares = dp_class_proportions(labels=labels, classes=classes, epsilon=epsilon, sensitivity=sensitivity, rng=rng)
    note = (f"Class proportions of the synthetic data were measured with differential privacy (Laplace noise, "
            f"epsilon {epsilon:.3g}, at most {sensitivity} record{'s' if sensitivity > 1 else ''} per privacy unit).")
    return (ClassCondition(classes, tuple(shares[c] for c in classes)),
            Preprocessing(epsilon=epsilon, delta=0.0, columns=["class proportions"], notes=[note]))
