"""Channel picks, resampling, band-pass filtering and cutting recordings into labelled windows.

Everything here is a declared, public transform: the band, the rate, the window length and the
amplitude range come from the release spec, never from the data, so they spend no privacy budget.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import numpy as np

from synthdata.errors import BadInputError
from synthdata.modalities.signal.recording import Annotation, Recording


@dataclass(frozen=True)
class Windows:
    """``data`` ``(n, C, L)`` float32 in physical units; per window its label, subject, record and start.

    ``starts`` are sample offsets in the (possibly resampled) recording.  ``labels`` is None when no
    labelling was asked for.  ``subjects`` are private identifiers.
    """

    data: np.ndarray = field(repr=False)
    labels: np.ndarray | None
    subjects: np.ndarray
    records: np.ndarray
    starts: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.data)
        if np.asarray(self.data).ndim != 3:
            raise ValueError("Windows.data must be (n, channels, samples)")
        for name in ("subjects", "records", "starts") + (("labels",) if self.labels is not None else ()):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Windows.{name} has {len(getattr(self, name))} entries for {n} windows")

    def __len__(self) -> int:
        return len(self.data)


def _norm(name: str) -> str:
    return name.strip().strip(".").lower()


def pick_channels(recording: Recording, *, channels: Sequence[str]) -> Recording:
    """Keep ``channels`` in the order given.  Exact names first, then ignoring case and padding dots
    (PhysioNet EDF pads names: ``'O1..'`` matches ``'O1'``)."""
    index = {name: i for i, name in enumerate(recording.channels)}
    loose = {_norm(name): i for i, name in enumerate(recording.channels)}
    rows = []
    for name in channels:
        i = index.get(name, loose.get(_norm(name)))
        if i is None:
            raise BadInputError(f"record {recording.record}: channel {name!r} not found; available channels: "
                                f"{list(recording.channels)}")
        rows.append(i)
    if len(set(rows)) != len(rows):
        raise BadInputError(f"record {recording.record}: channels {list(channels)} name the same channel twice")
    return replace(recording, channels=tuple(recording.channels[i] for i in rows),
                   units=tuple(recording.units[i] for i in rows), samples=recording.samples[rows])


def resample(recording: Recording, *, fs: float) -> Recording:
    """Polyphase resampling (``scipy.signal.resample_poly``) to ``fs``; annotation samples are rescaled."""
    from scipy.signal import resample_poly

    if not (np.isfinite(fs) and fs > 0):
        raise BadInputError(f"record {recording.record}: target sampling rate must be positive, got {fs}")
    if fs == recording.fs:
        return recording
    ratio = Fraction(fs / recording.fs).limit_denominator(1000)
    if abs(float(ratio) * recording.fs - fs) > 1e-6 * fs:
        raise BadInputError(f"record {recording.record}: cannot resample {recording.fs} Hz to {fs} Hz with a "
                            "rational factor of denominator <= 1000")
    samples = resample_poly(recording.samples.astype(np.float64), ratio.numerator, ratio.denominator, axis=1)
    length = samples.shape[1]
    scale = fs / recording.fs
    annotations = tuple(Annotation(sample=min(int(np.rint(a.sample * scale)), length - 1), label=a.label,
                                   duration=int(np.rint(a.duration * scale))) for a in recording.annotations)
    return replace(recording, fs=float(fs), samples=samples.astype(np.float32), annotations=annotations)


def bandpass(recording: Recording, *, low: float | None, high: float | None, order: int = 4) -> Recording:
    """Zero-phase Butterworth filter (``sosfiltfilt``) with the DECLARED band ``[low, high]`` Hz.

    ``low=None`` (or 0) gives a low-pass, ``high=None`` a high-pass filter.
    """
    from scipy.signal import butter, sosfiltfilt

    nyquist = recording.fs / 2
    low = None if not low else float(low)
    high = None if high is None else float(high)
    if low is None and high is None:
        return recording
    if (low is not None and low <= 0) or (high is not None and not 0 < high < nyquist) or \
            (low is not None and high is not None and low >= high) or (low is not None and low >= nyquist):
        raise BadInputError(f"record {recording.record}: band [{low}, {high}] Hz is not inside (0, {nyquist}) Hz "
                            f"(sampling rate {recording.fs} Hz)")
    if low is not None and high is not None:
        sos = butter(order, [low, high], btype="bandpass", fs=recording.fs, output="sos")
    elif low is not None:
        sos = butter(order, low, btype="highpass", fs=recording.fs, output="sos")
    else:
        sos = butter(order, high, btype="lowpass", fs=recording.fs, output="sos")
    try:
        out = sosfiltfilt(sos, recording.samples.astype(np.float64), axis=1)
    except ValueError as error:  # shorter than the filter's padding
        raise BadInputError(f"record {recording.record}: too short ({recording.n_samples} samples) to filter "
                            f"({error})") from error
    return replace(recording, samples=out.astype(np.float32))


def _common_fs(recordings: Sequence[Recording]) -> float:
    if not recordings:
        raise BadInputError("no recording to cut into windows")
    rates = {r.fs for r in recordings}
    if len(rates) > 1:
        raise BadInputError(f"recordings have different sampling rates {sorted(rates)}: resample first "
                            f"(records {[r.record for r in recordings]})")
    channels = {len(r.channels) for r in recordings}
    if len(channels) > 1:
        raise BadInputError("recordings have different channel counts: pick the same channels first "
                            f"(records {[r.record for r in recordings]})")
    return recordings[0].fs


def _stack(parts: list[np.ndarray], channels: int, length: int) -> np.ndarray:
    if not parts:
        return np.zeros((0, channels, length), dtype=np.float32)
    return np.stack(parts).astype(np.float32)


def _intervals(recording: Recording, labels: Mapping[str, str]) -> list[tuple[int, int, str]]:
    """Class intervals ``[start, end)``: a zero-duration annotation lasts until the next mapped one."""
    marks = sorted((a for a in recording.annotations if a.label in labels), key=lambda a: a.sample)
    out = []
    for k, a in enumerate(marks):
        if a.duration > 0:
            end = a.sample + a.duration
        else:
            end = marks[k + 1].sample if k + 1 < len(marks) else recording.n_samples
        out.append((a.sample, end, labels[a.label]))
    return out


def fixed_windows(recordings: Sequence[Recording], *, seconds: float, step_seconds: float | None = None,
                  labels: Mapping[str, str] | None = None, default_label: str | None = None) -> Windows:
    """Cut every recording into windows of ``seconds`` every ``step_seconds`` (default: no overlap).

    With ``labels`` (annotation label -> class) a window takes the class of the annotation interval that
    contains its centre (the latest-starting one if several do); a window in no interval gets
    ``default_label``, or is dropped when that is None.  Without ``labels`` every window is kept, unlabelled.
    """
    fs = _common_fs(recordings)
    length = int(np.rint(seconds * fs))
    step = length if step_seconds is None else int(np.rint(step_seconds * fs))
    if length < 1 or step < 1:
        raise BadInputError(f"window of {seconds} s and step of {step_seconds} s are shorter than one sample "
                            f"at {fs} Hz")
    data, classes, subjects, records, starts = [], [], [], [], []
    for recording in recordings:
        intervals = _intervals(recording, labels) if labels is not None else []
        for start in range(0, recording.n_samples - length + 1, step):
            label = None
            if labels is not None:
                centre = start + length // 2
                inside = [cls for lo, hi, cls in intervals if lo <= centre < hi]
                label = inside[-1] if inside else default_label
                if label is None:
                    continue
            data.append(recording.samples[:, start:start + length])
            classes.append(label)
            subjects.append(recording.subject)
            records.append(recording.record)
            starts.append(start)
    return Windows(data=_stack(data, len(recordings[0].channels), length),
                   labels=None if labels is None else np.asarray(classes, dtype=object),
                   subjects=np.asarray(subjects, dtype=object), records=np.asarray(records, dtype=object),
                   starts=np.asarray(starts, dtype=np.int64))


def beat_windows(recordings: Sequence[Recording], *, before_seconds: float, after_seconds: float,
                 symbols: Mapping[str, str], min_spacing_seconds: float) -> Windows:
    """One window per annotated beat whose symbol is in ``symbols`` (symbol -> class), from
    ``before_seconds`` before to ``after_seconds`` after the annotation; beats too near an edge are dropped.

    ``min_spacing_seconds`` is the declared shortest time between two such beats: it bounds how many windows
    one moment lies in (``beat_overlap``), which the privacy statement of window-level units relies on, so
    beats closer than that are refused (BadInputError, before any budget is spent), not silently dropped."""
    fs = _common_fs(recordings)
    spacing = min_spacing_seconds * fs
    for recording in recordings:
        kept = np.sort([a.sample for a in recording.annotations if a.label in symbols])
        gaps = np.diff(kept)
        close = np.flatnonzero(gaps < spacing)
        if len(close):
            raise BadInputError(
                f"record {recording.record}: {len(close)} pair(s) of annotated beats are closer than "
                f"signal.min_beat_spacing_seconds ({min_spacing_seconds:g} s), first at beats {close[0] + 1} and "
                f"{close[0] + 2}: declare a smaller spacing (a window-level guarantee then covers more windows "
                "per moment) or remove those annotations",
                hint=f"those two beats are {gaps[close[0]] / fs:.3f} s apart")
    before, after = int(np.rint(before_seconds * fs)), int(np.rint(after_seconds * fs))
    if before < 0 or after < 0 or before + after < 1:
        raise BadInputError(f"beat window of {before_seconds} s before and {after_seconds} s after is empty")
    if not symbols:
        raise BadInputError("beat windows need at least one beat symbol -> class in labels")
    data, classes, subjects, records, starts = [], [], [], [], []
    for recording in recordings:
        for a in recording.annotations:
            if a.label not in symbols:
                continue
            start = a.sample - before
            if start < 0 or a.sample + after > recording.n_samples:
                continue
            data.append(recording.samples[:, start:a.sample + after])
            classes.append(symbols[a.label])
            subjects.append(recording.subject)
            records.append(recording.record)
            starts.append(start)
    return Windows(data=_stack(data, len(recordings[0].channels), before + after),
                   labels=np.asarray(classes, dtype=object), subjects=np.asarray(subjects, dtype=object),
                   records=np.asarray(records, dtype=object), starts=np.asarray(starts, dtype=np.int64))


def labels_from_table(windows: Windows, *, table: Path, record_column: str = "record",
                      label_column: str = "label") -> Windows:
    """Label every window with its record's row of a CSV ``table`` (one label per record)."""
    table = Path(table)
    if not table.is_file():
        raise BadInputError(f"{table}: label table not found")
    try:
        text = table.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = table.read_bytes()[: error.start].count(b"\n") + 1
        raise BadInputError(f"{table}: the label table is not UTF-8 text (line {line}; another encoding, such as "
                            "UTF-16 or Latin-1?): save it as UTF-8") from None
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        columns = reader.fieldnames or []
        for column in (record_column, label_column):
            if column not in columns:
                raise BadInputError(f"{table}: no column {column!r} (columns: {columns})")
        mapping: dict[str, str] = {}
        for row in reader:
            record, label = (row[record_column] or "").strip(), (row[label_column] or "").strip()
            if record in mapping and mapping[record] != label:
                raise BadInputError(f"{table}: record {record} has two different labels in column {label_column!r}")
            mapping[record] = label
    except csv.Error:
        raise BadInputError(f"{table}: the label table is not a readable CSV file (line {reader.line_num})") from None
    missing = sorted({str(r) for r in windows.records} - set(mapping))
    if missing:
        raise BadInputError(f"{table}: no {label_column!r} for record(s) {missing[:10]} in column {record_column!r}")
    empty = sorted({str(r) for r in windows.records if not mapping[str(r)]})
    if empty:
        raise BadInputError(f"{table}: empty {label_column!r} for record(s) {empty[:10]}")
    labels = np.asarray([mapping[str(r)] for r in windows.records], dtype=object)
    return replace(windows, labels=labels)


def time_blocks(*, records: np.ndarray, starts: np.ndarray, blocks: int = 10) -> np.ndarray:
    """The block of time (0 .. ``blocks`` - 1, at most half the record's windows) each window starts in:
    each record's span of window starts cut into equal blocks."""
    block = np.zeros(len(starts), dtype=np.int64)
    for record in np.unique(records):
        mine = np.flatnonzero(records == record)
        first, last = int(starts[mine].min()), int(starts[mine].max())
        count = max(1, min(blocks, len(mine) // 2))
        block[mine] = np.minimum(((starts[mine] - first) * count) // max(last - first + 1, 1), count - 1)
    return block


def time_block_split(*, records: np.ndarray, starts: np.ndarray, length: int, holdout_fraction: float, seed: int,
                     blocks: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Train/holdout split of ONE subject's windows by time blocks: ``(holdout, train)`` boolean masks.

    Each record's span of window starts is cut into ``blocks`` equal blocks of time; ``holdout_fraction``
    of them (at least one), drawn with the public seed, are held out.  Blocks spread over the whole
    recording keep training and holdout windows from the same stretch of the session (a single held-out
    tail would compare the start of a session with its end, and EEG or ECG drift would look like
    memorisation).  A training window that shares any sample with a holdout window is dropped (neither
    side), so no sample is on both sides.
    """
    holdout = np.zeros(len(starts), dtype=bool)
    train = np.zeros(len(starts), dtype=bool)
    rng = np.random.default_rng([seed, 14])
    all_blocks = time_blocks(records=records, starts=starts, blocks=blocks)
    for record in np.unique(records):
        mine = np.flatnonzero(records == record)
        count = max(1, min(blocks, len(mine) // 2))
        held = rng.permutation(count)[: max(1, round(holdout_fraction * count))]
        is_held = np.isin(all_blocks[mine], held)
        holdout[mine[is_held]] = True
        held_starts = np.sort(starts[mine[is_held]])
        for i in mine[~is_held]:  # overlaps a held window: [s, s+L) and [h, h+L) intersect iff |s-h| < L
            nearest = np.searchsorted(held_starts, starts[i])
            near = held_starts[max(nearest - 1, 0):nearest + 1]
            train[i] = not np.any(np.abs(near - starts[i]) < length)
    return holdout, train


def beat_overlap(*, before_seconds: float, after_seconds: float, min_spacing_seconds: float) -> int:
    """The most beat windows one moment can lie in, from the declared window and beat spacing (public)."""
    return max(1, int(np.ceil((before_seconds + after_seconds) / min_spacing_seconds - 1e-9)))
