"""The release flow's first stages for a modality of several tables (``DatabaseModality``: relational).

The same steps as one table's (``synthdata.flow.steps``: ``prepared -> model -> synthetic``, then the shared
audit and export of ``synthdata.flow.publish``), with the fitting left to the modality, whose generator plans
all its mechanisms together:

- ``prepare`` reads and validates the database (the one read of the data), splits it by patient, checks the
  fit is possible (public numbers: patients, shares, calibration), THEN reserves the database's epsilon, and
  stores both splits in the run's private work area.  Bad input raises before the ledger is opened.
- ``train`` fits the generator on the training split and settles the reservation at the accountants'
  composition of every mechanism the fit ran: ONE charge for the database.  A refusal before any mechanism
  ran cancels the reservation; any other failure leaves it open (settled in full by ``synthdata budget``).
- ``sample`` draws the synthetic database (post-processing).

Privacy: the summaries are aggregates of public or DP figures: the number of patients in training (public, as
DP-SGD's sampling rate makes it), epsilon, synthetic rows per table.  Rows per real table are never in them
(with the tables as read they would give the rows the orphan and cap rules removed).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from synthdata.config import ReleaseSpec, default_delta
from synthdata.errors import BadInputError
from synthdata.export.manifest import sha256_tree, write_json
from synthdata.flow.stages import check_spec, ledger_snapshot
from synthdata.modalities import get_modality
from synthdata.modalities.base import DatabaseModality
from synthdata.privacy.ledger import Ledger
from synthdata.progress import Progress
from synthdata.run_area import RunArea, read_json

log = logging.getLogger("synthdata")

SYNTHETIC = "tables"  # the synthetic database's folder in the run's work area


def is_database(spec: ReleaseSpec) -> bool:
    """Whether the spec's modality is one of several tables (``DatabaseModality``)."""
    return isinstance(get_modality(spec.dataset.modality), DatabaseModality)


def refuse(*, modality: str, what: str) -> None:
    """BadInputError when ``modality`` is one of several tables and ``what`` (a command) does not take one yet."""
    if isinstance(get_modality(modality), DatabaseModality):
        raise BadInputError(f"{what} does not take a {modality} release yet: run `synthdata release` on it. Nothing "
                            "was read or charged")


def _modality(spec: ReleaseSpec) -> DatabaseModality:
    modality = get_modality(spec.dataset.modality)
    assert isinstance(modality, DatabaseModality)
    return modality


def _check(spec: ReleaseSpec) -> None:
    """What a database release cannot do (yet), refused before anything is read."""
    refused = [(spec.audits.canaries, "audits.canaries (the canary audit)"), (spec.model.processes > 1, "model.processes"),
               (spec.model.pretrain is not None, "model.pretrain"), (spec.dataset.target is not None, "dataset.target")]
    named = [what for asked, what in refused if asked]
    if named:
        raise BadInputError(f"a {spec.dataset.modality} release does not take {', '.join(named)} (yet): remove it from "
                            "the spec. Nothing was charged")


def prepare(*, spec: ReleaseSpec, area: RunArea, ledger: Ledger | Callable[[], Ledger], run_id: str) -> dict[str, Any]:
    """Read, validate and split the database, check the fit, reserve its epsilon, store the splits."""
    check_spec(spec=spec)
    _check(spec)
    modality = _modality(spec)
    log.info("prepare: reading and validating the database %s", spec.dataset.path.name)
    source = modality.load(dataset=spec.dataset, privacy=spec.privacy)
    train, holdout = modality.split(source=source, holdout_fraction=spec.audits.holdout_fraction, seed=spec.seed)
    units = modality.count_units(source=train)
    delta = spec.privacy.delta if spec.privacy.delta is not None else default_delta(units)
    modality.check_fit(train=train, epsilon=spec.privacy.epsilon, delta=delta, model=spec.model, privacy=spec.privacy)
    if not isinstance(ledger, Ledger):
        ledger = ledger()
    fingerprint = ledger.budget_key(fingerprint=modality.fingerprint(source=source),
                                    same_budget_as=spec.privacy.same_budget_as)
    ledger.reserve(fingerprint=fingerprint, name=spec.dataset.path.name, run_id=run_id, release=spec.name,
                   epsilon=spec.privacy.epsilon, delta=delta, total_epsilon=spec.privacy.total_epsilon)
    log.info("prepare: reserved epsilon %g on the ledger for the database; %d patients in training",
             spec.privacy.epsilon, units)
    modality.store(source=train, folder=area.prepared / "train")
    modality.store(source=holdout, folder=area.prepared / "holdout")
    area.spec.write_text(spec.to_yaml(), encoding="utf-8")  # for `synthdata approve RUN` later
    write_json(area.prepared / "prepared.json", {
        "modality": modality.name, "fingerprint": fingerprint, "reservation_run_id": run_id, "units": units,
        "holdout_units": modality.count_units(source=holdout), "delta": delta,
        "parts": modality.parts(dataset=spec.dataset), "privacy_unit": modality.privacy_unit(source=train),
        "notes": [], "preprocessing_columns": [], "inputs_dp_valid": True})
    return {"units": units, "privacy_unit": modality.privacy_unit(source=train)}


def train(*, spec: ReleaseSpec, area: RunArea, ledger: Ledger, progress: bool | Progress = False) -> dict[str, Any]:
    """Fit the database's generator and charge the ledger ONE settlement: its composed epsilon."""
    prepared = read_json(area.prepared / "prepared.json")
    modality = _modality(spec)
    fingerprint, reservation = prepared["fingerprint"], prepared["reservation_run_id"]
    area.model.mkdir(parents=True, exist_ok=True)
    log.info("train: fitting the database's DP generator for epsilon %g, delta %.2g (%d patients)",
             spec.privacy.epsilon, prepared["delta"], prepared["units"])
    began = time.perf_counter()
    try:
        fit = modality.fit(data=area.prepared / "train", model_folder=area.model, epsilon=spec.privacy.epsilon,
                           delta=prepared["delta"], model=spec.model, privacy=spec.privacy, seed=spec.seed,
                           progress=progress)
    except BadInputError:  # refused before any mechanism ran (the fit checks everything first)
        ledger.cancel(fingerprint=fingerprint, run_id=reservation)
        raise
    if fit.epsilon > spec.privacy.epsilon * (1 + 1e-6):
        raise RuntimeError(f"the database's mechanisms compose to epsilon {fit.epsilon:.6g}, above the "
                           f"{spec.privacy.epsilon:g} reserved: the model must be discarded")
    ledger.settle(fingerprint=fingerprint, run_id=reservation, epsilon=fit.epsilon, delta=fit.delta,
                  mechanisms=fit.mechanisms)
    return write_json(area.model / "training.json", {
        **{key: value for key, value in asdict(fit).items() if key != "summary"}, **fit.summary, "epsilon_training": None, "epsilon_preprocessing": None,
        "delta_preprocessing": None, "delta_total": fit.delta,
        "seconds": round(time.perf_counter() - began, 3), "training_seconds": round(time.perf_counter() - began, 3),
        "ledger": ledger_snapshot(ledger=ledger, fingerprint=fingerprint)})


def table_summary(*, area: RunArea, table: str) -> dict[str, Any]:
    """What one table of the synthetic database is, for its own asset (``pipelines.factory``): its synthetic
    rows, its own epsilon (its mechanisms composed; the database's is the release's) and the DP estimates of
    the orphans dropped and rows removed by the caps from its real table.  Public or DP figures only: never a
    count of the real table."""
    synthetic = read_json(area.synthetic / "synthetic.json")
    training = read_json(area.model / "training.json")
    loading = (training.get("loading_counts") or {}).get(table) or {}
    return {"table": table, "synthetic_rows": synthetic["rows_per_table"][table],
            "epsilon_table": (training.get("epsilon_per_part") or {}).get(table),
            "epsilon_database": training["epsilon"],
            **({"orphans_dropped_dp_estimate": loading["orphans_dropped"],
                "rows_removed_by_caps_dp_estimate": loading["rows_removed_by_caps"],
                "dp_estimate_noise_sd": loading["noise_sd"]} if loading else {})}


def sample(*, spec: ReleaseSpec, area: RunArea, progress: bool | Progress = False) -> dict[str, Any]:
    """The synthetic database: as many patients as the training split unless ``output.records`` says."""
    prepared = read_json(area.prepared / "prepared.json")
    modality = _modality(spec)
    began = time.perf_counter()
    units = spec.output.records or prepared["units"]
    log.info("sample: a synthetic database of %d patients", units)
    folder = area.synthetic / SYNTHETIC
    rows = modality.sample(model_folder=area.model, out=folder, units=units, seed=spec.seed, progress=progress)
    return write_json(area.synthetic / "synthetic.json", {
        "records": sum(rows.values()), "patients": units, "rows_per_table": rows, "sha256": sha256_tree(folder),
        "sampler": spec.model.sampler, "calibrated": True, "sampling_seconds": round(time.perf_counter() - began, 3)})
