"""ECG and EEG as a modality: recordings in, windows through the shared DP diffusion, WFDB/EDF out.

One class serves both kinds (``SignalModality(kind="ecg")`` reads WFDB, ``kind="eeg"`` reads EDF/BDF/FIF);
everything else is shared: windowing, the declared codec (``codec.py``), the 1-D U-Net, the audits in
``evaluation/signals`` and the writers.

Privacy, stated outright:

* Channels, sample rate, filter band, amplitude range, window length and the class list come from the
  spec (public); nothing is read from the recordings to set them.
* The privacy unit is the subject (``signal.privacy_unit: subject``): a subject is one DP-SGD unit holding
  at most ``max_windows_per_subject`` windows (picked with the public seed; the rest are never used), so
  the guarantee is per person.  With ``window`` each window is a unit and a subject's guarantee follows
  from group privacy over their at most ``max_windows_per_subject`` windows; with a single subject only
  windows are protected, and the privacy unit text says so.
* The train/holdout split is by subject when there are several, else by blocks of time spread over each
  recording, with no sample on both sides (``windows.time_block_split``).
* Overlapping fixed windows (step < length) put one moment of a recording into several windows; the
  privacy unit text states the group size that protects an event.
* Class proportions of the synthetic windows are declared or measured with DP (``classes.resolve_condition``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from torch import nn

from synthdata.views.signals import SignalSchema, SignalSet
from synthdata.config import DatasetSpec, ModelSpec, PrivacySpec
from synthdata.modalities.signal.settings import SignalSpec
from synthdata.diffusion.denoisers.unet import UNetDenoiser
from synthdata.errors import BadInputError
from synthdata.modalities import grouping
from synthdata.modalities.base import Preprocessing
from synthdata.modalities.records import RecordModality
from synthdata.modalities.signal import readers, windows, writers
from synthdata.modalities.signal.codec import SignalCodec
from synthdata.modalities.signal.recording import Annotation


@dataclass(frozen=True)
class SignalData:
    """Windows in physical units with their labels and (private) subject ids."""

    data: np.ndarray  # (n, C, L) float32
    labels: np.ndarray | None
    subjects: np.ndarray
    # The train/holdout split's unit of each window (a subject, or one subject's block of time): private ids
    # the memorization and membership audits resample by.  None before the split and for synthetic windows.
    units: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.data.shape[0])

    def take(self, index: np.ndarray) -> SignalData:
        return SignalData(self.data[index], None if self.labels is None else self.labels[index], self.subjects[index],
                          None if self.units is None else self.units[index])


@dataclass(frozen=True)
class SignalSource:
    windows: SignalData
    starts: np.ndarray  # window start (samples) within its record: the time-block split key
    records: np.ndarray
    spec: SignalSpec
    channels: tuple[str, ...]
    units: tuple[str, ...]
    fingerprint: str
    path: Path


class SignalModality(RecordModality):
    """ECG (WFDB) or EEG (EDF, BDF, FIF) windows."""

    view = SignalSet
    record_type = SignalData
    codec_type = SignalCodec
    declared_public = ("The channels, sample rate, filter band, amplitude range, window length, class list and "
                       "any class proportions declared in the spec are treated as public knowledge, as are "
                       "the recordings' channel units.")

    def __init__(self, *, kind: str) -> None:
        if kind not in ("ecg", "eeg"):
            raise ValueError(f"kind must be 'ecg' or 'eeg', got {kind!r}")
        self.kind = kind
        self.name = kind

    # --- input -------------------------------------------------------------------------------------------
    def load(self, *, dataset: DatasetSpec, privacy: PrivacySpec) -> SignalSource:
        spec = dataset.settings
        if spec is None:
            raise BadInputError(f"dataset {dataset.path} has modality {self.kind} but the spec has no 'signal:' "
                                "section (sample_rate, amplitude, window or beats, labels, privacy unit)")
        path = Path(dataset.path)
        if self.kind == "ecg":
            recordings = readers.read_wfdb(path=path, annotation_extension=spec.annotation_extension)
        else:
            recordings = readers.read_eeg(path=path)
        digest = _fingerprint(recordings)
        prepared = _declared_transforms(recordings, spec)
        channels = prepared[0].channels
        if spec.segment == "beats":
            cut = windows.beat_windows(prepared, before_seconds=spec.beat_before_seconds,
                                       after_seconds=spec.beat_after_seconds, symbols=spec.labels or {},
                                       min_spacing_seconds=spec.min_beat_spacing_seconds)
        else:
            cut = windows.fixed_windows(prepared, seconds=spec.window_seconds, step_seconds=spec.step_seconds,
                                        labels=spec.labels)
        if len(cut.data) == 0:
            raise BadInputError(f"{path}: no window could be cut (recordings shorter than a window, or no "
                                "annotation matched signal.labels)")
        if spec.label_table is not None:
            cut = windows.labels_from_table(cut, table=spec.label_table, record_column=spec.record_column,
                                            label_column=spec.label_column)
            unknown = sorted({str(v) for v in cut.labels} - set(spec.declared_classes()))
            if unknown:
                raise BadInputError(f"{spec.label_table}: {len(unknown)} label value(s) in column {spec.label_column!r} "
                                    f"are not among the declared classes {spec.declared_classes()}",
                                    hint=f"for example {unknown[:5]}")
        labels = None if cut.labels is None else np.asarray(cut.labels, dtype=object)
        data = SignalData(np.asarray(cut.data, dtype=np.float32), labels, np.asarray(cut.subjects).astype(str))
        return SignalSource(windows=data, starts=np.asarray(cut.starts), records=np.asarray(cut.records).astype(str),
                            spec=spec, channels=tuple(channels), units=tuple(prepared[0].units), fingerprint=digest,
                            path=path)

    def fingerprint(self, *, source: SignalSource) -> str:
        return source.fingerprint

    def privacy_unit(self, *, source: SignalSource, privacy: PrivacySpec) -> str:
        cap = source.spec.max_windows_per_subject
        subjects = len(np.unique(source.windows.subjects))
        if subjects < 2:
            return ("one signal window (a single subject: only window-level protection is possible; the "
                    "guarantee protects windows, not the person)" + _overlap(source.spec))
        if source.spec.privacy_unit == "subject":
            return f"one subject, with at most {cap} window{'s' if cap > 1 else ''} each"
        return (f"one signal window; a subject contributes at most {cap} windows, so per subject the guarantee "
                f"is group privacy over {cap} windows (ε x {cap}, δ x {cap}·e^((k-1)ε))" + _overlap(source.spec))

    def records_of(self, source: SignalSource) -> SignalData:
        return source.windows

    def declared_unit(self, source: SignalSource) -> str:
        return source.spec.privacy_unit

    def _unit(self, spec: SignalSpec) -> str:
        return "subject" if spec.privacy_unit == "subject" else "record"

    def count_units(self, *, source: SignalSource) -> int:
        keys = grouping.unit_keys(subjects=source.windows.subjects, unit=self._unit(source.spec))
        return int(len(np.unique(keys)))

    def split(self, *, source: SignalSource, holdout_fraction: float, seed: int) -> tuple[SignalSource, SignalSource]:
        holdout = grouping.split_by_subject(subjects=source.windows.subjects, holdout_fraction=holdout_fraction,
                                            seed=seed)
        if holdout is None:  # one subject: blocks of time, no sample on both sides
            holdout, train = windows.time_block_split(records=source.records, starts=source.starts,
                                                      length=int(source.windows.data.shape[-1]),
                                                      holdout_fraction=holdout_fraction, seed=seed)
            units = np.char.add(np.char.add(source.records.astype(str), "#"),
                                windows.time_blocks(records=source.records, starts=source.starts).astype(str))
        else:
            train = ~holdout
            units = source.windows.subjects.astype(str)
        source = replace(source, windows=replace(source.windows, units=units))
        parts = [self._take(source, np.flatnonzero(keep)) for keep in (train, holdout)]
        if min(len(p.windows) for p in parts) == 0:
            raise BadInputError(f"{source.path}: too few windows to split into training and holdout "
                                f"({len(source.windows)} windows)")
        return parts[0], parts[1]

    @staticmethod
    def _take(source: SignalSource, index: np.ndarray) -> SignalSource:
        return SignalSource(source.windows.take(index), source.starts[index], source.records[index], source.spec,
                            source.channels, source.units, source.fingerprint, source.path)

    # --- encoding ------------------------------------------------------------------------------------------
    def needs_preprocessing(self, *, source: SignalSource) -> bool:
        """Only the class proportions can cost budget: when the data are labelled and none are declared."""
        return bool(source.spec.declared_classes()) and source.spec.class_proportions is None

    def _cap(self, source: SignalSource) -> int:
        """Most windows one privacy unit holds (the DP sensitivity of per-window counts)."""
        single = len(np.unique(source.windows.subjects)) < 2
        return 1 if single or self._unit(source.spec) == "record" else source.spec.max_windows_per_subject

    def resolve(self, *, train: SignalSource, epsilon: float, delta: float, privacy: PrivacySpec,
                rng: np.random.Generator) -> tuple[SignalCodec, Preprocessing]:
        notes = ["Channels, sample rate, filter band, amplitude range, window length and classes are declared "
                 "in the spec; nothing was learned from the recordings."]
        condition, pre = self.class_condition(
            records=train.windows, classes=train.spec.declared_classes(), declared=train.spec.class_proportions,
            cap=train.spec.max_windows_per_subject, sensitivity=self._cap(train), epsilon=epsilon, rng=rng,
            notes=notes)
        unit = self._unit(train.spec)
        if len(np.unique(train.windows.subjects)) < 2:
            unit = "record"
        length = int(train.windows.data.shape[-1])
        beats = train.spec.segment == "beats"
        marks: dict[str, str] = {}
        for mark, label in (train.spec.labels or {}).items():  # each class's first declared annotation label
            marks.setdefault(label, mark)
        codec = SignalCodec(kind=self.kind, fs=train.spec.sample_rate, channels=train.channels, units=train.units,
                            length=length, amplitude=tuple(train.spec.amplitude), condition=condition, unit=unit,
                            anchor=int(np.rint(train.spec.beat_before_seconds * train.spec.sample_rate)) if beats
                            else length // 2, marks=marks)
        return codec, pre

    def records(self, *, source: SignalSource, codec: SignalCodec, privacy: PrivacySpec, seed: int) -> SignalData:
        """At most ``max_windows_per_subject`` windows per subject, chosen with the public seed."""
        return source.windows.take(grouping.cap_per_subject(
            subjects=source.windows.subjects, cap=source.spec.max_windows_per_subject, seed=seed))

    def decode(self, *, codec: SignalCodec, array: np.ndarray) -> SignalData:
        data, labels = codec.decode(array)
        return SignalData(data, labels, np.array([f"synthetic-{i}" for i in range(len(data))]))

    def build_denoiser(self, *, codec: SignalCodec, model: ModelSpec) -> nn.Module:
        return UNetDenoiser(channels=len(codec.channels), shape=(codec.length,), classes=len(codec.classes),
                            base=int(model.resolved("unet_base")))

    def values(self, data: SignalData) -> np.ndarray:
        return data.data

    # --- storage -------------------------------------------------------------------------------------------
    def audit_frames(self, *, data: SignalData, codec: SignalCodec) -> SignalSet:
        return SignalSet(data=data.data, labels=data.labels)

    def audit_groups(self, *, data: SignalData, codec: SignalCodec) -> np.ndarray | None:
        """The split's units: subjects, or one subject's blocks of time (windows of a block move together)."""
        return None if data.units is None else np.asarray(data.units).astype(str)

    def audit_schema(self, *, codec: SignalCodec) -> SignalSchema:
        return SignalSchema(kind=codec.kind, fs=codec.fs, channels=codec.channels, units=codec.units,
                            amplitude=codec.amplitude, classes=codec.classes)


    # --- release files -------------------------------------------------------------------------------------
    def write_release(self, *, data: SignalData, codec: SignalCodec, folder: Path,
                      provenance: dict[str, str]) -> list[str]:
        """One file per synthetic window, each marked as synthetic: WFDB records under ``wfdb/`` (ECG, with a
        ``RECORDS`` list and the class as an annotation file) or EDF+ files under ``edf/`` (EEG, the class as
        an annotation), plus ``labels.csv`` (record, label) for labelled windows.  Channel names, units and
        rate are the codec's, i.e. the spec's (public).  A class is annotated with the spec's annotation label
        for it (``SignalCodec.marks``: a beat as its symbol ``N`` at the beat's place, as real WFDB does), so the
        folder read back with the same ``signal:`` section yields the same windows and classes.  ``folder`` is the
        export's staging folder."""
        names = [f"synthetic_{i:05d}" for i in range(len(data))]
        labels = [None] * len(data) if data.labels is None else [str(v) for v in data.labels]
        notes = [f"synthdata {key}: {value}" for key, value in provenance.items()]
        written: list[str] = []
        if self.kind == "ecg":
            sub = folder / "wfdb"
            for name, window, label in zip(names, data.data, labels):
                written += writers.write_wfdb(folder=sub, name=name, samples=window, fs=codec.fs,
                                              channels=codec.channels, units=codec.units, comments=notes,
                                              labels=None if label is None else [(codec.anchor, codec.mark(label))])
            (sub / "RECORDS").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
            written.append(str(sub / "RECORDS"))
        else:
            for name, window, label in zip(names, data.data, labels):
                annotations = () if label is None else (
                    Annotation(sample=0, label=codec.mark(label), duration=window.shape[-1]),)
                written += writers.write_edf(path=folder / "edf" / f"{name}.edf", samples=window, fs=codec.fs,
                                             channels=codec.channels, units=codec.units, annotations=annotations,
                                             provenance=provenance)
        if data.labels is not None:
            (folder / "labels.csv").write_text("record,label\n" + "".join(f"{n},{v}\n" for n, v in zip(names, labels)),
                                               encoding="utf-8")
            written.append(str(folder / "labels.csv"))
        return [str(Path(w).relative_to(folder)) for w in written]


def _declared_transforms(recordings: list, spec: SignalSpec) -> list:
    """The spec's channel pick, band-pass filter and resampling, in that order; every recording must end up
    with the same channels."""
    prepared = []
    for recording in recordings:
        if spec.channels:
            recording = windows.pick_channels(recording, channels=spec.channels)
        if spec.bandpass is not None:
            recording = windows.bandpass(recording, low=spec.bandpass[0], high=spec.bandpass[1])
        if abs(recording.fs - spec.sample_rate) > 1e-9:
            recording = windows.resample(recording, fs=spec.sample_rate)
        prepared.append(recording)
    for recording in prepared[1:]:
        if recording.channels != prepared[0].channels:
            raise BadInputError(f"record {recording.record} has channels {list(recording.channels)}, but "
                                f"{prepared[0].record} has {list(prepared[0].channels)}: declare signal.channels")
    return prepared


def _overlap(spec: SignalSpec) -> str:
    """What overlapping windows mean for a window-level guarantee (empty when they cannot overlap): fixed
    windows by their step, beat windows by their length over the declared shortest beat spacing."""
    if spec.segment == "beats":
        k = windows.beat_overlap(before_seconds=spec.beat_before_seconds, after_seconds=spec.beat_after_seconds,
                                 min_spacing_seconds=spec.min_beat_spacing_seconds)
        how = (f"each {spec.beat_before_seconds + spec.beat_after_seconds:g} s around a beat, beats at least "
               f"{spec.min_beat_spacing_seconds:g} s apart as declared and checked")
    elif spec.step_seconds is not None and spec.step_seconds < spec.window_seconds:
        k = int(np.ceil(spec.window_seconds / spec.step_seconds))
        how = f"a {spec.window_seconds:g} s window every {spec.step_seconds:g} s"
    else:
        return ""
    if k < 2:
        return ""
    return (f"; windows overlap ({how}), so one moment of a recording lies in up to {k} windows and an event in "
            f"it is protected as a group of {k} windows (ε x {k})")


def _fingerprint(recordings) -> str:
    """SHA-256 over the sorted digests of each recording's samples, rate and channels (not its name)."""
    digests = sorted(
        hashlib.sha256(np.ascontiguousarray(r.samples, dtype=np.float32).tobytes()
                       + f"{r.fs}|{'|'.join(r.channels)}".encode()).digest()
        for r in recordings
    )
    outer = hashlib.sha256(b"synthdata-signal")
    for digest in digests:
        outer.update(digest)
    return outer.hexdigest()
