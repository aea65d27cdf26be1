"""Memorization and membership audits on signal windows (shift-tolerant NCC): a generator that returns its
training windows, even shifted, fails them; fresh windows of the same population pass."""

from __future__ import annotations

import numpy as np

from evaluation.attack.membership import MembershipInferenceAudit
from evaluation.base import AuditContext, AuditSettings
from evaluation.gate import decide
from evaluation.memorization.dcr import DCRShareAudit
from evaluation.memorization.near_copies import NearCopiesAudit
from evaluation.signals.similarity import SignalSpace
from synthdata.views.signals import SignalSchema, SignalSet

FS = 100.0
SCHEMA = SignalSchema(kind="ecg", fs=FS, channels=("I", "II"), units=("mV", "mV"), amplitude=(-3.0, 3.0))


def population(n: int, seed: int, *, fastest: float = 12.0) -> SignalSet:
    """Windows of 4 s: two random rhythms each (random frequency up to ``fastest`` Hz, phase, amplitude) plus
    noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(4 * FS)) / FS
    f = rng.uniform(1.0, fastest, size=(n, 2, 1))
    a = rng.uniform(0.3, 1.0, size=(n, 2, 1))
    data = (a * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3, size=(n, 2, 1)))).sum(axis=1, keepdims=True)
    data = np.concatenate([data, 0.5 * data], axis=1) + rng.normal(0, 0.1, size=(n, 2, len(t)))
    return SignalSet(data=data.astype(np.float32))


TRAIN, HOLDOUT = population(400, seed=1), population(400, seed=2)


def context(synthetic: SignalSet) -> AuditContext:
    return AuditContext(modality="ecg", train=TRAIN, holdout=HOLDOUT, synthetic=synthetic, schema=SCHEMA,
                        settings=AuditSettings(max_rows=400, seed=0, bootstrap=200))


def shifted_copies() -> SignalSet:
    """Training windows 0.25 s later (25 samples = 8 points after resampling 400 -> 128) and offset."""
    return SignalSet(data=np.roll(TRAIN.data, 25, axis=-1) + np.float32(0.02))


def verdict(audit, synthetic: SignalSet):
    return decide(audit=audit, measurement=audit.measure(context(synthetic)), threshold=audit.default_threshold)


def test_similarity_is_shift_tolerant() -> None:
    space = SignalSpace(fs=FS)
    query, reference = space.encode(shifted_copies().take(np.arange(5))), space.encode(TRAIN)
    distances, indices = space.neighbours(query, reference, k=1)
    assert np.array_equal(indices[:, 0], np.arange(5)) and (distances[:, 0] < 0.02).all()
    unrelated = space.neighbours(space.encode(HOLDOUT.take(np.arange(50))), reference)[0][:, 0]
    assert np.median(unrelated) > 0.1
    unaligned = space.neighbours(space.encode(SignalSet(data=np.roll(TRAIN.data[:5], 7, axis=-1))), reference)[0]
    assert (unaligned[:, 0] < np.median(unrelated)).all()  # a fractional-point shift still stays close


def test_copying_generator_fails_memorization_and_membership_gates() -> None:
    copies = shifted_copies()
    dcr, near, mia = (verdict(a, copies) for a in (DCRShareAudit(), NearCopiesAudit(), MembershipInferenceAudit()))
    assert dcr.passed is False and dcr.value > 0.9
    assert near.passed is False and near.value > 0.3
    assert mia.passed is False and mia.value > 0.9


def test_fresh_windows_of_the_population_pass() -> None:
    fresh = population(400, seed=3)
    dcr, near, mia = (verdict(a, fresh) for a in (DCRShareAudit(), NearCopiesAudit(), MembershipInferenceAudit()))
    # 400 windows per side cannot show a share below 0.55 (the interval carries the sampling of the real
    # reference sets too: +-0.06 here, as measured over 40 independent draws), so the DCR gate cannot
    # judge and does not block; its interval covers the no-leak value
    assert dcr.passed is None and not dcr.blocks and "too few records" in dcr.note
    assert dcr.interval[0] < 0.5 < dcr.interval[1]
    assert near.passed and mia.passed


def test_two_subjects_are_not_judged_by_membership_inference() -> None:
    # One subject in training, another in the holdout: their windows differ whatever the generator does
    # (here the holdout subject's rhythms are slower), so the attack separates people.  Reported, not judged.
    slow = population(400, seed=2, fastest=3.0)
    two = AuditContext(modality="eeg", train=TRAIN, holdout=slow, synthetic=population(400, seed=3), schema=SCHEMA,
                       settings=AuditSettings(max_rows=400, seed=0, bootstrap=200),
                       groups={"train": np.array(["s1"] * len(TRAIN)), "holdout": np.array(["s2"] * len(slow))})
    audit = MembershipInferenceAudit()
    measurement = audit.measure(two)
    assert measurement.value > 0.6  # the attack tells the two people apart
    result = decide(audit=audit, measurement=measurement, threshold=audit.default_threshold)
    assert result.passed is None and not result.blocks
    assert "1 privacy unit(s)" in measurement.not_informative and "separate those units" in measurement.not_informative
    ungrouped = audit.measure(AuditContext(modality="eeg", train=TRAIN, holdout=slow, synthetic=two.synthetic,
                                           schema=SCHEMA, settings=two.settings))
    assert decide(audit=audit, measurement=ungrouped, threshold=audit.default_threshold).passed is False


def test_a_few_exact_window_copies_fail_exact_copies() -> None:
    from evaluation.memorization.exact_copies import ExactCopiesAudit

    fresh = population(400, seed=3)
    copied = SignalSet(data=np.concatenate([fresh.data[:395], TRAIN.data[:5]]))  # five training windows
    audit = ExactCopiesAudit()
    assert verdict(audit, copied).passed is False and audit.measure(context(copied)).value == 5
    assert verdict(audit, fresh).passed is True and audit.measure(context(fresh)).value == 0
    # A copy nudged by far less than the resolution is still a copy; one moved by a few resolution steps is
    # a near copy (memorization.near_copies), not an exact one.
    nudged = SignalSet(data=copied.data + np.float32(1e-7))
    assert audit.measure(context(nudged)).value >= 4  # rounding may split a value lying on a step's edge


def test_blocks_of_time_that_drift_are_not_read_as_memorization() -> None:
    # One recording in 10 blocks of 40 windows whose rhythm drifts block by block.  Training holds 4 blocks,
    # the holdout 2 slower ones, the "synthetic" windows are fresh windows of 4 other blocks, nearer in rhythm
    # to training: nothing was copied, yet window by window they sit closer to training.
    rng = np.random.default_rng(5)
    t = np.arange(int(4 * FS)) / FS

    def block(hz: float) -> np.ndarray:
        f = rng.normal(hz, 0.2, size=(40, 1, 1))
        wave = np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3, size=(40, 1, 1)))
        return np.concatenate([wave, 0.5 * wave], axis=1) + rng.normal(0, 0.1, size=(40, 2, len(t)))

    train = SignalSet(data=np.concatenate([block(hz) for hz in (2, 4, 6, 8)]).astype(np.float32))
    holdout = SignalSet(data=np.concatenate([block(hz) for hz in (12, 14)]).astype(np.float32))
    fresh = SignalSet(data=np.concatenate([block(hz) for hz in (3, 5, 7, 9)]).astype(np.float32))
    groups = {"train": np.repeat(["b0", "b1", "b2", "b3"], 40), "holdout": np.repeat(["b4", "b5"], 40)}

    def result(audit, with_groups: bool):
        c = AuditContext(modality="eeg", train=train, holdout=holdout, synthetic=fresh, schema=SCHEMA,
                         settings=AuditSettings(max_rows=400, seed=0, bootstrap=200),
                         groups=groups if with_groups else {})
        return decide(audit=audit, measurement=audit.measure(c), threshold=audit.default_threshold)

    for audit in (DCRShareAudit(), MembershipInferenceAudit()):
        assert result(audit, with_groups=False).passed is False  # window by window: a false block
        assert result(audit, with_groups=True).passed is None  # by block: too few units to judge
