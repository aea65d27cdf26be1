"""Privacy units of record-level modalities (signal windows, images): split by subject, bound each subject's
contribution, and group a subject's records into one DP-SGD unit.

With ``unit = "subject"`` every subject is ONE unit holding at most ``cap`` records (the rest are never
used), so DP-SGD clips one gradient per person.  With ``unit = "record"`` every record is a unit; a
subject's guarantee then follows from group privacy over their at most ``cap`` records.  With a single
subject only record-level units exist.  Subject identifiers are private: they are used here to group and
split, and never written anywhere else.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from synthdata.modalities.base import Units


def subject_draw(subjects: np.ndarray, *, seed: int, salt: str) -> np.ndarray:
    """A uniform number in [0, 1) per record that depends only on the public seed, ``salt`` and the record's
    own subject id (SHA-256), so adding or removing one subject changes no other subject's draw."""
    names, inverse = np.unique(np.asarray(subjects).astype(str), return_inverse=True)
    return np.array([_key(f"{seed}|{salt}|{name}") / 2.0**64 for name in names])[inverse]


def split_by_subject(*, subjects: np.ndarray, holdout_fraction: float, seed: int) -> np.ndarray | None:
    """Holdout mask that keeps every subject on one side, or None when there is only one subject (the caller
    splits by time or position instead).

    Each subject is held out when its own ``subject_draw`` is below ``holdout_fraction``: whether one person
    is in the training data never depends on who else is, which DP over the whole dataset needs (a shuffle
    of all subjects would move others between the sides when one person is added).  The holdout size is
    therefore binomial.  Should no subject (or every subject) fall on one side, the subject with the
    smallest (largest) draw is moved: only for data sets of a handful of subjects.
    """
    if len(np.unique(subjects)) < 2:
        return None
    draw = subject_draw(subjects, seed=seed, salt="holdout")
    holdout = draw < holdout_fraction
    if not holdout.any():
        holdout = draw == draw.min()
    elif holdout.all():
        holdout = draw != draw.max()
    return holdout


def _key(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _positions(inverse: np.ndarray, counts: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Each record's position within its group, following ``order`` (a grouping sort of the records)."""
    position = np.empty(len(inverse), dtype=np.int64)
    position[order] = np.arange(len(inverse)) - np.repeat(np.cumsum(counts) - counts, counts)
    return position


def cap_per_subject(*, subjects: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``cap`` records per subject.  Which of a subject's records are kept depends
    only on the public seed and that subject's own records (their order in the input: a key per record
    from SHA-256 of seed, subject and position), never on other subjects.  A single subject (record-level
    units) keeps every record."""
    subjects = np.asarray(subjects).astype(str)
    names, inverse = np.unique(subjects, return_inverse=True)
    if len(names) < 2:
        return np.arange(len(subjects))
    counts = np.bincount(inverse, minlength=len(names))
    within = _positions(inverse, counts, np.argsort(inverse, kind="stable"))
    keys = np.array([_key(f"{seed}|cap|{name}|{i}") for name, i in zip(subjects, within)], dtype=np.uint64)
    rank = _positions(inverse, counts, np.lexsort((keys, inverse)))
    return np.flatnonzero(rank < cap)


def unit_keys(*, subjects: np.ndarray, unit: str) -> np.ndarray:
    """The DP-SGD unit of every record: its subject (``unit="subject"`` and several subjects) or itself."""
    if unit == "subject" and len(np.unique(subjects)) >= 2:
        return np.asarray(subjects)
    return np.arange(len(subjects))


def group_units(*, rows: torch.Tensor, keys: np.ndarray) -> Units:
    """Rows ``(n, d)`` grouped by unit key into ``Units`` ``(N, R, d)`` (R = most rows of one unit; padding
    rows zero with mask False)."""
    names, inverse = np.unique(keys, return_inverse=True)
    counts = np.bincount(inverse, minlength=len(names))
    width = int(counts.max()) if len(counts) else 1
    slot = _positions(inverse, counts, np.argsort(inverse, kind="stable"))
    data = torch.zeros(len(names), width, rows.shape[1], dtype=rows.dtype)
    mask = torch.zeros(len(names), width, dtype=torch.bool)
    index = (torch.from_numpy(inverse), torch.from_numpy(slot))
    data[index] = rows
    mask[index] = True
    return Units(data=data, mask=mask)
