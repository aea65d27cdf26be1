"""Relational databases as a release modality: a folder of tables and a relational schema in, a folder of
synthetic tables (Parquet and CSV) and their schema out.

``dataset.path`` is the folder, ``dataset.schema`` the relational schema (``schema.py``).  The privacy unit is
the patient with every row that references them, bounded by the schema's caps; the train/holdout split is by
patient across every table.  The generator is ``generator.fit_relational`` (one DP-SGD denoiser per table, the
structure from DP cardinalities, every mechanism's noise planned jointly): the shared stages
(``synthdata.flow.databases``) reserve the database's epsilon, charge what the fit composed to, audit every
table with the table audits and the database with the structure and cardinality audits, and export.

Privacy caveats: the loading counts (orphans dropped, rows removed by the caps) are exact and stay in the
run's work area (``database.py``); the release states per table their DP estimates (each patient's part
clipped, noised by the structure mechanism and composed in the database's epsilon:
``cardinality.LoadingCounts``), never the exact numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from synthdata.config import DatasetSpec, ModelSpec, PrivacySpec
from synthdata.devices import resolve_device
from synthdata.errors import BadInputError
from synthdata.export.tables import write_table_files
from synthdata.modalities.base import DatabaseModality, Fit
from synthdata.modalities.grouping import split_by_subject
from synthdata.modalities.relational.cardinality import children_per_parent
from synthdata.modalities.relational.checks import load_relational_schema
from synthdata.modalities.relational.database import RelationalDatabase
from synthdata.modalities.relational.generator import fit_relational, plan_fit, sample_relational
from synthdata.modalities.relational.loading import load_database
from synthdata.modalities.relational.schema import RelationalSchema
from synthdata.modalities.relational.storage import load_generator, read_database, save_database, save_generator
from synthdata.modalities.relational.structure import check_structure
from synthdata.modalities.table.schema import IdentifierColumn, TableSchema
from synthdata.privacy.fingerprint import file_fingerprint
from synthdata.views.relational import DatabaseAuditSet

#: The fewest patients a database's training split may hold (as one table's ``MIN_TRAINING_UNITS``).
MIN_TRAINING_PATIENTS = 50
_GENERATOR = "generator.pt"


def _source_name(dataset: DatasetSpec) -> str:
    return dataset.path.name


class RelationalModality(DatabaseModality):
    name = "relational"
    view = DatabaseAuditSet
    declared_public = ("The relational schema's declarations are treated as public knowledge: keys and references, "
                       "the caps on rows per parent row and per patient, column domains (bounds, category lists) and "
                       "the dictionaries they name. Rows whose foreign key points nowhere (orphans) were dropped and "
                       "the caps applied before training, as the schema declares; how many rows either removed is "
                       "published only as a DP estimate (each patient's part clipped), never exactly.")

    def _schema(self, dataset: DatasetSpec) -> RelationalSchema:
        if dataset.schema_path is None:
            raise BadInputError(f"dataset {dataset.path.name}: a relational release needs dataset.schema, the "
                                "relational schema naming every table, its keys, references and caps")
        return load_relational_schema(dataset.schema_path)

    def load(self, *, dataset: DatasetSpec, privacy: PrivacySpec) -> RelationalDatabase:
        return load_database(schema=self._schema(dataset), folder=dataset.path)

    def parts(self, *, dataset: DatasetSpec) -> list[str]:
        return list(self._schema(dataset).tables)

    def fingerprint(self, *, source: RelationalDatabase) -> str:
        digest = hashlib.sha256()
        for name in sorted(source.schema.tables):
            digest.update(f"{name}\0{file_fingerprint(path=source.folder / source.schema.tables[name].file)}\n".encode())
        return digest.hexdigest()

    def privacy_unit(self, *, source: RelationalDatabase) -> str:
        schema = source.schema
        bounds = ", ".join(f"{name} {b if (b := schema.rows_per_subject_bound(name)) is not None else 'unbounded'}"
                           for name in source.order)
        return (f"one patient ({schema.subject} row) with every row that references them, at most: {bounds}; one "
                "clipped gradient per patient in every table's model")

    def count_units(self, *, source: RelationalDatabase) -> int:
        return source.n_subjects

    def split(self, *, source: RelationalDatabase, holdout_fraction: float,
              seed: int) -> tuple[RelationalDatabase, RelationalDatabase]:
        subjects = source.tables[source.subject_table].frame[source.schema.subject_key].cast(pl.String).to_numpy()
        holdout = split_by_subject(subjects=subjects, holdout_fraction=holdout_fraction, seed=seed)
        trained = int((~holdout).sum()) if holdout is not None else len(subjects)
        if holdout is None or trained < MIN_TRAINING_PATIENTS:
            raise BadInputError(
                f"table {source.subject_table}: {len(subjects)} patients and this run's holdout draw (each held out "
                f"with probability {holdout_fraction:.0%}) left {trained} for training; at least "
                f"{MIN_TRAINING_PATIENTS} are needed. Nothing was charged. Lower audits.holdout_fraction or release "
                "more patients")
        return source.select_subjects(keep=~holdout), source.select_subjects(keep=holdout)

    def check_fit(self, *, train: RelationalDatabase, epsilon: float, delta: float, model: ModelSpec,
                  privacy: PrivacySpec) -> None:
        plan_fit(database=train, epsilon=epsilon, delta=delta, model=model, discovery_share=privacy.preprocessing_share,
                 marginals_share=_marginals_share(privacy), accountant=privacy.accountant)

    def store(self, *, source: RelationalDatabase, folder: Path) -> None:
        save_database(source, folder)

    def fit(self, *, data: Path, model_folder: Path, epsilon: float, delta: float, model: ModelSpec,
            privacy: PrivacySpec, seed: int, progress: Any) -> Fit:
        generator = fit_relational(
            database=read_database(data), epsilon=epsilon, delta=delta, model=model,
            discovery_share=privacy.preprocessing_share, marginals_share=_marginals_share(privacy),
            accountant=privacy.accountant, seed=seed, reproducible_seed=seed if privacy.reproducible else None,
            progress=progress, device=resolve_device(requested=model.device))
        save_generator(generator, Path(model_folder) / _GENERATOR)
        trainings = {m["stage"]: m for m in generator.mechanisms if m["stage"].startswith("training")}
        first = next(iter(trainings.values()))
        structure = next((m for m in generator.mechanisms if m["stage"] == "cardinalities"), None)
        return Fit(
            epsilon=float(generator.composition.composed), delta=float(generator.composition.delta),
            mechanisms=[dict(m) for m in generator.mechanisms], epsilon_per_part=generator.epsilon_per_table(),
            composition=("the accountants' composition (Opacus RDP and PRV, the tighter) of every mechanism of the "
                         "database's fit: the structure (children per parent row, patients with rows and rows "
                         "loading removed per table), each table's column distributions and DP-SGD, their noise "
                         "chosen jointly"),
            summary={"noise_scale": generator.noise_scale, "steps": first["steps"], "sample_rate": first["sample_rate"],
                     "noise_multiplier": {stage: m["noise_multiplier"] for stage, m in trainings.items()},
                     "epsilon_structure": structure["epsilon"] if structure else None,
                     "marginals_share_per_table": {table: round(share, 4) for table, share
                                                   in generator.budget.marginals_shares().items()},
                     "marginals_share_chosen": ("declared (privacy.marginals_share)"
                                                if privacy.marginals_share is not None else _CHOSEN),
                     "epsilon_basic_composition": float(generator.composition.naive),
                     "loading_counts": {table: counts.describe()
                                        for table, counts in generator.cardinalities.loading.items()},
                     "accountant": privacy.accountant,
                     "dp_valid": all(t.outcome.dp_valid for t in generator.tables.values()),
                     "noise_source": (f"DP-SGD: {next(iter(generator.tables.values())).outcome.noise_source}; the "
                                      "structure histograms and column distributions: numpy's PCG64 seeded from 128 "
                                      "bits of OS entropy, never recorded (unless privacy.reproducible)")},
            notes=list(generator.notes))

    def sample(self, *, model_folder: Path, out: Path, units: int, seed: int, progress: Any) -> dict[str, int]:
        synthetic = sample_relational(generator=load_generator(Path(model_folder) / _GENERATOR), n_subjects=units,
                                      seed=seed, progress=progress)
        Path(out).mkdir(parents=True, exist_ok=True)
        for index, (name, frame) in enumerate(synthetic.tables.items()):
            frame.write_parquet(Path(out) / f"table_{index}.parquet")
        return {name: frame.height for name, frame in synthetic.tables.items()}

    def _synthetic_frames(self, folder: Path, tables: Any) -> dict[str, pl.DataFrame]:
        """The synthetic tables ``sample`` wrote, in the generator's order (``tables``)."""
        return {name: pl.read_parquet(Path(folder) / f"table_{index}.parquet") for index, name in enumerate(tables)}

    def audit_view(self, *, data: Path, model_folder: Path, synthetic: bool) -> DatabaseAuditSet:
        generator = load_generator(Path(model_folder) / _GENERATOR)
        schemas = {name: table.codec.schema for name, table in generator.tables.items()}
        if synthetic:
            return frames_view(schema=generator.schema, frames=self._synthetic_frames(data, generator.tables),
                               schemas=schemas)
        return database_view(database=read_database(data), schemas=schemas)

    def write_release(self, *, synthetic: Path, model_folder: Path, folder: Path,
                      provenance: dict[str, str]) -> list[str]:
        generator = load_generator(Path(model_folder) / _GENERATOR)
        frames = self._synthetic_frames(synthetic, generator.tables)
        names: list[str] = []
        for name, frame in frames.items():
            names += write_table_files(frame=frame, folder=folder, stem=name, provenance=provenance)
        schemas = {name: table.codec.schema for name, table in generator.tables.items()}
        (Path(folder) / "schema.yaml").write_text(_released_schema(generator.schema, schemas, frames),
                                                  encoding="utf-8")
        (Path(folder) / "README.txt").write_text(
            "SYNTHETIC tables generated by a differentially private model: no row describes a real person, and every "
            "key is fresh (no real key was used). schema.yaml names each table's file, key and references, so the "
            "tables join as declared. See manifest.json for the privacy guarantee and the audits.\n", encoding="utf-8")
        return [*names, "schema.yaml", "README.txt"]


_CHOSEN = ("chosen per table from public numbers (the table's epsilon and delta, the DP-SGD plan of one unit per "
           "patient of the database): 0.5, or more where the table's DP-SGD would add more noise than its model "
           "can learn through")


def _marginals_share(privacy: PrivacySpec) -> float | None:
    """Each table's share of its epsilon for its column distributions: the spec's for every table, else None (the
    generator chooses it per table by the table modality's rule from public numbers: ``budget.marginal_shares``)."""
    return privacy.marginals_share


def database_view(*, database: RelationalDatabase, schemas: Mapping[str, TableSchema]) -> DatabaseAuditSet:
    """A loaded (real) database as the audits read it: each table's modelled columns (``schemas``: the table
    schemas the generator encoded), the children of every parent row and each row's patient (PRIVATE: for
    the audits' nulls, never reported)."""
    patients = database.tables[database.subject_table].frame[database.schema.subject_key].cast(pl.String).to_numpy()
    return DatabaseAuditSet(
        tables={name: _modelled(loaded.frame, schemas[name]) for name, loaded in database.tables.items()},
        schemas=dict(schemas), children=children_per_parent(database),
        subjects={name: np.asarray(patients)[loaded.subject] for name, loaded in database.tables.items()},
        parents={name: loaded.parent_row for name, loaded in database.tables.items() if loaded.parent_row is not None},
        owners={name: loaded.subject for name, loaded in database.tables.items()}, relational=database.schema)


def frames_view(*, schema: RelationalSchema, frames: Mapping[str, pl.DataFrame],
                schemas: Mapping[str, TableSchema]) -> DatabaseAuditSet:
    """Tables given as frames (a synthetic database, as released) as the audits read them: the structure found
    by their keys alone (``check_structure``: problems, children per parent row) and each table's modelled
    columns."""
    found = check_structure(schema=schema, frames=frames)
    return DatabaseAuditSet(tables={name: _modelled(frames[name], schemas[name]) for name in schemas},
                            schemas=dict(schemas), children=found.children, problems=found.problems,
                            parents=dict(found.parent_rows), owners=dict(found.owners), relational=schema)


def _modelled(frame: pl.DataFrame, schema: TableSchema) -> Any:
    return frame.select([c for c in schema.modelled_columns if c in frame.columns]).to_pandas()


def _released_schema(schema: RelationalSchema, schemas: dict[str, TableSchema], frames: dict[str, pl.DataFrame]) -> str:
    """The relational schema of the released folder: every table's CSV file, keys and references as declared
    (keys named), its released columns with the public domains the generator used (declared, or learned with
    DP), derived times as plain numeric columns; no dictionary (not released)."""
    tables = {}
    for name, spec in schema.tables.items():
        released = frames[name].columns
        columns = {}
        for column in released:
            declared = spec.columns.get(column)
            kept = declared if isinstance(declared, IdentifierColumn) else schemas[name].columns[column]
            columns[column] = kept.model_dump(mode="json", exclude_none=True)
        tables[name] = {"file": f"{name}.csv", "keys": list(spec.keys),
                        "references": {c: r.model_dump(mode="json", exclude_none=True)
                                       for c, r in spec.references.items()},
                        **({"parent": spec.parent} if spec.parent else {}),
                        **{cap: getattr(spec, cap) for cap in ("max_rows_per_parent", "max_rows_per_subject")
                           if getattr(spec, cap) is not None},
                        "columns": columns}
    return ("# The schema of these SYNTHETIC tables (synthdata): keys, references and the public domains the "
            "generator used.\n" + yaml.safe_dump({"subject": schema.subject, "missing_values": schema.missing_values,
                                                 "tables": tables}, sort_keys=False))
