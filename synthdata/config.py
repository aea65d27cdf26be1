"""The release spec: one YAML file (or CLI flags) that says everything a release does.

Relative paths in a spec file are resolved against the file's folder.  The spec, with every default filled
in, is recorded in the release manifest, so a release can be audited and repeated.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from synthdata.errors import BadInputError

PRESETS: dict[str, dict[str, dict[str, float | int]]] = {
    "table": {
        # A short training for smoke tests and previews.  Still DP: the stated epsilon holds.
        # Measured on the 20,000-row demo at epsilon 3: Column Shapes 0.84, Pair Trends 0.78 in about 2 minutes.
        "fast": {"epochs": 20, "batch_size": 1024, "hidden": 256, "depth": 3, "lr": 2e-3, "augmentation": 4},
        # The default for real releases: larger batches (less noise per step) and more epochs.
        "standard": {"epochs": 15, "batch_size": 4096, "hidden": 256, "depth": 3, "lr": 2e-3, "augmentation": 4},
    },
    # Signal windows and images: hundreds to thousands of units, a convolutional U-Net (per-sample
    # gradients, no ghost clipping), so smaller batches and more epochs (evaluation/benchmarks/ measures them).
    "signal": {
        "fast": {"epochs": 40, "batch_size": 64, "lr": 2e-3, "augmentation": 4, "unet_base": 16},
        "standard": {"epochs": 150, "batch_size": 128, "lr": 2e-3, "augmentation": 4, "unet_base": 32},
    },
    "image": {
        "fast": {"epochs": 40, "batch_size": 64, "lr": 2e-3, "augmentation": 2, "unet_base": 16},
        "standard": {"epochs": 150, "batch_size": 128, "lr": 2e-3, "augmentation": 2, "unet_base": 32},
    },
}

#: The dataset section that declares each non-table modality's public settings.
SECTIONS = {"ecg": "signal", "eeg": "signal", "image": "image"}

#: Which preset family serves each modality.
MODALITY_FAMILY = {"table": "table", "ecg": "signal", "eeg": "signal", "image": "image"}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignalSpec(_Strict):
    """How ECG/EEG recordings become training windows.  Everything here is DECLARED by the steward and
    treated as public; nothing is read from the data to set it (rule 1 of the privacy rules).

    ``amplitude`` is the physical range (mV for ECG, uV for EEG) mapped to [-1, 1]; values outside are
    clipped and only their count is reported.  ``privacy_unit``: ``subject`` protects a person with all their
    windows (each subject is one DP-SGD unit holding at most ``max_windows_per_subject`` windows, sampled
    away beyond); ``window`` protects single windows, and the guarantee per subject then follows from group
    privacy over at most ``max_windows_per_subject`` windows (stated as such in the report).  With a single
    subject only window-level protection exists, and the report says the guarantee protects windows, not
    the person.
    """

    channels: list[str] | None = Field(default=None, description="channels/leads to keep (default: all)")
    sample_rate: float = Field(gt=0, description="Hz after resampling")
    amplitude: tuple[float, float] = Field(description="declared physical range mapped to [-1, 1]")
    bandpass: tuple[float | None, float | None] | None = Field(default=None, description="declared filter band, Hz")
    segment: Literal["fixed", "beats"] = "fixed"
    window_seconds: float = Field(default=2.0, gt=0)
    step_seconds: float | None = Field(default=None, gt=0)
    beat_before_seconds: float = Field(default=0.25, gt=0)
    beat_after_seconds: float = Field(default=0.45, gt=0)
    labels: dict[str, str] | None = Field(
        default=None, description="annotation label -> class (beat symbols, rhythm notes, EDF+ T0/T1/T2)")
    label_table: Path | None = Field(default=None, description="CSV with one label per record")
    record_column: str = "record"
    label_column: str = "label"
    classes: list[str] | None = Field(
        default=None, description="the declared classes (required with label_table; with labels: its values)")
    class_proportions: dict[str, float] | None = Field(
        default=None, description="declared class proportions of the synthetic windows (default: measured "
                                  "with DP from the preprocessing share)")
    annotation_extension: str = "atr"
    privacy_unit: Literal["subject", "window"] = "subject"
    max_windows_per_subject: int = Field(default=8, ge=1, le=4096)

    def declared_classes(self) -> list[str]:
        """The public class list: ``classes``, else the values of ``labels`` (sorted); empty if unlabelled."""
        if self.classes is not None:
            return list(self.classes)
        return sorted(set(self.labels.values())) if self.labels else []

    @model_validator(mode="after")
    def _consistent(self) -> SignalSpec:
        low, high = self.amplitude
        if not low < high:
            raise ValueError(f"amplitude must be [low, high] with low < high, got [{low}, {high}]")
        if self.bandpass is not None:
            lo, hi = self.bandpass
            if lo is not None and hi is not None and not 0 < lo < hi:
                raise ValueError(f"bandpass must be [low, high] with 0 < low < high, got [{lo}, {hi}]")
            if hi is not None and hi >= self.sample_rate / 2:
                raise ValueError(f"bandpass high edge {hi} Hz must be below half the sample rate ({self.sample_rate / 2} Hz)")
        if self.segment == "beats" and not self.labels:
            raise ValueError("segment 'beats' needs labels (beat symbol -> class), e.g. {N: normal, V: ventricular}")
        if self.labels and self.label_table is not None:
            raise ValueError("give labels from annotations or a label_table, not both")
        if self.label_table is not None and not self.classes:
            raise ValueError("a label_table needs the declared classes: classes: [open, closed]")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be distinct, got {self.classes}")
        if self.labels and self.classes is not None and set(self.labels.values()) - set(self.classes):
            raise ValueError(f"labels map to {sorted(set(self.labels.values()) - set(self.classes))}, which are "
                             "not among the declared classes")
        _check_proportions(self.class_proportions, self.declared_classes())
        return self


def _check_proportions(proportions: dict[str, float] | None, classes: list[str]) -> None:
    """Declared class proportions: one non-negative weight per declared class, not all zero."""
    if proportions is None:
        return
    if not classes:
        raise ValueError("class_proportions need labelled data (labels, or a label_table with classes)")
    if set(proportions) != set(classes):
        raise ValueError(f"class_proportions must give every declared class {classes} and no other, got "
                         f"{sorted(proportions)}")
    if any(not (v >= 0 and v != float("inf")) for v in proportions.values()) or sum(proportions.values()) <= 0:
        raise ValueError("class_proportions must be non-negative numbers with a positive sum")


class ImageSpec(_Strict):
    """How image files become training images.  Everything here is DECLARED by the steward and treated as
    public; nothing is read from the pixels to set it (rule 1 of the privacy rules).

    ``size`` (height, width) and ``channels`` are the model's image shape; an image of another size is an
    error unless ``resize`` (bilinear, aspect ratio not kept).  ``window`` is the intensity range in the
    file's units (after DICOM rescale or NIfTI scaling) mapped onto [-1, 1]; values outside are clipped.
    ``privacy_unit``: ``subject`` protects a person with all their images (one DP-SGD unit of at most
    ``max_images_per_subject`` images); ``image`` protects single images, and a person's guarantee follows
    from group privacy.  Inputs that name no patient (MedMNIST, a folder without ``subject_column``) make
    every image its own subject: the report then says the guarantee is per image.
    """

    format: Literal["auto", "folder", "npz", "dicom", "nifti"] = "auto"
    size: tuple[int, int]
    channels: Literal[1, 3] = 1
    window: tuple[float, float] = (0.0, 255.0)
    resize: bool = False
    labels_csv: Path | None = Field(default=None, description="folder input: CSV of file -> label (and subject)")
    file_column: str = "file"
    label_column: str = "label"
    subject_column: str | None = None
    npz_splits: list[str] = Field(default_factory=lambda: ["train"], description="MedMNIST splits to read")
    nifti_axis: int = Field(default=2, ge=0, le=2)
    nifti_slices: Literal["middle", "all"] | list[int] = "middle"
    classes: list[str] | None = Field(default=None, description="the declared classes (labelled inputs)")
    class_proportions: dict[str, float] | None = Field(
        default=None, description="declared class proportions of the synthetic images (default: measured "
                                  "with DP from the preprocessing share)")
    privacy_unit: Literal["subject", "image"] = "subject"
    max_images_per_subject: int = Field(default=8, ge=1, le=4096)
    output_format: Literal["png", "npz", "dicom"] = "png"

    @model_validator(mode="after")
    def _consistent(self) -> ImageSpec:
        if min(self.size) < 8 or max(self.size) > 512:
            raise ValueError(f"size must be between 8 and 512 pixels per side, got {list(self.size)}")
        low, high = self.window
        if not low < high:
            raise ValueError(f"window must be [low, high] with low < high, got [{low}, {high}]")
        if self.classes is not None and len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be distinct, got {self.classes}")
        _check_proportions(self.class_proportions, self.declared_classes())
        if self.output_format == "npz" and not self.classes:
            raise ValueError("output_format npz (the MedMNIST layout) needs labelled images: declare classes")
        return self

    def declared_classes(self) -> list[str]:
        return list(self.classes or [])


class DatasetSpec(_Strict):
    """Where the private data is and how to read it."""

    path: Path
    modality: Literal["table", "ecg", "eeg", "image"] = "table"
    schema_path: Path | None = Field(default=None, alias="schema")
    target: str | None = Field(default=None, description="column the utility audit predicts")
    licence: str | None = None
    attribution: str | None = None
    signal: SignalSpec | None = Field(default=None, description="windows of ECG/EEG recordings (signals only)")
    image: ImageSpec | None = Field(default=None, description="image files (images only)")

    @model_validator(mode="after")
    def _modality_fields(self) -> DatasetSpec:
        wanted = SECTIONS.get(self.modality)
        for name in set(SECTIONS.values()) - {wanted}:
            if getattr(self, name) is not None:
                raise ValueError(f"a '{name}:' section is not for modality {self.modality}")
        if wanted is not None:
            section = getattr(self, wanted)
            if section is None:
                raise ValueError(f"modality {self.modality} needs a '{wanted}:' section with its declared settings")
            if section.declared_classes() and self.target is None:
                self.target = "label"  # the record's class is what the utility audit predicts
        return self

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class PrivacySpec(_Strict):
    """The privacy budget of this release.

    ``epsilon`` is the total spent by this release (DP preprocessing plus training, composed).  ``delta``
    defaults to a value well below 1/n (see ``default_delta``).  ``preprocessing_share`` is the part of
    epsilon spent learning missing column domains with DP (only spent when a domain must be learned).
    ``reproducible`` makes every random draw replay from the seed: useful for debugging, but such a run is
    NOT differentially private and its manifest says so.
    """

    epsilon: float = Field(gt=0)
    delta: float | None = Field(default=None, gt=0, lt=1)
    preprocessing_share: float = Field(default=0.1, gt=0, lt=1)
    max_rows_per_subject: int = Field(default=3, ge=1, le=64)
    total_epsilon: float | None = Field(default=None, gt=0, description="dataset budget, first use only")
    accountant: Literal["prv", "rdp"] = "prv"
    reproducible: bool = False

    @field_validator("epsilon")
    @classmethod
    def _finite(cls, value: float) -> float:
        if value != value or value == float("inf"):
            raise ValueError("epsilon must be a finite number > 0")
        return value


class ModelSpec(_Strict):
    """Denoiser size and DP-SGD plan.  Unset fields take the preset's value."""

    preset: Literal["fast", "standard"] = "standard"
    epochs: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1, description="expected Poisson batch size")
    hidden: int | None = Field(default=None, ge=8)
    depth: int | None = Field(default=None, ge=1)
    lr: float | None = Field(default=None, gt=0)
    augmentation: int | None = Field(default=None, ge=1, description="noise draws averaged per record")
    max_grad_norm: float = Field(default=0.05, gt=0, description="per-unit clipping norm (measured: most per-unit gradient norms exceed it)")
    timesteps: int = Field(default=1000, ge=10)
    prediction: Literal["x0", "eps"] = Field(default="x0", description="what the denoiser predicts (x0: robust under DP noise)")
    unet_base: int | None = Field(default=None, ge=4, le=256, description="channels of the U-Net's first level")
    sampler: Literal["ddim", "ddpm"] = "ddim"
    sample_steps: int = Field(default=50, ge=2)
    guidance: float = Field(default=1.0, ge=0, le=20,
                            description="classifier-free guidance weight for class-conditional data (0: none)")
    condition_dropout: float = Field(default=0.1, ge=0, lt=1,
                                     description="share of training rows that see no class (learns the "
                                                 "unconditional model guidance needs)")

    def resolved(self, name: str, *, family: str = "table") -> int | float:
        """The field's value, or the preset's for the modality ``family`` when unset.  A ``ReleaseSpec``
        fills every unset field from its modality's preset when it is validated, so this matters only for a
        ModelSpec used on its own (benchmarks)."""
        value = getattr(self, name)
        return PRESETS[family][self.preset][name] if value is None else value

    def filled(self, *, family: str) -> ModelSpec:
        """A copy with every field the ``family``'s preset sets filled in where it was left unset."""
        preset = PRESETS[family][self.preset]
        return self.model_copy(update={k: v for k, v in preset.items() if getattr(self, k) is None})


class AuditSpec(_Strict):
    """Audit settings, gate threshold overrides (keyed by audit name), sign-off and report kind.

    ``require_approval``: a release that passes every gate waits for ``synthdata approve RUN --by NAME`` (or
    the approve job in the Dagster UI) before anything is exported; who and when go into the manifest and
    the report.  ``internal_report``: also write ``report_internal.html``/``.pdf`` into the run's private work
    area, showing the closest synthetic/real record pairs for human review and saying INTERNAL on every
    page; it holds real records, so it never goes into the release (which gets the public report).
    ``canaries``: also run the one-run canary audit (``privacy.canary_audit``), which trains a throwaway
    model with the same DP configuration on the training data plus planted canaries and gates on the
    empirical lower bound of epsilon; it costs a second training's epsilon from the dataset's budget.
    """

    holdout_fraction: float = Field(default=0.2, gt=0, lt=0.9)
    gates: dict[str, float] = Field(default_factory=dict)
    max_rows: int = Field(default=5000, ge=100, description="rows per side used by the slower audits")
    require_approval: bool = False
    internal_report: bool = False
    canaries: int | None = Field(
        default=None, ge=100, le=100_000,
        description="run the empirical DP check with this many canaries (trains a second, throwaway model: "
                    "charges up to the release's epsilon again to the dataset's budget)")


class OutputSpec(_Strict):
    """Where the release goes and how many synthetic records it holds."""

    out: Path
    records: int | None = Field(default=None, ge=1, description="default: size of the training split")


class ReleaseSpec(_Strict):
    """Everything one release does."""

    name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$", max_length=64)
    dataset: DatasetSpec
    privacy: PrivacySpec
    model: ModelSpec = Field(default_factory=ModelSpec)
    audits: AuditSpec = Field(default_factory=AuditSpec)
    output: OutputSpec
    seed: int = Field(default_factory=lambda: secrets.randbelow(2**31), ge=0)

    @model_validator(mode="after")
    def _fill_presets(self) -> ReleaseSpec:
        """The modality's preset values for every model field left unset (recorded so in the manifest)."""
        self.model = self.model.filled(family=MODALITY_FAMILY[self.dataset.modality])
        return self

    @model_validator(mode="after")
    def _output_not_input(self) -> ReleaseSpec:
        if "{" not in str(self.output.out) and self.output.out.resolve() == self.dataset.path.resolve().parent:
            raise ValueError("output.out must not be the folder that holds the private data")
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json", by_alias=True), sort_keys=False)

    def output_folder(self, *, run_id: str, home: Path) -> Path:
        """``output.out`` with ``{home}``, ``{name}`` and ``{run_id}`` filled in."""
        text = str(self.output.out)
        try:
            return Path(text.format(home=home, name=self.name, run_id=run_id))
        except (KeyError, IndexError, ValueError):
            raise BadInputError(
                f"output.out '{text}' has an unknown placeholder; use {{home}}, {{name}} or {{run_id}}"
            ) from None


def default_delta(n_units: int) -> float:
    """delta well below 1/n: min(1e-5, 1/(10 n)) for n privacy units."""
    return min(1e-5, 1.0 / (10.0 * max(n_units, 1)))


def name_from_path(path: Path) -> str:
    """A spec name derived from a data file name (``diabetes-130.csv`` -> ``diabetes_130``)."""
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", Path(path).name.split(".")[0]).strip("_") or "release"
    return stem if stem[0].isalpha() else f"d_{stem}"


# Paths inside ``dataset`` that a spec file may give relative to its own folder: (section, key).
_DATASET_PATHS = ((None, "path"), (None, "schema"), ("signal", "label_table"), ("image", "labels_csv"))


def _resolve_paths(raw: dict, base: Path) -> dict:
    dataset = raw.get("dataset")
    if isinstance(dataset, dict):
        for section, key in _DATASET_PATHS:
            holder = dataset if section is None else dataset.get(section)
            if isinstance(holder, dict) and isinstance(holder.get(key), str) and not Path(holder[key]).is_absolute():
                holder[key] = str((base / holder[key]).resolve())
    output = raw.get("output")
    out = output.get("out") if isinstance(output, dict) else None
    if isinstance(out, str) and not Path(out).is_absolute() and not out.startswith("{home}"):
        output["out"] = str((base / output["out"]).resolve())
    return raw


def parse_spec(raw: dict, *, source: str = "spec") -> ReleaseSpec:
    """Validate a spec mapping; problems become one BadInputError naming each field."""
    try:
        return ReleaseSpec.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}" for err in exc.errors()[:8]
        )
        raise BadInputError(f"{source} is not a valid release spec: {problems}") from None


def _read_yaml(path: Path, *, what: str) -> object:
    if not path.is_file():
        raise BadInputError(f"{what} {path} does not exist")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BadInputError(f"{what} {path} is not valid YAML: {exc}") from None


def read_section(path: Path, *, section: str) -> dict:
    """A YAML file holding one dataset section (``signal:`` or ``image:``, with or without that top key);
    relative paths in it resolve against the file's folder."""
    path = Path(path)
    raw = _read_yaml(path, what=f"{section} settings file")
    if isinstance(raw, dict) and isinstance(raw.get(section), dict):
        raw = raw[section]
    if not isinstance(raw, dict):
        raise BadInputError(f"{path} must be a mapping of {section} settings")
    return _resolve_paths({"dataset": {section: raw}}, path.resolve().parent)["dataset"][section]


def load_spec(path: Path) -> ReleaseSpec:
    """Read a release spec YAML file; relative paths resolve against its folder."""
    path = Path(path)
    raw = _read_yaml(path, what="spec file")
    if not isinstance(raw, dict):
        raise BadInputError(f"spec file {path} must be a mapping (name, dataset, privacy, output, ...)")
    return parse_spec(_resolve_paths(raw, path.resolve().parent), source=str(path))
