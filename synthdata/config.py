"""The release spec: one YAML file (or CLI flags) that says everything a release does.

This module holds the parts every modality shares (privacy, model, audits, output, where the data is).  A
modality's own declared settings (``dataset.signal``, ``dataset.image``, ...) subclass ``ModalitySettings``
in the modality's package; ``synthdata.release_spec`` reads a spec file against the registered modalities.
The spec, with every default filled in, is recorded in the release manifest, so a release can be audited
and repeated.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import Any, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from synthdata.errors import BadInputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModalitySettings(_Strict):
    """A modality's declared, public settings: the spec's ``dataset.<section>`` mapping.

    Subclasses live in their modality's package and set ``section`` (the key under ``dataset:``) and
    ``paths`` (keys holding file paths, resolved against the spec file's folder).  Everything in them is
    treated as public knowledge and listed as such in the privacy statement.
    """

    section: ClassVar[str]
    paths: ClassVar[tuple[str, ...]] = ()

    def declared_classes(self) -> list[str]:
        """The declared class list of labelled records (empty when the records carry no class)."""
        return []


def check_class_proportions(proportions: dict[str, float] | None, classes: list[str]) -> None:
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


class DatasetSpec(_Strict):
    """Where the private data is and how to read it."""

    path: Path
    modality: str = "table"
    schema_path: Path | None = Field(default=None, alias="schema")
    target: str | None = Field(default=None, description="column the utility audit predicts")
    licence: str | None = None
    attribution: str | None = None
    #: The modality's declared settings, validated by its ``ModalitySettings`` subclass (written back under
    #: its own section key, e.g. ``signal:``).  None for modalities without a section (tables).
    settings: SerializeAsAny[ModalitySettings] | None = None

    @model_validator(mode="after")
    def _labelled_target(self) -> DatasetSpec:
        if self.settings is not None and self.settings.declared_classes() and self.target is None:
            self.target = "label"  # the record's class is what the utility audit predicts
        return self

    @model_serializer(mode="wrap")
    def _section_key(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        settings = data.pop("settings", None)
        if self.settings is not None:
            data[type(self.settings).section] = settings
        return data

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


#: The column distributions' share of epsilon when the spec leaves it unset: where DP-SGD can learn something, and
#: where it cannot (chosen per release by :func:`synthdata.privacy.joint.marginals_share`).
SHARE_WITH_MODEL = 0.5
SHARE_WITHOUT_MODEL = 0.9

#: The largest epsilon a release may state (e^100 bounds nothing; calibration beyond it overflows).
MAX_EPSILON = 100.0


class PrivacySpec(_Strict):
    """The privacy budget of this release.

    ``epsilon`` is the total spent by this release (DP preprocessing plus training, composed).  ``delta``
    defaults to a value well below 1/n (see ``default_delta``).  ``preprocessing_share`` is the part of
    epsilon spent learning missing column domains with DP (only spent when a domain must be learned).
    ``marginals_share`` is the part spent measuring every column's distribution (tables: the synthetic
    rows are calibrated to it); training gets what remains.  Unset, the release chooses it from public numbers
    (:func:`synthdata.privacy.joint.marginals_share`): 0.5, or 0.9 where DP-SGD would be too noisy to learn
    anything the column distributions do not carry (on the demo slice at epsilon 1); chosen on the demo slice,
    never on the benchmark's rows.
    ``reproducible`` makes every random draw replay from the seed: useful for debugging, but such a run is
    NOT differentially private: it runs only with ``not_private: true``, which exports it stating no epsilon
    and saying NOT DIFFERENTIALLY PRIVATE in every file and the report.
    """

    epsilon: float = Field(gt=0, allow_inf_nan=False)
    delta: float | None = Field(default=None, gt=0, lt=1)
    preprocessing_share: float = Field(default=0.1, gt=0, lt=1)
    marginals_share: float | None = Field(
        default=None, gt=0, lt=1, description="part of epsilon that measures each column's distribution (tables), "
        "which the synthetic rows are calibrated to; unset: 0.5, or 0.9 where DP-SGD would learn nothing")
    max_rows_per_subject: int = Field(default=3, ge=1, le=64)
    total_epsilon: float | None = Field(default=None, gt=0, description="dataset budget, first use only")
    accountant: Literal["prv", "rdp"] = "prv"
    reproducible: bool = False
    not_private: bool = Field(default=False, description="export a run that is not differentially private "
                                                         "(reproducible noise), marked so everywhere, with no epsilon")
    same_budget_as: str | None = Field(
        default=None, pattern=r"^ds-[0-9a-f]{16}$",
        description="the id of a dataset in the ledger (from its manifest) whose budget this dataset is charged "
                    "to: for data derived from it (rows dropped or added), which no fingerprint can tie to it")

    @field_validator("epsilon")
    @classmethod
    def _finite(cls, value: float) -> float:
        if value != value or value == float("inf"):
            raise ValueError("epsilon must be a finite number > 0")
        if value > MAX_EPSILON:
            raise ValueError(f"epsilon {value:g} is above {MAX_EPSILON:g}: a factor e^{value:g} bounds nothing, and "
                             "the accountants cannot calibrate noise that small; for a run without a guarantee use "
                             "privacy.not_private: true with reproducible: true")
        return value

    @model_validator(mode="after")
    def _shares_leave_training_budget(self) -> "PrivacySpec":
        marginals = SHARE_WITH_MODEL if self.marginals_share is None else self.marginals_share
        if self.preprocessing_share + marginals >= 0.95:
            raise ValueError(f"preprocessing_share + marginals_share is {self.preprocessing_share + marginals:g}"
                             f"{' (marginals_share unset counts as 0.5)' if self.marginals_share is None else ''}: "
                             "keep it below 0.95, training needs the rest")
        return self


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
    sample_steps: int | None = Field(default=None, ge=2, description="DDIM steps when sampling")
    guidance: float | None = Field(default=None, ge=0, le=20,
                                   description="classifier-free guidance weight for class-conditional data (0: none)")
    ema: float | None = Field(
        default=None, ge=0, le=1,
        description="keep an exponential moving average of the denoiser's weights over about this share of the "
                    "last training steps, and release the average (0: off, the last iterate; unset: the preset's, "
                    "off for tables); post-processing of the DP-SGD iterates, no privacy cost")
    sample_precision: Literal["auto", "float32", "bfloat16"] = Field(
        default="auto", description="the denoiser's arithmetic when sampling (auto: bfloat16 for the U-Net on CPUs "
                                    "with native bfloat16, else float32)")
    pretrain: Path | None = Field(
        default=None, description="a file or folder of DECLARED-PUBLIC records of the same modality and settings: the "
                                  "denoiser is pretrained on it without DP (no privacy cost) before DP-SGD; refused "
                                  "if it shares a record with the private data (signals and images)")
    pretrain_epochs: int | None = Field(default=None, ge=1, description="epochs on the public prior (default: the "
                                                                        "DP plan's epochs)")
    device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto", description="where the denoiser trains and samples (auto: cuda when torch sees a GPU, else "
                                    "cpu; cuda without a GPU is refused before anything is charged)")
    processes: int = Field(default=1, ge=1, le=64, description="processes that run DP-SGD training together on this "
                                                               "machine (one per GPU on cuda); the same mechanism "
                                                               "and epsilon as one process; no checkpoints")
    data_scale: float | None = Field(
        default=None, gt=0, le=100,
        description="the noise schedule treats the data as this many times larger (every step's signal-to-noise ratio "
                    "times its square; 1: unchanged): for data that fill a small part of [-1, 1], such as signal "
                    "windows in their declared amplitude range")
    condition_dropout: float = Field(default=0.1, ge=0, lt=1,
                                     description="share of training rows that see no class (learns the "
                                                 "unconditional model guidance needs)")

    def resolved(self, name: str) -> int | float:
        """The field's value; a ``ReleaseSpec`` read by ``synthdata.release_spec`` has every field its
        modality's preset sets filled in (recorded so in the manifest)."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"model.{name} is unset: fill the spec's model from its modality's preset first")
        return value

    def filled(self, *, presets: dict[str, dict[str, float | int]]) -> ModelSpec:
        """A copy with every field the chosen preset sets filled in where it was left unset."""
        preset = {"sample_steps": 50, "guidance": 1.0, "data_scale": 1.0,  # unless the preset says otherwise
                  **presets[self.preset]}
        return self.model_copy(update={k: v for k, v in preset.items() if getattr(self, k) is None})


class AuditSpec(_Strict):
    """Audit settings, gate threshold overrides (keyed by audit name), sign-off and report kind.

    ``require_approval``: a release that passes every gate waits for ``synthdata approve RUN --by NAME`` (or
    the approve job in the Dagster UI) before anything is exported; who and when go into the manifest and
    the report.  ``approvers``: the names that may sign this release off; with an installation-wide list
    (``$SYNTHDATA_HOME/approvers.yaml``, ``synthdata.flow.approvers``) a name must be on both, and a release
    that requires approval with neither is refused before it starts.  ``internal_report``: also write ``report_internal.html``/``.pdf`` into the run's private work
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
    approvers: list[str] = Field(default_factory=list,
                                 description="who may sign this release off (names as they are recorded); the "
                                             "installation's list, when there is one, must name them too")
    require_judged: bool = Field(default=False, description="a privacy gate that could not be judged on this data "
                                                            "blocks the release (default: it does not, and the "
                                                            "report says the release rests on its DP guarantee)")
    internal_report: bool = False
    canaries: int | None = Field(
        default=None, ge=100, le=100_000,
        description="run the empirical DP check with this many canaries (trains a second, throwaway model: "
                    "charges up to the release's epsilon again to the dataset's budget)")

    @field_validator("approvers")
    @classmethod
    def _approver_names(cls, names: list[str]) -> list[str]:
        names = [" ".join(name.split()) for name in names]
        if not all(names):
            raise ValueError("an approver's name is empty")
        repeated = sorted({n for n in names if [m.casefold() for m in names].count(n.casefold()) > 1})
        if repeated:
            raise ValueError(f"approver(s) named twice: {', '.join(repeated)}")
        return names

    @model_validator(mode="after")
    def _approvers_need_a_sign_off(self) -> AuditSpec:
        if self.approvers and not self.require_approval:
            raise ValueError("audits.approvers names who may sign off, but audits.require_approval is false: set it "
                             "to true, or drop approvers")
        return self


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
    def _processes_train_privately(self) -> ReleaseSpec:
        if self.model.processes > 1 and (self.privacy.reproducible or self.privacy.not_private):
            raise ValueError("model.processes above 1 trains with DP-SGD across processes: not with "
                             "privacy.reproducible or privacy.not_private")
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




#: PyYAML's safe loader in C when libyaml is there (a schema listing 100,000 public codes: 0.9 s against 6.3 s).
SAFE_LOADER: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(text: str) -> object:
    """``yaml.safe_load`` through ``SAFE_LOADER``: the same safe subset of YAML, parsed in C when it can be."""
    return yaml.load(text, Loader=SAFE_LOADER)  # noqa: S506 - a safe loader


def problem_text(message: str) -> str:
    """A pydantic error message without pydantic's ``Value error, `` prefix (the sentence is the validator's)."""
    return message.removeprefix("Value error, ")


def validation_problems(exc: ValidationError, *, prefix: tuple[str, ...] = ()) -> list[str]:
    """One ``field.path: problem`` line per pydantic error (``(top level)`` for the mapping itself)."""
    return [f"{'.'.join(str(p) for p in (*prefix, *err['loc'])) or '(top level)'}: {problem_text(err['msg'])}"
            for err in exc.errors()]


def read_yaml(path: Path, *, what: str) -> object:
    """The content of a YAML file; BadInputError naming ``what`` and the file when absent, not UTF-8 text or
    malformed."""
    if not path.is_file():
        raise BadInputError(f"{what} {path} does not exist")
    try:
        return safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise BadInputError(f"{what} {path} is not UTF-8 text: save it as UTF-8") from None
    except yaml.YAMLError as exc:
        raise BadInputError(f"{what} {path} is not valid YAML: {exc}") from None
