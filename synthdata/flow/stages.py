"""The release flow's first stages, shared by every modality and by every way of running it.

``prepare -> train -> sample`` here, then ``audit -> approve -> export`` in ``synthdata.flow.publish``; their order
is written once, in ``synthdata.flow.steps``.  Each stage reads and writes files in the run's private work area
(``RunArea``) and returns a small JSON-able summary of aggregates (what Dagster may record).  The Dagster
assets (pipelines/) and the plain Python API (synthdata.api) are both built from those steps; neither moves
private rows anywhere else.

Privacy: the ledger reserves the release's whole epsilon before any private data is read through a
mechanism, DP randomness comes from OS entropy (``synthdata.privacy.randomness``), the holdout never
reaches training, and ``export`` re-checks the audit results itself before writing anything.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch

from evaluation.gate import check_gate_names
from synthdata.config import ReleaseSpec, default_delta
from synthdata.devices import resolve_device
from synthdata.diffusion.process import GaussianDiffusion
from synthdata.diffusion.samplers import SAMPLERS
from synthdata.diffusion.trained import trained_record, trained_weights
from synthdata.errors import BadInputError, PreprocessingFailedError
from synthdata.export.atomic import check_output_free
from synthdata.export.manifest import sha256_file, write_json
from synthdata.flow import approvers
from synthdata.flow.processes import train_across_processes
from synthdata.modalities import get_modality
from synthdata.modalities.base import Modality, Units
from synthdata.privacy.checkpoint import peek_checkpoint
from synthdata.privacy.gaussian import calibrate_gaussian
from synthdata.privacy.joint import alone_epsilon, marginals_share, release_epsilon, training_noise
from synthdata.privacy.ledger import DEFAULT_TOTAL_EPSILON, Ledger
from synthdata.privacy.training import (
    TrainingPlan,
    calibrate_noise,
    poisson_schedule,
    train_non_private,
    train_private,
)
from synthdata.progress import Progress, titled
from synthdata.run_area import RunArea, read_json

log = logging.getLogger("synthdata")


def check_spec(*, spec: ReleaseSpec) -> None:
    """Checks of the spec alone, before a run starts (no data is read): gate names, someone who may sign off
    when a sign-off is required, a free output folder.  The data itself is read once, and validated, by
    ``prepare``."""
    check_gate_names(spec.audits.gates)
    approvers.check_configured(spec)
    resolve_device(requested=spec.model.device)  # cuda without a GPU: refused here, before any budget
    if spec.privacy.reproducible and not spec.privacy.not_private:
        raise BadInputError("privacy.reproducible replays the DP noise from the recorded seed, so the release would "
                            "NOT be differentially private: drop reproducible, or set privacy.not_private: true to "
                            "export it marked as not private (no epsilon is stated)")
    if "{" not in str(spec.output.out):
        check_output_free(spec.output.out)


def _read_and_split(spec: ReleaseSpec) -> tuple[Modality, Any, Any, Any, int, float]:
    """Check the spec, read and validate the data, split it by privacy unit and check the unit, before any
    budget is touched: ``(modality, source, train, holdout, units in training, delta)``."""
    check_spec(spec=spec)
    modality = get_modality(spec.dataset.modality)
    source = modality.load(dataset=spec.dataset, privacy=spec.privacy)
    train, holdout = modality.split(source=source, holdout_fraction=spec.audits.holdout_fraction, seed=spec.seed)
    modality.check_unit(source=source, train=train)
    _check_prior(spec=spec, modality=modality, source=source)
    n_units = modality.count_units(source=train)
    delta = spec.privacy.delta if spec.privacy.delta is not None else default_delta(n_units)
    return modality, source, train, holdout, n_units, delta


def _prior_source(*, spec: ReleaseSpec, modality: Modality) -> Any:
    """The declared-public prior (``model.pretrain``), read with the private data's own settings."""
    try:
        return modality.load(dataset=spec.dataset.model_copy(update={"path": spec.model.pretrain}), privacy=spec.privacy)
    except BadInputError as error:
        raise BadInputError(f"model.pretrain {spec.model.pretrain}: {error.message}") from None


def _check_prior(*, spec: ReleaseSpec, modality: Modality, source: Any) -> None:
    """Refuse a public prior that shares a record with the private data (by content), before any budget."""
    if spec.model.pretrain is None:
        return
    shared = modality.record_digests(source=_prior_source(spec=spec, modality=modality)) & modality.record_digests(
        source=source)
    if shared:
        raise BadInputError(
            f"model.pretrain {spec.model.pretrain} shares {len(shared)} record(s) with the private data "
            f"{spec.dataset.path.name}: pretraining on them would take them outside the DP guarantee. Declare as "
            "public only data disjoint from the private records. Nothing was charged")


def _pretrain(*, spec: ReleaseSpec, modality: Modality, codec: Any, model: torch.nn.Module,
              diffusion: GaussianDiffusion, area: RunArea, progress: bool | Progress,
              device: torch.device) -> dict[str, Any] | None:
    """Train ``model`` without DP on the declared-public prior (``model.pretrain``; no privacy cost) before
    DP-SGD fine-tunes it; its weights are kept in the work area, so a resumed run does not pretrain again.
    Returns what the privacy statement says about it (public facts: the file's name, its record count)."""
    if spec.model.pretrain is None:
        return None
    units = modality.prior_units(source=_prior_source(spec=spec, modality=modality), codec=codec)
    epochs = spec.model.pretrain_epochs or int(spec.model.resolved("epochs"))
    weights = area.model / "pretrained.pt"
    if weights.is_file():
        load_trained(model=model, path=weights, diffusion=diffusion)
    else:
        log.info("train: pretraining on the declared-public prior %s (%d records, %d epochs, no privacy cost)",
                 spec.model.pretrain.name, int(units.mask.sum()), epochs)
        plan = training_plan(spec)
        train_non_private(model=model, diffusion=diffusion, units=units.data, mask=units.mask,
                          plan=TrainingPlan(epochs=epochs, batch_size=plan.batch_size, lr=plan.lr,
                                            max_grad_norm=plan.max_grad_norm, augmentation=plan.augmentation),
                          seed=spec.seed, progress=progress, device=device)
        torch.save(trained_record(model=model, diffusion=diffusion), weights)
    return {"path": spec.model.pretrain.name, "records": int(units.mask.sum()), "epochs": epochs}


def prepare(*, spec: ReleaseSpec, area: RunArea, ledger: Ledger | Callable[[], Ledger], run_id: str) -> dict[str, Any]:
    """Load and validate (the one read of the data in a run), reserve the budget, split, learn the public
    encoding (DP if needed), encode.  Bad input raises BadInputError before anything is written: ``ledger``
    may be a function that opens it, called only once the data passed validation."""
    log.info("prepare: reading and validating %s", spec.dataset.path.name)
    modality, source, train, holdout, n_units, delta = _read_and_split(spec)
    doomed = _doomed(spec=spec, modality=modality, train=train)
    if doomed:
        raise BadInputError(
            f"could not learn the range of column(s) {', '.join(repr(c) for c in doomed)} with DP at this "
            f"preprocessing budget (epsilon {spec.privacy.epsilon * spec.privacy.preprocessing_share:g} over every "
            "column to learn): the noise would swamp the data; declare their min and max in the schema or raise "
            "privacy.preprocessing_share. Nothing was charged.")
    if not isinstance(ledger, Ledger):
        ledger = ledger()
    fingerprint = ledger.budget_key(fingerprint=modality.fingerprint(source=source),
                                    legacy=modality.legacy_fingerprints(source=source),
                                    same_budget_as=spec.privacy.same_budget_as)
    ledger.reserve(
        fingerprint=fingerprint,
        name=spec.dataset.path.name,
        run_id=run_id,
        release=spec.name,
        epsilon=spec.privacy.epsilon,
        delta=delta,
        total_epsilon=spec.privacy.total_epsilon,
    )
    if spec.audits.canaries:
        # The canary audit trains a second model on the same data: its epsilon (at most the release's) is
        # reserved now, before anything trains, and settled at what it spent.
        try:
            ledger.reserve(fingerprint=fingerprint, name=spec.dataset.path.name, run_id=canary_reservation(run_id),
                           release=f"{spec.name} (canary audit)", epsilon=spec.privacy.epsilon, delta=delta)
        except BaseException:
            ledger.cancel(fingerprint=fingerprint, run_id=run_id)
            raise
    log.info("prepare: reserved epsilon %g on the ledger%s; %d privacy units in training", spec.privacy.epsilon,
             f" (and {spec.privacy.epsilon:g} for the canary audit)" if spec.audits.canaries else "", n_units)
    share = spec.privacy.preprocessing_share if modality.needs_preprocessing(source=train) else 0.0
    dp_rng = (
        np.random.default_rng([spec.seed, 3]) if spec.privacy.reproducible else np.random.default_rng(secrets.randbits(128))
    )
    try:
        codec, pre = modality.resolve(
            train=train, epsilon=spec.privacy.epsilon * share, delta=delta * share, privacy=spec.privacy, rng=dp_rng
        )
    except PreprocessingFailedError as failed:
        # The noisy statistics were drawn (and the failure is their output): that part is spent, the rest of the
        # reservation is released instead of counting until someone settles it.
        spent = {"epsilon": spec.privacy.epsilon * share, "delta": delta * share}
        ledger.settle(fingerprint=fingerprint, run_id=run_id, **spent, mechanisms=[
            {"stage": "preprocessing", "mechanism": "noisy histograms (Laplace)", "outcome": "failed", **spent}])
        if spec.audits.canaries:
            ledger.cancel(fingerprint=fingerprint, run_id=canary_reservation(run_id))
        raise PreprocessingFailedError(f"{failed.message} (this attempt spent epsilon {spent['epsilon']:g} of the "
                                       "dataset's budget; the rest of the reservation was released)") from None
    train_rows = modality.records(source=train, codec=codec, privacy=spec.privacy, seed=spec.seed)
    holdout_rows = modality.records(source=holdout, codec=codec, privacy=spec.privacy, seed=spec.seed + 1)
    units = modality.to_units(data=train_rows, codec=codec)
    folder = area.prepared
    marginals_mechanism = None
    share = column_share(spec=spec, modality=modality, preprocessing=share, n_units=n_units, delta=delta)
    if share:
        measured, mechanism = modality.measure_marginals(units=units, codec=codec, epsilon=spec.privacy.epsilon * share,
                                                         delta=delta * share, target=spec.dataset.target, rng=dp_rng)
        write_json(folder / "marginals.json", measured)
        marginals_mechanism = mechanism.ledger_record(stage="marginals")
        log.info("prepare: measured every column's distribution with DP (epsilon %.3g, noise sd %.3g per count)",
                 mechanism.epsilon, mechanism.sigma)
    area.spec.write_text(spec.to_yaml(), encoding="utf-8")  # for `synthdata approve RUN` later
    modality.save_data(data=train_rows, path=folder / modality.data_file("train"))
    modality.save_data(data=holdout_rows, path=folder / modality.data_file("holdout"))
    modality.save_codec(codec=codec, path=folder / "codec.json")
    torch.save({"data": units.data, "mask": units.mask}, folder / "units.pt")
    return write_json(
        folder / "prepared.json",
        {
            "modality": modality.name,
            "fingerprint": fingerprint,
            "reservation_run_id": run_id,
            "units": units.count,
            "train_records": modality.count_records(data=train_rows),
            "holdout_records": modality.count_records(data=holdout_rows),
            "encoded_width": int(units.data.shape[-1]),
            "rows_per_unit": int(units.data.shape[1]),
            "delta": delta,
            "epsilon_preprocessing": pre.epsilon,
            "delta_preprocessing": pre.delta,
            "preprocessing_columns": pre.columns,
            "epsilon_marginals": marginals_mechanism["epsilon"] if marginals_mechanism else 0.0,
            "delta_marginals": marginals_mechanism["delta"] if marginals_mechanism else 0.0,
            "marginals_mechanism": marginals_mechanism,
            "marginals_share": share,
            "notes": pre.notes,
            "privacy_unit": modality.privacy_unit(source=train, privacy=spec.privacy),  # what trained
            "inputs_dp_valid": modality.public_inputs(source=source),
        },
    )


def column_share(*, spec: ReleaseSpec, modality: Modality, preprocessing: float, n_units: int,
                 delta: float) -> float:
    """The part of epsilon that measures every column's distribution: 0 where the modality measures none, the
    spec's ``privacy.marginals_share``, else chosen from public numbers (the unit count, epsilon, delta and the
    DP-SGD plan) by :func:`synthdata.privacy.joint.marginals_share`.  ``preprocessing`` is the share DP domains
    take in this release (0 when none is learned)."""
    if not modality.measures_marginals:
        return 0.0
    if spec.privacy.marginals_share is not None:
        return spec.privacy.marginals_share
    training = training_plan(spec)
    _, sample_rate, _, steps = poisson_schedule(n_units=n_units, batch_size=training.batch_size, epochs=training.epochs)
    return marginals_share(epsilon=spec.privacy.epsilon, delta=delta, preprocessing_share=preprocessing,
                           sample_rate=sample_rate, steps=steps, batch=sample_rate * n_units)


def _doomed(*, spec: ReleaseSpec, modality: Modality, train: Any) -> list[str]:
    """Columns DP preprocessing would most likely fail to learn (a local, noise-free look; never published)."""
    if not modality.needs_preprocessing(source=train):
        return []
    return modality.doomed_columns(train=train, epsilon=spec.privacy.epsilon * spec.privacy.preprocessing_share,
                                   privacy=spec.privacy)


def plan(*, spec: ReleaseSpec, ledger: Ledger) -> dict[str, Any]:
    """What a release would spend, and whether the ledger would let it, charging nothing and writing nothing.

    Reads and validates the data as ``prepare`` does (the split and the unit checks are public-seed
    functions of the data) but runs no DP mechanism: the figures are the budget split, the DP-SGD plan with
    its calibrated noise, and the dataset's remaining budget.  Privacy: the counts it prints (privacy units
    in training) are what every release treats as public already.
    """
    modality, source, train, _, n_units, delta = _read_and_split(spec)
    epsilon = spec.privacy.epsilon
    pre = spec.privacy.preprocessing_share if modality.needs_preprocessing(source=train) else 0.0
    marginals = column_share(spec=spec, modality=modality, preprocessing=pre, n_units=n_units, delta=delta)
    epsilon_train, delta_train = epsilon * (1 - pre - marginals), delta * (1 - pre - marginals)
    training = training_plan(spec)
    batch, sample_rate, _, steps = poisson_schedule(n_units=n_units, batch_size=training.batch_size,
                                                    epochs=training.epochs)
    noise = calibrate_noise(epsilon=epsilon_train, delta=delta_train, sample_rate=sample_rate, steps=steps,
                            accountant=spec.privacy.accountant)
    if marginals:  # DP-SGD's noise is chosen with the column distributions' mechanism, as ``train`` will
        before = [{"stage": "preprocessing", "epsilon": epsilon * pre, "delta": delta * pre}] if pre else []
        before.append(calibrate_gaussian(epsilon=epsilon * marginals, delta=delta * marginals,
                                         sensitivity=1.0).ledger_record(stage="marginals"))
        noise = training_noise(before=before, sample_rate=sample_rate, steps=steps, epsilon=epsilon, delta=delta,
                               standalone=noise)
    state = ledger.state(fingerprint=ledger.budget_key(
        fingerprint=modality.fingerprint(source=source), legacy=modality.legacy_fingerprints(source=source),
        same_budget_as=spec.privacy.same_budget_as, write=False))
    total = state.total if state else (spec.privacy.total_epsilon or DEFAULT_TOTAL_EPSILON)
    remaining = state.remaining if state else total
    return {
        "privacy_unit": modality.privacy_unit(source=train, privacy=spec.privacy), "units": n_units,
        "epsilon": epsilon, "delta": delta, "epsilon_preprocessing": epsilon * pre,
        "epsilon_marginals": epsilon * marginals, "epsilon_training": epsilon_train,
        "batch_size": batch, "sample_rate": sample_rate, "steps": steps, "noise_multiplier": noise,
        "dataset_known": state is not None, "budget_total": total, "budget_remaining": remaining,
        "fits": epsilon <= remaining + 1e-12,
        "doomed_columns": _doomed(spec=spec, modality=modality, train=train),
        "preprocessing_columns": modality.preprocessing_columns(source=train) if pre else [],
    }


def describe_plan(plan: dict[str, Any]) -> str:
    """``plan``'s figures in four indented lines: privacy unit, the epsilon split, DP-SGD, the budget."""
    learned = plan["preprocessing_columns"]
    split = (f": {plan['epsilon_preprocessing'] / len(learned):.4g} each for {', '.join(learned)}" if learned else "")
    parts = [f"preprocessing {plan['epsilon_preprocessing']:.4g} (column domains learned with DP{split})"
             if plan["epsilon_preprocessing"] else None,
             f"column distributions {plan['epsilon_marginals']:.4g}" if plan["epsilon_marginals"] else None,
             f"DP-SGD training {plan['epsilon_training']:.4g}"]
    budget = (f"this dataset has {plan['budget_remaining']:.4g} of {plan['budget_total']:g} left"
              if plan["dataset_known"] else f"a new dataset: its budget would be {plan['budget_total']:g}")
    return (f"  privacy unit: {plan['privacy_unit']}; {plan['units']} in training\n"
            f"  epsilon {plan['epsilon']:g}, delta {plan['delta']:.2g} = {' + '.join(p for p in parts if p)}\n"
            f"  DP-SGD: {plan['steps']} steps, expected batch {plan['batch_size']}, sample rate "
            f"{plan['sample_rate']:.4g}, noise multiplier {plan['noise_multiplier']:.3g}\n"
            f"  budget: {budget}; this release {'fits' if plan['fits'] else 'would be REFUSED (exit 4)'}")


def diffusion_for(*, spec: ReleaseSpec, modality: Modality, codec: Any) -> GaussianDiffusion:
    """The diffusion process of a release: schedule, its data scale and prediction from the spec, the class
    condition's width from the modality's codec (0 for unconditional data such as tables)."""
    return GaussianDiffusion(timesteps=spec.model.timesteps, prediction=spec.model.prediction,
                             condition_dim=modality.condition_dim(codec=codec),
                             condition_dropout=spec.model.condition_dropout,
                             scale=float(spec.model.resolved("data_scale")))


def training_budget(*, spec: ReleaseSpec, prepared: dict[str, Any]) -> tuple[float, float]:
    """(epsilon, delta) left for training: the release's, less what ``prepare`` spent (domains learned with DP,
    column distributions measured with DP); the parts add up by basic composition."""
    spent = prepared["epsilon_preprocessing"] + prepared.get("epsilon_marginals", 0.0)
    spent_delta = prepared["delta_preprocessing"] + prepared.get("delta_marginals", 0.0)
    return spec.privacy.epsilon - spent, prepared["delta"] - spent_delta


def prepare_mechanisms(prepared: dict[str, Any]) -> list[dict[str, Any]]:
    """The ledger records of what ``prepare`` spent (DP domains, DP column distributions)."""
    mechanisms = []
    if prepared["epsilon_preprocessing"] > 0:
        mechanisms.append({"stage": "preprocessing", "mechanism": "noisy histograms (Laplace)",
                           "columns": prepared["preprocessing_columns"], "epsilon": prepared["epsilon_preprocessing"],
                           "delta": prepared["delta_preprocessing"]})
    if prepared.get("marginals_mechanism"):
        mechanisms.append(prepared["marginals_mechanism"])
    return mechanisms


COMPOSED = ("the privacy accountants (Opacus' RDP and PRV, the tighter of the two) composing the Gaussian "
            "mechanisms (the column distributions and every DP-SGD step), with the other parts (DP domains) added; "
            "DP-SGD's noise was chosen so that this composition stays within the release's epsilon, so each part's "
            "own epsilon is larger than an even split would give it and the parts do not add up to the total")


def training_target(*, spec: ReleaseSpec, plan: TrainingPlan, units: int, before: list[dict[str, Any]], delta: float,
                    epsilon_train: float, delta_train: float) -> float:
    """The epsilon DP-SGD is calibrated for on its own (at ``delta_train``).  With Gaussian mechanisms ``before``
    it (the column distributions), DP-SGD's noise is the smallest that keeps the composition of everything within
    the release's (epsilon, ``delta``) (:mod:`synthdata.privacy.joint`); otherwise its own share,
    ``epsilon_train``."""
    if not any(m.get("noise_multiplier") for m in before):
        return epsilon_train
    _, sample_rate, _, steps = poisson_schedule(n_units=units, batch_size=plan.batch_size, epochs=plan.epochs)
    accountant = spec.privacy.accountant
    standalone = calibrate_noise(epsilon=epsilon_train, delta=delta_train, sample_rate=sample_rate, steps=steps,
                                 accountant=accountant)
    sigma = training_noise(before=before, sample_rate=sample_rate, steps=steps, epsilon=spec.privacy.epsilon,
                           delta=delta, standalone=standalone)
    return max(epsilon_train, alone_epsilon(noise_multiplier=sigma, sample_rate=sample_rate, steps=steps,
                                            delta=delta_train, accountant=accountant))


def training_plan(spec: ReleaseSpec) -> TrainingPlan:
    """The DP-SGD plan a spec asks for (preset values filled in; ``model.ema`` unset or 0 keeps no average)."""
    return TrainingPlan(
        epochs=int(spec.model.resolved("epochs")),
        batch_size=int(spec.model.resolved("batch_size")),
        lr=float(spec.model.resolved("lr")),
        max_grad_norm=spec.model.max_grad_norm,
        augmentation=int(spec.model.resolved("augmentation")),
        ema=float(spec.model.ema) if spec.model.ema else None,
    )


def canary_reservation(run_id: str) -> str:
    """The ledger run id under which a release's canary audit is charged."""
    return f"{run_id}:canary-audit"


def train(
    *, spec: ReleaseSpec, area: RunArea, ledger: Ledger, run_id: str, progress: bool | Progress = True
) -> dict[str, Any]:
    """DP-SGD training of the denoiser for the training share of epsilon; settles the ledger.

    ``progress`` hears of every step (step, epsilon spent so far, time; never the loss): True a bar on stderr,
    or a :class:`synthdata.progress.Progress` (the Dagster asset's event log).  The model trains on
    ``model.device`` (``synthdata.devices``); its weights are saved from the CPU.

    Training checkpoints to ``model/checkpoint.pt`` in the work area (private state, deleted when training
    completes; see ``synthdata.privacy.checkpoint``).  Calling ``train`` again on a run that was killed
    mid-training resumes from that checkpoint under the reservation the killed run left open: the ledger is
    charged once, for the epsilon of the whole (uninterrupted-equivalent) run.
    """
    device = resolve_device(requested=spec.model.device)  # refused before the ledger is touched
    prepared = read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    stored = torch.load(area.prepared / "units.pt", weights_only=True)
    units = Units(data=stored["data"], mask=stored["mask"])
    epsilon_train, delta_train = training_budget(spec=spec, prepared=prepared)
    epsilon_pre, delta_pre = spec.privacy.epsilon - epsilon_train, prepared["delta"] - delta_train
    fingerprint = prepared["fingerprint"]
    reservation = prepared["reservation_run_id"]
    state = ledger.history(fingerprint=fingerprint)
    # What this run still has to charge: what prepare spent was charged already when retraining from
    # earlier prepared data (e.g. re-materialising the model in the UI), but the release's guarantee
    # still composes it with this training.
    charged_pre, charged_delta_pre = epsilon_pre, delta_pre
    open_runs = {c["run_id"] for c in state if c["status"] == "reserved"}
    kept = area.model / "reservation.json"  # the reservation an interrupted training of this work area ran under
    interrupted = read_json(kept)["run_id"] if kept.is_file() and (area.model / "checkpoint.pt").is_file() else None
    if interrupted in open_runs and interrupted != reservation:
        # A retraining (reserved under its own run id) that was killed, resumed by whichever run id: resume it
        # under that reservation.
        reservation = interrupted
        charged_pre = charged_delta_pre = 0.0
    elif reservation not in open_runs and run_id in open_runs:
        reservation = run_id
        charged_pre = charged_delta_pre = 0.0
    elif reservation not in open_runs:
        reservation = run_id
        charged_pre = charged_delta_pre = 0.0
        ledger.reserve(
            fingerprint=fingerprint, name=spec.dataset.path.name, run_id=run_id, release=spec.name,
            epsilon=epsilon_train, delta=delta_train,
        )
    write_json(kept, {"run_id": reservation})  # a run id (not private): where a resumed training charges
    torch.manual_seed(spec.seed)  # model initialisation only: public randomness
    model = modality.build_denoiser(codec=codec, model=spec.model)
    diffusion = diffusion_for(spec=spec, modality=modality, codec=codec)
    prior = _pretrain(spec=spec, modality=modality, codec=codec, model=model, diffusion=diffusion, area=area,
                      progress=progress, device=device)
    plan = training_plan(spec)
    before = prepare_mechanisms(prepared) if charged_pre > 0 else []  # what this charge composes with training
    target = training_target(spec=spec, plan=plan, units=units.count, before=before, delta=prepared["delta"],
                             epsilon_train=epsilon_train, delta_train=delta_train)
    log.info("train: DP-SGD for epsilon %.4g alone (%.4g with everything measured before it), delta %.2g (%d units, "
             "%d epochs, on %s)", target, spec.privacy.epsilon if before else epsilon_train, delta_train, units.count,
             plan.epochs, device)
    checkpoint = area.model / "checkpoint.pt"
    where = peek_checkpoint(checkpoint)
    if where is not None:
        log.info("train: resuming from step %d of %d (checkpoint of an interrupted run, reservation %s)",
                 where[0], where[1], reservation)
    try:
        if spec.model.processes > 1:
            log.info("train: DP-SGD across %d processes", spec.model.processes)
            outcome = train_across_processes(area=area, model=model, plan=plan, processes=spec.model.processes,
                                             epsilon=target, delta=delta_train, device=device, progress=progress)
        else:
            outcome = train_private(
                model=model, diffusion=diffusion, units=units.data, mask=units.mask, plan=plan,
                epsilon=target, delta=delta_train, accountant=spec.privacy.accountant,
                reproducible_seed=spec.seed if spec.privacy.reproducible else None, progress=progress,
                checkpoint=checkpoint, device=device,
            )
    except BadInputError:
        if checkpoint.is_file():
            # An interrupted run trained on the private data before this refusal (e.g. its checkpoint does
            # not match the spec any more): its reservation stays open, neither cancelled nor settled here.
            raise
        if charged_pre > 0:
            ledger.settle(fingerprint=fingerprint, run_id=reservation, epsilon=charged_pre, delta=charged_delta_pre,
                          mechanisms=prepare_mechanisms(prepared))
        else:
            ledger.cancel(fingerprint=fingerprint, run_id=reservation)
        raise
    torch.save(trained_record(model=model, diffusion=diffusion), area.model / "denoiser.pt")
    training_mechanism = {
        "stage": "training", "mechanism": "DP-SGD (Opacus, Poisson sampling, Gaussian noise)",
        "noise_multiplier": outcome.noise_multiplier, "sample_rate": outcome.sample_rate,
        "steps": outcome.steps, "accountant": outcome.accountant, "epsilon": outcome.epsilon,
        "delta": outcome.delta}
    mechanisms = [*before, training_mechanism]
    basic = epsilon_pre + float(outcome.epsilon or 0.0)  # every part's own epsilon, added
    delta_total = delta_pre + float(outcome.delta or 0.0)
    joint = target > epsilon_train  # DP-SGD's noise was chosen with the mechanisms before it (training_target)
    epsilon_total = release_epsilon(mechanisms=mechanisms, delta=delta_total) if joint else basic
    if epsilon_total > spec.privacy.epsilon * (1 + 1e-9):
        raise RuntimeError(f"the release's mechanisms compose to epsilon {epsilon_total:.6g}, above the "
                           f"{spec.privacy.epsilon:g} it was calibrated for: the model must be discarded")
    charged = epsilon_total if joint else charged_pre + float(outcome.epsilon or 0.0)
    ledger.settle(fingerprint=fingerprint, run_id=reservation, epsilon=charged,
                  delta=charged_delta_pre + float(outcome.delta or 0.0), mechanisms=mechanisms)
    return write_json(
        area.model / "training.json",
        {
            **asdict(outcome),
            "epsilon_training": outcome.epsilon,
            "delta_training": outcome.delta,
            "epsilon_preprocessing": prepared["epsilon_preprocessing"],
            "delta_preprocessing": prepared["delta_preprocessing"],
            "epsilon_marginals": prepared.get("epsilon_marginals", 0.0),
            "delta_marginals": prepared.get("delta_marginals", 0.0),
            "epsilon": epsilon_total,
            "epsilon_basic_composition": basic,
            "delta_total": delta_total,
            "composition": (COMPOSED if joint else "basic (sequential) composition of what was measured before "
                            "training (DP domains, DP column distributions) and DP-SGD training"),
            "plan": asdict(plan),
            "device": str(device),
            "processes": spec.model.processes,
            "pretrain": prior,
            "mechanisms": mechanisms,
            "ledger": ledger_snapshot(ledger=ledger, fingerprint=fingerprint),
        },
    )


def load_trained(*, model: torch.nn.Module, path: Any, diffusion: GaussianDiffusion,
                 record: dict[str, Any] | None = None) -> torch.nn.Module:
    """``model`` with the weights of the trained model saved at ``path`` (or its ``record`` already read from
    there), which must have been trained under ``diffusion``'s settings (``synthdata.diffusion.trained``).
    BadInputError naming the file and the setting otherwise, or when the weights do not fit ``model``."""
    if record is None:
        try:
            record = torch.load(path, weights_only=True, map_location="cpu")
        except Exception:  # torch raises several kinds for a file that is not its own
            raise BadInputError(f"{path} is not a trained model torch can read: train the model again") from None
    weights = trained_weights(record, diffusion=diffusion, source=str(path))
    try:
        model.load_state_dict(weights)
    except RuntimeError:
        raise BadInputError(f"the weights in {path} do not fit the denoiser the spec builds (model.hidden, "
                            "model.depth, model.unet_base, the codec's width): sample it with the spec it was "
                            "trained with") from None
    return model


def ledger_snapshot(*, ledger: Ledger, fingerprint: str) -> dict[str, Any]:
    """The dataset's budget after this run, for the privacy statement: aggregates only."""
    state = ledger.state(fingerprint=fingerprint)
    composed = ledger.composition(fingerprint=fingerprint)
    return {"location": ledger.describe_location(),
            **({k: v for k, v in state.to_dict().items() if k != "fingerprint"} if state else {}),
            "composition": composed.to_dict()}


def sample(*, spec: ReleaseSpec, area: RunArea, progress: bool | Progress = False) -> dict[str, Any]:
    """Draw synthetic records from the trained denoiser (post-processing: no privacy cost), on ``model.device``;
    ``progress`` hears of every denoising step."""
    prepared = read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    weights = area.model / "denoiser.pt"
    if not weights.is_file():
        raise BadInputError(f"{weights} is missing: train the model first")
    device = resolve_device(requested=spec.model.device)  # before sampling for minutes: cuda without a GPU is refused
    marginals = area.prepared / "marginals.json"
    n = spec.output.records or prepared["train_records"]
    began = time.perf_counter()
    data = draw(spec=spec, modality=modality, codec=codec,
                trained=torch.load(weights, weights_only=True, map_location="cpu"), source=str(weights),
                marginals=read_json(marginals) if marginals.is_file() else None, width=prepared["encoded_width"],
                n=n, seed=spec.seed, progress=progress)
    path = modality.save_data(data=data, path=area.synthetic / modality.data_file("synthetic"))
    return write_json(
        area.synthetic / "synthetic.json",
        {"records": modality.count_records(data=data), "sha256": sha256_file(path), "sampler": spec.model.sampler,
         "calibrated": marginals.is_file(), "sampling_seconds": round(time.perf_counter() - began, 3),
         "device": str(device)},
    )


def draw(*, spec: ReleaseSpec, modality: Modality, codec: Any, trained: dict[str, Any], source: str,
         marginals: dict[str, Any] | None, width: int, n: int, seed: int, progress: bool | Progress = False) -> Any:
    """``n`` records from a trained denoiser (its saved record ``trained``, read from ``source``; post-processing
    of DP outputs: no privacy cost), calibrated to the DP-measured column distributions ``marginals`` when the
    modality measured them.  The spec's diffusion settings must be those the model was trained under
    (BadInputError naming the setting otherwise).  ``seed`` drives the sampler's noise and calibration's
    tie-breaking: public randomness."""
    diffusion = diffusion_for(spec=spec, modality=modality, codec=codec)
    model = load_trained(model=modality.build_denoiser(codec=codec, model=spec.model), path=source,
                         diffusion=diffusion, record=trained)
    device = resolve_device(requested=spec.model.device)
    model.to(device)
    log.info("sample: %d synthetic records with %s on %s", n, spec.model.sampler.upper(), device)
    generator = torch.Generator().manual_seed(seed)
    kwargs: dict[str, Any] = {"steps": int(spec.model.resolved("sample_steps"))} if spec.model.sampler == "ddim" else {}
    kwargs.update(progress=progress, batch_size=getattr(model, "sample_batch_size", 4096),
                  precision=spec.model.sample_precision)
    condition = modality.conditions(codec=codec, n=n, rng=np.random.default_rng([seed, 13]))
    if condition is not None:
        kwargs.update(condition=torch.from_numpy(condition), guidance=float(spec.model.resolved("guidance")))
    array = SAMPLERS[spec.model.sampler](model=model, diffusion=diffusion, shape=(n, width), generator=generator,
                                         **kwargs).cpu().numpy()
    if marginals is not None:
        log.info("sample: calibrating every column to its DP-measured distribution")
        array = modality.calibrate(codec=codec, array=array, marginals=marginals,
                                   rng=np.random.default_rng([seed, 17]))
    return modality.decode(codec=codec, array=array)


def canary_audit(
    *, spec: ReleaseSpec, area: RunArea, ledger: Ledger, run_id: str, reservation: str | None = None,
    canaries: int | None = None, progress: bool | Progress = False,
) -> dict[str, Any]:
    """Empirical DP check: train a throwaway model with this release's DP configuration on the training
    units plus planted canaries, and bound its epsilon from below (``synthdata.privacy.canary``).

    The claim tested is the epsilon the release's DP-SGD was calibrated for on its own (``training_target``).  The
    throwaway training reads the private data: it is charged to the ledger under ``reservation`` (default:
    the release's canary reservation made by ``prepare``), settled with its mechanism; the model is never
    saved.  Writes ``model/canary_audit.json`` (counts and bounds only).
    """
    from synthdata.privacy.canary import run_canary_audit

    prepared = read_json(area.prepared / "prepared.json")
    modality = get_modality(prepared["modality"])
    codec = modality.read_codec(path=area.prepared / "codec.json")
    stored = torch.load(area.prepared / "units.pt", weights_only=True)
    epsilon_train, delta_train = training_budget(spec=spec, prepared=prepared)
    # the mechanism the release's DP-SGD ran (its noise chosen with everything measured before it)
    epsilon_train = training_target(spec=spec, plan=training_plan(spec), units=int(stored["data"].shape[0]),
                                    before=prepare_mechanisms(prepared), delta=prepared["delta"],
                                    epsilon_train=epsilon_train, delta_train=delta_train)
    fingerprint = prepared["fingerprint"]
    reservation = reservation or canary_reservation(run_id)
    count = canaries or spec.audits.canaries or 1000
    if reservation not in {c["run_id"] for c in ledger.history(fingerprint=fingerprint) if c["status"] == "reserved"}:
        # e.g. the model re-materialised in the UI from earlier prepared data: reserve before training
        ledger.reserve(fingerprint=fingerprint, name=spec.dataset.path.name, run_id=reservation,
                       release=f"{spec.name} (canary audit)", epsilon=epsilon_train, delta=delta_train)

    diffusion = diffusion_for(spec=spec, modality=modality, codec=codec)

    def build_model() -> torch.nn.Module:
        torch.manual_seed(spec.seed)  # initialisation only: public randomness
        model = modality.build_denoiser(codec=codec, model=spec.model)
        if (area.model / "pretrained.pt").is_file():  # the release's model started from its public prior too
            load_trained(model=model, path=area.model / "pretrained.pt", diffusion=diffusion)
        return model

    log.info("canary audit: %d canaries, training a throwaway model for epsilon %.4g (charged to the ledger)",
             count, epsilon_train)
    try:
        result = run_canary_audit(
            units=stored["data"], mask=stored["mask"], build_model=build_model,
            diffusion=diffusion,
            plan=training_plan(spec), epsilon=epsilon_train, delta=delta_train, accountant=spec.privacy.accountant,
            canaries=count, progress=titled(progress, task="canary audit: DP training (throwaway model)"),
        )
    except BadInputError:
        ledger.cancel(fingerprint=fingerprint, run_id=reservation)  # refused before any training
        raise
    mechanisms = [{"stage": "canary audit training (throwaway model)",
                   "mechanism": "DP-SGD (Opacus, Poisson sampling, Gaussian noise)",
                   "noise_multiplier": result.noise_multiplier, "sample_rate": result.sample_rate,
                   "steps": result.steps, "epsilon": result.training_epsilon_spent, "delta": delta_train}]
    spent = float(result.training_epsilon_spent or epsilon_train)
    spent_delta = delta_train
    before = prepare_mechanisms(prepared)
    if reservation == prepared["reservation_run_id"] and before:
        # A stand-alone audit (``synthdata dp-audit``) spent what prepare measured under the same charge.
        mechanisms = [*before, *mechanisms]
        spent += spec.privacy.epsilon - epsilon_train
        spent_delta = prepared["delta"]
    ledger.settle(fingerprint=fingerprint, run_id=reservation, epsilon=spent, delta=spent_delta,
                  mechanisms=mechanisms)
    training_file = area.model / "training.json"
    if training_file.is_file():  # the privacy statement's ledger figures include this charge
        write_json(training_file, {**read_json(training_file),
                                   "ledger": ledger_snapshot(ledger=ledger, fingerprint=fingerprint)})
    log.info("canary audit: empirical epsilon lower bound %.3g vs claimed %.3g (%s)",
             result.empirical_epsilon_lower_bound, result.claimed_epsilon, "pass" if result.passed else "FAIL")
    return write_json(area.model / "canary_audit.json", {**result.to_dict(), "ledger_run_id": reservation})
