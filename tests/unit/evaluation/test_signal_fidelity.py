"""Signal fidelity audits on generated signals: the right spectrum and amplitudes score near the real-vs-real
yardstick; a wrong rhythm, wrong amplitudes or broken channel coupling score clearly worse."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.base import AuditContext, AuditSettings
from evaluation.fidelity.amplitude import AmplitudeAudit, suppressed_histogram
from evaluation.fidelity.spectrum import SpectrumAudit, band_powers
from synthdata.views.signals import SignalSchema, SignalSet

FS = 100.0


def eeg_like(n: int, *, hz: float = 10.0, scale: float = 20.0, coupled: bool = True, seed: int = 0) -> SignalSet:
    """n windows of 2 s, 3 channels: an alpha-like rhythm at ``hz`` plus noise; channel 1 follows channel 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(2 * FS)) / FS
    phase = rng.uniform(0, 2 * np.pi, size=(n, 1))
    base = scale * np.sin(2 * np.pi * hz * t + phase)
    other = base if coupled else scale * np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi, size=(n, 1)))
    data = np.stack([base, 0.8 * other, np.zeros_like(base)], axis=1) + rng.normal(0, 5.0, size=(n, 3, len(t)))
    return SignalSet(data=data.astype(np.float32), labels=None)


SCHEMA = SignalSchema(kind="eeg", fs=FS, channels=("O1", "O2", "Cz"), units=("uV",) * 3, amplitude=(-100.0, 100.0))


def context(synthetic: SignalSet) -> AuditContext:
    return AuditContext(modality="eeg", train=eeg_like(200, seed=1), holdout=eeg_like(100, seed=2),
                        synthetic=synthetic, schema=SCHEMA, settings=AuditSettings(max_rows=500, seed=0))


def test_spectrum_separates_the_right_rhythm_from_a_wrong_one() -> None:
    good = SpectrumAudit().measure(context(eeg_like(200, seed=3)))
    wrong = SpectrumAudit().measure(context(eeg_like(200, hz=3.0, seed=3)))
    assert good.value < 1.5 * good.details["real_vs_real_db"] + 0.5
    assert wrong.value > 3 * good.value and wrong.value > 2.0
    bands = good.details["band_power_share"]
    assert bands["real"]["alpha"] > 0.5 and abs(bands["real"]["alpha"] - bands["synthetic"]["alpha"]) < 0.05
    assert wrong.details["band_power_share"]["synthetic"]["delta"] > 0.5
    assert "Average power spectrum, real vs synthetic" in good.figures


def test_band_powers_find_the_dominant_band() -> None:
    assert max(band_powers(data=eeg_like(20, hz=6.0).data, fs=FS).items(), key=lambda kv: kv[1])[0] == "theta"


def test_amplitude_flags_wrong_scale_and_lost_coupling() -> None:
    good = AmplitudeAudit().measure(context(eeg_like(200, seed=3)))
    loud = AmplitudeAudit().measure(context(eeg_like(200, scale=60.0, seed=3)))
    uncoupled = AmplitudeAudit().measure(context(eeg_like(200, coupled=False, seed=3)))
    assert good.value < 0.05 and loud.value > 0.2
    assert good.details["correlation_gap"] < 0.05
    assert uncoupled.details["correlation_gap"] > 4 * max(good.details["correlation_gap"], 0.01)


def test_histogram_hides_bins_fed_by_few_windows() -> None:
    data = np.zeros((30, 1, 50), dtype=np.float32)
    data[:3, 0, :] = 90.0  # a value range only three windows reach
    counts = suppressed_histogram(data, np.linspace(-100, 100, 41))
    assert np.isnan(counts[-3])  # the bin holding 90 comes from 3 windows: hidden
    assert counts[20] == pytest.approx(27 * 50)  # the bin holding 0 comes from 27 windows: shown
