"""Signal and image record sets for the gate-calibration benchmark: the shipped examples, split three ways.

The shipped EEG (eegmmidb S001, 234 windows), ECG (MIT-BIH 100, 369 beat windows) and BreastMNIST (780
images) examples are read through their modality as a release reads them (the spec's declared domains; the
class proportions a DP release would learn are not needed here: this is public data).  Each draw splits the
records into training, holdout and *fresh* records the audits never see as real:

- images: at random, 50 : 20 : 30 (one image per patient in BreastMNIST; an image the set holds twice is
  kept once);
- signals (one subject): each record's time cut into 10 blocks, 4 training, 2 holdout, 4 fresh at random,
  and every window that shares a sample with a window of another part dropped (no sample on two sides).

Copiers replace a share of the fresh records with training records: exact copies, or near copies (signals:
shifted by 2% of a window with noise of 1% of its spread, or noise of 5% of its spread; images: shifted by one
pixel, or noise of sd 0.05 on the [-1, 1] scale).

Privacy: public data (ODC-By 1.0, CC BY 4.0); nothing here is written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synthdata.views import take

DATA = Path(__file__).resolve().parents[2] / "synthdata" / "data"
SPECS = {"eeg": "eeg.yaml", "ecg": "ecg.yaml", "image": "breastmnist.yaml"}
BLOCKS = 10
NEAR_COPIES = {"SignalSet": "'one field' = shifted by 2% of a window plus noise of 1% of its spread; 'noise' = "
                            "noise of 5% of its spread",
               "ImageAuditSet": "'one field' = shifted by one pixel; 'noise' = noise of sd 0.05 on the [-1, 1] scale"}


@dataclass(frozen=True)
class RecordSet:
    """Every record of one shipped example as the audits read it, with what a split needs."""

    name: str
    view: Any  # SignalSet or ImageAuditSet
    schema: Any
    starts: np.ndarray | None  # signals: window start (samples) within its record
    records: np.ndarray | None
    length: int | None  # signals: window length in samples


def load(name: str) -> RecordSet:
    """The shipped example ``name`` (``eeg``, ``ecg`` or ``image``) through its modality."""
    from evaluation.memorization.exact_copies import record_hashes
    from synthdata.modalities import get_modality
    from synthdata.release_spec import load_spec

    spec = load_spec(DATA / SPECS[name])
    modality = get_modality(spec.dataset.modality)
    source = modality.load(dataset=spec.dataset, privacy=spec.privacy)
    codec, _ = modality.resolve(train=source, epsilon=1.0, delta=1e-5, privacy=spec.privacy,
                                rng=np.random.default_rng(0))
    view = modality.audit_frames(data=modality.records_of(source), codec=codec)
    schema = modality.audit_schema(codec=codec)
    # A record that repeats another exactly (BreastMNIST holds one image twice) is one record: split apart,
    # its twin among the "fresh" records would be a real copy of a training record, not a record that leaks
    # nothing.  The first of each is kept.
    _, first = np.unique(record_hashes(view, schema=schema), return_index=True)
    keep = np.sort(first)
    signal = hasattr(source, "starts")
    return RecordSet(name=name, view=take(view, keep), schema=schema,
                     starts=np.asarray(source.starts)[keep] if signal else None,
                     records=np.asarray(source.records).astype(str)[keep] if signal else None,
                     length=int(view.data.shape[-1]) if signal else None)


def three_way(records: RecordSet, *, seed: int) -> tuple[Any, Any, Any, dict[str, np.ndarray]]:
    """Training, holdout and fresh records of one draw (see the module docstring), and the units of the
    training and holdout records (signals: blocks of time, as a release's split gives the audits)."""
    from synthdata.modalities.signal.windows import time_blocks

    rng = np.random.default_rng([seed, 31])
    n = len(records.view)
    if records.starts is None:
        part = rng.permutation(np.arange(n) % 10)
        part = np.where(part < 5, 0, np.where(part < 7, 1, 2))
        units = np.arange(n).astype(str)
    else:
        block = time_blocks(records=records.records, starts=records.starts, blocks=BLOCKS)
        units = np.char.add(np.char.add(records.records, "#"), block.astype(str))
        part = np.empty(n, dtype=np.int64)
        for record in np.unique(records.records):
            mine = np.flatnonzero(records.records == record)
            assignment = rng.permutation(np.repeat([0, 1, 2], [4, 2, 4]))
            part[mine] = assignment[block[mine]]
        keep = np.ones(n, dtype=bool)
        for i in range(n):  # a window sharing a sample with a window of another part is dropped
            same = records.records == records.records[i]
            overlap = same & (np.abs(records.starts - records.starts[i]) < records.length) & (part != part[i])
            keep[i] = not overlap.any()
        part = np.where(keep, part, -1)
    train, holdout, fresh = (take(records.view, np.flatnonzero(part == k)) for k in range(3))
    return train, holdout, fresh, {"train": units[part == 0], "holdout": units[part == 1]}


def copier(kind: str | None, *, share: float, train: Any, fresh: Any, seed: int) -> Any:
    """Fresh records with ``share`` of them replaced by (perturbed) training records."""
    if kind is None:
        return fresh
    rng = np.random.default_rng([seed, 7])
    k = min(int(round(share * len(fresh))), len(train))
    copied = take(train, rng.choice(len(train), size=k, replace=False))
    kept = take(fresh, np.arange(len(fresh) - k))
    if hasattr(fresh, "pixels"):
        pixels = copied.pixels.copy()
        if kind == "field":
            pixels = np.roll(pixels, 1, axis=-1)
        elif kind == "noise":
            pixels = np.clip(pixels + rng.normal(0.0, 0.05, size=pixels.shape), -1.0, 1.0)
        return type(fresh)(pixels=np.concatenate([kept.pixels, pixels.astype(np.float32)]),
                           labels=None if fresh.labels is None else np.concatenate([kept.labels, copied.labels]))
    data = copied.data.copy()
    spread = data.std(axis=-1, keepdims=True)
    if kind == "field":
        data = np.roll(data, max(1, int(0.02 * data.shape[-1])), axis=-1) + rng.normal(size=data.shape) * 0.01 * spread
    elif kind == "noise":
        data = data + rng.normal(size=data.shape) * 0.05 * spread
    return type(fresh)(data=np.concatenate([kept.data, data.astype(np.float32)]),
                       labels=None if fresh.labels is None else np.concatenate([kept.labels, copied.labels]))
