"""Empirical DP audit with canaries in one training run (Steinke, Nasr & Jagielski 2023).

``m`` canaries (distinctive extra privacy units) are each put into the training set independently with
probability 1/2.  A FRESH model is trained with the DP configuration under test on the real units plus the
included canaries.  Each canary is then scored by a membership test (minus its denoising loss under the
trained model); the audit guesses "in" for the ``k+`` highest scores and "out" for the ``k-`` lowest and
abstains on the rest.  If training were (epsilon, delta)-DP per unit, the number of correct guesses would
be stochastically dominated by a binomial with success probability ``e^eps / (1 + e^eps)`` (plus a delta
term), so many correct guesses reject small epsilons: the largest epsilon rejected at the chosen confidence
is an empirical LOWER bound on the epsilon that training really gives (Theorem 1 and Appendix D of the paper).

What the audit does and does not say, stated outright:

* A lower bound at or below the claimed epsilon is a PASSED SANITY CHECK, not a proof of privacy: the one-run
  audit of a final model is loose (it typically certifies well below the true epsilon of DP-SGD), so it
  catches gross bugs (no noise, no clipping, noise calibrated for the wrong sample rate by a large factor,
  data reaching the model outside DP-SGD), not subtle ones.
* A lower bound ABOVE the claimed epsilon means, at the stated confidence, that the trainer does not give the
  claimed guarantee (or that one of the assumptions below is broken).  With confidence ``c`` a correct DP
  trainer fails the audit with probability at most ``1 - c``.
* Canaries change the number of units ``N`` and so the Poisson sample rate ``1 / ceil(N / batch)`` and the
  noise calibration differ slightly from a run on the real units alone; the audit tests the trainer at that
  configuration.  (Strictly, a sample rate that depends on ``N`` is itself a function of the data, as in
  every Opacus run; the audit inherits that caveat and does not test it.)
* The audited model is trained on the PRIVATE units: the audit spends privacy like a release does, and the
  caller must charge its epsilon to the ledger if the data is real.  The model is discarded here (never
  saved, never returned); only aggregate counts leave this module.
* The test's randomness (canary values, inclusion bits) must be unknown to the trainer: inclusion bits come
  from OS entropy (``secrets``) unless a test seed is given, in which case the audit is reproducible but a
  trainer that read the seed could cheat.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import scipy.stats
import torch
from torch import Tensor, nn

from synthdata.diffusion.process import GaussianDiffusion
from synthdata.errors import BadInputError
from synthdata.privacy.training import (
    TrainingOutcome,
    TrainingPlan,
    train_non_private,
    train_private,
)

# Guess counts tried, as fractions of the canaries (half "in" from the top, half "out" from the bottom).
# Fixed in advance; trying several costs a union (Bonferroni) bound: the p-value threshold is divided by
# their number, so the reported bound holds at the stated confidence whichever count is reported.  No
# fraction is 1: guessing on every canary with k+ = k- = m/2 is wrong on |included - m/2| canaries (about
# sqrt(m)/2) even for a perfect score, while 0.8 m guesses stay clear of that unless the coin flips are
# lopsided by more than 0.1 m (9 standard deviations at m = 1000).
GUESS_FRACTIONS: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.6, 0.8)
# Scoring: (timestep, noise) draws per canary, shared by all canaries, at timesteps spread over this fraction
# of the schedule (see ``membership_scores`` for why low/mid t).
SCORE_DRAWS = 64
SCORE_T_RANGE = (0.02, 0.5)


# ---------------------------------------------------------------------------------------------------------
# The statistics: p-value of the one-run audit and the epsilon lower bound.


def _check_counts(canaries: int, guesses: int, correct: int, delta: float, confidence: float) -> None:
    for name, value in (("canaries", canaries), ("guesses", guesses), ("correct", correct)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise BadInputError(f"{name} must be an integer >= 0, got {value!r}")
    if not 0 < guesses <= canaries:
        raise BadInputError(f"guesses must be in 1..canaries={canaries}, got {guesses}")
    if correct > guesses:
        raise BadInputError(f"correct ({correct}) cannot exceed guesses ({guesses})")
    if not (isinstance(delta, (int, float)) and 0 <= delta < 1):
        raise BadInputError(f"delta must be in [0, 1), got {delta!r}")
    if not (isinstance(confidence, (int, float)) and 0 < confidence < 1):
        raise BadInputError(f"confidence must be in (0, 1), got {confidence!r}")


def p_value_dp_audit(*, canaries: int, guesses: int, correct: int, epsilon: float, delta: float) -> float:
    """P(at least ``correct`` of ``guesses`` right) under (epsilon, delta)-DP: the paper's Appendix D code.

    ``beta`` is the binomial tail at ``q = e^eps / (1 + e^eps)``; the delta term is the paper's
    ``alpha * delta * 2m`` with ``alpha = max_i (1/i) sum_{j<i} P[Bin(r, q) = v - 1 - j]``.
    """
    m, r, v = canaries, guesses, correct
    if v <= 0:
        return 1.0
    q = 1.0 / (1.0 + math.exp(-epsilon))
    beta = float(scipy.stats.binom.sf(v - 1, r, q))
    i = np.arange(1, v + 1)
    partial = np.cumsum(scipy.stats.binom.pmf(v - i, r, q))
    alpha = float(np.max(partial / i))
    return min(beta + alpha * delta * 2 * m, 1.0)


def epsilon_lower_bound(
    *, canaries: int, guesses: int, correct: int, delta: float, confidence: float = 0.95
) -> float:
    """The largest epsilon that ``correct`` right out of ``guesses`` rejects at ``confidence``.

    That is the largest ``eps`` with ``p_value_dp_audit(eps) < 1 - confidence``, found by doubling then
    bisection (to 1e-6); 0 when even ``eps = 0`` is not rejected (e.g. half the guesses right).  The bound is
    valid only if the guesses were fixed before looking at the scores; to try several guess counts, divide
    ``1 - confidence`` by their number (see ``run_canary_audit``).

    Sanity: 1,000 canaries, 1,000 guesses all right, delta 0, 95 %: about 5.8.
    """
    _check_counts(canaries, guesses, correct, delta, confidence)
    p = 1.0 - confidence

    def rejected(eps: float) -> bool:
        return p_value_dp_audit(canaries=canaries, guesses=guesses, correct=correct, epsilon=eps, delta=delta) < p

    if not rejected(0.0):
        return 0.0
    lo, hi = 0.0, 1.0
    while rejected(hi):
        lo, hi = hi, 2.0 * hi
        if hi > 1e4:  # cannot happen for finite counts (p-value -> 1 as eps grows); guard anyway
            return lo
    while hi - lo > 1e-6:
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if rejected(mid) else (lo, mid)
    return lo


def max_certifiable_epsilon(*, canaries: int, guesses: int, delta: float, confidence: float = 0.95) -> float:
    """The best bound this design can give: ``epsilon_lower_bound`` with every guess right."""
    return epsilon_lower_bound(canaries=canaries, guesses=guesses, correct=guesses, delta=delta, confidence=confidence)


# ---------------------------------------------------------------------------------------------------------
# Canaries, inclusion bits and membership scores.


def make_canaries(*, count: int, rows: int, width: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
    """``count`` distinct canary units: random corners of ``[-1, 1]^width`` in row 0, mask True on row 0 only.

    Corners are as far from the data's bulk as the encoded space allows, and two random corners differ in
    about ``width / 2`` coordinates, so a model that memorised one canary does not thereby fit another.
    Needs ``2^width`` well above ``count`` (corners are redrawn until distinct).
    """
    if count < 1 or rows < 1 or width < 1:
        raise BadInputError(f"count, rows and width must be >= 1, got {count}, {rows}, {width}")
    if width < 63 and 2**width < 4 * count:
        raise BadInputError(f"only {2**width} corners in {width} dimensions: too few for {count} distinct canaries")
    corners = torch.empty(0, width)
    while corners.shape[0] < count:
        draw = torch.randint(0, 2, (count, width), generator=generator).to(torch.float32) * 2 - 1
        corners = torch.unique(torch.cat([corners, draw]), dim=0)
        corners = corners[torch.randperm(corners.shape[0], generator=generator)][:count]
    data = torch.zeros(count, rows, width)
    data[:, 0] = corners
    mask = torch.zeros(count, rows, dtype=torch.bool)
    mask[:, 0] = True
    return data, mask


def inclusion_bits(*, count: int, seed: int | None) -> Tensor:
    """Independent fair coin per canary: from OS entropy (``secrets``) unless a test ``seed`` is given."""
    if seed is None:
        bits = [secrets.randbits(1) for _ in range(count)]
    else:
        bits = np.random.default_rng([seed, 1]).integers(0, 2, count).tolist()
    return torch.tensor(bits, dtype=torch.bool)


@torch.no_grad()
def membership_scores(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    canaries: Tensor,
    generator: torch.Generator,
    draws: int = SCORE_DRAWS,
    t_range: tuple[float, float] = SCORE_T_RANGE,
) -> Tensor:
    """Minus each canary's denoising loss (row 0), averaged over ``draws`` (timestep, noise) pairs.

    The same pairs are used for every canary (paired design): the scores then differ only through the
    model's fit to each canary, not through luckier noise, which lowers the variance of the ranking.
    Timesteps are spread evenly over ``t_range`` (fractions of the schedule), i.e. low to mid noise: at high
    ``t`` the noisy input carries almost nothing of the canary and every model predicts roughly the data
    mean, so members and non-members have the same (large) loss; at low/mid ``t`` the canary is still
    recognisable in ``x_t`` and a model that memorised it reconstructs it (x0-prediction) or its noise
    (eps-prediction) far better than a non-member's.  The loss is the training objective's (squared error
    against ``diffusion.training_target``, mean over features).  ``canaries`` is ``(m, d)``.
    """
    m, d = canaries.shape
    lo, hi = t_range
    t_max = diffusion.timesteps - 1
    t = torch.linspace(lo * t_max, hi * t_max, draws).round().long().clamp(0, t_max)
    width = d - diffusion.condition_dim  # a condition part (classes) is not noised
    noise = torch.randn(draws, width, generator=generator)
    x0 = canaries.to(torch.float32).unsqueeze(1).expand(m, draws, d)
    t_all = t.unsqueeze(0).expand(m, draws).contiguous()
    noise_all = noise.unsqueeze(0).expand(m, draws, width)
    x_t = diffusion.q_sample(x0=x0, t=t_all, noise=noise_all)
    target = diffusion.training_target(x0=x0, noise=noise_all)
    was_training = model.training
    model.eval()
    try:
        losses = torch.cat([
            (model(x_t[i:i + 256], t_all[i:i + 256]) - target[i:i + 256]).pow(2).mean(dim=-1)
            for i in range(0, m, 256)
        ])
    finally:
        model.train(was_training)
    return -losses.mean(dim=1)


def guess_and_count(*, scores: Tensor, included: Tensor, guesses: int) -> int:
    """Guess "in" for the ``guesses // 2`` top scores and "out" for the ``guesses - guesses // 2`` bottom ones
    (abstain on the rest); return how many guesses were right.  Ties are broken by canary index."""
    order = torch.argsort(scores, descending=True, stable=True)
    k_in = guesses // 2
    k_out = guesses - k_in
    right_in = int(included[order[:k_in]].sum())
    right_out = int((~included[order[len(order) - k_out:]]).sum()) if k_out else 0
    return right_in + right_out


# ---------------------------------------------------------------------------------------------------------
# The audit.


class Trainer(Protocol):
    """What ``run_canary_audit`` calls to train the fresh model in place."""

    def __call__(
        self, *, model: nn.Module, diffusion: GaussianDiffusion, units: Tensor, mask: Tensor, plan: TrainingPlan,
        epsilon: float, delta: float, accountant: str, progress: bool,
    ) -> TrainingOutcome: ...


def _dp_trainer(**kwargs: Any) -> TrainingOutcome:
    """The real DP-SGD trainer (``train_private``), with OS-entropy randomness."""
    return train_private(**kwargs)


def broken_trainer(
    *, model: nn.Module, diffusion: GaussianDiffusion, units: Tensor, mask: Tensor, plan: TrainingPlan,
    epsilon: float, delta: float, accountant: str, progress: bool,
) -> TrainingOutcome:
    """TEST INSTRUMENT, NO PRIVACY AT ALL: ``train_non_private`` (no clipping, no noise) posing as a DP trainer.

    It ignores ``epsilon``, ``delta`` and ``accountant``.  It exists only so the audit can show that it
    catches a trainer that does not give the guarantee it claims; never use it for anything else.
    """
    del epsilon, delta, accountant
    return train_non_private(model=model, diffusion=diffusion, units=units, mask=mask, plan=plan,
                             seed=secrets.randbits(31), progress=progress)


TRAINERS: dict[str, tuple[Trainer, str]] = {
    "dp": (_dp_trainer, "DP-SGD (train_private, Opacus)"),
    "broken": (broken_trainer, "BROKEN test instrument: train_non_private, no clipping, no noise, NO privacy"),
}


@dataclass(frozen=True)
class CanaryAuditResult:
    """Aggregates of one canary audit (nothing here reproduces a record).

    ``guesses``/``correct`` are those of the guess count that gave the best bound; ``confidence`` holds for
    the reported bound after the union bound over ``guess_counts_tried``.  ``max_certifiable_epsilon`` is the
    best bound the design allows (every guess right, best guess count), at the same confidence.  ``passed`` is ``lower bound <= claimed epsilon``.
    """

    claimed_epsilon: float
    delta: float
    canaries: int
    included: int
    guesses: int
    correct: int
    empirical_epsilon_lower_bound: float
    max_certifiable_epsilon: float
    confidence: float
    passed: bool
    trainer: str
    seconds: float
    training_epsilon_spent: float | None
    guess_counts_tried: tuple[int, ...]
    correct_per_guess_count: tuple[int, ...]
    training_units: int
    noise_multiplier: float | None = None  # the audited training's mechanism, for the ledger
    sample_rate: float | None = None
    steps: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["guess_counts_tried"] = list(self.guess_counts_tried)
        out["correct_per_guess_count"] = list(self.correct_per_guess_count)
        return out


def _guess_counts(canaries: int, fractions: Sequence[float]) -> tuple[int, ...]:
    counts = sorted({max(2, min(canaries, round(f * canaries))) for f in fractions})
    if not counts or not all(0 < f <= 1 for f in fractions):
        raise BadInputError(f"guess_fractions must be in (0, 1], got {tuple(fractions)!r}")
    return tuple(counts)


def run_canary_audit(
    *,
    units: Tensor,
    mask: Tensor,
    build_model: Callable[[], nn.Module],
    diffusion: GaussianDiffusion,
    plan: TrainingPlan,
    epsilon: float,
    delta: float,
    accountant: str = "prv",
    canaries: int = 1000,
    trainer: str | Trainer = "dp",
    confidence: float = 0.95,
    guess_fractions: Sequence[float] = GUESS_FRACTIONS,
    seed: int | None = None,
    progress: bool = False,
) -> CanaryAuditResult:
    """Train a fresh model on ``units`` plus a random half of ``canaries`` canaries and bound its epsilon.

    Args:
        units, mask: the real privacy units ``(N, R, d)`` in ``[-1, 1]`` and their row mask ``(N, R)``.
        build_model: returns a fresh, untrained denoiser (its initialisation is public randomness).
        diffusion, plan, epsilon, delta, accountant: the DP configuration under test.  ``delta`` must be
            below ``1 / (N + canaries)`` (the largest training set the audit can build).
        canaries: ``m``; each is included with probability 1/2 (OS entropy unless ``seed``).
        trainer: ``"dp"`` (``train_private``), ``"broken"`` (:func:`broken_trainer`, a test instrument with
            no privacy), or a callable with the :class:`Trainer` signature.
        confidence: of the reported lower bound, after a union bound over the guess counts tried (each is
            tested at ``1 - (1 - confidence) / len(counts)``).
        guess_fractions: guess counts to try, as fractions of ``canaries``; fixed before training.
        seed: for tests only: makes canaries, inclusion bits and score draws reproducible (the DP trainer's
            own randomness stays OS entropy).  A seeded audit is still a valid test of a trainer that cannot
            see the seed.
        progress: progress bar of the training run.

    The training set grows to ``N + included`` units, so the Poisson sample rate (hence the noise
    multiplier for the same epsilon) differs slightly from a run on the real units alone.  The audited
    model is trained on private data: this SPENDS privacy (charge ``epsilon`` to the ledger for real data).
    The model is discarded before returning; only counts and bounds are returned.
    """
    if units.dim() != 3:
        raise BadInputError(f"units must be (units, rows, features), got shape {tuple(units.shape)}")
    if isinstance(canaries, bool) or not isinstance(canaries, int) or canaries < 2:
        raise BadInputError(f"canaries must be an integer >= 2, got {canaries!r}")
    if not 0 < confidence < 1:
        raise BadInputError(f"confidence must be in (0, 1), got {confidence!r}")
    n_real, rows, width = units.shape
    if not (isinstance(delta, (int, float)) and 0 < delta < 1 / (n_real + canaries)):
        raise BadInputError(
            f"delta={delta!r} must be in (0, 1/(N + canaries)) = (0, {1 / (n_real + canaries):.3g}) so it stays "
            "below 1/n for every training set the audit can build"
        )
    if isinstance(trainer, str):
        if trainer not in TRAINERS:
            raise BadInputError(f"trainer must be one of {tuple(TRAINERS)} or a callable, got {trainer!r}")
        train, description = TRAINERS[trainer]
    else:
        train, description = trainer, f"custom: {getattr(trainer, '__qualname__', repr(trainer))}"
    counts = _guess_counts(canaries, guess_fractions)
    level = 1 - (1 - confidence) / len(counts)

    started = time.perf_counter()
    audit_gen = torch.Generator()
    audit_gen.manual_seed(secrets.randbits(63) if seed is None else seed)
    canary_data, canary_mask = make_canaries(count=canaries, rows=rows, width=width, generator=audit_gen)
    included = inclusion_bits(count=canaries, seed=seed)
    train_units = torch.cat([units.to(torch.float32), canary_data[included]])
    train_mask = torch.cat([mask, canary_mask[included]])
    order = torch.randperm(train_units.shape[0], generator=audit_gen)  # canaries not all at the end

    model = build_model()
    outcome = train(
        model=model, diffusion=diffusion, units=train_units[order], mask=train_mask[order], plan=plan,
        epsilon=float(epsilon), delta=float(delta), accountant=accountant, progress=progress,
    )
    scores = membership_scores(model=model, diffusion=diffusion, canaries=canary_data[:, 0], generator=audit_gen)
    del model, train_units, train_mask  # the audited model is never saved or returned

    correct = [guess_and_count(scores=scores, included=included, guesses=r) for r in counts]
    bounds = [
        epsilon_lower_bound(canaries=canaries, guesses=r, correct=v, delta=float(delta), confidence=level)
        for r, v in zip(counts, correct)
    ]
    best = int(np.argmax(bounds))
    bound = bounds[best]
    return CanaryAuditResult(
        claimed_epsilon=float(epsilon), delta=float(delta), canaries=canaries, included=int(included.sum()),
        guesses=counts[best], correct=correct[best], empirical_epsilon_lower_bound=bound,
        max_certifiable_epsilon=max(
            max_certifiable_epsilon(canaries=canaries, guesses=r, delta=float(delta), confidence=level) for r in counts
        ),
        confidence=confidence, passed=bound <= epsilon, trainer=description,
        seconds=time.perf_counter() - started,
        training_epsilon_spent=None if outcome.epsilon is None else float(outcome.epsilon),
        guess_counts_tried=counts, correct_per_guess_count=tuple(correct), training_units=n_real + int(included.sum()),
        noise_multiplier=outcome.noise_multiplier, sample_rate=outcome.sample_rate, steps=outcome.steps,
    )
