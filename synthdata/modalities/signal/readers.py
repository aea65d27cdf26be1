"""Read WFDB (ECG) and EDF/EDF+/BDF/FIF (EEG) recordings into :class:`Recording` objects.

Both readers check the file against its own header before handing it to wfdb or MNE (a truncated or
over-long signal file, an EDF with no data records) and translate whatever the libraries raise into a
:class:`~synthdata.errors.BadInputError` that names the file.  Nothing is written.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from synthdata.errors import BadInputError, reader_hint
from synthdata.modalities.signal.recording import Annotation, Recording

EEG_SUFFIXES = (".edf", ".bdf", ".fif")
# bits per stored sample for the WFDB formats whose file size follows from the header
_WFDB_BITS = {"8": 8, "16": 16, "24": 24, "32": 32, "61": 16, "80": 8, "160": 16, "212": 12, "310": 32 / 3,
              "311": 32 / 3}
_SUBJECT = re.compile(r"S\d{3}")


# ----------------------------------------------------------------------------------------------- WFDB
def read_wfdb(*, path: Path, annotation_extension: str | None = "atr") -> list[Recording]:
    """Read WFDB records in physical units, with their annotations when the annotation file exists.

    ``path`` is one record (``dir/100`` or ``dir/100.hea``), a folder of ``.hea`` headers, or a
    ``RECORDS`` file listing record names.  Each record's name is also its subject (MIT-BIH style, one
    record per patient).  Beat annotations become :class:`Annotation` with the beat symbol as label;
    rhythm and other non-beat annotations with an aux note use the note (``(AFIB``) as label.
    ``annotation_extension=None`` skips annotations.
    """
    path = Path(path)
    bases = _wfdb_bases(path)
    return [_read_one_wfdb(base, annotation_extension) for base in bases]


def _wfdb_bases(path: Path) -> list[Path]:
    if path.is_dir():
        listing = path / "RECORDS"
        if listing.is_file():
            return _records_file(listing)
        bases = sorted(p.with_suffix("") for p in path.glob("*.hea"))
        if not bases:
            raise BadInputError(f"{path}: folder holds no WFDB header (.hea) file")
        return bases
    if path.name == "RECORDS" and path.is_file():
        return _records_file(path)
    if path.suffix == ".hea":
        base = path.with_suffix("")
    elif path.suffix in ("", ".dat", ".atr") or not path.suffix.isalpha():
        base = path.with_suffix("") if path.suffix in (".dat", ".atr") else path
    else:
        raise BadInputError(f"{path}: not a WFDB record (expected a record name, a .hea file, a folder or "
                            "a RECORDS file)")
    if not Path(f"{base}.hea").is_file():
        raise BadInputError(f"{path}: WFDB header {base}.hea not found")
    return [base]


def _records_file(listing: Path) -> list[Path]:
    names = [line.strip() for line in listing.read_text(encoding="latin1").splitlines() if line.strip()]
    if not names:
        raise BadInputError(f"{listing}: RECORDS file lists no record")
    for name in names:  # sub-folders are fine (p00/p000020/...), a record outside the dataset's folder is not
        if Path(name).is_absolute() or ".." in Path(name.replace("\\", "/")).parts:
            raise BadInputError(f"{listing}: lists record {name}, outside the folder that holds the RECORDS file; "
                                "name records by their path below that folder")
    bases = [listing.parent / name for name in names]
    for base in bases:
        if not Path(f"{base}.hea").is_file():
            raise BadInputError(f"{listing}: lists record {base.name}, but {base}.hea does not exist")
    return bases


def _check_dat_sizes(base: Path, header: object) -> None:
    """Compare each signal file's size with what the header's sample count implies."""
    files: dict[str, list[tuple[str, int]]] = {}
    for name, fmt, offset in zip(header.file_name or [], header.fmt or [], header.byte_offset or [], strict=False):
        files.setdefault(name, []).append((str(fmt), int(offset or 0)))
    for name, entries in files.items():
        fmts = {fmt for fmt, _ in entries}
        if len(fmts) != 1 or next(iter(fmts)) not in _WFDB_BITS or header.sig_len is None:
            continue  # compressed or mixed formats: leave the check to wfdb
        expected = entries[0][1] + math.ceil(len(entries) * header.sig_len * _WFDB_BITS[entries[0][0]] / 8)
        dat = base.parent / name
        if not dat.is_file():
            raise BadInputError(f"{base}.hea: signal file {dat} does not exist")
        actual = dat.stat().st_size
        frame = math.ceil(len(entries) * _WFDB_BITS[entries[0][0]] / 8)
        if actual < expected:
            raise BadInputError(f"{dat}: truncated signal file, or its header {base.name}.hea has the wrong sample "
                                f"count ({actual} bytes; the header's {header.sig_len} samples x {len(entries)} "
                                f"signals need {expected})")
        if actual - expected > frame:
            raise BadInputError(f"{dat}: holds more samples than its header {base.name}.hea declares "
                                f"({header.sig_len}; {actual} bytes, expected {expected}); the header's sample count "
                                "does not match the file")


def _read_one_wfdb(base: Path, annotation_extension: str | None) -> Recording:
    import wfdb

    hea = Path(f"{base}.hea")
    try:
        header = wfdb.rdheader(str(base))
    except Exception as error:  # wfdb raises HeaderSyntaxError, ValueError, IndexError ...
        raise BadInputError(f"{hea}: not a readable WFDB header (its record line or a signal line does not "
                            "follow the WFDB header format)", hint=reader_hint(error)) from None
    if getattr(header, "n_sig", 0) in (0, None):
        raise BadInputError(f"{hea}: WFDB header declares no signal")
    if getattr(header, "file_name", None) is not None:
        _check_dat_sizes(base, header)
    try:
        record = wfdb.rdrecord(str(base), physical=True)
    except Exception as error:
        raise BadInputError(f"{hea}: the WFDB record's signal file(s) could not be read as its header describes "
                            "them", hint=reader_hint(error)) from None
    if record.p_signal is None or record.p_signal.size == 0:
        raise BadInputError(f"{hea}: WFDB record has no samples")
    annotations: tuple[Annotation, ...] = ()
    if annotation_extension:
        ann_file = Path(f"{base}.{annotation_extension}")
        if ann_file.is_file():
            annotations = _read_wfdb_annotations(base, annotation_extension, record.sig_len)
    return Recording(record=base.name, subject=base.name, fs=float(record.fs), channels=tuple(record.sig_name),
                     units=tuple(record.units), samples=np.asarray(record.p_signal, dtype=np.float32).T,
                     annotations=annotations)


def _read_wfdb_annotations(base: Path, extension: str, length: int) -> tuple[Annotation, ...]:
    import wfdb

    ann_file = Path(f"{base}.{extension}")
    try:
        ann = wfdb.rdann(str(base), extension)
    except Exception as error:
        raise BadInputError(f"{ann_file}: not a readable WFDB annotation file", hint=reader_hint(error)) from None
    beats = set(wfdb.io.annotation.ann_label_table.loc[
        wfdb.io.annotation.ann_label_table.label_store.isin(_BEAT_CODES), "symbol"])
    out = []
    notes = ann.aux_note if ann.aux_note is not None else [""] * len(ann.sample)
    for sample, symbol, note in zip(ann.sample, ann.symbol, notes, strict=False):
        note = (note or "").replace("\x00", "").strip()
        label = symbol if symbol in beats or not note else note
        if 0 <= int(sample) < length:
            out.append(Annotation(sample=int(sample), label=str(label)))
    return tuple(out)


# WFDB annotation codes that mark beats (N L R a V F J A S E j / Q e n f)
_BEAT_CODES = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 34, 35, 38)


# ------------------------------------------------------------------------------------------------ EEG
def read_eeg(*, path: Path) -> list[Recording]:
    """Read EDF/EDF+/BDF/FIF files (one file or a folder of them) through MNE, in microvolts.

    Voltage channels are converted from MNE's volts to ``uV``; stimulus channels are dropped.  EDF+
    annotations become :class:`Annotation` (onset -> sample, description -> label, duration in samples).
    The subject is the PhysioNet ``S\\d{3}`` tag of the file name when there is one, else the file stem.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in EEG_SUFFIXES)
        if not files:
            raise BadInputError(f"{path}: folder holds no EDF, BDF or FIF file")
    elif path.is_file():
        if path.suffix.lower() not in EEG_SUFFIXES:
            raise BadInputError(f"{path}: unknown EEG file type {path.suffix!r} (expected .edf, .bdf or .fif)")
        files = [path]
    else:
        raise BadInputError(f"{path}: no such EEG file or folder")
    return [_read_one_eeg(p) for p in files]


def _check_edf_header(path: Path) -> None:
    """EDF/BDF: a readable header, at least one data record, and the file holding all of them."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(256)
        try:
            header_bytes = int(head[184:192])
            n_records = int(head[236:244])
            n_signals = int(head[252:256])
        except ValueError:
            raise BadInputError(f"{path}: not an EDF/BDF file (unreadable fixed header)") from None
        handle.seek(256 + n_signals * 216)
        try:
            per_record = [int(handle.read(8)) for _ in range(n_signals)]
        except ValueError:
            raise BadInputError(f"{path}: not an EDF/BDF file (unreadable signal header)") from None
    if n_records == 0 or size <= header_bytes:
        raise BadInputError(f"{path}: EDF/BDF file has no data records")
    width = 3 if path.suffix.lower() == ".bdf" else 2
    if n_records > 0 and size < header_bytes + n_records * sum(per_record) * width:
        raise BadInputError(f"{path}: truncated EDF/BDF file (the header declares {n_records} data records, "
                            "the file holds fewer)")


def _read_one_eeg(path: Path) -> Recording:
    import mne

    suffix = path.suffix.lower()
    if suffix in (".edf", ".bdf"):
        _check_edf_header(path)
    try:
        if suffix == ".edf":
            raw = mne.io.read_raw_edf(path, preload=True, encoding="latin1", verbose="error")
        elif suffix == ".bdf":
            raw = mne.io.read_raw_bdf(path, preload=True, encoding="latin1", verbose="error")
        else:
            raw = mne.io.read_raw_fif(path, preload=True, verbose="error")
    except Exception as error:  # MNE raises ValueError, AttributeError, OSError ... on malformed files
        raise BadInputError(f"{path}: not a readable {suffix[1:].upper()} file (MNE could not read it)",
                            hint=reader_hint(error)) from None
    picks = mne.pick_types(raw.info, meg=True, eeg=True, eog=True, ecg=True, emg=True, misc=True, seeg=True,
                           ecog=True, dbs=True, stim=False, exclude=())
    if len(picks) == 0 or raw.n_times == 0:
        raise BadInputError(f"{path}: file holds no signal channel or no samples")
    data = raw.get_data(picks=picks)
    units, scale = [], np.ones(len(picks))
    for i, pick in enumerate(picks):
        if raw.info["chs"][pick]["unit"] == mne.io.constants.FIFF.FIFF_UNIT_V:
            units.append("uV")
            scale[i] = 1e6
        else:
            units.append("SI")
    fs = float(raw.info["sfreq"])
    start = raw.first_time if raw.annotations.orig_time is not None else 0.0
    annotations = []
    for onset, duration, description in zip(raw.annotations.onset, raw.annotations.duration,
                                            raw.annotations.description, strict=True):
        sample = int(np.rint((onset - start) * fs))
        if 0 <= sample < raw.n_times:
            annotations.append(Annotation(sample=sample, label=str(description),
                                          duration=int(np.rint(duration * fs))))
    found = _SUBJECT.search(path.name)
    return Recording(record=path.stem, subject=found.group(0) if found else path.stem, fs=fs,
                     channels=tuple(raw.ch_names[p] for p in picks), units=tuple(units),
                     samples=(data * scale[:, None]).astype(np.float32), annotations=tuple(annotations))
