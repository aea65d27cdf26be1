"""The extension points hold: a modality is one package plus one registration, an audit one module plus one
registration.  Both are defined here, in the test, and registered without touching any other file of
synthdata; each runs a tiny release end to end through the shared flow."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pydantic import Field
from torch import nn

from evaluation import gate
from evaluation.base import Audit, AuditContext, Measurement
from evaluation.registry import AUDITS, register as register_audit
from helpers import tiny_spec_dict
from pipelines.factory import build_release_graph, check_name
from synthdata import api
from synthdata.config import DatasetSpec, ModalitySettings, ModelSpec, PrivacySpec
from synthdata.diffusion.denoisers.unet import UNetDenoiser
from synthdata.errors import BadInputError, GateFailedError
from synthdata.modalities import MODALITIES, Registration, register
from synthdata.modalities import grouping
from synthdata.modalities.base import AuditInputs, Preprocessing
from synthdata.modalities.records import RecordModality
from synthdata.modalities.signal.codec import SignalCodec
from synthdata.release_spec import parse_spec
from synthdata.views.signals import SignalSchema, SignalSet


# --- a toy modality: multichannel series in one .npz (``series`` (n, C, L), ``subjects`` (n,)) ----------------
class SeriesSettings(ModalitySettings):
    """Declared facts of the toy series (public)."""

    section: ClassVar[str] = "series"
    channels: int = Field(ge=1)
    length: int = Field(ge=8)
    amplitude: tuple[float, float] = (-1.0, 1.0)


class SeriesData:
    def __init__(self, series: np.ndarray, subjects: np.ndarray) -> None:
        self.series, self.subjects, self.labels = series.astype(np.float32), subjects.astype(str), None

    def __len__(self) -> int:
        return len(self.series)

    def take(self, index: np.ndarray) -> SeriesData:
        return SeriesData(self.series[index], self.subjects[index])


class SeriesModality(RecordModality):
    name = "toy_series"
    view = SignalSet  # every audit, distance space and report figure of signal windows applies
    data_suffix = ".npz"
    codec_type = SignalCodec
    declared_public = "The number of channels, series length and amplitude range declared in the spec."

    def load(self, *, dataset: DatasetSpec, privacy: PrivacySpec) -> tuple[SeriesData, SeriesSettings]:
        settings: SeriesSettings = dataset.settings
        with np.load(dataset.path) as stored:
            data = SeriesData(stored["series"], stored["subjects"])
        if data.series.shape[1:] != (settings.channels, settings.length):
            raise BadInputError(f"{dataset.path}: series of shape {data.series.shape[1:]}, the spec declares "
                                f"({settings.channels}, {settings.length})")
        return data, settings

    def fingerprint(self, *, source: Any) -> str:
        return hashlib.sha256(source[0].series.tobytes()).hexdigest()

    def privacy_unit(self, *, source: Any, privacy: PrivacySpec) -> str:
        return "one series"

    def count_units(self, *, source: Any) -> int:
        return len(source[0])

    def records_of(self, source: Any) -> SeriesData:
        return source[0]

    def declared_unit(self, source: Any) -> str:
        return "series"

    def split(self, *, source: Any, holdout_fraction: float, seed: int) -> tuple[Any, Any]:
        holdout = grouping.split_by_subject(subjects=source[0].subjects, holdout_fraction=holdout_fraction, seed=seed)
        return tuple((source[0].take(np.flatnonzero(keep)), source[1]) for keep in (~holdout, holdout))

    def resolve(self, *, train: Any, epsilon: float, delta: float, privacy: PrivacySpec,
                rng: np.random.Generator) -> tuple[SignalCodec, Preprocessing]:
        settings = train[1]
        channels = tuple(f"c{i}" for i in range(settings.channels))
        return SignalCodec(kind="series", fs=1.0, channels=channels, units=("a.u.",) * len(channels),
                           length=settings.length, amplitude=settings.amplitude, unit="record"), Preprocessing()

    def needs_preprocessing(self, *, source: Any) -> bool:
        return False

    def records(self, *, source: Any, codec: SignalCodec, privacy: PrivacySpec, seed: int) -> SeriesData:
        return source[0]

    def values(self, data: SeriesData) -> np.ndarray:
        return data.series

    def decode(self, *, codec: SignalCodec, array: np.ndarray) -> SeriesData:
        series, _ = codec.decode(array)
        return SeriesData(series, np.array([f"synthetic-{i}" for i in range(len(series))]))

    def build_denoiser(self, *, codec: SignalCodec, model: ModelSpec) -> nn.Module:
        return UNetDenoiser(channels=len(codec.channels), shape=(codec.length,), classes=0,
                            base=int(model.resolved("unet_base")))

    def save_data(self, *, data: SeriesData, path: Path) -> Path:
        with Path(path).open("wb") as handle:
            np.savez(handle, series=data.series, subjects=data.subjects)
        return Path(path)

    def read_data(self, *, path: Path, codec: SignalCodec) -> SeriesData:
        with np.load(path) as stored:
            return SeriesData(stored["series"], stored["subjects"])

    def audit_frames(self, *, data: SeriesData, codec: SignalCodec) -> SignalSet:
        return SignalSet(data=data.series)

    def audit_schema(self, *, codec: SignalCodec) -> SignalSchema:
        return SignalSchema(kind="series", fs=codec.fs, channels=codec.channels, units=codec.units,
                            amplitude=codec.amplitude)

    def read_audit_inputs(self, **kwargs: Any) -> AuditInputs:
        raise BadInputError("toy_series: synthdata audit is not supported")

    def write_release(self, *, data: SeriesData, codec: SignalCodec, folder: Path,
                      provenance: dict[str, str]) -> list[str]:
        np.save(folder / "series.npy", data.series)
        (folder / "series.json").write_text(json.dumps(provenance))
        return ["series.npy", "series.json"]


SERIES_PRESETS = {"fast": {"epochs": 2, "batch_size": 32, "lr": 2e-3, "augmentation": 2, "unet_base": 8},
                  "standard": {"epochs": 4, "batch_size": 32, "lr": 2e-3, "augmentation": 2, "unet_base": 8}}


@pytest.fixture
def toy_series(tmp_path: Path) -> Iterator[Path]:
    """The toy modality registered (the one line a new modality adds) and a file of 160 smooth 3-channel series."""
    register(Registration("toy_series", SeriesModality, SERIES_PRESETS, SeriesSettings))
    rng = np.random.default_rng(0)
    t = np.linspace(0, 2 * np.pi, 32)
    phase = rng.uniform(0, 2 * np.pi, size=(160, 3, 1))
    series = (0.6 * np.sin(t + phase) + 0.05 * rng.standard_normal((160, 3, 32))).astype(np.float32)
    path = tmp_path / "input" / "series.npz"
    path.parent.mkdir()
    np.savez(path, series=series, subjects=np.array([f"s{i}" for i in range(160)]))
    yield path
    MODALITIES.pop("toy_series")


def test_a_modality_registered_alone_releases_through_the_shared_flow(toy_series: Path, synthdata_home: Path,
                                                                      tmp_path: Path) -> None:
    out = tmp_path / "release"
    spec = parse_spec({
        "name": "toy", "dataset": {"path": str(toy_series), "modality": "toy_series",
                                   "series": {"channels": 3, "length": 32}},
        "privacy": {"epsilon": 8.0}, "model": {"preset": "fast", "timesteps": 50, "sample_steps": 5},
        "audits": {"max_rows": 200, "holdout_fraction": 0.3,
                   "gates": {"memorization.dcr_share": 1.0, "memorization.near_copies": 1.0,
                             "attack.membership_inference": 1.0}},
        "output": {"out": str(out), "records": 40}, "seed": 3})
    assert spec.model.epochs == 2 and spec.model.unet_base == 8  # its own presets filled the model
    assert "series:" in spec.to_yaml()  # its section is written back under its own key

    release = api.release(spec=spec, progress=False)

    assert np.load(out / "series.npy").shape == (40, 3, 32)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["modality"] == "toy_series" and manifest["privacy_unit"] == "one series"
    names = {a.name for a in release.audits}
    # The audits of its view ran, chosen by the view, not by the modality's name:
    assert {"memorization.dcr_share", "memorization.near_copies", "attack.membership_inference"} <= names
    assert not names & {"fidelity.quality", "fidelity.frechet"}  # table and image audits did not
    # The Dagster graph is built for it from the same steps, with a blocking check per gated audit.
    graph = build_release_graph(spec)
    checks = {s.name: s for s in graph.checks[0].check_specs}
    assert checks[check_name("memorization.dcr_share")].blocking
    assert {a.key.path[-1] for a in graph.assets} == {"raw", "prepared", "model", "synthetic", "export"}


class AlwaysFarAudit(Audit):
    """A toy gated fidelity audit: the mean absolute difference of one numeric column's mean, in units of
    the real standard deviation (a blunt check, for the test only)."""

    name = "fidelity.toy_mean_shift"
    category = "fidelity"
    title = "Toy mean shift"
    explanation = "How far the synthetic mean of num_lab_procedures is from the real one, in real standard deviations."
    direction = "at_most"
    default_threshold = 0.0  # no generator can pass: the release must be blocked by this gate

    def measure(self, context: AuditContext) -> Measurement:
        real = context.train["num_lab_procedures"].astype(float)
        fake = context.synthetic["num_lab_procedures"].astype(float)
        return Measurement(value=float(abs(real.mean() - fake.mean()) / max(real.std(), 1e-9)) + 1e-3)


@pytest.fixture
def toy_audit() -> Iterator[type[Audit]]:
    register_audit(AlwaysFarAudit)  # the one line a new audit adds
    yield AlwaysFarAudit
    AUDITS.pop(AlwaysFarAudit.name)


def test_an_audit_registered_alone_runs_gates_and_blocks_a_release(toy_audit, tiny_table, synthdata_home: Path,
                                                                   tmp_path: Path) -> None:
    import pandas as pd

    data, schema = tiny_table
    out = tmp_path / "release"
    spec = parse_spec(tiny_spec_dict(data, schema, out))
    assert toy_audit.name in gate.required(view=pd.DataFrame, target="readmitted")
    assert build_release_graph(spec).checks[0].check_specs  # built before the release: the check is there
    assert check_name(toy_audit.name) in {s.name for s in build_release_graph(spec).checks[0].check_specs}

    with pytest.raises(GateFailedError):
        api.release(spec=spec, progress=False)

    assert not out.exists()  # blocked by the new gate: nothing exported
    (run,) = (synthdata_home / "runs").iterdir()
    record = json.loads((run / "synthetic" / "audit.json").read_text())
    (result,) = [a for a in record["audits"] if a["name"] == toy_audit.name]
    assert result["passed"] is False and not record["passed"]
