"""The signal modality on the shipped recordings: labels from a record table or beat annotations, the
split (time blocks with no shared sample for one subject, whole subjects otherwise), the privacy unit, the
class proportions (declared: free; otherwise DP from the preprocessing share), units for DP-SGD, and the
release files read back with wfdb / MNE."""

from __future__ import annotations

import shutil
from pathlib import Path

import mne
import numpy as np
import pytest
import torch
import wfdb

from helpers import DATA
from synthdata.config import DatasetSpec, PrivacySpec
from synthdata.errors import BadInputError
from synthdata.modalities import get_modality
from synthdata.modalities.signal.modality import SignalData
from synthdata.modalities.signal.settings import SignalSpec

PRIVACY = PrivacySpec(epsilon=1.0)


def eeg_dataset(**signal) -> DatasetSpec:
    return DatasetSpec(path=DATA / "eeg", modality="eeg", settings=SignalSpec.model_validate({
        "sample_rate": 80, "amplitude": [-150, 150], "bandpass": [1, 30], "window_seconds": 2, "step_seconds": 0.5,
        "label_table": str(DATA / "eeg" / "labels.csv"), "classes": ["eyes_open", "eyes_closed"],
        "privacy_unit": "window", **signal}))


def ecg_dataset(**signal) -> DatasetSpec:
    return DatasetSpec(path=DATA / "ecg" / "100", modality="ecg", settings=SignalSpec.model_validate({
        "sample_rate": 180, "amplitude": [-2.5, 2.5], "segment": "beats", "labels": {"N": "normal", "A": "sv"},
        **signal}))


def test_eeg_windows_take_their_records_label_from_the_table() -> None:
    modality = get_modality("eeg")
    source = modality.load(dataset=eeg_dataset(), privacy=PRIVACY)
    assert source.windows.data.shape[1:] == (8, 160)
    assert sorted(set(source.windows.labels)) == ["eyes_closed", "eyes_open"]
    for record, label in (("S001R01", "eyes_open"), ("S001R02", "eyes_closed")):
        assert set(source.windows.labels[source.records == record]) == {label}
    unit = modality.privacy_unit(source=source, privacy=PRIVACY)
    assert "windows, not the person" in unit
    assert "up to 4 windows" in unit  # 2 s windows every 0.5 s: one moment lies in 4 of them


def test_bad_label_tables_are_named(tmp_path: Path) -> None:
    modality = get_modality("eeg")
    with pytest.raises(BadInputError, match="diagnosis"):
        modality.load(dataset=eeg_dataset(label_column="diagnosis"), privacy=PRIVACY)
    table = tmp_path / "labels.csv"
    table.write_text("record,label\nS001R01,eyes_open\nS001R02,asleep\n")
    with pytest.raises(BadInputError, match="1 label value") as refused:
        modality.load(dataset=eeg_dataset(label_table=str(table)), privacy=PRIVACY)
    # The value read from the data goes to the local hint, never to the message Dagster's event log keeps.
    assert "asleep" not in refused.value.message and "asleep" in refused.value.hint


def test_single_subject_split_is_by_time_blocks_with_no_shared_sample() -> None:
    modality = get_modality("eeg")
    source = modality.load(dataset=eeg_dataset(), privacy=PRIVACY)
    train, holdout = modality.split(source=source, holdout_fraction=0.3, seed=5)
    length = source.windows.data.shape[-1]
    for record in ("S001R01", "S001R02"):
        a, b = train.starts[train.records == record], holdout.starts[holdout.records == record]
        assert len(a) and len(b)
        assert np.abs(a[:, None] - b[None, :]).min() >= length  # no window pair overlaps
        assert len(b) >= 4
    # held-out blocks are spread over the session, not only its end (for some record)
    spread = [holdout.starts[holdout.records == r].min() < train.starts[train.records == r].max()
              for r in ("S001R01", "S001R02")]
    assert any(spread)
    assert len(train.windows) + len(holdout.windows) < len(source.windows)  # boundary windows dropped


def test_several_subjects_split_by_subject_and_units_hold_a_subject(tmp_path: Path) -> None:
    folder = tmp_path / "eeg"
    folder.mkdir()
    for subject in ("S001", "S002", "S003", "S004", "S005"):
        for run, original in (("R01", "S001R01.edf"), ("R02", "S001R02.edf")):
            shutil.copy(DATA / "eeg" / original, folder / f"{subject}{run}.edf")
    table = tmp_path / "labels.csv"
    table.write_text("record,label\n" + "".join(f"S00{i}R01,eyes_open\nS00{i}R02,eyes_closed\n" for i in range(1, 6)))
    modality = get_modality("eeg")
    dataset = eeg_dataset(label_table=str(table), privacy_unit="subject", max_windows_per_subject=6)
    dataset = dataset.model_copy(update={"path": folder})
    source = modality.load(dataset=dataset, privacy=PRIVACY)
    train, holdout = modality.split(source=source, holdout_fraction=0.4, seed=1)
    assert not set(train.windows.subjects) & set(holdout.windows.subjects)
    n_train = len(set(train.windows.subjects))
    assert modality.count_units(source=train) == n_train and 1 <= n_train < 5
    codec, pre = modality.resolve(train=train, epsilon=0.5, delta=0.0, privacy=PRIVACY, rng=np.random.default_rng(0))
    assert codec.unit == "subject" and pre.epsilon == 0.5  # no declared proportions: measured with DP
    assert "at most 6 records per privacy unit" in pre.notes[-1]  # the sensitivity is the per-subject cap
    rows = modality.records(source=train, codec=codec, privacy=PRIVACY, seed=3)
    assert max(np.unique(rows.subjects, return_counts=True)[1]) == 6
    units = modality.to_units(data=rows, codec=codec)
    assert units.data.shape == (n_train, 6, codec.width) and bool(units.mask.all())
    assert "one subject, with at most 6 windows" in modality.privacy_unit(source=source, privacy=PRIVACY)


def test_class_proportions_cost_budget_only_when_not_declared() -> None:
    modality = get_modality("ecg")
    source = modality.load(dataset=ecg_dataset(), privacy=PRIVACY)
    assert sorted(set(source.windows.labels)) == ["normal", "sv"]
    train, _ = modality.split(source=source, holdout_fraction=0.2, seed=0)
    assert modality.needs_preprocessing(source=train)
    codec, pre = modality.resolve(train=train, epsilon=0.7, delta=0.0, privacy=PRIVACY, rng=np.random.default_rng(1))
    assert pre.epsilon == 0.7 and pre.columns == ["class proportions"]
    assert codec.condition.classes == ("normal", "sv") and codec.condition.proportions[0] > 0.8
    declared = modality.load(dataset=ecg_dataset(class_proportions={"normal": 1, "sv": 1}), privacy=PRIVACY)
    assert not modality.needs_preprocessing(source=declared)
    codec, pre = modality.resolve(train=declared, epsilon=0.0, delta=0.0, privacy=PRIVACY,
                                  rng=np.random.default_rng(1))
    assert pre.epsilon == 0.0 and codec.condition.proportions == (0.5, 0.5)
    conditions = modality.conditions(codec=codec, n=10, rng=np.random.default_rng(0))
    assert conditions.shape == (10, 2) and conditions.sum(axis=0).tolist() == [5, 5]


def test_encode_decode_round_trip_through_the_modality() -> None:
    modality = get_modality("ecg")
    source = modality.load(dataset=ecg_dataset(class_proportions={"normal": 9, "sv": 1}), privacy=PRIVACY)
    codec, _ = modality.resolve(train=source, epsilon=0.0, delta=0.0, privacy=PRIVACY, rng=np.random.default_rng(0))
    rows = modality.records(source=source, codec=codec, privacy=PRIVACY, seed=0)
    units = modality.to_units(data=rows, codec=codec)
    assert units.data.shape == (len(rows), 1, 2 * 126 + 2)  # one subject: one window per unit
    back = modality.decode(codec=codec, array=units.data[:, 0].numpy())
    assert np.allclose(back.data, np.clip(rows.data, -2.5, 2.5), atol=1e-5)
    assert list(back.labels) == list(rows.labels)
    net = modality.build_denoiser(codec=codec, model=__import__("synthdata.config").config.ModelSpec(unet_base=8))
    assert net(units.data[:3, 0], torch.zeros(3, dtype=torch.long)).shape == (3, 2 * 126)


@pytest.mark.parametrize("kind", ["ecg", "eeg"])
def test_release_files_read_back_with_their_own_libraries(kind: str, tmp_path: Path) -> None:
    modality = get_modality(kind)
    dataset = ecg_dataset() if kind == "ecg" else eeg_dataset()
    source = modality.load(dataset=dataset, privacy=PRIVACY)
    codec, _ = modality.resolve(train=source, epsilon=1.0, delta=0.0, privacy=PRIVACY, rng=np.random.default_rng(0))
    rng = np.random.default_rng(2)
    low, high = codec.amplitude
    data = SignalData(rng.uniform(low / 2, high / 2, size=(3, len(codec.channels), codec.length)).astype(np.float32),
                      np.array(["normal", "sv", "normal"] if kind == "ecg" else ["eyes_open", "eyes_closed",
                                                                                   "eyes_open"], dtype=object),
                      np.array(["synthetic-0", "synthetic-1", "synthetic-2"]))
    names = modality.write_release(data=data, codec=codec, folder=tmp_path,
                                   provenance={"synthetic": "true", "epsilon": "1"})
    assert all((tmp_path / n).is_file() for n in names) and "labels.csv" in names
    assert (tmp_path / "labels.csv").read_text().splitlines()[1:] == [
        f"synthetic_{i:05d},{v}" for i, v in enumerate(data.labels)]
    for i in range(3):
        if kind == "ecg":
            record = wfdb.rdrecord(str(tmp_path / "wfdb" / f"synthetic_{i:05d}"))
            assert record.fs == codec.fs and tuple(record.sig_name) == codec.channels
            assert record.sig_len == codec.length and tuple(record.units) == codec.units
            assert any("SYNTHETIC" in c for c in record.comments)
            assert np.allclose(record.p_signal.T, data.data[i], atol=0.01)
            annotation = wfdb.rdann(str(tmp_path / "wfdb" / f"synthetic_{i:05d}"), "atr")
            # the beat as real WFDB has it: its symbol at its place (not the class name in a comment)
            assert annotation.symbol == [{"normal": "N", "sv": "A"}[data.labels[i]]]
            assert annotation.sample.tolist() == [codec.anchor]
        else:
            raw = mne.io.read_raw_edf(tmp_path / "edf" / f"synthetic_{i:05d}.edf", preload=True, verbose="error")
            assert raw.info["sfreq"] == codec.fs and tuple(raw.ch_names) == codec.channels
            assert raw.n_times == codec.length  # 2 s windows: whole EDF data records, no padding
            assert np.allclose(raw.get_data() * 1e6, data.data[i], atol=0.05)
            descriptions = list(raw.annotations.description)
            assert data.labels[i] in descriptions and "synthdata:SYNTHETIC" in descriptions
    if kind == "ecg":
        assert (tmp_path / "wfdb" / "RECORDS").read_text().split() == [f"synthetic_{i:05d}" for i in range(3)]


def test_a_released_ecg_folder_reads_back_with_its_specs_signal_section(tmp_path: Path) -> None:
    """The release's WFDB folder read by the release's own reader with the same ``signal:`` section (beat windows,
    ``labels: {N: normal, A: sv}``) gives one window per synthetic record, of the same length, in the same classes."""
    modality = get_modality("ecg")
    dataset = ecg_dataset()
    source = modality.load(dataset=dataset, privacy=PRIVACY)
    codec, _ = modality.resolve(train=source, epsilon=1.0, delta=0.0, privacy=PRIVACY, rng=np.random.default_rng(0))
    pick = np.r_[np.flatnonzero(source.windows.labels == "normal")[:4], np.flatnonzero(source.windows.labels == "sv")[:3]]
    released = source.windows.take(pick)  # real beat windows standing in for a sample
    modality.write_release(data=released, codec=codec, folder=tmp_path, provenance={"synthetic": "true"})
    back = modality.load(dataset=dataset.model_copy(update={"path": tmp_path / "wfdb"}), privacy=PRIVACY).windows
    assert list(back.labels) == list(released.labels) == ["normal"] * 4 + ["sv"] * 3
    assert back.data.shape == released.data.shape




@pytest.mark.parametrize("preset", ["fast", "standard"])
def test_an_ecg_spec_that_says_no_data_scale_gets_4_from_its_preset_and_eeg_1(preset: str) -> None:
    """A steward's own ECG spec (not only the shipped example) diffuses beats at 4; EEG and tables keep 1; a
    declared value wins over the preset."""
    from synthdata.release_spec import parse_spec

    def scale(modality: str, **model: object) -> float:
        section = {"signal": {"sample_rate": 180, "amplitude": [-2.5, 2.5]}} if modality != "table" else {}
        return parse_spec({"name": "own", "dataset": {"path": "recordings", "modality": modality, **section},
                           "privacy": {"epsilon": 3.0}, "model": {"preset": preset, **model},
                           "output": {"out": "out"}}).model.data_scale

    assert (scale("ecg"), scale("eeg"), scale("table"), scale("ecg", data_scale=2.0)) == (4.0, 1.0, 1.0, 2.0)


def test_a_release_diffuses_at_its_specs_data_scale() -> None:
    """The ECG example (its preset's data_scale 4: beats fill a tenth of +-2.5 mV) has its release's process run on
    4x the windows; the EEG example and the table demo keep 1."""
    from synthdata.flow import stages
    from synthdata.release_spec import load_spec

    shipped = Path(__file__).resolve().parents[3] / "synthdata" / "data"
    scales = {}
    for example in ("ecg.yaml", "eeg.yaml"):
        spec = load_spec(shipped / example)
        modality = get_modality(spec.dataset.modality)
        source = modality.load(dataset=spec.dataset, privacy=spec.privacy)
        codec, _ = modality.resolve(train=source, epsilon=1.0, delta=0.0, privacy=PRIVACY, rng=np.random.default_rng(0))
        scales[example] = stages.diffusion_for(spec=spec, modality=modality, codec=codec).scale
    assert scales == {"ecg.yaml": 4.0, "eeg.yaml": 1.0}
    assert load_spec(shipped / "demo.yaml").model.data_scale == 1.0
