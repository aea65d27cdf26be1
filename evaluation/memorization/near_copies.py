"""Near copies: synthetic rows that sit on a training record, beyond what chance puts there.

What it measures, in plain words: the share of synthetic rows that are near copies of a training patient, over
and above the rows that land that close to *some* real patient by chance.

**The test rests on exchangeability, not on equal set sizes.**  The release split its real units (patients,
subjects) at random into training and holdout.  If the synthetic rows did not depend on which units trained,
then for any synthetic row the real records nearest to it belong to training units with the chance the
split gave every unit, however dense the data are and however common the row's profile is.  A generator that
returns training records, or perturbs them slightly, puts those rows on their source: their nearest real
record is a training record every time.  So:

1. Pool **all** training and holdout records (no subsample: a copy of any training record is found; the old
   audit searched a holdout-sized training subsample and missed most copies).  The pool is shuffled before
   the search, and a row tied with more real records than are kept (``NEIGHBOURS``) is searched again over
   the whole pool: credit never goes to the training records that happen to come first.
2. Only rows *close* to a real record carry a copy signal: a synthetic row is scored when its nearest real
   record lies within the near-copy radius, the ``QUANTILE`` of the distance from a real record to its
   nearest record of another unit (a property of the pool, blind to which records trained).
3. A close row gives one unit of credit, shared equally among the real records tied at its nearest distance.
   The **value** is the excess near-copy share

       (credit on training units  -  f * all credit) / (synthetic rows * (1 - f)),

   with ``f`` the share of units the split put in training: 0 in expectation when nothing leaks, about c for
   a generator that copies (or slightly perturbs) a share c of its rows.

**The interval is the spread of the value under the null, computed exactly, not bootstrapped**: with ``W_u``
the credit on unit ``u``, the value's variance when the split's training units are any ``G_T`` of the ``G``
units at random is ``G_T (G - G_T) / (G (G - 1)) * sum (W_u - mean W)^2 / (rows * (1 - f))^2``.  It carries the
randomness of both real reference sets (which records trained) and the dependence between synthetic rows that
share a nearest record, which made a bootstrap over synthetic rows too narrow on releases whose rows sit on
common profiles (a withdrawn version of this test blocked a clean DP release that way).  Units move whole:
with ``context.groups`` (a table's subject column) a patient's records are never split by the null.

Gate: the release is blocked when the lower end of ``value +- 1.96 sd`` is above 0.02 (two synthetic rows in a
hundred near copies beyond chance); a clean release sits at 0 with an sd of about 0.004 at the demo's sizes, so
it is blocked only if the null is wrong.  With the half-width, the note states the smallest share the gate would
have caught; with few real units (two subjects, 28 windows) the sd is wide and the gate is *not judged*.
Measured error rates: ``python -m evaluation.benchmarks.gate_calibration`` (tables).

Rows are encoded as in ``evaluation.memorization.encoding`` (numbers scaled by public bounds, a differing
category costs 1); signals and images use their own distance space (``evaluation.memorization.space``).

Privacy caveat: computed from private records outside the DP guarantee; only shares, the radius (a distance
quantile) and counts are reported, never a record, a unit id or anything computed from one alone.
"""

from __future__ import annotations

import time

import numpy as np

from evaluation.base import Audit, AuditContext, Measurement, unit_codes
from evaluation.memorization.space import SPACES, distance_space
from synthdata.views import subsample

QUANTILE = 0.05  # the near-copy radius: 5% of real records have another real record this close
NEIGHBOURS = 32  # nearest pooled records kept per synthetic row (ties at the nearest distance share credit)
_RTOL, _ATOL = 1e-5, 1e-6


def pooled_units(context: AuditContext) -> tuple[np.ndarray, np.ndarray]:
    """Unit codes of the training and holdout records in one numbering (``unit_codes``: one unit per record
    when no groups are given): a unit on both sides has one code."""
    ids = [np.asarray(context.groups[name]).astype(str) if name in context.groups
           else np.array([f"{name}:{i}" for i in range(len(getattr(context, name)))]) for name in ("train", "holdout")]
    codes = unit_codes(np.concatenate(ids), size=len(ids[0]) + len(ids[1]))
    return codes[: len(ids[0])], codes[len(ids[0]):]


def near_copy_radius(space, pool, units: np.ndarray, *, rng: np.random.Generator, probes: int) -> float:
    """The ``QUANTILE`` of the distance from a real record to the nearest record of ANOTHER unit (a patient's
    own records, often alike, do not count), over at most ``probes`` records of the pool."""
    chosen = np.sort(rng.choice(len(units), size=min(len(units), probes), replace=False))
    distances, index = space.neighbours(space.take(pool, chosen), pool, k=min(NEIGHBOURS, len(units)))
    other = units[index] != units[chosen][:, None]
    first = np.where(other.any(axis=1), other.argmax(axis=1), distances.shape[1] - 1)
    return float(np.quantile(distances[np.arange(len(chosen)), first], QUANTILE))


def unit_credit(space, query, pool, units: np.ndarray, *, distances: np.ndarray, index: np.ndarray,
                rows: np.ndarray, n_units: int) -> tuple[np.ndarray, int]:
    """Credit per unit: each of ``rows`` gives 1, shared equally among ALL real records tied at its nearest
    distance.  Rows whose ties fill the ``NEIGHBOURS`` kept are searched again over the whole pool, so that a
    common profile's credit spreads over every record that has it (not over the same few)."""
    tied = np.isclose(distances, distances[:, :1], rtol=_RTOL, atol=_ATOL)
    full = rows & (tied.sum(axis=1) == distances.shape[1]) & (distances.shape[1] < len(units))
    credit = np.where(tied & (rows & ~full)[:, None], 1.0 / tied.sum(axis=1, keepdims=True), 0.0)
    weight = np.bincount(units[index.ravel()], weights=credit.ravel(), minlength=n_units)
    again = np.flatnonzero(full)
    for start in range(0, len(again), 256):
        chunk = again[start:start + 256]
        everything, order = space.neighbours(space.take(query, chunk), pool, k=len(units))
        tied = np.isclose(everything, everything[:, :1], rtol=_RTOL, atol=_ATOL)
        credit = tied / tied.sum(axis=1, keepdims=True)
        weight += np.bincount(units[order.ravel()], weights=credit.ravel(), minlength=n_units)
    return weight, int(full.sum())


class NearCopiesAudit(Audit):
    """Excess share of close synthetic rows whose nearest real records are training records."""

    name = "memorization.near_copies"
    category = "memorization"
    title = "Near copies of training records"
    explanation = (
        "Looks at the synthetic rows that are almost identical to some real patient record (as close as only "
        "the closest 5% of real patients are to one another) and asks whether that record is a training patient "
        "more often than chance. By chance it is a training patient in proportion to how many patients trained "
        "the model. About 0 means no more near copies of training patients than of anyone else; 0.05 means five "
        "synthetic rows in a hundred reproduce a training record, with small changes or none, beyond chance."
    )
    direction = "at_most"
    default_threshold = 0.02
    no_leak_value = 0.0
    views = tuple(SPACES)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and len(context.holdout) >= 20 and len(context.synthetic) > 0

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        synthetic = subsample(context.synthetic, context.settings.max_rows, rng)
        train_units, holdout_units = pooled_units(context)
        if np.intersect1d(train_units, holdout_units).size:
            raise ValueError("a unit has records in both training and holdout: the split is not by unit")
        n_pool = len(train_units) + len(holdout_units)
        space = distance_space(context, sides=[context.train, context.holdout, synthetic])
        order = rng.permutation(n_pool)
        pool = space.take(space.stack([space.encode(context.train), space.encode(context.holdout)]), order)
        units = np.concatenate([train_units, holdout_units])[order]
        n_units, n_train_units = int(units.max()) + 1, len(np.unique(train_units))
        unit_in_train = np.zeros(n_units, dtype=bool)
        unit_in_train[train_units] = True
        f = n_train_units / n_units

        radius = near_copy_radius(space, pool, units, rng=rng, probes=context.settings.max_rows)
        query = space.encode(synthetic)
        distances, index = space.neighbours(query, pool, k=min(NEIGHBOURS, n_pool))
        close = distances[:, 0] <= radius + _ATOL
        weight, truncated = unit_credit(space, query, pool, units, distances=distances, index=index, rows=close,
                                        n_units=n_units)

        scale = len(synthetic) * (1.0 - f)
        value = float((weight[unit_in_train].sum() - f * weight.sum()) / scale)
        variance = (n_train_units * (n_units - n_train_units) / (n_units * max(n_units - 1, 1))
                    * float(((weight - weight.mean()) ** 2).sum()))
        half = float(1.96 * np.sqrt(variance) / scale)
        details = {
            "radius": round(radius, 4),
            "radius_rule": f"{QUANTILE:.0%} quantile of the distance from a real record to the nearest record of "
                           "another unit (training and holdout pooled)",
            "share_close": round(float(close.mean()), 4),
            "close_rows_nearest_in_training": (round(float(weight[unit_in_train].sum() / weight.sum()), 4)
                                               if weight.sum() > 0 else None),
            "chance_share_in_training": round(f, 4),
            "synthetic_rows_near_copies_beyond_chance": round(value * len(synthetic)),
            "null_sd": round(float(np.sqrt(variance) / scale), 5),
            "interval_rule": "value +- 1.96 sd of the value when the split's training units are drawn at random "
                             "(exact, over which real units trained)",
            "units": {"train": n_train_units, "holdout": n_units - n_train_units,
                      "grouped": bool(context.groups)},
            "sizes": {"synthetic": len(synthetic), "train": len(context.train), "holdout": len(context.holdout),
                      "synthetic_available": len(context.synthetic)},
            "rows_tied_beyond_neighbours": truncated,
            "encoding_notes": space.notes,
            "seconds": round(time.perf_counter() - started, 1),
        }
        return Measurement(value=value, interval=(value - half, value + half), details=details)
