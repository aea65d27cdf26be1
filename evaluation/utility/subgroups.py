"""Utility per subgroup: whom does the synthetic data serve worse?

For each demographic column the schema has (gender/sex, age band, race/ethnicity: categorical columns found by
name), the TRTR and TSTR gradient-boosting models of ``utility.tstr`` (fitted once, shared through
``fitted_arms``) are scored on the holdout rows of each group: macro AUC of both and the share of the real
model's lift above chance the synthetic model keeps.  Groups with fewer than ``MIN_CELL_COUNT`` holdout or
training rows are merged into "other (small groups)", which is hidden if it is still that small.  The value is
the worst group's lift ratio; informative only (no threshold): it shows a board who is served worse, it does
not block a release.

Privacy caveat: computed from private records outside the DP guarantee; only group sizes (at least the
minimum cell count) and scores are reported.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import MIN_CELL_COUNT, Audit, AuditContext, Measurement
from evaluation.memorization.encoding import as_strings
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from evaluation.utility.tstr import applies, fitted_arms, macro_auc
from synthdata.modalities.table.schema import CategoricalColumn

DEMOGRAPHIC_NAMES = ("gender", "sex", "age", "age_group", "age_band", "race", "ethnicity")
SMALL = "other (small groups)"
_FAMILY = "gradient_boosting"


def demographic_columns(context: AuditContext) -> list[str]:
    """Categorical modelled columns named like a demographic attribute (case-insensitive), not the target."""
    return [name for name, column in context.schema.columns.items()
            if name.lower() in DEMOGRAPHIC_NAMES and isinstance(column, CategoricalColumn)
            and name != context.target and name in context.holdout.columns]


class SubgroupUtilityAudit(Audit):
    """Worst subgroup's TSTR lift ratio over demographic groups (informative)."""

    name = "utility.subgroups"
    category = "utility"
    title = "Utility per subgroup (who is served worse?)"
    explanation = (
        "Repeats the train-on-synthetic test separately for groups of patients (for example by sex, age band "
        "and race) to show whether the synthetic data is less useful for some groups than for others. Each bar "
        "pair compares the model trained on real data with the one trained on synthetic data for one group. "
        "Groups with fewer than 10 patients are merged. This figure informs; it does not block a release."
    )
    direction = "at_least"
    default_threshold = None
    requires_target = True

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and applies(context) and bool(demographic_columns(context))

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        arms = fitted_arms(context)
        if arms is None:
            return Measurement(value=0.0, not_informative="too few rows or no feature columns to train on")
        p_real, p_synthetic = arms.probabilities[_FAMILY]["trtr"], arms.probabilities[_FAMILY]["tstr"]
        groups: dict[str, dict] = {}
        for column in demographic_columns(context):
            levels = as_strings(arms.holdout[column]).fillna("(missing)").to_numpy()
            train_counts = as_strings(context.train[column]).fillna("(missing)").value_counts()
            small = [lv for lv in np.unique(levels)
                     if (levels == lv).sum() < MIN_CELL_COUNT or train_counts.get(lv, 0) < MIN_CELL_COUNT]
            levels = np.where(np.isin(levels, small), SMALL, levels)
            for level in np.unique(levels):
                rows = np.flatnonzero(levels == level)
                if len(rows) < MIN_CELL_COUNT:
                    continue
                auc_real = float(macro_auc(arms.y_holdout, p_real, rows[None, :])[0])
                auc_synthetic = float(macro_auc(arms.y_holdout, p_synthetic, rows[None, :])[0])
                if not np.isfinite(auc_real) or not np.isfinite(auc_synthetic):
                    continue
                groups[f"{column} = {level}"] = {
                    "holdout_rows": len(rows), "trtr_auc": round(auc_real, 4), "tstr_auc": round(auc_synthetic, 4),
                    "lift_ratio": round((auc_synthetic - 0.5) / (auc_real - 0.5), 4) if auc_real > 0.5 else None}
        judged = {g: v for g, v in groups.items() if v["lift_ratio"] is not None}
        if not judged:
            return Measurement(value=0.0, details={"groups": groups},
                               not_informative="no group has a real-data model above chance")
        worst = min(judged, key=lambda g: judged[g]["lift_ratio"])
        details = {"worst_group": worst, "model_family": _FAMILY, "groups": groups,
                   "min_group_rows": MIN_CELL_COUNT, "seconds": round(time.perf_counter() - started, 1)}
        return Measurement(value=float(judged[worst]["lift_ratio"]), details=details,
                           figures={"AUC per subgroup": _figure(groups)})


def _figure(groups: dict[str, dict]) -> str:
    names = list(groups)
    height = max(1.8, 0.22 * len(names) + 0.8)
    fig, ax = new_figure(width=4.6, height=height, left=0.38, bottom=0.45 / height, top=1 - 0.15 / height)
    y = np.arange(len(names))
    ax.barh(y - 0.2, [groups[n]["trtr_auc"] for n in names], height=0.4, color=REAL_COLOR, label="trained on real")
    ax.barh(y + 0.2, [groups[n]["tstr_auc"] for n in names], height=0.4, color=SYNTHETIC_COLOR,
            label="trained on synthetic")
    ax.axvline(0.5, color="#999999", linestyle="--", linewidth=0.8)
    ax.set_yticks(y, [f"{n} (n={groups[n]['holdout_rows']})" for n in names], fontsize=6)
    ax.invert_yaxis()
    ax.set_xlim(0.3, 1)
    ax.set_xlabel("macro AUC on the group's real holdout rows (0.5 = chance)", fontsize=7)
    ax.tick_params(axis="x", labelsize=6)
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    return figure_to_base64(fig)
