"""Train on synthetic, test on real (TSTR) vs. train on real, test on real (TRTR).

Two identical gradient-boosted classifiers (scikit-learn's HistGradientBoostingClassifier) predict the
categorical target: one trained on synthetic rows, one on real training rows, both trained on the same
number of rows (capped at 2 x ``settings.max_rows``) with the same preprocessing, both scored on the real
holdout (capped likewise).  The score is the macro one-vs-rest ROC AUC (macro-F1 is reported too; plain
accuracy is not, as it rewards predicting the majority class).  The gated value is the share of the real
model's lift above chance that the synthetic model keeps, (AUC(TSTR) - 0.5) / (AUC(TRTR) - 0.5), with a
paired bootstrap 95% interval over holdout rows: 0 for a useless synthetic set, 1 for one as useful as the
real data.  The plain ratio AUC(TSTR) / AUC(TRTR) is in the details; it is not gated because an AUC of 0.5
is chance, so a TSTR model that learned nothing still scores 0.5 / AUC(TRTR) (0.8 when TRTR reaches
0.625): on the diabetes demo an independent-columns generator passed a 0.8 gate on it.

Not informative when the real-data model does not beat the majority-class baseline (the lower end of its
AUC interval is not above 0.5, or its macro-F1 is not above that of always predicting the majority class):
then the data cannot tell good synthetic data from bad.  Only categorical targets are supported; a numeric
target makes the audit not applicable.

Preprocessing is public: category codes follow the schema's public category order (values outside the
list, seen in the audited frames, are appended); missing values are left to the model's native handling;
categorical columns with more levels than the model's 255 bins are passed as ordinal codes.

Privacy caveat: the models and scores are computed from private records outside the DP guarantee; only
scores and per-class F1 (aggregates) are reported.  The models are discarded.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.metrics import f1_score

from evaluation.sampling import subsample
from evaluation.base import Audit, AuditContext, Measurement
from evaluation.features import ModelFeatures, fit_predict_proba, vocabulary
from evaluation.memorization.encoding import as_strings, modelled_columns
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
    with np.errstate(all="ignore"):
        return np.nanmean(np.vstack(aucs), axis=0)


class TSTRAudit(Audit):
    """Lift above chance of a classifier trained on synthetic vs. on real data, both tested on real holdout."""

    name = "utility.tstr"
    category = "utility"
    title = "Machine-learning utility (train on synthetic, test on real)"
    explanation = (
        "Trains the same prediction model for the target column twice, once on synthetic data and once on "
        "the same number of real records, and tests both on real records that neither model saw. The value "
        "is how much of the real-data model's predictive power above chance (ROC AUC above 0.5) the "
        "synthetic-data model keeps: 1 means as useful as the real data, 0 means no better than guessing."
    )
    direction = "at_least"
    default_threshold = 0.50
    requires_target = True

    def applies_to(self, context: AuditContext) -> bool:
        target = context.target
        return (
            super().applies_to(context)
            and target is not None
            and isinstance(context.schema.columns.get(target), CategoricalColumn)
            and all(target in f.columns for f in (context.train, context.holdout, context.synthetic))
        )

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        target = context.target
        schema = context.schema
        frames = [f[as_strings(f[target]).notna().to_numpy()] for f in (context.train, context.holdout,
                                                                         context.synthetic)]
        train, holdout, synthetic = frames
        classes = vocabulary(target, schema, frames)
        features = [c for c in modelled_columns(schema, context.train) if c != target]
        rng = context.rng(self.name)
        cap = 2 * context.settings.max_rows
        n_fit = min(len(train), len(synthetic), cap)
        if n_fit < 10 or len(holdout) < 10 or not features:
            return Measurement(value=0.0, not_informative="too few rows or no feature columns to train on")
        train = subsample(train, n_fit, rng)
        synthetic = subsample(synthetic, n_fit, rng)
        holdout = subsample(holdout, min(len(holdout), cap), rng)

        prep = ModelFeatures(schema=schema, columns=features, frames=[train, holdout, synthetic])
        label = {c: i for i, c in enumerate(classes)}

        def codes(frame: pd.DataFrame) -> np.ndarray:
            return as_strings(frame[target]).map(label).to_numpy(dtype=np.int64)

        y_train, y_synthetic, y_holdout = codes(train), codes(synthetic), codes(holdout)
        x_holdout = prep.transform(holdout)
        seed = context.settings.seed
        kwargs = {"n_classes": len(classes), "native": prep.native, "seed": seed}
        p_real = fit_predict_proba(prep.transform(train), y_train, x_holdout, **kwargs)
        p_synthetic = fit_predict_proba(prep.transform(synthetic), y_synthetic, x_holdout, **kwargs)

        everything = np.arange(len(holdout))[None, :]
        auc_real = float(macro_auc(y_holdout, p_real, everything)[0])
        auc_synthetic = float(macro_auc(y_holdout, p_synthetic, everything)[0])
        draws = rng.integers(0, len(holdout), size=(context.settings.bootstrap, len(holdout)))
        boot_real = macro_auc(y_holdout, p_real, draws)
        boot_synthetic = macro_auc(y_holdout, p_synthetic, draws)
        with np.errstate(divide="ignore", invalid="ignore"):
            boot_ratio = boot_synthetic / boot_real
            boot_lift = (boot_synthetic - 0.5) / (boot_real - 0.5)
        boot_ratio = boot_ratio[np.isfinite(boot_ratio)]
        boot_lift = boot_lift[np.isfinite(boot_lift) & (boot_real > 0.5)]
        real_interval = (float(np.nanquantile(boot_real, 0.025)), float(np.nanquantile(boot_real, 0.975)))

        present = np.unique(y_holdout)
        majority = np.bincount(y_train, minlength=len(classes)).argmax()
        f1 = {
            arm: f1_score(y_holdout, proba.argmax(axis=1), labels=present, average=None, zero_division=0)
            for arm, proba in (("trtr", p_real), ("tstr", p_synthetic))
        }
        baseline_f1 = float(np.mean(f1_score(y_holdout, np.full(len(y_holdout), majority), labels=present,
                                             average=None, zero_division=0)))
        macro = {arm: float(np.mean(scores)) for arm, scores in f1.items()}

        lift = auc_real - 0.5
        value = (auc_synthetic - 0.5) / lift if lift > 0 else 0.0
        details = {
            "target": target,
            "trtr_auc": round(auc_real, 4),
            "trtr_auc_interval": [round(real_interval[0], 4), round(real_interval[1], 4)],
            "tstr_auc": round(auc_synthetic, 4),
            "trtr_macro_f1": round(macro["trtr"], 4),
            "tstr_macro_f1": round(macro["tstr"], 4),
            "baseline_auc": 0.5,
            "baseline_macro_f1": round(baseline_f1, 4),
            "auc_ratio": round(auc_synthetic / auc_real, 4) if auc_real > 0 else None,
            "auc_ratio_interval": (
                [round(float(np.quantile(boot_ratio, q)), 4) for q in (0.025, 0.975)] if boot_ratio.size else None
            ),
            "auc_lift_ratio": round((auc_synthetic - 0.5) / lift, 4) if lift > 0 else None,
            "auc_lift_ratio_interval": (
                [round(float(np.quantile(boot_lift, q)), 4) for q in (0.025, 0.975)] if boot_lift.size else None
            ),
            "per_class_f1": {
                classes[k]: {"trtr": round(float(f1["trtr"][i]), 4), "tstr": round(float(f1["tstr"][i]), 4)}
                for i, k in enumerate(present)
            },
            "model": "HistGradientBoostingClassifier(max_iter=200, early_stopping, same settings both arms)",
            "sizes": {"train": n_fit, "synthetic": n_fit, "holdout": len(holdout),
                      "native_categorical_features": int(prep.native.sum()), "features": len(features)},
            "bootstrap": context.settings.bootstrap,
            "seconds": round(time.perf_counter() - started, 1),
        }
        reason = None
        if real_interval[0] <= 0.5:
            reason = (f"the real-data model's AUC interval reaches chance level (lower end "
                      f"{real_interval[0]:.3f} <= 0.5): the target is not predictable enough to judge")
        elif macro["trtr"] <= baseline_f1:
            reason = (f"the real-data model's macro-F1 ({macro['trtr']:.3f}) does not beat always predicting "
                      f"the majority class ({baseline_f1:.3f})")
        interval = None
        if boot_lift.size:
            interval = (float(np.quantile(boot_lift, 0.025)), float(np.quantile(boot_lift, 0.975)))
        return Measurement(value=float(value), interval=interval, details=details, not_informative=reason)
