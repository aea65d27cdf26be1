"""The modality interface: what differs between tables, signals and images.

A modality reads and validates its input, splits it into train and holdout by privacy unit, learns the
public parts of its encoding (declared, or with DP from the preprocessing budget), turns the training split
into privacy units of fixed-size rows for the DP trainer, decodes model output back into native data, builds
its denoiser and writes its release files.  The diffusion process, the DP trainer, the sampler, the audits,
the gate, the ledger and the export are shared (``synthdata.flow.stages``).

Privacy caveats every implementation must keep: nothing read from the private data before training may
shape the encoding unless it is declared public or computed with DP inside ``resolve`` (and reported in its
``Preprocessing``); the holdout split never reaches ``units``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from synthdata.config import DatasetSpec, ModalitySettings, ModelSpec, PrivacySpec
from synthdata.errors import BadInputError
from synthdata.privacy.gaussian import GaussianMechanism


@dataclass(frozen=True)
class Preprocessing:
    """What the DP preprocessing spent and what it means (plain words, no values)."""

    epsilon: float = 0.0
    delta: float = 0.0
    columns: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AuditInputs:
    """Real train / holdout and synthetic data read from files for ``synthdata audit``, in audit form."""

    train: Any
    holdout: Any
    synthetic: Any
    schema: Any
    notes: list[str] = field(default_factory=list)
    # "train"/"holdout" -> the PRIVATE unit id (patient) of each record, when the files name them; never reported
    groups: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Units:
    """The training split as the DP trainer sees it: ``data`` (N, R, d) and ``mask`` (N, R)."""

    data: torch.Tensor
    mask: torch.Tensor

    @property
    def count(self) -> int:
        return int(self.data.shape[0])


class Modality(ABC):
    """One data modality.  ``Source`` and ``Codec`` types are the modality's own."""

    name: ClassVar[str]
    #: The kind of data view the audits read (``synthdata.views``): ``audit_frames`` returns one of these, and
    #: the audits, distance spaces and report figures registered for it apply to this modality.
    view: ClassVar[type]
    data_suffix: ClassVar[str] = ".parquet"  # private storage of train / holdout / synthetic data
    #: What the spec declares and the privacy statement lists as public knowledge (not protected).
    declared_public: ClassVar[str] = ("Column domains declared in the schema (bounds, category lists) are treated "
                                      "as public knowledge.")

    def data_file(self, stem: str) -> str:
        """File name of a private data set (``train``, ``holdout``, ``synthetic``) in the work area."""
        return f"{stem}{self.data_suffix}"

    def audit_schema(self, *, codec: Any) -> Any:
        """The public schema the audits read (``AuditContext.schema``)."""
        return codec.schema

    @abstractmethod
    def load(self, *, dataset: DatasetSpec, privacy: PrivacySpec) -> Any:
        """Read and validate the input; raise BadInputError naming the file/column on bad input."""

    @abstractmethod
    def fingerprint(self, *, source: Any) -> str:
        """Content hash of the source, independent of file name and record order."""

    def legacy_fingerprints(self, *, source: Any) -> list[str]:
        """Fingerprints older versions gave the same source; a ledger that knows one moves its charges to
        ``fingerprint`` (``Ledger.budget_key``)."""
        return []

    @abstractmethod
    def privacy_unit(self, *, source: Any, privacy: PrivacySpec) -> str:
        """Plain-words description of the privacy unit (e.g. 'one patient (patient_nbr), at most 3 rows')."""

    def public_inputs(self, *, source: Any) -> bool:
        """Whether everything that shapes the release before training is declared public or learned with DP
        (False, e.g., for a table schema drafted from the private data: the release is then not DP)."""
        return True

    def check_unit(self, *, source: Any, train: Any) -> None:
        """Refuse (BadInputError) when the declared privacy unit cannot be honoured on the training split, before
        any budget is reserved (e.g. ``subject`` declared but the split left one subject to train on)."""

    @abstractmethod
    def count_units(self, *, source: Any) -> int:
        """Number of privacy units in the source (treated as public, as DP-SGD's sample rate does)."""

    @abstractmethod
    def split(self, *, source: Any, holdout_fraction: float, seed: int) -> tuple[Any, Any]:
        """Train / holdout split by privacy unit (subject), never mixing one unit's records."""

    @abstractmethod
    def resolve(
        self, *, train: Any, epsilon: float, delta: float, privacy: PrivacySpec, rng: np.random.Generator
    ) -> tuple[Any, Preprocessing]:
        """Learn the codec's public parameters: declared, or with DP spending at most (epsilon, delta)."""

    @abstractmethod
    def needs_preprocessing(self, *, source: Any) -> bool:
        """Whether ``resolve`` will spend budget (some public domain is missing)."""

    def preprocessing_columns(self, *, source: Any) -> list[str]:
        """The columns whose domains ``resolve`` learns with DP (its epsilon is split evenly over them)."""
        return []

    def doomed_columns(self, *, train: Any, epsilon: float, privacy: PrivacySpec) -> list[str]:
        """What ``resolve`` would most likely fail to learn at this preprocessing ``epsilon`` (a noise-free
        look at the data): a release refuses them before it reserves budget.  Never published."""
        return []

    @abstractmethod
    def records(self, *, source: Any, codec: Any, privacy: PrivacySpec, seed: int) -> Any:
        """The records as the model sees them: bounded per privacy unit, typed by the resolved codec."""

    @abstractmethod
    def to_units(self, *, data: Any, codec: Any) -> Units:
        """Encode ``records`` output and group it into privacy units for the DP trainer."""

    @abstractmethod
    def decode(self, *, codec: Any, array: np.ndarray) -> Any:
        """Model output (n, d) in [-1, 1] back to native synthetic data."""

    @abstractmethod
    def build_denoiser(self, *, codec: Any, model: ModelSpec) -> nn.Module:
        """The denoiser network for this modality's encoded shape."""

    def condition_dim(self, *, codec: Any) -> int:
        """Width ``K`` of the class condition at the end of each encoded row (0: unconditional)."""
        return 0

    def conditions(self, *, codec: Any, n: int, rng: np.random.Generator) -> np.ndarray | None:
        """The ``(n, K)`` float32 class conditions of ``n`` synthetic records (None when unconditional).

        Class proportions must come from the codec (declared, or learned with DP in ``resolve``); ``rng``
        is the release's public sampling randomness.
        """
        return None

    #: Whether ``measure_marginals`` measures something: the flow then sets ``privacy.marginals_share`` of
    #: epsilon aside for it before training.
    measures_marginals: ClassVar[bool] = False

    def measure_marginals(self, *, units: Units, codec: Any, epsilon: float, delta: float, target: str | None,
                          rng: np.random.Generator) -> tuple[dict[str, Any], GaussianMechanism]:
        """(epsilon, delta)-DP distributions of the training units (JSON-able; split by the declared
        ``target`` where the modality can) and the mechanism that measured them; ``calibrate`` moves samples
        onto them.  Only called when ``measures_marginals``."""
        raise NotImplementedError(f"{self.name} measures no marginals")

    def calibrate(self, *, codec: Any, array: np.ndarray, marginals: dict[str, Any],
                  rng: np.random.Generator) -> np.ndarray:
        """Model output moved onto the DP-measured distributions (post-processing; ``rng`` is public)."""
        return array

    # Private storage inside the run's work area, and the release's native files.
    @abstractmethod
    def save_data(self, *, data: Any, path: Path) -> Path: ...

    @abstractmethod
    def read_data(self, *, path: Path, codec: Any) -> Any: ...

    @abstractmethod
    def save_codec(self, *, codec: Any, path: Path) -> Path: ...

    @abstractmethod
    def read_codec(self, *, path: Path) -> Any: ...

    @abstractmethod
    def count_records(self, *, data: Any) -> int: ...

    @abstractmethod
    def audit_frames(self, *, data: Any, codec: Any) -> Any:
        """The view of the data that audits read (for tables: a pandas frame of the modelled columns)."""

    def audit_groups(self, *, data: Any, codec: Any) -> Any | None:
        """The privacy unit of each record of ``data`` (an array of PRIVATE ids, e.g. patients), for audits
        whose null moves whole units between training and holdout; None when every record is its own unit.
        Never reported."""
        return None

    @abstractmethod
    def read_audit_inputs(
        self, *, train: Path, holdout: Path, synthetic: Path, schema: Path | None, target: str | None,
        settings: ModalitySettings | None = None,
    ) -> AuditInputs:
        """Read three files (synthetic data from any tool) into the audit view; BadInputError names the file.
        ``schema`` is a table schema file; ``settings`` the declared settings of a modality that has them."""

    def record_digests(self, *, source: Any) -> set[str]:
        """A digest of every record of a source, to check a declared-public prior shares no record with the
        private data (``model.pretrain``).  Private: compared in memory, never stored or reported."""
        raise BadInputError(f"model.pretrain (a public prior) is supported for signals and images, not {self.name}")

    def prior_units(self, *, source: Any, codec: Any) -> Units:
        """Every record of a declared-public source, encoded with the release's codec, for pretraining."""
        raise BadInputError(f"model.pretrain (a public prior) is supported for signals and images, not {self.name}")

    @abstractmethod
    def write_release(self, *, data: Any, codec: Any, folder: Path, provenance: dict[str, str]) -> list[str]:
        """Write the synthetic data in native formats marked as synthetic; return the file names."""


@dataclass(frozen=True)
class Fit:
    """What fitting a database's generator spent: the ledger records of every mechanism it ran, their
    composition (``epsilon`` at ``delta``: the database's guarantee, what the ledger is charged), each part's
    own mechanisms composed (``epsilon_per_part``: what releasing that table's model alone would cost; they do
    not add up to ``epsilon``), and the plan's public facts (``summary``: JSON-able, aggregates only)."""

    epsilon: float
    delta: float
    mechanisms: list[dict[str, Any]]
    epsilon_per_part: dict[str, float]
    composition: str
    summary: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class DatabaseModality(ABC):
    """A modality of several tables released together (a relational database): one privacy unit across the
    tables and ONE DP generator of its own, whose mechanisms (structure, per table column distributions and
    DP-SGD) are planned jointly, so the shared stages (``synthdata.flow.databases``) reserve, charge, audit and
    export it while the modality fits and samples it whole.

    Work-area handles are folders: ``store`` writes a split there, ``fit`` reads one and writes the model,
    ``sample`` writes the synthetic database, ``audit_view`` reads any of them back in the audits' view.
    Privacy caveats: as ``Modality``'s; ``check_fit`` reads public numbers only and runs no mechanism."""

    name: ClassVar[str]
    view: ClassVar[type]
    declared_public: ClassVar[str]

    @abstractmethod
    def load(self, *, dataset: DatasetSpec, privacy: PrivacySpec) -> Any:
        """Read and validate every table; BadInputError naming the file, table and column on bad input."""

    @abstractmethod
    def fingerprint(self, *, source: Any) -> str:
        """Content hash of every table of the source (the ledger's key; never published)."""

    @abstractmethod
    def privacy_unit(self, *, source: Any) -> str: ...

    @abstractmethod
    def count_units(self, *, source: Any) -> int:
        """Number of privacy units (patients), treated as public."""

    @abstractmethod
    def parts(self, *, dataset: DatasetSpec) -> list[str]:
        """The names of the parts (tables), from the declared schema alone (public)."""

    @abstractmethod
    def split(self, *, source: Any, holdout_fraction: float, seed: int) -> tuple[Any, Any]:
        """Train / holdout by privacy unit, each unit on one side with all its rows in every table."""

    @abstractmethod
    def check_fit(self, *, train: Any, epsilon: float, delta: float, model: ModelSpec, privacy: PrivacySpec) -> None:
        """Refuse (BadInputError) what ``fit`` would refuse, before any budget is reserved."""

    @abstractmethod
    def store(self, *, source: Any, folder: Path) -> None: ...

    @abstractmethod
    def fit(self, *, data: Path, model_folder: Path, epsilon: float, delta: float, model: ModelSpec,
            privacy: PrivacySpec, seed: int, progress: Any) -> Fit:
        """Fit the DP generator on the stored split ``data`` for (epsilon, delta) in all; save it in
        ``model_folder``."""

    @abstractmethod
    def sample(self, *, model_folder: Path, out: Path, units: int, seed: int, progress: Any) -> dict[str, int]:
        """A synthetic database of ``units`` privacy units into ``out`` (post-processing); rows per part."""

    @abstractmethod
    def audit_view(self, *, data: Path, model_folder: Path, synthetic: bool) -> Any:
        """A stored split (``synthetic`` False) or a synthetic database in the audits' view."""

    @abstractmethod
    def write_release(self, *, synthetic: Path, model_folder: Path, folder: Path,
                      provenance: dict[str, str]) -> list[str]:
        """The synthetic database's release files (every part in native formats, its schema); their names."""


AnyModality = Modality | DatabaseModality
