"""What the record-array modalities share (signal windows, images): records are arrays, each with an
optional declared class and a private subject id.

The class condition goes into the encoded row (``synthdata.modalities.classes``), records are grouped into
DP-SGD units by subject or singly (``synthdata.modalities.grouping``), and the codec is stored as JSON.  A
subclass says how to read its records' arrays (``values``) and which codec class it stores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from abc import abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from synthdata.modalities import grouping
from synthdata.errors import BadInputError
from synthdata.config import DatasetSpec, ModalitySettings, PrivacySpec
from synthdata.modalities.base import AuditInputs, Modality, Preprocessing, Units
from synthdata.modalities.classes import ClassCondition, resolve_condition


class RecordModality(Modality):
    """A modality whose records are arrays with ``labels`` (or None) and private ``subjects``.

    ``record_type`` is the dataclass of a set of records (array fields, ``labels`` among them): the work
    area stores it as one ``.npz`` of those fields.
    """

    codec_type: ClassVar[type]
    record_type: ClassVar[type]
    data_suffix = ".npz"

    @abstractmethod
    def records_of(self, source: Any) -> Any:
        """The records of a source (its windows, its images), with their ``subjects``."""

    @abstractmethod
    def declared_unit(self, source: Any) -> str:
        """The privacy unit the spec declares: ``subject``, or the record kind (``window``, ``image``)."""

    def check_unit(self, *, source: Any, train: Any) -> None:
        whole = len(np.unique(self.records_of(source).subjects))
        trained = len(np.unique(self.records_of(train).subjects))
        if self.declared_unit(source) == "subject" and whole >= 2 and trained < 2:
            raise BadInputError(
                f"privacy_unit: subject cannot be honoured: the training split holds {trained} of the {whole} "
                "subjects (the others went to the holdout), so DP-SGD would protect single records, not people. "
                "Give more subjects, lower audits.holdout_fraction, or declare the record as the privacy unit "
                "(the privacy statement then says so); nothing was charged")

    @abstractmethod
    def values(self, data: Any) -> np.ndarray:
        """The records' arrays as the codec encodes them (windows ``(n, C, L)``, images ``(n, C, H, W)``)."""

    def record_digests(self, *, source: Any) -> set[str]:
        """SHA-256 of each record's array (rounded to 6 decimals), whatever its label: a record relabelled is the
        same record."""
        return {hashlib.sha256(np.round(np.asarray(values, dtype=np.float64), 6).tobytes()).hexdigest()
                for values in self.values(self.records_of(source))}

    def prior_units(self, *, source: Any, codec: Any) -> Units:
        return self.to_units(data=self.records_of(source), codec=codec)

    def to_units(self, *, data: Any, codec: Any) -> Units:
        rows = torch.from_numpy(codec.encode(self.values(data), data.labels))
        return grouping.group_units(rows=rows, keys=grouping.unit_keys(subjects=data.subjects, unit=codec.unit))

    def class_condition(self, *, records: Any, classes: list[str] | None, declared: dict[str, float] | None,
                        cap: int, sensitivity: int, epsilon: float, rng: np.random.Generator,
                        notes: list[str]) -> tuple[ClassCondition | None, Preprocessing]:
        """The release's class condition and the preprocessing record (``notes`` first); ``(None, notes)``
        without declared classes.  Undeclared proportions are measured with ``epsilon``-DP over at most
        ``cap`` records per subject, so that one privacy unit changes at most ``sensitivity`` counts."""
        if not classes:
            return None, Preprocessing(notes=notes)
        capped = records.take(grouping.cap_per_subject(subjects=records.subjects, cap=cap, seed=0))
        condition, learned = resolve_condition(classes=classes, declared=declared, labels=list(capped.labels),
                                               epsilon=epsilon, sensitivity=sensitivity, rng=rng)
        return condition, Preprocessing(epsilon=learned.epsilon, delta=0.0, columns=learned.columns,
                                        notes=notes + learned.notes)

    def condition_dim(self, *, codec: Any) -> int:
        return len(codec.classes)

    def conditions(self, *, codec: Any, n: int, rng: np.random.Generator) -> np.ndarray | None:
        return None if codec.condition is None else codec.condition.draw(n=n, rng=rng)

    def save_codec(self, *, codec: Any, path: Path) -> Path:
        Path(path).write_text(json.dumps(codec.to_dict(), indent=2), encoding="utf-8")
        return Path(path)

    def read_codec(self, *, path: Path) -> Any:
        return self.codec_type.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def count_records(self, *, data: Any) -> int:
        return len(data)

    def save_data(self, *, data: Any, path: Path) -> Path:
        fields = {f.name: getattr(data, f.name) for f in dataclasses.fields(self.record_type)
                  if getattr(data, f.name) is not None}
        if "labels" in fields:
            fields["labels"] = fields["labels"].astype(str)
        with Path(path).open("wb") as handle:
            np.savez(handle, **fields)
        return Path(path)

    def read_data(self, *, path: Path, codec: Any) -> Any:
        with np.load(path, allow_pickle=False) as stored:
            fields = {f.name: stored[f.name] for f in dataclasses.fields(self.record_type) if f.name in stored}
        fields["labels"] = fields["labels"].astype(object) if "labels" in fields else None
        return self.record_type(**fields)

    def read_audit_inputs(self, *, train: Path, holdout: Path, synthetic: Path, schema: Path | None,
                          target: str | None, settings: ModalitySettings | None = None) -> AuditInputs:
        """Read real training and holdout records and synthetic ones (from any tool) with the declared
        ``settings``: every record of each (no per-subject cap), its label as the settings say labels are
        read (annotations, a label table naming every side's records, sub-folders, an npz's labels), the
        subjects the files name as the units.  Nothing is learned from the data (no class proportions)."""
        if settings is None:
            raise BadInputError(f"`synthdata audit --modality {self.name}` needs --schema FILE.yaml with the declared "
                                "settings the records are read with")
        if target is not None and target != "label":
            raise BadInputError(f"--target for {self.name} is the records' class ('label'), not '{target}'")
        if settings.declared_classes() and settings.class_proportions is None:  # only the codec's condition needs them
            classes = settings.declared_classes()
            settings = settings.model_copy(update={"class_proportions": {c: 1 / len(classes) for c in classes}})
        privacy = PrivacySpec(epsilon=1.0)  # records are only read: no mechanism runs, nothing is charged
        paths = {"train": train, "holdout": holdout, "synthetic": synthetic}
        sources = {}
        for role, path in paths.items():
            try:
                sources[role] = self.load(dataset=DatasetSpec(path=Path(path), modality=self.name, settings=settings),
                                          privacy=privacy)
            except BadInputError as error:
                raise BadInputError(f"{role} input {path}: {error.message}") from None
        codec, _ = self.resolve(train=sources["train"], epsilon=0.0, delta=0.0, privacy=privacy,
                                rng=np.random.default_rng(0))
        records = {role: self.records_of(source) for role, source in sources.items()}
        for role, found in records.items():
            if len(found) < 10:
                raise BadInputError(f"{role} input {paths[role]} holds {len(found)} records: an audit needs at least 10")
        return AuditInputs(**{role: self.audit_frames(data=found, codec=codec) for role, found in records.items()},
                           schema=self.audit_schema(codec=codec),
                           notes=[f"{self.name} records read with the declared settings; every record of each input "
                                  "is audited"],
                           groups={role: np.asarray(records[role].subjects).astype(str) for role in ("train", "holdout")})
