"""The audit interface: every fidelity, utility and memorization check is an ``Audit``.

An audit *measures* (``Audit.measure`` returns a ``Measurement``: a value, its 95% interval, aggregate
details and figures); the gate (``evaluation.gate``) turns a measurement and a threshold into an
``AuditResult`` with a verdict.  Adding an audit is one module plus one line in ``evaluation.registry``.

Privacy caveat: audits read the private training and holdout data.  Their outputs are reported outside the
DP guarantee, so ``details`` and figures must hold aggregates only (counts, scores, histograms with small
cells suppressed), never a real record.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd

from synthdata.views import subsample

Category = Literal["privacy", "fidelity", "utility", "memorization", "attack"]
Direction = Literal["at_most", "at_least"]

# Any count of real records below this is merged or hidden in reports and metadata.
MIN_CELL_COUNT = 10

# Privacy units (subjects, blocks of time of one recording) a side of the split needs before a comparison of
# training with holdout records can be judged (``AuditContext.too_few_units``).
MIN_UNITS = 10


def unit_codes(ids: Any | None, *, size: int) -> np.ndarray:
    """An integer code (0 .. units - 1) per record for its PRIVATE unit id; each record its own unit when
    ``ids`` is None.  Codes say which records share a unit, nothing more: never report them."""
    if ids is None:
        return np.arange(size)
    return np.unique(np.asarray(ids).astype(str), return_inverse=True)[1]


def split_groups(*, train: Any | None, holdout: Any | None) -> dict[str, np.ndarray]:
    """``AuditContext.groups`` for a split whose units are known and lie on one side only; empty otherwise
    (no unit ids, or a unit on both sides, e.g. one patient's images split one by one: the records are then
    the units of the split)."""
    if train is None or holdout is None or np.intersect1d(np.asarray(train).astype(str),
                                                         np.asarray(holdout).astype(str)).size:
        return {}
    return {"train": np.asarray(train), "holdout": np.asarray(holdout)}


@dataclass(frozen=True)
class AuditSettings:
    """Sizes and seed the audits use; all public."""

    max_rows: int = 5000  # rows per side for the slower audits (stated in the report)
    seed: int = 0
    bootstrap: int = 200


@dataclass
class AuditContext:
    """What an audit may read: real train / holdout and synthetic data in one kind of view (``synthdata.views``).

    ``modality`` names the modality for the record only; audits choose by the view's type.  For tables,
    ``train``, ``holdout`` and ``synthetic`` are pandas frames holding the modelled columns
    (identifiers dropped), nulls as None/NaN, categoricals as strings; ``schema`` is the resolved public
    ``TableSchema``.
    """

    modality: str
    train: Any  # one kind of view on every side: a DataFrame, a SignalSet, an ImageAuditSet, ...
    holdout: Any
    synthetic: Any
    schema: Any
    target: str | None = None
    settings: AuditSettings = field(default_factory=AuditSettings)
    extras: dict[str, Any] = field(default_factory=dict)  # results of earlier stages, e.g. "canary_audit"
    # The split's exchangeable units ("train"/"holdout" -> one id per record: the patient, the subject):
    # PRIVATE ids, for audits whose null must move whole units between training and holdout; never reported.
    # Absent: every record is its own unit.
    groups: dict[str, np.ndarray] = field(default_factory=dict)

    def rng(self, salt: str) -> np.random.Generator:
        """A generator for audit subsampling: public randomness, reproducible from the seed."""
        return np.random.default_rng([self.settings.seed, *salt.encode()])

    def subsampled(self, rng: np.random.Generator, *, sides: tuple[str, ...] = ("train", "holdout", "synthetic")
                   ) -> dict[str, Any]:
        """At most ``settings.max_rows`` records of each named side, drawn with ``rng`` in that order."""
        return {name: subsample(getattr(self, name), self.settings.max_rows, rng) for name in sides}

    def units(self, side: str, index: np.ndarray | None = None) -> np.ndarray:
        """Unit codes (``unit_codes``) of the records of ``side`` ("train" or "holdout"), or of those at ``index``."""
        ids = self.groups.get(side)
        size = len(getattr(self, side)) if index is None else len(index)
        return unit_codes(None if ids is None else (np.asarray(ids) if index is None else np.asarray(ids)[index]),
                          size=size)

    def too_few_units(self, minimum: int = MIN_UNITS) -> str | None:
        """Why a comparison of training with holdout records cannot support a verdict when the split has fewer
        than ``minimum`` units on a side (subjects, or blocks of time of one recording), or None.

        Training and holdout records then come from a handful of different units: two people's signals
        differ, as do two stretches of one recording, whatever the generator did, so a membership attack or a
        distance comparison would tell those units apart, not members from non-members."""
        if not self.groups:
            return None
        units = {name: len(np.unique(self.groups[name])) for name in ("train", "holdout")}
        if min(units.values()) >= minimum:
            return None
        return (f"training holds {units['train']} and the holdout {units['holdout']} privacy unit(s) (subjects, or "
                "blocks of time of one recording): training and holdout records come from different units, so "
                f"the comparison would separate those units, not members from non-members (at least {minimum} "
                "units a side are needed); this rests on the DP guarantee here")

    def parts(self) -> dict[str, AuditContext]:
        """One context per part of a view made of parts (a database's tables, ``synthdata.views.relational``:
        the view's ``part_view``), each read by every audit written for that part's view; empty for any other
        view.  A part has no target (no utility audit) and its units are the patients of its rows."""
        if getattr(self.synthetic, "part_view", None) is None:
            return {}
        return {name: AuditContext(
            modality=self.modality, train=self.train.tables[name], holdout=self.holdout.tables[name],
            synthetic=self.synthetic.tables[name], schema=self.synthetic.schemas[name], settings=self.settings,
            groups=split_groups(train=self.train.subjects.get(name), holdout=self.holdout.subjects.get(name)))
            for name in self.synthetic.tables}

    @cached_property
    def cache(self) -> dict[str, Any]:
        """Shared intermediate results (e.g. encoded matrices) so audits don't redo each other's work."""
        return {}


@dataclass(frozen=True)
class Measurement:
    """What an audit measured.  ``interval`` is a 95% interval (low, high) when one exists.

    ``not_informative`` carries the reason when the figure cannot support a verdict (e.g. the real-data
    model does not beat the majority-class baseline); such a result never blocks a release.
    """

    value: float
    interval: tuple[float, float] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)  # title -> base64 PNG (aggregates only)
    not_informative: str | None = None

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"audit value must be finite, got {self.value}")


@dataclass(frozen=True)
class AuditResult:
    """A measurement with its gate verdict.  ``passed`` is None for informative (non-gating) audits and for
    gates that could not be judged; ``value`` is None for a gated audit that could not run at these sizes."""

    name: str
    category: Category
    title: str
    value: float | None
    interval: tuple[float, float] | None
    threshold: float | None
    direction: Direction
    passed: bool | None
    explanation: str
    details: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, str] = field(default_factory=dict)
    note: str | None = None
    # For a gated audit that could not be judged: why, in a few words (the smallest value it could have
    # caught, or the missing units); the report's first page names each such gate with it.
    unjudged_because: str | None = None

    @property
    def blocks(self) -> bool:
        return self.passed is False

    def to_dict(self, *, figures: bool = False) -> dict[str, Any]:
        """JSON form for audit.json and the manifest; ``figures`` adds the base64 PNGs (report inputs)."""
        return {
            "name": self.name,
            "category": self.category,
            "title": self.title,
            "value": self.value,
            "interval": list(self.interval) if self.interval else None,
            "threshold": self.threshold,
            "direction": self.direction,
            "passed": self.passed,
            "explanation": self.explanation,
            "note": self.note,
            "unjudged_because": self.unjudged_because,
            "details": self.details,
            **({"figures": self.figures} if figures else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditResult:
        interval = data.get("interval")
        return cls(
            name=data["name"],
            category=data["category"],
            title=data.get("title", data["name"]),
            value=None if data.get("value") is None else float(data["value"]),
            interval=tuple(interval) if interval else None,
            threshold=data.get("threshold"),
            direction=data.get("direction", "at_least"),
            passed=data.get("passed"),
            explanation=data.get("explanation", ""),
            details=data.get("details", {}),
            figures=data.get("figures", {}),
            note=data.get("note"),
            unjudged_because=data.get("unjudged_because"),
        )


class Audit(ABC):
    """One audit.  Subclasses set the class attributes and implement ``measure``.

    ``default_threshold`` None makes the audit informative: it is reported but never blocks.
    ``direction`` says which side of the threshold passes; the gate tests the pessimistic end of the
    interval (the upper end for ``at_most``, the lower end for ``at_least``).  ``no_leak_value`` is what an
    ``at_most`` privacy audit measures, in expectation, on synthetic data that leaks nothing (0.5 for a
    share or an AUC, 0 for an excess risk); the gate uses it to tell "no evidence either way, too few
    records" from a failure (``evaluation.gate``).
    """

    name: ClassVar[str]
    category: ClassVar[Category]
    title: ClassVar[str]
    explanation: ClassVar[str]  # what it tests, in plain words for a non-expert
    direction: ClassVar[Direction]
    default_threshold: ClassVar[float | None]
    #: The kinds of data view the audit reads (``synthdata.views``): a modality whose ``view`` is one of these
    #: gets the audit, whatever its name.  ``(object,)`` reads any view.
    views: ClassVar[tuple[type, ...]] = (pd.DataFrame,)
    requires_target: ClassVar[bool] = False  # runs only when the release names a target (utility)
    optional: ClassVar[bool] = False  # gates only when the spec asked for its stage (the canary audit)
    no_leak_value: ClassVar[float | None] = None

    @classmethod
    def reads(cls, view: type) -> bool:
        """Whether the audit reads this kind of data view."""
        return issubclass(view, cls.views)

    def applies_to(self, context: AuditContext) -> bool:
        """Whether this audit can run on the context (its view, a target if it needs one; subclasses add sizes)."""
        return self.reads(type(context.synthetic)) and (context.target is not None or not self.requires_target)

    @abstractmethod
    def measure(self, context: AuditContext) -> Measurement:
        """Measure on the context; must not write anything that reproduces a real record."""
