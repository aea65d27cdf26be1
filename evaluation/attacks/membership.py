"""Membership inference: can an attacker holding the synthetic data tell who was in the training data?

An ensemble of attacks, because no single attack dominates.  Each scores every target record; members are
training records, non-members are holdout records the generator never saw, equally many of each:

- ``distance``: closeness to the synthetic data, score = -(distance to the closest synthetic record).  Catches
  generators that reproduce or closely imitate their training records.
- ``density_ratio`` (in the style of DOMIAS, van Breugel et al., AISTATS 2023): a record where the synthetic
  data is denser than the population is more likely a member.  Densities are k-nearest-neighbour estimates
  on the encoded rows: log p(x) = const - D log r_k(x), so the log density ratio of synthetic to reference
  is ``D (log r_k,ref(x) - log r_k,syn(x))`` plus a constant.  ``D`` and the constant do not change the
  ranking, so the score is ``log r_k,ref(x) - log r_k,syn(x)`` (k = 5).  The reference sample is real data
  of the population: one half of the holdout.  The other half are the non-members, so a non-member is never
  its own reference neighbour.

Each attack's ROC AUC (0.5: the attacker learns nothing) has a bootstrap 95% interval over the scored
records; the value is the largest AUC over the attacks (the strongest attacker), gated at 0.6 by default.
TPR at 1% FPR is reported too: with few non-members it is coarse (one false positive moves the FPR by
1/non-members), so the number of non-members is stated beside it.

Privacy caveat: scores are computed from private records outside the DP guarantee; only AUCs, TPRs and
ROC curves (aggregates) are reported.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.memorization.encoding import RowEncoder, nearest_distances
from evaluation.report.plots import figure_to_base64, new_figure
from evaluation.sampling import bootstrap_statistic_interval, subsample

_K = 5
_TINY = 1e-9


def attack_split(
    *, train: pd.DataFrame, holdout: pd.DataFrame, max_rows: int, rng: np.random.Generator
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(members, non-members, reference): the holdout halved into disjoint non-members and reference rows,
    members a training subsample as large as the non-members."""
    order = rng.permutation(len(holdout))
    half = len(holdout) // 2
    n = min(half, len(train), max_rows)
    nonmembers = holdout.iloc[np.sort(order[:n])]
    reference = holdout.iloc[np.sort(order[half:half + min(len(holdout) - half, max_rows)])]
    return subsample(train, n, rng), nonmembers, reference


def _tpr_at(fpr_target: float, labels: np.ndarray, scores: np.ndarray) -> float:
    fpr, tpr, _ = roc_curve(labels, scores)
    return float(np.max(tpr[fpr <= fpr_target])) if np.any(fpr <= fpr_target) else 0.0


class MembershipInferenceAudit(Audit):
    """Largest ROC AUC of an ensemble of membership-inference attacks (distance, DOMIAS-style density ratio)."""

    name = "attack.membership_inference"
    category = "attack"
    title = "Membership inference (can an attacker tell who was in the training data?)"
    explanation = (
        "Plays the attacker: given the synthetic data, try to tell whether a real person's record was used "
        "for training. Two attacks are tried — how close the record is to some synthetic record, and whether "
        "the synthetic data is unusually dense around it compared with the general population. Each is scored "
        "on equally many training records and never-used records; 0.5 means the attacker does no better than "
        "a coin flip, 1 means they always know. The value is the strongest attack's score."
    )
    direction = "at_most"
    default_threshold = 0.6

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and len(context.holdout) >= 20 and len(context.synthetic) > _K

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        max_rows = context.settings.max_rows
        members, nonmembers, reference = attack_split(train=context.train, holdout=context.holdout,
                                                      max_rows=max_rows, rng=rng)
        synthetic = subsample(context.synthetic, min(len(context.synthetic), max_rows), rng)
        encoder = RowEncoder(schema=context.schema, frames=[members, nonmembers, reference, synthetic])
        targets = encoder.encode(pd.concat([members, nonmembers], ignore_index=True))
        labels = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
        to_synthetic = nearest_distances(targets, encoder.encode(synthetic), k=min(_K, len(synthetic)))
        to_reference = nearest_distances(targets, encoder.encode(reference), k=min(_K, len(reference)))
        scores = {
            "distance": -to_synthetic[:, 0],
            "density_ratio": np.log(to_reference[:, -1] + _TINY) - np.log(to_synthetic[:, -1] + _TINY),
        }
        attacks: dict[str, dict] = {}
        for attack, score in scores.items():
            def auc(index: np.ndarray, score: np.ndarray = score) -> float:
                picked = labels[index]
                return float(roc_auc_score(picked, score[index])) if 0 < picked.sum() < len(picked) else np.nan

            attacks[attack] = {
                "auc": float(roc_auc_score(labels, score)),
                "auc_interval": bootstrap_statistic_interval(auc, len(labels), rng=rng,
                                                             replicates=context.settings.bootstrap),
                "tpr_at_1pct_fpr": _tpr_at(0.01, labels, score),
                "tpr_at_10pct_fpr": _tpr_at(0.10, labels, score),
            }
        strongest = max(attacks, key=lambda a: attacks[a]["auc"])
        details = {
            "strongest_attack": strongest,
            "attacks": {a: {k: (round(v, 4) if isinstance(v, float) else [round(x, 4) for x in v] if v else None)
                            for k, v in r.items()} for a, r in attacks.items()},
            "sizes": {"members": len(members), "non_members": len(nonmembers), "reference": len(reference),
                      "synthetic": len(synthetic)},
            "tpr_resolution": f"1% FPR means {max(1, len(nonmembers) // 100)} of {len(nonmembers)} non-members",
            "neighbours_k": _K,
            "bootstrap": context.settings.bootstrap,
            "seconds": round(time.perf_counter() - started, 1),
        }
        return Measurement(value=attacks[strongest]["auc"], interval=attacks[strongest]["auc_interval"],
                           details=details, figures={"ROC of the membership attacks": _roc_figure(labels, scores)})


def _roc_figure(labels: np.ndarray, scores: dict[str, np.ndarray]) -> str:
    fig, ax = new_figure(width=3.6, height=3.0, left=0.17, bottom=0.16)
    for (attack, score), color in zip(scores.items(), ("#4c72b0", "#dd8452", "#55a868")):
        fpr, tpr, _ = roc_curve(labels, score)
        ax.plot(fpr, tpr, color=color, linewidth=1.4, label=f"{attack} (AUC {roc_auc_score(labels, score):.2f})")
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=0.8, label="chance")
    ax.set_xlabel("false positive rate (non-members flagged)", fontsize=7)
    ax.set_ylabel("true positive rate (members found)", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    return figure_to_base64(fig)
