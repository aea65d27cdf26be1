"""Membership inference: can an attacker holding the synthetic data tell who was in the training data?

An ensemble of attacks, because no single attack dominates.  Each scores every target record; members are
training records, non-members are holdout records the generator never saw, equally many of each:

- ``distance``: closeness to the synthetic data, score = -(distance to the closest synthetic record).  Catches
  generators that reproduce or closely imitate their training records.
- ``density_ratio`` (in the style of DOMIAS, van Breugel et al., AISTATS 2023): a record where the synthetic
  data is denser than the population is more likely a member.  Densities are k-nearest-neighbour estimates
  on the encoded rows: log p(x) = const - D log r_k(x), so the log density ratio of synthetic to reference
  is ``D (log r_k,ref(x) - log r_k,syn(x))`` plus a constant.  ``D`` and the constant do not change the
  ranking, so the score is ``log r_k,ref(x) - log r_k,syn(x)`` (k = 5).  Why k-NN and not a Gaussian KDE (the
  DOMIAS paper's default) or a flow: the embedding has one block per category and mixes scaled numbers with
  one-hot columns, where one KDE bandwidth fits no column; the k-th neighbour distance adapts its bandwidth
  to the local density, needs no fitting, reuses the exact nearest-neighbour search of the distance attack,
  and k = 5 trades variance (k = 1 is the distance attack again) against resolution.  The reference sample
  is real data of the population: one half of the holdout.  The other half are the non-members, so a
  non-member is never its own reference neighbour.  Members are a training subsample as large as the
  non-members (at most ``settings.max_rows``); synthetic rows are subsampled to ``settings.max_rows``.

Each attack's ROC AUC (0.5: the attacker learns nothing) has a bootstrap 95% interval over the scored
records; the value is the largest AUC over the attacks (the strongest attacker), and its interval comes from
the same bootstrap replicates (each replicate's largest AUC), so picking the best of several noisy attacks is
paid for in the interval.  Gate: the upper end at most 0.6 by default.  Why 0.6: an attacker with AUC 0.6
ranks a training patient above an unseen one 60% of the time, little information per person but a clear,
systematic leak.  Unseen real records scored as synthetic stay near 0.5 (0.50..0.52, upper end at most
0.56 on the demo slice over three seeds, 400 members and 400 non-members), while a generator returning
training rows reaches 0.67..0.71 (lower end at least 0.63) although only about 40% of the members were copied.
TPR at 1% FPR is reported too: with few non-members it is coarse (one false positive moves the FPR by
1/non-members), so the number of non-members is stated beside it.

Like with like: members, non-members and the reference are drawn by the split's units (``context.groups``:
patients, subjects, or one subject's blocks of time), and the interval resamples whole units.  When either
side holds fewer than ``evaluation.base.MIN_UNITS`` (10) units (an EEG release of two people; one recording
in 10 blocks of time) the figure is reported but not judged: the attack would tell those units apart.

Privacy caveat: scores are computed from private records outside the DP guarantee; only AUCs, TPRs and
ROC curves (aggregates) are reported.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from evaluation.base import Audit, AuditContext, Measurement, unit_codes
from evaluation.memorization.space import SPACES, DistanceSpace, distance_space, nearest_distances
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from evaluation.sampling import percentile_interval
from synthdata.views import subsample, take

_K = 5
_TINY = 1e-9


def attack_split(*, train, holdout, max_rows: int, rng: np.random.Generator,
                 units: dict[str, np.ndarray] | None = None) -> tuple:
    """(members, non-members, reference): the holdout halved into disjoint non-members and reference rows,
    members a training subsample as large as the non-members.  With ``units`` (the split's units per record
    of each side) the holdout is halved by unit, so no unit is both a non-member and a reference."""
    members, nonmembers, reference = attack_indices(n_train=len(train), n_holdout=len(holdout), max_rows=max_rows,
                                                    rng=rng, units=units)
    return take(train, members), take(holdout, nonmembers), take(holdout, reference)


def attack_indices(*, n_train: int, n_holdout: int, max_rows: int, rng: np.random.Generator,
                   units: dict[str, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of the members (training), non-members and reference records (holdout) of ``attack_split``."""
    holdout_units = unit_codes(None if units is None else units["holdout"], size=n_holdout)
    if n_holdout and holdout_units.max() < 1:  # one unit cannot be halved: its records are (not judged anyway)
        holdout_units = np.arange(n_holdout)
    n_units = int(holdout_units.max()) + 1 if n_holdout else 0
    first_half = np.isin(holdout_units, rng.permutation(n_units)[: n_units // 2])
    candidates, rest = np.flatnonzero(first_half), np.flatnonzero(~first_half)
    n = min(len(candidates), n_train, max_rows)
    nonmembers = np.sort(rng.permutation(candidates)[:n])
    reference = np.sort(rng.permutation(rest)[:max_rows])
    members = np.arange(n_train) if n >= n_train else np.sort(rng.choice(n_train, size=n, replace=False))
    return members, nonmembers, reference


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
    no_leak_value = 0.5
    views = tuple(SPACES)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and len(context.holdout) >= 20 and len(context.synthetic) > _K

    def space(self, context: AuditContext, *, sides: list) -> DistanceSpace:
        """The space the attacks search: the modality's distance (a subclass may attack in another)."""
        return distance_space(context, sides=sides)

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        max_rows = context.settings.max_rows
        units = ({name: np.asarray(context.groups[name]).astype(str) for name in ("train", "holdout")}
                 if context.groups else None)
        index = attack_indices(n_train=len(context.train), n_holdout=len(context.holdout), max_rows=max_rows,
                               rng=rng, units=units)
        members, nonmembers, reference = (take(side, i) for side, i in
                                          zip((context.train, context.holdout, context.holdout), index))
        scored_units = (None if units is None else
                        np.r_[context.units("train", index[0]), 1 + len(index[0]) + context.units("holdout", index[1])])
        synthetic = subsample(context.synthetic, min(len(context.synthetic), max_rows), rng)
        space = self.space(context, sides=[members, nonmembers, reference, synthetic])
        targets = space.stack([space.encode(members), space.encode(nonmembers)])
        labels = np.r_[np.ones(len(members)), np.zeros(len(nonmembers))]
        to_synthetic = nearest_distances(space, targets, space.encode(synthetic), k=min(_K, len(synthetic)))
        to_reference = nearest_distances(space, targets, space.encode(reference), k=min(_K, len(reference)))
        scores = {
            "distance": -to_synthetic[:, 0],
            "density_ratio": np.log(to_reference[:, -1] + _TINY) - np.log(to_synthetic[:, -1] + _TINY),
        }
        aucs, interval, intervals = _bootstrap_aucs(labels, scores, rng=rng, replicates=context.settings.bootstrap,
                                                    units=scored_units)
        strongest = max(aucs, key=aucs.__getitem__)
        attacks = {attack: {"auc": round(aucs[attack], 4),
                            "auc_interval": _rounded(intervals[attack]),
                            "tpr_at_1pct_fpr": round(_tpr_at(0.01, labels, score), 4),
                            "tpr_at_10pct_fpr": round(_tpr_at(0.10, labels, score), 4)}
                   for attack, score in scores.items()}
        details = {
            "strongest_attack": strongest,
            "ensemble": {"auc": round(aucs[strongest], 4), "auc_interval": _rounded(interval),
                         "rule": "largest AUC over the attacks; interval of that maximum over joint bootstrap "
                                 "resamples of the scored records"},
            "attacks": attacks,
            "sizes": {"members": len(members), "non_members": len(nonmembers), "reference": len(reference),
                      "synthetic": len(synthetic), "train_available": len(context.train),
                      "holdout_available": len(context.holdout)},
            "tpr_resolution": (f"1% FPR means {len(nonmembers) // 100} of {len(nonmembers)} non-members flagged: "
                               "coarse below a few thousand non-members"),
            "neighbours_k": _K,
            "bootstrap": context.settings.bootstrap,
            "seconds": round(time.perf_counter() - started, 1),
        }
        figures = {"ROC of the membership attacks": _roc_figure(labels, scores, n_nonmembers=len(nonmembers))}
        return Measurement(value=aucs[strongest], interval=interval, details=details, figures=figures,
                           not_informative=context.too_few_units())



def _rounded(interval: tuple[float, float] | None) -> list[float] | None:
    return None if interval is None else [round(v, 4) for v in interval]


def weighted_auc(*, labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC (ties count one half) of ``scores`` for each row of ``weights`` (replicates x records).

    A bootstrap resample is the same as integer weights (how often each record was drawn), so all replicates
    are scored at once from per-score-value weight sums: equal to ``sklearn.metrics.roc_auc_score`` with
    ``sample_weight`` (tested), about a hundred times faster for 200 replicates.  NaN where a replicate has
    no member or no non-member.
    """
    values, inverse = np.unique(scores, return_inverse=True)
    weights = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    member = labels.astype(bool)

    def per_value(mask: np.ndarray) -> np.ndarray:
        out = np.zeros((weights.shape[0], len(values)))
        for row, w in enumerate(weights):
            out[row] = np.bincount(inverse[mask], weights=w[mask], minlength=len(values))
        return out

    members, nonmembers = per_value(member), per_value(~member)
    below = np.cumsum(nonmembers, axis=1) - nonmembers  # non-member weight strictly below each value
    pairs = members.sum(axis=1) * nonmembers.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, (members * (below + 0.5 * nonmembers)).sum(axis=1) / pairs, np.nan)


def _bootstrap_aucs(
    labels: np.ndarray, scores: dict[str, np.ndarray], *, rng: np.random.Generator, replicates: int,
    units: np.ndarray | None = None,
) -> tuple[dict[str, float], tuple[float, float] | None, dict[str, tuple[float, float] | None]]:
    """Each attack's AUC and bootstrap interval, and the interval of the largest AUC.

    Every replicate resamples the scored records once and scores all attacks on the same resample, so the
    maximum's interval accounts for picking the best attack on noisy data (it is not the strongest attack's
    own interval, which would understate the selection).  With ``units`` (an integer unit per scored record,
    members' and non-members' units distinct) whole units are resampled, members and non-members apart:
    the windows of one block of time, or one patient's records, rise and fall together.
    """
    aucs = {attack: float(roc_auc_score(labels, score)) for attack, score in scores.items()}
    codes = unit_codes(units, size=len(labels))
    side = np.zeros(int(codes.max()) + 1, dtype=bool)
    side[codes[labels == 1]] = True
    groups = [np.flatnonzero(side), np.flatnonzero(~side)]
    counts = np.zeros((replicates, len(labels)))
    for row in range(replicates):
        drawn = np.concatenate([rng.choice(g, size=len(g), replace=True) for g in groups if len(g)])
        counts[row] = np.bincount(drawn, minlength=len(side))[codes]
    boot = np.column_stack([weighted_auc(labels=labels, scores=score, weights=counts) for score in scores.values()])
    intervals = {attack: percentile_interval(boot[:, column]) for column, attack in enumerate(scores)}
    return aucs, percentile_interval(np.max(boot, axis=1, initial=-np.inf)), intervals


def _roc_figure(labels: np.ndarray, scores: dict[str, np.ndarray], *, n_nonmembers: int) -> str:
    """ROC curves of each attack, linear axes (left) and log-log (right: the low-FPR region that matters for
    confident attacks, Carlini et al. 2022), with the chance diagonal.  Aggregates only."""
    fig, linear = new_figure(width=6.4, height=3.0, left=0.09, bottom=0.16)
    linear.set_position([0.09, 0.16, 0.38, 0.72])
    loglog = fig.add_axes([0.59, 0.16, 0.38, 0.72])
    floor = 1.0 / max(n_nonmembers, 1)
    for (attack, score), color in zip(scores.items(), (REAL_COLOR, SYNTHETIC_COLOR, "#55a868")):
        fpr, tpr, _ = roc_curve(labels, score)
        label = f"{attack} (AUC {roc_auc_score(labels, score):.2f})"
        linear.plot(fpr, tpr, color=color, linewidth=1.4, label=label)
        loglog.plot(np.maximum(fpr, floor), np.maximum(tpr, floor), color=color, linewidth=1.4)
    linear.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=0.8, label="chance")
    loglog.plot([floor, 1], [floor, 1], color="#999999", linestyle="--", linewidth=0.8)
    loglog.set_xscale("log")
    loglog.set_yscale("log")
    loglog.set_xlim(floor, 1)
    loglog.set_ylim(floor, 1)
    loglog.set_title(f"log-log (FPR resolution 1/{n_nonmembers})", fontsize=7)
    for ax in (linear, loglog):
        ax.set_xlabel("false positive rate (non-members flagged)", fontsize=7)
        ax.tick_params(labelsize=6)
    linear.set_ylabel("true positive rate (members found)", fontsize=7)
    linear.legend(fontsize=6, frameon=False, loc="lower right")
    return figure_to_base64(fig)
