"""Channel picks, resampling, filtering, windowing and range scaling on the shipped samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from synthdata.errors import BadInputError
from synthdata.modalities.signal import readers, windows
from synthdata.modalities.signal.recording import Annotation, Recording

DATA = Path(__file__).resolve().parents[3] / "synthdata" / "data"


@pytest.fixture(scope="module")
def eeg() -> list[Recording]:
    return readers.read_eeg(path=DATA / "eeg")


@pytest.fixture(scope="module")
def ecg() -> Recording:
    return readers.read_wfdb(path=DATA / "ecg" / "100")[0]


def test_pick_channels(eeg: list[Recording]) -> None:
    picked = windows.pick_channels(eeg[0], channels=["Oz", "O1.."])
    assert picked.channels == ("Oz..", "O1..") and picked.samples.shape == (2, 9600)
    np.testing.assert_array_equal(picked.samples[1], eeg[0].samples[0])
    with pytest.raises(BadInputError, match=r"S001R01: channel 'Cz' not found; available channels: \['O1.."):
        windows.pick_channels(eeg[0], channels=["Cz"])


def test_resample_lengths_and_annotations(ecg: Recording) -> None:
    down = windows.resample(ecg, fs=250)
    assert down.fs == 250 and down.samples.shape == (2, 300 * 250)
    for before, after in zip(ecg.annotations, down.annotations, strict=True):
        assert after.label == before.label and abs(after.sample - before.sample * 250 / 360) <= 0.5
    with pytest.raises(BadInputError, match="100"):
        windows.resample(ecg, fs=-1)


def test_bandpass_declared_band(eeg: list[Recording]) -> None:
    out = windows.bandpass(eeg[0], low=8, high=12)
    spectrum = np.abs(np.fft.rfft(out.samples[0]))
    freqs = np.fft.rfftfreq(out.n_samples, 1 / out.fs)
    assert spectrum[(freqs > 8) & (freqs < 12)].mean() > 10 * spectrum[freqs > 30].mean()
    with pytest.raises(BadInputError, match="S001R01"):
        windows.bandpass(eeg[0], low=10, high=90)


def test_fixed_windows_r01_r02(eeg: list[Recording]) -> None:
    cut = windows.fixed_windows(eeg, seconds=2, labels={"T0": "rest"})
    assert cut.data.shape == (60, 8, 320) and cut.data.dtype == np.float32
    assert set(cut.labels) == {"rest"} and list(cut.records[:1]) == ["S001R01"] and set(cut.subjects) == {"S001"}
    overlap = windows.fixed_windows(eeg, seconds=2, step_seconds=1)
    assert overlap.labels is None and overlap.data.shape == (2 * 59, 8, 320)
    np.testing.assert_array_equal(overlap.data[1], eeg[0].samples[:, 160:480])


def test_fixed_windows_label_by_centre() -> None:
    rec = Recording(record="r", subject="s", fs=10, channels=("a",), units=("uV",), samples=np.zeros((1, 100)),
                    annotations=(Annotation(0, "T1", 35), Annotation(35, "T2", 30), Annotation(80, "X", 0)))
    cut = windows.fixed_windows([rec], seconds=2, labels={"T1": "left", "T2": "right"})
    assert list(cut.starts) == [0, 20, 40] and list(cut.labels) == ["left", "left", "right"]
    cut = windows.fixed_windows([rec], seconds=2, labels={"T1": "left", "T2": "right"}, default_label="none")
    assert list(cut.labels) == ["left", "left", "right", "none", "none"]


def test_beat_windows_counts(ecg: Recording) -> None:
    cut = windows.beat_windows([ecg], before_seconds=0.25, after_seconds=0.45,
                               symbols={"N": "normal", "V": "ventricular", "A": "atrial"}, min_spacing_seconds=0.2)
    assert cut.data.shape[1:] == (2, 252)
    counts = dict(zip(*np.unique(cut.labels, return_counts=True), strict=True))
    assert counts["ventricular"] == 1 and counts["atrial"] == 8 and counts["normal"] in (362, 363)
    first = next(a for a in ecg.annotations if a.label == "N")
    assert cut.starts[0] == first.sample - 90


def test_labels_from_table(tmp_path: Path, eeg: list[Recording]) -> None:
    cut = windows.fixed_windows(eeg, seconds=4)
    table = tmp_path / "labels.csv"
    table.write_text("record,label\nS001R01,eyes_open\nS001R02,eyes_closed\n")
    labelled = windows.labels_from_table(cut, table=table)
    assert list(labelled.labels[:15]) == ["eyes_open"] * 15 and list(labelled.labels[15:]) == ["eyes_closed"] * 15
    table.write_text("record,state\nS001R01,x\n")
    with pytest.raises(BadInputError, match="labels.csv: no column 'label'"):
        windows.labels_from_table(cut, table=table)
    table.write_text("record,label\nS001R01,x\n")
    with pytest.raises(BadInputError, match="S001R02"):
        windows.labels_from_table(cut, table=table)


def test_beats_closer_than_the_declared_spacing_are_refused(ecg: Recording) -> None:
    """The overlap bound stated for window-level units rests on the declared spacing: a pair of beats closer
    than it is refused, naming the record and the beats, with the spacing itself only in the hint."""
    beats = sorted(a.sample for a in ecg.annotations if a.label == "N")
    gap = int(np.diff(beats).min())  # the closest two normal beats, in samples
    with pytest.raises(BadInputError, match="closer than signal.min_beat_spacing_seconds") as refused:
        windows.beat_windows([ecg], before_seconds=0.25, after_seconds=0.45, symbols={"N": "normal"},
                             min_spacing_seconds=(gap + 1) / ecg.fs)
    assert str(ecg.record) in refused.value.message and " s apart" in refused.value.hint
    windows.beat_windows([ecg], before_seconds=0.25, after_seconds=0.45, symbols={"N": "normal"},
                         min_spacing_seconds=gap / ecg.fs)  # exactly the closest gap: accepted


def test_overlapping_beat_windows_are_stated_as_a_group() -> None:
    """A window-level statement for beat windows names how many windows one moment can lie in."""
    from synthdata.modalities.signal.modality import _overlap
    from synthdata.modalities.signal.settings import SignalSpec

    spec = SignalSpec(sample_rate=180, amplitude=(-2.5, 2.5), segment="beats", labels={"N": "normal"},
                      beat_before_seconds=0.8, beat_after_seconds=0.45)
    assert windows.beat_overlap(before_seconds=0.8, after_seconds=0.45, min_spacing_seconds=0.2) == 7
    assert "up to 7 windows" in _overlap(spec) and "ε x 7" in _overlap(spec)
    short = spec.model_copy(update={"beat_before_seconds": 0.05, "beat_after_seconds": 0.1})
    assert _overlap(short) == ""  # windows shorter than the spacing never overlap
