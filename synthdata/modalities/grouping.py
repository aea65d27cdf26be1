"""Privacy units of record-level modalities (signal windows, images): split by subject, bound each subject's
contribution, and group a subject's records into one DP-SGD unit.

With ``unit = "subject"`` every subject is ONE unit holding at most ``cap`` records (the rest are never
used), so DP-SGD clips one gradient per person.  With ``unit = "record"`` every record is a unit; a
subject's guarantee then follows from group privacy over their at most ``cap`` records.  With a single
subject only record-level units exist.  Subject identifiers are private: they are used here to group and
split, and never written anywhere else.
"""

from __future__ import annotations

import numpy as np
import torch

from synthdata.modalities.base import Units


def split_by_subject(*, subjects: np.ndarray, holdout_fraction: float, seed: int) -> np.ndarray | None:
    """Holdout mask that keeps every subject on one side (a public-seed draw of whole subjects), or None
    when there is only one subject (the caller splits by time or position instead)."""
    names = np.unique(subjects)
    if len(names) < 2:
        return None
    rng = np.random.default_rng([seed, 11])
    held = rng.permutation(names)[: max(1, round(holdout_fraction * len(names)))]
    return np.isin(subjects, held)


def cap_per_subject(*, subjects: np.ndarray, cap: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``cap`` records per subject, drawn with the public seed.  A single subject
    (record-level units) keeps every record."""
    names = np.unique(subjects)
    if len(names) < 2:
        return np.arange(len(subjects))
    rng = np.random.default_rng([seed, 12])
    keep = [np.sort(rng.permutation(np.flatnonzero(subjects == name))[:cap]) for name in names]
    return np.sort(np.concatenate(keep))


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
    order = np.argsort(inverse, kind="stable")
    slot = np.empty(len(keys), dtype=np.int64)
    slot[order] = np.arange(len(keys)) - np.repeat(np.cumsum(counts) - counts, counts)
    data = torch.zeros(len(names), width, rows.shape[1], dtype=rows.dtype)
    mask = torch.zeros(len(names), width, dtype=torch.bool)
    index = (torch.from_numpy(inverse), torch.from_numpy(slot))
    data[index] = rows
    mask[index] = True
    return Units(data=data, mask=mask)
