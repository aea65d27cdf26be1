"""Detection test: can a classifier tell synthetic rows from real (training) rows?

Equal numbers of real training rows and synthetic rows (each side subsampled to
``min(settings.max_rows, len(train), len(synthetic))``) are labelled real / synthetic and split into
``folds`` (3) stratified folds.  A gradient-boosted classifier (``evaluation.features``: the same public
preprocessing and HistGradientBoostingClassifier the utility audit uses) is trained on the other folds and
scores each fold in turn, so every row gets an out-of-sample probability of being synthetic.  The value is
the ROC AUC of those scores: the probability that a random synthetic row looks more synthetic to the
classifier than a random real row.  Three folds rather than five keep the audit at about 3 seconds for
2 x 5,000 rows (one thread); each model still trains on two thirds of the rows.

- about 0.5: the classifier cannot tell them apart (ideal);
- near 1: synthetic rows are easy to spot (some pattern of the real data is missing or distorted).  DP
  synthetic data is usually detectable to some degree, so the audit is informative by default;
- clearly BELOW 0.5: the classifier is systematically wrong, which is what copies do.  When a synthetic row
  is a copy of a real training row, the copy and its original land in different folds with opposite labels:
  the classifier learns the original as "real" and then calls the copy real (and vice versa).  A value
  below 0.5 therefore points to memorized records; see the memorization audits.

Interval: percentile bootstrap (``settings.bootstrap`` replicates) of the AUC over the scored rows.  It
covers the sampling of the scored rows, not the randomness of the classifier's training.

Privacy caveat: the classifier is trained on private records outside the DP guarantee and discarded; only
the AUC, shares of rows and the ROC curve (aggregates over all scored rows) are reported.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.features import ModelFeatures, fit_predict_proba
from evaluation.memorization.encoding import modelled_columns
from evaluation.report.figures import SYNTHETIC_COLOR, figure_to_base64, new_figure
from evaluation.sampling import bootstrap_statistic_interval
from synthdata.views import subsample

# Below this AUC (upper end of the interval) the details flag the "copies" pattern.
COPY_SIGNAL_AUC = 0.5


class DetectionAudit(Audit):
    """Cross-validated ROC AUC of a classifier separating synthetic from real training rows."""

    name = "fidelity.detection"
    category = "fidelity"
    title = "Detection test (can a model tell synthetic from real?)"
    explanation = (
        "Trains a machine-learning model to guess whether a row is a real training record or a synthetic "
        "one, and measures how well it guesses on rows it has not seen, as an AUC: 0.5 means it does no "
        "better than a coin flip (the synthetic data is indistinguishable from real data), 1 means every "
        "synthetic row is recognised. Synthetic data made with privacy protection is usually recognisable to "
        "some degree, so this is reported for information. A value clearly below 0.5 is a warning sign of a "
        "different kind: it happens when synthetic rows are copies of real records."
    )
    direction = "at_most"
    default_threshold = None

    def __init__(self, *, folds: int = 3) -> None:
        if folds < 2:
            raise ValueError("folds must be at least 2")
        self.folds = folds

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        schema = context.schema
        columns = modelled_columns(schema, context.train)
        n = min(context.settings.max_rows, len(context.train), len(context.synthetic))
        if not columns or n < 2 * self.folds:
            return Measurement(value=0.5, not_informative=f"fewer than {2 * self.folds} rows per side")
        real = subsample(context.train, n, rng)
        synthetic = subsample(context.synthetic, n, rng)
        prep = ModelFeatures(schema=schema, columns=columns, frames=[real, synthetic])
        x = np.vstack([prep.transform(real), prep.transform(synthetic)])
        y = np.repeat([0, 1], n)  # 1 = synthetic

        scores = np.empty(2 * n)
        split_seed = int(rng.integers(0, 2**31 - 1))
        splitter = StratifiedKFold(n_splits=self.folds, shuffle=True, random_state=split_seed)
        for fold, (fit, test) in enumerate(splitter.split(x, y)):
            proba = fit_predict_proba(x[fit], y[fit], x[test], n_classes=2, native=prep.native,
                                      seed=context.settings.seed + fold)
            scores[test] = proba[:, 1]
        auc = float(roc_auc_score(y, scores))
        interval = bootstrap_statistic_interval(
            lambda index: _auc_or_nan(y[index], scores[index]), 2 * n, rng=rng,
            replicates=context.settings.bootstrap)

        predicted = scores >= 0.5
        figure = _roc_figure(y, scores, auc)
        details = {
            "auc": round(auc, 4),
            "accuracy": round(float((predicted == y.astype(bool)).mean()), 4),
            "mean_probability_synthetic": {"real_rows": round(float(scores[y == 0].mean()), 4),
                                           "synthetic_rows": round(float(scores[y == 1].mean()), 4)},
            "share_synthetic_flagged_confidently": round(float((scores[y == 1] >= 0.9).mean()), 4),
            "sizes": {"train": n, "synthetic": n, "train_available": len(context.train),
                      "synthetic_available": len(context.synthetic)},
            "folds": self.folds,
            "features": len(columns),
            "bootstrap": context.settings.bootstrap,
            "note": _note(auc, interval),
            "seconds": round(time.perf_counter() - started, 2),
        }
        return Measurement(value=auc, interval=interval, details=details,
                           figures={"Detection ROC curve": figure})


def _auc_or_nan(y: np.ndarray, scores: np.ndarray) -> float:
    return float(roc_auc_score(y, scores)) if 0 < y.sum() < len(y) else float("nan")


def _note(auc: float, interval: tuple[float, float] | None) -> str:
    high = interval[1] if interval else auc
    low = interval[0] if interval else auc
    if high < COPY_SIGNAL_AUC:
        return ("AUC below 0.5: the classifier is systematically wrong, the pattern of synthetic rows that copy "
                "real training records (a copy and its original fall in different folds with opposite labels). "
                "Check the memorization audits.")
    if low <= 0.5:
        return "The classifier does not tell synthetic from real rows better than chance."
    if auc < 0.6:
        return "Synthetic rows are only slightly distinguishable from real rows."
    if auc < 0.8:
        return "Synthetic rows are moderately distinguishable from real rows (common for DP synthetic data)."
    return "Synthetic rows are easily distinguishable from real rows: some real pattern is missing or distorted."


def _roc_figure(y: np.ndarray, scores: np.ndarray, auc: float) -> str:
    """ROC curve (interpolated on 101 false-positive rates: an aggregate over all scored rows)."""
    fpr, tpr, _ = roc_curve(y, scores)
    grid = np.linspace(0.0, 1.0, 101)
    fig, ax = new_figure(width=3.2, height=3.0, left=0.18, bottom=0.16)
    ax.plot(grid, np.interp(grid, fpr, tpr), color=SYNTHETIC_COLOR, linewidth=1.5, label=f"classifier (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=0.8, label="chance (AUC 0.5)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("real rows flagged as synthetic (false positive rate)", fontsize=6.5)
    ax.set_ylabel("synthetic rows detected (true positive rate)", fontsize=6.5)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    return figure_to_base64(fig)
