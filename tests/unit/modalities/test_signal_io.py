"""Signal readers and writers on the shipped samples; bad inputs raise BadInputError naming the file."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import mne
import numpy as np
import pytest
import wfdb

from synthdata.errors import BadInputError
from synthdata.modalities.signal import readers, writers
from synthdata.modalities.signal.recording import Annotation, Recording

DATA = Path(__file__).resolve().parents[3] / "synthdata" / "data"
ECG, EEG = DATA / "ecg", DATA / "eeg"


def test_read_wfdb_record_forms_agree() -> None:
    by_name = readers.read_wfdb(path=ECG / "100")
    assert len(by_name) == 1
    rec = by_name[0]
    assert (rec.record, rec.subject, rec.fs, rec.channels, rec.units) == ("100", "100", 360.0, ("MLII", "V5"),
                                                                         ("mV", "mV"))
    assert rec.samples.shape == (2, 300 * 360) and rec.samples.dtype == np.float32
    assert Counter(a.label for a in rec.annotations) == {"N": 363, "A": 8, "V": 1}
    for other in (ECG / "100.hea", ECG):
        again = readers.read_wfdb(path=other)[0]
        np.testing.assert_array_equal(again.samples, rec.samples)
    assert readers.read_wfdb(path=ECG / "100", annotation_extension=None)[0].annotations == ()


def test_read_wfdb_records_file(tmp_path: Path) -> None:
    for f in ECG.glob("100.*"):
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "RECORDS").write_text("100\n")
    assert [r.record for r in readers.read_wfdb(path=tmp_path / "RECORDS")] == ["100"]
    (tmp_path / "RECORDS").write_text("100\n999\n")
    with pytest.raises(BadInputError, match="999"):
        readers.read_wfdb(path=tmp_path)


def test_read_eeg_file_and_folder() -> None:
    recs = readers.read_eeg(path=EEG)
    assert [r.record for r in recs] == ["S001R01", "S001R02"]
    for rec in recs:
        assert rec.subject == "S001" and rec.fs == 160.0 and rec.samples.shape == (8, 9600)
        assert rec.channels == ("O1..", "Oz..", "O2..", "Po3.", "Poz.", "Po4.", "P1..", "P2..")
        assert set(rec.units) == {"uV"}
        assert 5 < float(rec.samples.std()) < 500  # microvolts, not volts
        assert rec.annotations == (Annotation(sample=0, label="T0", duration=9600),)
    single = readers.read_eeg(path=EEG / "S001R02.edf")
    np.testing.assert_array_equal(single[0].samples, recs[1].samples)


def test_recording_validation() -> None:
    with pytest.raises(BadInputError, match="r1"):
        Recording(record="r1", subject="s", fs=0, channels=("a",), units=("mV",), samples=np.zeros((1, 5)))
    with pytest.raises(BadInputError, match="'b'"):
        Recording(record="r1", subject="s", fs=1, channels=("a", "b"), units=("mV", "mV"),
                  samples=np.array([[0, 1.0], [np.nan, 0]]))
    with pytest.raises(BadInputError, match="channel names"):
        Recording(record="r1", subject="s", fs=1, channels=("a",), units=("mV",), samples=np.zeros((2, 5)))


def _copy_ecg(tmp_path: Path) -> Path:
    for f in ECG.glob("100.*"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path / "100"


def test_truncated_dat(tmp_path: Path) -> None:
    base = _copy_ecg(tmp_path)
    dat = base.with_suffix(".dat")
    dat.write_bytes(dat.read_bytes()[:10001])
    with pytest.raises(BadInputError, match="100.dat: truncated"):
        readers.read_wfdb(path=base)


def test_header_count_mismatch(tmp_path: Path) -> None:
    base = _copy_ecg(tmp_path)
    hea = base.with_suffix(".hea")
    hea.write_text(hea.read_text().replace("100 2 360 108000", "100 2 360 1000"))
    with pytest.raises(BadInputError, match="100.dat: holds more samples"):
        readers.read_wfdb(path=base)


def test_bad_wfdb_header_and_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "x.hea").write_text("not a header\n")
    with pytest.raises(BadInputError, match="x.hea"):
        readers.read_wfdb(path=tmp_path / "x")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(BadInputError, match="empty"):
        readers.read_wfdb(path=empty)
    with pytest.raises(BadInputError, match="empty"):
        readers.read_eeg(path=empty)


def test_bad_edf_inputs(tmp_path: Path) -> None:
    raw = (EEG / "S001R01.edf").read_bytes()
    header = int(raw[184:192])
    (tmp_path / "norec.edf").write_bytes(raw[:236] + b"0       " + raw[244:header])
    with pytest.raises(BadInputError, match="norec.edf: EDF/BDF file has no data records"):
        readers.read_eeg(path=tmp_path / "norec.edf")
    (tmp_path / "cut.edf").write_bytes(raw[:header + 5000])
    with pytest.raises(BadInputError, match="cut.edf: truncated"):
        readers.read_eeg(path=tmp_path / "cut.edf")
    (tmp_path / "junk.edf").write_bytes(b"hello")
    with pytest.raises(BadInputError, match="junk.edf"):
        readers.read_eeg(path=tmp_path / "junk.edf")
    (tmp_path / "junk.fif").write_bytes(b"hello")
    with pytest.raises(BadInputError, match="junk.fif"):
        readers.read_eeg(path=tmp_path / "junk.fif")
    (tmp_path / "a.xyz").write_bytes(b"hello")
    with pytest.raises(BadInputError, match=r"a.xyz: unknown EEG file type"):
        readers.read_eeg(path=tmp_path / "a.xyz")


def test_write_wfdb_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3600)) * 0.5).astype(np.float32)
    files = writers.write_wfdb(folder=tmp_path, name="syn_1", samples=x, fs=360, channels=["MLII", "V5"],
                               units=["mV", "mV"], labels=[(200, "V"), (100, "N"), (50, "AFIB")],
                               comments=["epsilon 1.0"])
    assert [Path(f).name for f in files] == ["syn_1.hea", "syn_1.dat", "syn_1.atr"]
    back = wfdb.rdrecord(str(tmp_path / "syn_1"))
    assert back.fs == 360 and back.sig_name == ["MLII", "V5"] and back.sig_len == 3600
    step = (x.max(axis=1) - x.min(axis=1)) / 60000  # 16-bit quantisation over the range
    assert np.all(np.abs(back.p_signal.T - x).max(axis=1) <= step)
    assert any("SYNTHETIC" in c for c in back.comments) and "epsilon 1.0" in back.comments
    ann = wfdb.rdann(str(tmp_path / "syn_1"), "atr")
    assert list(ann.sample) == [50, 100, 200] and ann.symbol == ['"', "N", "V"] and ann.aux_note[0] == "AFIB"
    again = readers.read_wfdb(path=tmp_path / "syn_1")[0]
    assert [a.label for a in again.annotations] == ["AFIB", "N", "V"]


def test_write_wfdb_bad_input_writes_nothing(tmp_path: Path) -> None:
    x = np.zeros((2, 100), dtype=np.float32)
    x[1, 5] = np.inf
    out = tmp_path / "out"
    with pytest.raises(BadInputError, match=r"syn.hea: channel\(s\) \['V5'\]"):
        writers.write_wfdb(folder=out, name="syn", samples=x, fs=360, channels=["MLII", "V5"],
                           units=["mV", "mV"], labels=None, comments=[])
    with pytest.raises(BadInputError, match="syn.atr"):
        writers.write_wfdb(folder=out, name="syn", samples=np.zeros((2, 100)), fs=360, channels=["MLII", "V5"],
                           units=["mV", "mV"], labels=[(100, "N")], comments=[])
    assert not out.exists()


def test_write_edf_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 1600)) * 40).astype(np.float32)
    path = tmp_path / "syn.edf"
    files = writers.write_edf(path=path, samples=x, fs=160, channels=["O1", "Oz", "O2"], units=["uV"] * 3,
                              annotations=[Annotation(sample=160, label="T1", duration=320)],
                              provenance={"epsilon": "1.0", "run": "abc"})
    assert files == [str(path)]
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert raw.info["sfreq"] == 160 and raw.ch_names == ["O1", "Oz", "O2"] and raw.n_times == 1600
    step = (x.max(axis=1) - x.min(axis=1)) / 60000
    assert np.all(np.abs(raw.get_data() * 1e6 - x).max(axis=1) <= step + 1e-3)
    head = path.read_bytes()[8:168].decode("ascii")
    assert "SYNTHETIC" in head[:80] and "SYNTHETIC" in head[80:]
    labels = set(raw.annotations.description)
    assert {"T1", "synthdata:SYNTHETIC", "synthdata:epsilon=1.0", "synthdata:run=abc"} <= labels
    back = readers.read_eeg(path=path)[0]
    assert Annotation(sample=160, label="T1", duration=320) in back.annotations


def test_write_edf_bad_input_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="syn.edf"):
        writers.write_edf(path=tmp_path / "syn.edf", samples=np.zeros((2, 160)), fs=160, channels=["O1"],
                          units=["uV"], annotations=[], provenance={})
    with pytest.raises(BadInputError, match="syn.bdf"):
        writers.write_edf(path=tmp_path / "syn.bdf", samples=np.zeros((1, 160)), fs=160, channels=["O1"],
                          units=["uV"], annotations=[], provenance={})
    assert list(tmp_path.iterdir()) == []
