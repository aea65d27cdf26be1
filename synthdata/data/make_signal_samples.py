"""Make the small real signal samples shipped with synthdata (run from the repository root).

    .venv/bin/python synthdata/data/make_signal_samples.py [--shared ../shared/data]

* ``ecg/100.{hea,dat,atr}``: 5 minutes (22:30 to 27:30, chosen to hold the record's
  only V beat and 8 A beats) of MIT-BIH Arrhythmia record 100, both leads, 360 Hz,
  the original digital samples (format 212, same gains and baselines) and its reference annotations.
* ``eeg/S001R01.edf``, ``eeg/S001R02.edf``: eegmmidb subject S001, runs 1 (eyes open) and 2 (eyes
  closed), the full 60 s at 160 Hz, cropped to 8 occipital/parietal channels, written as EDF+ by MNE.

See SOURCES.md in each folder for licence and attribution.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ECG_START_SECONDS = 1350
ECG_SECONDS = 300
EEG_CHANNELS = ("O1..", "Oz..", "O2..", "Po3.", "Poz.", "Po4.", "P1..", "P2..")
HERE = Path(__file__).resolve().parent


def make_ecg(shared: Path, out: Path) -> None:
    import wfdb

    src = shared / "ecg" / "100"
    header = wfdb.rdheader(str(src))
    start = int(ECG_START_SECONDS * header.fs)
    stop = start + int(ECG_SECONDS * header.fs)
    record = wfdb.rdrecord(str(src), sampfrom=start, sampto=stop, physical=False)
    out.mkdir(parents=True, exist_ok=True)
    note = f"{ECG_SECONDS} s from {ECG_START_SECONDS} s of MIT-BIH Arrhythmia Database record 100"
    record.comments = [note + " (real data, ODC-By 1.0); see SOURCES.md"]
    record.wrsamp(write_dir=str(out))
    ann = wfdb.rdann(str(src), "atr", sampfrom=start, sampto=stop - 1, shift_samps=True)
    wfdb.wrann("100", "atr", sample=ann.sample, symbol=ann.symbol, subtype=ann.subtype, chan=ann.chan,
               num=ann.num, aux_note=[(note or "").replace("\x00", "") for note in ann.aux_note],
               fs=record.fs, write_dir=str(out))


def make_eeg(shared: Path, out: Path) -> None:
    import mne

    out.mkdir(parents=True, exist_ok=True)
    for run in ("S001R01", "S001R02"):
        raw = mne.io.read_raw_edf(shared / "eeg" / "eegmmidb_S001" / f"{run}.edf", preload=True,
                                  encoding="latin1", verbose="error")
        raw.pick(list(EEG_CHANNELS))
        mne.export.export_raw(out / f"{run}.edf", raw, fmt="edf", overwrite=True, verbose="error")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=HERE.parents[2] / ".." / "shared" / "data")
    args = parser.parse_args()
    make_ecg(args.shared, HERE / "ecg")
    make_eeg(args.shared, HERE / "eeg")


if __name__ == "__main__":
    main()
