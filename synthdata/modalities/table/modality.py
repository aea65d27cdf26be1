"""Tables (EHR extracts): CSV or Parquet in, Parquet and CSV out.

The privacy unit is the patient when the schema names a ``subject`` column: each patient contributes at
most ``privacy.max_rows_per_subject`` rows (extra rows are sampled away, per patient), the train/holdout
split is by patient, and the DP guarantee is stated per patient.  Without a subject column the unit is the
row.  Identifier columns are dropped before modelling and never released.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import torch
from torch import nn

from synthdata.config import DatasetSpec, ModelSpec, PrivacySpec
from synthdata.diffusion.denoisers.mlp import MLPDenoiser
from synthdata.errors import BadInputError
from synthdata.export.tables import write_table_files
from synthdata.modalities.base import AuditInputs, Modality, Preprocessing, Units
from synthdata.modalities.grouping import cap_per_subject, split_by_subject
from synthdata.modalities.table.discovery import doomed_columns, resolve_schema
from synthdata.modalities.table.encoding import TableCodec
from synthdata.modalities.table.infer import InferenceReport, infer_schema
from synthdata.modalities.table.marginals import TableMarginals, calibrate, measure
from synthdata.modalities.table.reader import read_table, type_frame
from synthdata.modalities.table.schema import TableSchema, load_schema
from synthdata.privacy.fingerprint import file_fingerprint, legacy_file_fingerprint
from synthdata.privacy.gaussian import GaussianMechanism

MIN_TRAINING_UNITS = 50


@dataclass(frozen=True)
class TableSource:
    """A validated table: typed frame (text when the schema is still inferred), its schema, provenance."""

    frame: pl.DataFrame
    schema: TableSchema
    path: Path
    inference: InferenceReport | None = None


class TableModality(Modality):
    name = "table"
    view = pd.DataFrame

    def load(self, *, dataset: DatasetSpec, privacy: PrivacySpec) -> TableSource:
        if dataset.schema_path is not None:
            schema = load_schema(dataset.schema_path)
            if schema.draft and not privacy.not_private:
                raise BadInputError(
                    f"{dataset.schema_path} is an unedited draft: its bounds and category lists were read from the "
                    "private data, which the DP guarantee does not cover. Replace them with public knowledge (or "
                    "`categories: discover` / no min and max, learned with DP), then delete its `draft: true` line; "
                    "or release it as not differentially private (privacy.not_private: true). Nothing was charged")
            frame = read_table(path=dataset.path, schema=schema)
            inference = None
        else:
            if not privacy.not_private:
                raise BadInputError(
                    "no schema (dataset.schema / --schema): the column types (numbers, dates, categories, identifiers "
                    "to drop) would be inferred from the private data without DP, where one added row can flip a "
                    "column, so the release would not be differentially private. Write one: `synthdata schema "
                    "draft DATA --out schema.yaml`, replace what it read from the data with public knowledge (or "
                    "`categories: discover` / no min and max, learned with DP), delete its `draft: true` line; or "
                    "release as not differentially private (privacy.not_private: true). Nothing was charged")
            frame = read_table(path=dataset.path, schema=None)
            inference = infer_schema(frame=frame)
            schema = inference.schema
        if dataset.target is not None and dataset.target not in schema.modelled_columns:
            known = ", ".join(schema.modelled_columns[:12])
            raise BadInputError(
                f"target column '{dataset.target}' is not a modelled column of {dataset.path.name} "
                f"(modelled columns: {known}{', ...' if len(schema.modelled_columns) > 12 else ''})"
            )
        return TableSource(frame=frame, schema=schema, path=Path(dataset.path), inference=inference)

    def public_inputs(self, *, source: TableSource) -> bool:
        return not source.schema.draft and source.inference is None  # types inferred without DP are not public

    def fingerprint(self, *, source: TableSource) -> str:
        # The raw text of the file, before any schema: schema edits must not make a "new" dataset.
        return file_fingerprint(path=source.path)

    def legacy_fingerprints(self, *, source: TableSource) -> list[str]:
        return [legacy_file_fingerprint(path=source.path)]  # text as written, before canonical values

    def privacy_unit(self, *, source: TableSource, privacy: PrivacySpec) -> str:
        subject = source.schema.subject
        if subject is None:
            return "one row (no subject column declared: a person with several rows is protected per row only)"
        cap = privacy.max_rows_per_subject
        return f"one patient (column '{subject}'), at most {cap} row{'s' if cap > 1 else ''} each"

    def _unit_ids(self, source: TableSource) -> pl.Series:
        if source.schema.subject is None:
            return pl.Series("unit", np.arange(source.frame.height))
        ids = source.frame[source.schema.subject]
        if ids.null_count():
            raise BadInputError(
                f"subject column '{source.schema.subject}' of {source.path.name} has {ids.null_count()} "
                "empty values: every row must name its patient"
            )
        return ids.alias("unit")

    def count_units(self, *, source: TableSource) -> int:
        return int(self._unit_ids(source).n_unique())

    def split(self, *, source: TableSource, holdout_fraction: float, seed: int) -> tuple[TableSource, TableSource]:
        ids = self._unit_ids(source)
        n_units = ids.n_unique()
        if n_units < 2:
            raise BadInputError(f"{source.path.name} has {n_units} privacy unit(s): too few to split")
        # Each unit's side depends only on its own id and the public seed (see grouping.split_by_subject).
        holdout = split_by_subject(subjects=ids.cast(pl.String).to_numpy(), holdout_fraction=holdout_fraction,
                                   seed=seed)
        n_train = ids.filter(~pl.Series(holdout)).n_unique()
        if n_units - n_train < 1 or n_train < MIN_TRAINING_UNITS:
            raise BadInputError(
                f"{source.path.name} has {n_units} privacy units and this run's holdout draw (each unit held out "
                f"with probability {holdout_fraction:.0%}, on its own) left {n_train} for training; at least "
                f"{MIN_TRAINING_UNITS} are needed. Nothing was charged. With so few units, lower "
                "audits.holdout_fraction (e.g. 0.1), or release more data"
            )
        in_holdout = pl.Series(holdout)
        return (
            TableSource(source.frame.filter(~in_holdout), source.schema, source.path, source.inference),
            TableSource(source.frame.filter(in_holdout), source.schema, source.path, source.inference),
        )

    def needs_preprocessing(self, *, source: TableSource) -> bool:
        return bool(source.schema.needs_discovery)

    def preprocessing_columns(self, *, source: TableSource) -> list[str]:
        return list(source.schema.needs_discovery)

    def doomed_columns(self, *, train: TableSource, epsilon: float, privacy: PrivacySpec) -> list[str]:
        sensitivity = privacy.max_rows_per_subject if train.schema.subject else 1
        return doomed_columns(frame=train.frame, schema=train.schema, epsilon=epsilon, sensitivity=sensitivity)

    def resolve(
        self, *, train: TableSource, epsilon: float, delta: float, privacy: PrivacySpec, rng: np.random.Generator
    ) -> tuple[TableCodec, Preprocessing]:
        sensitivity = privacy.max_rows_per_subject if train.schema.subject else 1
        frame = self._capped(train, privacy=privacy, seed=int(rng.integers(2**31))).frame
        schema, report = resolve_schema(
            frame=frame, schema=train.schema, epsilon=epsilon, delta=delta, sensitivity=sensitivity, rng=rng
        )
        notes = list(report.notes)
        if train.inference is not None:
            notes = [*train.inference.notes, *notes]
        return TableCodec(schema=schema), Preprocessing(report.epsilon, report.delta, list(report.columns), notes)

    def _capped(self, source: TableSource, *, privacy: PrivacySpec, seed: int) -> TableSource:
        """Keep at most ``max_rows_per_subject`` rows per patient, chosen per patient from the public seed and
        that patient's own rows only (``grouping.cap_per_subject``): adding a patient changes no one else's."""
        if source.schema.subject is None:
            return source
        keep = cap_per_subject(subjects=source.frame[source.schema.subject].cast(pl.String).to_numpy(),
                               cap=privacy.max_rows_per_subject, seed=seed)
        return TableSource(source.frame[keep], source.schema, source.path, source.inference)

    def records(self, *, source: TableSource, codec: TableCodec, privacy: PrivacySpec, seed: int) -> pl.DataFrame:
        capped = self._capped(source, privacy=privacy, seed=seed)
        if capped.inference is None and not capped.schema.needs_discovery:
            return capped.frame
        # Type by the resolved schema: text of an inferred schema gets its types, and values outside the
        # domains learned with DP fold into '(other)' / clip, exactly as the encoder sees them.
        return type_frame(frame=capped.frame, schema=codec.schema, source=capped.path.name)

    def to_units(self, *, data: pl.DataFrame, codec: TableCodec) -> Units:
        encoded = torch.from_numpy(codec.encode(data))
        subject = codec.schema.subject
        if subject is None:
            return Units(data=encoded[:, None, :], mask=torch.ones(len(encoded), 1, dtype=torch.bool))
        codes = data[subject].rank("dense").cast(pl.Int64).to_numpy() - 1
        order = np.argsort(codes, kind="stable")
        sorted_codes = codes[order]
        n_units = int(sorted_codes[-1]) + 1
        starts = np.searchsorted(sorted_codes, np.arange(n_units))
        slot = np.arange(len(order)) - starts[sorted_codes]
        data_tensor = torch.zeros(n_units, int(slot.max()) + 1, codec.width)
        mask = torch.zeros(n_units, int(slot.max()) + 1, dtype=torch.bool)
        data_tensor[sorted_codes, slot] = encoded[order]
        mask[sorted_codes, slot] = True
        return Units(data=data_tensor, mask=mask)

    measures_marginals = True

    def measure_marginals(self, *, units: Units, codec: TableCodec, epsilon: float, delta: float, target: str | None,
                          rng: np.random.Generator) -> tuple[dict, GaussianMechanism]:
        measured, mechanism = measure(units=units, codec=codec, epsilon=epsilon, delta=delta, target=target, rng=rng)
        return measured.to_dict(), mechanism

    def calibrate(self, *, codec: TableCodec, array: np.ndarray, marginals: dict,
                  rng: np.random.Generator) -> np.ndarray:
        return calibrate(array=array, codec=codec, marginals=TableMarginals.from_dict(marginals), rng=rng)

    def decode(self, *, codec: TableCodec, array: np.ndarray) -> pl.DataFrame:
        return codec.decode(array)

    def build_denoiser(self, *, codec: TableCodec, model: ModelSpec) -> nn.Module:
        return MLPDenoiser(
            data_dim=codec.width, hidden=int(model.resolved("hidden")), depth=int(model.resolved("depth"))
        )

    def save_data(self, *, data: pl.DataFrame, path: Path) -> Path:
        data.write_parquet(path)
        return path

    def read_data(self, *, path: Path, codec: TableCodec) -> pl.DataFrame:
        return pl.read_parquet(path)

    def save_codec(self, *, codec: TableCodec, path: Path) -> Path:
        path.write_text(json.dumps(codec.to_dict(), indent=1, default=str), encoding="utf-8")
        return path

    def read_codec(self, *, path: Path) -> TableCodec:
        return TableCodec.from_dict(json.loads(path.read_text(encoding="utf-8")))

    def count_records(self, *, data: pl.DataFrame) -> int:
        return data.height

    def audit_frames(self, *, data: pl.DataFrame, codec: TableCodec) -> pd.DataFrame:
        return data.select(codec.schema.modelled_columns).to_pandas()

    def audit_groups(self, *, data: pl.DataFrame, codec: TableCodec) -> np.ndarray | None:
        subject = codec.schema.subject
        return None if subject is None or subject not in data.columns else data[subject].cast(pl.Utf8).to_numpy()

    def read_audit_inputs(
        self, *, train: Path, holdout: Path, synthetic: Path, schema: Path | None, target: str | None,
        settings: None = None,
    ) -> AuditInputs:
        """Type the three files by one schema (declared, or inferred from the training file).

        Identifier columns may be absent from any file (other tools drop them); every modelled column must be
        present in all three.  An inferred schema reads its types from the private training file: fine for an
        audit (its figures are outside the DP guarantee anyway), and said in the notes.
        """
        declared = load_schema(schema) if schema is not None else None
        tokens = declared.missing_values if declared is not None else None
        texts = {role: read_table(path=Path(path), schema=None, missing_values=tokens) for role, path in
                 (("train", train), ("holdout", holdout), ("synthetic", synthetic))}
        notes: list[str] = []
        if declared is None:
            inference = infer_schema(frame=texts["train"])
            declared = inference.schema
            notes = [*inference.notes, "column types were inferred from the training file (no --schema given)"]
        frames = {}
        for role, text in texts.items():
            path = {"train": train, "holdout": holdout, "synthetic": synthetic}[role]
            missing = [name for name in declared.modelled_columns if name not in text.columns]
            if missing:
                raise BadInputError(f"{role} file {path} lacks modelled column(s) {', '.join(missing[:10])}"
                                    f"{', ...' if len(missing) > 10 else ''}: all three files need the same columns")
            absent_ids = [name for name in declared.identifier_columns if name not in text.columns]
            local = declared.model_copy(update={
                "columns": {k: v for k, v in declared.columns.items() if k not in absent_ids},
                "subject": declared.subject if declared.subject not in absent_ids else None})
            if text.height < 10:
                raise BadInputError(f"{role} file {path} has {text.height} rows: an audit needs at least 10")
            typed = type_frame(frame=text, schema=local, source=f"{role} file {path}")
            frames[role] = typed.select(declared.modelled_columns).to_pandas()
        if target is not None and target not in declared.modelled_columns:
            raise BadInputError(f"target column '{target}' is not a modelled column of {train}")
        groups, unit_note = _audit_units(texts, subject=declared.subject)
        return AuditInputs(**frames, schema=declared, notes=[*notes, *unit_note], groups=groups)

    def write_release(self, *, data: pl.DataFrame, codec: TableCodec, folder: Path,
                      provenance: dict[str, str]) -> list[str]:
        names = write_table_files(frame=data, folder=folder, stem="synthetic", provenance=provenance)
        (folder / "synthetic.csv.README.txt").write_text(
            "synthetic.csv holds SYNTHETIC records generated by a differentially private model; no row "
            "describes a real person. See manifest.json for the privacy guarantee and the audits.\n",
            encoding="utf-8",
        )
        return [*names, "synthetic.csv.README.txt"]


def _audit_units(texts: dict[str, pl.DataFrame], *, subject: str | None) -> tuple[dict[str, np.ndarray], list[str]]:
    """The patient of each training and holdout row (``AuditInputs.groups``) from the schema's subject
    column, or a note saying why there are none."""
    if subject is None:
        return {}, []
    if any(subject not in texts[role].columns for role in ("train", "holdout")):
        return {}, [f"the subject column '{subject}' is not in both the training and the holdout file: the "
                    "memorization and attack audits treat each row as its own unit"]
    return {role: texts[role][subject].cast(pl.Utf8).to_numpy() for role in ("train", "holdout")}, []
