"""Spectral fidelity: do the synthetic windows carry the real signals' power at each frequency?

Each window's power spectral density is estimated per channel with Welch's method (``scipy.signal.welch``,
segments of up to 1 s, Hann window).  Per channel, the mean log-PSD over the real training windows is
compared with the mean log-PSD over the synthetic windows: the distance is the root mean square of their
difference in decibels over the frequencies from ``MIN_HZ`` to the Nyquist frequency (the log-spectral
distance).  The value is the mean over channels (0 dB = identical average spectra).

Yardstick: the same distance between the real training and the real holdout windows
(``details["real_vs_real_db"]``): what a generator as good as fresh real data would score.  For EEG the
details also give the relative power in the classical bands (delta 0.5-4 Hz, theta 4-8, alpha 8-13, beta
13-30), averaged over windows and channels, real beside synthetic.

Informative (no default gate): a spectral distance in dB has no threshold that fits every signal; a
steward may set one in the spec (``fidelity.spectrum``).

Privacy caveat: computed from private windows outside the DP guarantee; reports carry spectra averaged
over at least ``MIN_WINDOWS`` windows, never a single window's spectrum.
"""

from __future__ import annotations

import time

import numpy as np
from scipy.signal import welch

from evaluation.base import Audit, AuditContext, Measurement
from evaluation.report.figures import REAL_COLOR, SYNTHETIC_COLOR, figure_to_base64, new_figure
from synthdata.views.signals import SignalSet

MIN_HZ = 0.5
MIN_WINDOWS = 10
EEG_BANDS = {"delta": (0.5, 4.0), "theta": (4.0, 8.0), "alpha": (8.0, 13.0), "beta": (13.0, 30.0)}
_TINY = 1e-20


def welch_psd(*, data: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """``(frequencies, psd)`` with psd of shape ``(windows, channels, frequencies)``."""
    nperseg = int(min(data.shape[-1], max(16, round(fs))))
    freqs, psd = welch(data, fs=fs, nperseg=nperseg, axis=-1)
    return freqs, psd


def mean_log_psd(*, data: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies and the mean over windows of 10*log10(PSD), per channel: ``(channels, frequencies)``."""
    freqs, psd = welch_psd(data=data, fs=fs)
    return freqs, (10 * np.log10(psd + _TINY)).mean(axis=0)


def log_spectral_distance(freqs: np.ndarray, a_db: np.ndarray, b_db: np.ndarray) -> np.ndarray:
    """RMS difference in dB per channel over frequencies >= MIN_HZ."""
    keep = freqs >= MIN_HZ
    return np.sqrt(((a_db[:, keep] - b_db[:, keep]) ** 2).mean(axis=1))


def band_powers(*, data: np.ndarray, fs: float) -> dict[str, float]:
    """Relative power per EEG band (share of 0.5-30 Hz power), averaged over windows and channels."""
    freqs, psd = welch_psd(data=data, fs=fs)
    total = psd[..., (freqs >= 0.5) & (freqs < 30.0)].sum(axis=-1) + _TINY
    return {band: float((psd[..., (freqs >= lo) & (freqs < hi)].sum(axis=-1) / total).mean())
            for band, (lo, hi) in EEG_BANDS.items() if hi <= fs / 2}


class SpectrumAudit(Audit):
    """Mean log-spectral distance (dB) between real and synthetic average spectra, per channel."""

    name = "fidelity.spectrum"
    category = "fidelity"
    title = "Power spectra (does the synthetic signal oscillate like the real one?)"
    explanation = (
        "Splits each real and each synthetic signal into its frequencies (like an equaliser display) and "
        "compares the average strength of every frequency, channel by channel. The figure is the typical gap "
        "in decibels: 0 means the same average spectrum. For comparison, the details give the gap between two "
        "sets of real recordings."
    )
    direction = "at_most"
    default_threshold = None
    views = (SignalSet,)

    def applies_to(self, context: AuditContext) -> bool:
        return super().applies_to(context) and min(len(context.train), len(context.synthetic)) >= MIN_WINDOWS

    def measure(self, context: AuditContext) -> Measurement:
        started = time.perf_counter()
        rng = context.rng(self.name)
        fs = context.schema.fs
        sides: dict[str, SignalSet] = context.subsampled(rng)
        freqs, real_db = mean_log_psd(data=sides["train"].data, fs=fs)
        _, synthetic_db = mean_log_psd(data=sides["synthetic"].data, fs=fs)
        per_channel = log_spectral_distance(freqs, real_db, synthetic_db)
        details = {
            "per_channel_db": {c: round(float(v), 3) for c, v in zip(context.schema.channels, per_channel)},
            "windows": {k: len(v) for k, v in sides.items()},
            "welch_segment_seconds": round(min(sides["train"].data.shape[-1], max(16, round(fs))) / fs, 3),
        }
        if len(sides["holdout"]) >= MIN_WINDOWS:
            _, holdout_db = mean_log_psd(data=sides["holdout"].data, fs=fs)
            details["real_vs_real_db"] = round(float(log_spectral_distance(freqs, real_db, holdout_db).mean()), 3)
        if context.schema.kind == "eeg":
            details["band_power_share"] = {
                "real": {k: round(v, 4) for k, v in band_powers(data=sides["train"].data, fs=fs).items()},
                "synthetic": {k: round(v, 4) for k, v in band_powers(data=sides["synthetic"].data, fs=fs).items()},
            }
        details["seconds"] = round(time.perf_counter() - started, 2)
        figures = {"Average power spectrum, real vs synthetic": _psd_figure(freqs, real_db, synthetic_db)}
        return Measurement(value=float(per_channel.mean()), details=details, figures=figures)


def _psd_figure(freqs: np.ndarray, real_db: np.ndarray, synthetic_db: np.ndarray) -> str:
    fig, ax = new_figure(width=4.2, height=2.4)
    keep = freqs >= MIN_HZ
    ax.plot(freqs[keep], real_db[:, keep].mean(axis=0), color=REAL_COLOR, label="real (training)")
    ax.plot(freqs[keep], synthetic_db[:, keep].mean(axis=0), color=SYNTHETIC_COLOR, label="synthetic")
    ax.set_xlabel("frequency (Hz)", fontsize=7)
    ax.set_ylabel("power (dB), mean of channels", fontsize=7)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=6, frameon=False)
    return figure_to_base64(fig)
