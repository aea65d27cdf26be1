"""Features of signal windows for the utility audit's classifiers: spectra and amplitudes, per channel.

Per channel: the log power in ``BANDS`` log-spaced frequency bands from 0.5 Hz to the Nyquist frequency
(Welch PSD), the log standard deviation, and the log line length (mean absolute first difference, which
tracks sharp waves such as QRS complexes).  Log scales make power ratios linear for logistic regression.
Public choices only; nothing is learned from the data here.
"""

from __future__ import annotations

import numpy as np

from evaluation.fidelity.spectrum import welch_psd

BANDS = 12
_TINY = 1e-12


def signal_features(*, data: np.ndarray, fs: float) -> np.ndarray:
    """Feature matrix ``(windows, channels * (BANDS + 2))`` of windows ``(n, C, L)``."""
    freqs, psd = welch_psd(data=data, fs=fs)
    edges = np.geomspace(0.5, fs / 2, BANDS + 1)
    bands = [psd[..., (freqs >= lo) & (freqs < hi if i < BANDS - 1 else freqs <= hi)].sum(axis=-1)
             for i, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))]
    power = np.log(np.stack(bands, axis=-1) + _TINY)  # (n, C, BANDS)
    spread = np.log(data.std(axis=-1) + _TINY)[..., None]
    line = np.log(np.abs(np.diff(data, axis=-1)).mean(axis=-1) + _TINY)[..., None]
    return np.concatenate([power, spread, line], axis=-1).reshape(len(data), -1)
