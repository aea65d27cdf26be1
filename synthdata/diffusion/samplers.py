"""Samplers that turn a trained noise-prediction model into synthetic records.

Sampling reads only the trained model, never the private data, so it is post-processing of the DP
training run and spends no privacy budget.  Its randomness comes from the ``generator`` the caller passes
(the release's recorded seed), which makes a release's synthetic data replayable from its model.

Model contract: ``model(x_t, t)`` with ``x_t`` of shape ``(n, d)`` and ``t`` a ``(n,)`` LongTensor returns
the prediction (noise or ``x0``, see ``GaussianDiffusion.prediction``) for the data part ``(n, d - K)``.
Data live in ``[-1, 1]``; ``clip`` clamps each predicted ``x0`` to ``[-clip, clip]`` (``None`` disables it).  A
process with ``scale = s`` (``GaussianDiffusion``) runs on ``s`` times the data: its ``x0`` is clamped to ``s``
times ``clip`` and the result divided by ``s``.

Conditioning: with ``diffusion.condition_dim = K > 0`` the caller passes ``condition`` ``(n, K)`` (one-hot
classes); it is appended to every model input and to the returned rows.  ``guidance = w`` applies
classifier-free guidance (Ho & Salimans, 2021): the output is ``u + (1 + w) (c - u)`` with ``c`` the
conditional and ``u`` the unconditional (all-zero condition) prediction; ``w = 0`` is plain conditional
sampling.

Precision: ``precision="bfloat16"`` (or ``"auto"``, see :func:`precision_for`) runs the network's forward passes under CPU autocast in bfloat16 (about
twice as fast for the convolutional U-Net on CPUs with native bfloat16, e.g. AVX512-BF16); the sampler's own
arithmetic (the DDIM/DDPM updates, the noise) stays in float32.  :func:`precision_for` picks it.

Device and progress: sampling runs where the model is (its initial noise is drawn on the CPU from
``generator``, so a seed gives the same records on any device up to float rounding); ``progress`` (a bool or
a :class:`synthdata.progress.Progress`) hears of every denoising step of every batch.

Parallel chunks: deterministic DDIM (``eta = 0``) on a CPU with ``n`` torch threads runs up to ``n`` batches
at once, one per Python thread, each on one torch thread (:func:`_each_chunk`), instead of one batch at a
time on ``n`` threads: a batch's arithmetic does not depend on the other batches, and small convolutions
split badly over threads (measured on 2 cores, ``evaluation/benchmarks/sampling.py``).  The records are the
same up to float rounding.  Samplers that draw noise at every step (DDPM, DDIM with ``eta > 0``) keep one
batch at a time, so a seed keeps drawing the same noise in the same order.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import Tensor, nn

from synthdata.diffusion.process import GaussianDiffusion
from synthdata.progress import Progress, as_progress


@contextlib.contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


def _device_of(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _check_common(shape: tuple[int, int], clip: float | None, batch_size: int, diffusion: GaussianDiffusion,
                  condition: Tensor | None, guidance: float) -> Tensor | None:
    """Validates the arguments; returns the condition as float32 (or None without one)."""
    if len(shape) != 2 or shape[0] < 0 or shape[1] < 1 + diffusion.condition_dim:
        raise ValueError(f"shape must be (n, d) with n >= 0 and d > {diffusion.condition_dim}, got {shape!r}")
    if clip is not None and not clip > 0:
        raise ValueError(f"clip must be > 0 or None, got {clip!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size!r}")
    if not guidance >= 0:
        raise ValueError(f"guidance must be >= 0, got {guidance!r}")
    if diffusion.condition_dim == 0:
        if condition is not None:
            raise ValueError("a condition was given but the diffusion has condition_dim 0")
        return None
    if condition is None or tuple(condition.shape) != (shape[0], diffusion.condition_dim):
        raise ValueError(f"condition must have shape {(shape[0], diffusion.condition_dim)}, got "
                         f"{None if condition is None else tuple(condition.shape)}")
    return condition.to(torch.float32)


PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}


def precision_for(*, model: nn.Module, requested: str) -> str:
    """``requested`` ("float32", "bfloat16" or "auto"): "auto" is bfloat16 for a denoiser that says it samples
    well in it (``low_precision_sampling``, measured on its benchmarks) on a CPU with native bfloat16 kernels,
    else float32 (also for a model on a GPU).  An explicit "bfloat16" is honoured (slow where the CPU emulates it)."""
    if requested != "auto":
        if requested not in PRECISIONS:
            raise ValueError(f"precision must be one of {sorted(PRECISIONS)} or 'auto', got {requested!r}")
        return requested
    if _device_of(model).type != "cpu":  # measured on CPUs only: elsewhere float32 until measured there
        return "float32"
    native = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return "bfloat16" if native and getattr(model, "low_precision_sampling", False) else "float32"


def _forward(model: nn.Module, x: Tensor, t: Tensor, precision: str) -> Tensor:
    if precision == "float32":
        return model(x, t)
    with torch.autocast(x.device.type, dtype=PRECISIONS[precision]):
        return model(x, t).to(torch.float32)


def _prediction(*, model: nn.Module, x: Tensor, t: Tensor, condition: Tensor | None, guidance: float,
                precision: str = "float32") -> Tensor:
    """The model's output for data part ``x``: plain, conditional, or guided (one batched call)."""
    if condition is None:
        return _forward(model, x, t, precision)
    if guidance == 0:
        return _forward(model, torch.cat([x, condition], dim=-1), t, precision)
    both = torch.cat([torch.cat([x, condition], dim=-1), torch.cat([x, torch.zeros_like(condition)], dim=-1)])
    conditional, unconditional = _forward(model, both, torch.cat([t, t]), precision).chunk(2)
    return unconditional + (1 + guidance) * (conditional - unconditional)


def _x0_and_eps(
    *, model: nn.Module, diffusion: GaussianDiffusion, x: Tensor, t: int, ab: float, clip: float | None,
    condition: Tensor | None = None, guidance: float = 0.0, precision: str = "float32",
) -> tuple[Tensor, Tensor]:
    """Predicted ``x0`` (clipped) and the noise consistent with it, at integer timestep ``t``."""
    t_vec = torch.full((x.shape[0],), t, dtype=torch.long, device=x.device)
    output = _prediction(model=model, x=x, t=t_vec, condition=condition, guidance=guidance, precision=precision)
    x0, eps = diffusion.x0_and_eps(x_t=x, output=output, ab=ab)
    if clip is not None:
        x0 = x0.clamp(-clip * diffusion.scale, clip * diffusion.scale)
        eps = (x - math.sqrt(ab) * x0) / math.sqrt(1 - ab)
    return x0, eps


@contextlib.contextmanager
def _reporting(progress: bool | Progress, *, n: int, batch_size: int, steps: int) -> Iterator[Callable[[], None]]:
    """Reports every denoising step of every batch to ``progress`` (:func:`synthdata.progress.as_progress`);
    yields the function to call after each step.  Sampling reads only the DP-trained model: no epsilon to show."""
    reporter = as_progress(progress)
    total, done, lock = math.ceil(n / batch_size) * steps, [0], threading.Lock()
    reporter.start(task="sampling", total=total)

    def step() -> None:  # batches may run in parallel threads (_each_chunk)
        with lock:
            done[0] += 1
            reporter.advance(done=done[0])

    try:
        yield step
    finally:
        reporter.finish()


def _noise_like(x: Tensor, generator: torch.Generator) -> Tensor:
    return torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)


def _each_chunk(*, n: int, batch_size: int, device: torch.device, parallel: bool,
                work: Callable[[int], None]) -> None:
    """Calls ``work(start)`` for every batch start ``0, batch_size, ...`` below ``n``.  With ``parallel`` on a
    CPU with more than one torch thread and more than one batch, the batches run in a pool of as many Python
    threads (at most one per torch thread), torch's intra-op threads set to ``threads // workers`` meanwhile and
    restored after (the setting is process-wide: other torch work in the process meanwhile runs on as few
    threads); each call runs without autograd (grad mode is per thread).  ``work`` must not depend on the order
    of the calls."""
    starts = list(range(0, n, batch_size))
    threads = torch.get_num_threads()
    if not parallel or device.type != "cpu" or threads < 2 or len(starts) < 2:
        for start in starts:
            work(start)
        return
    workers = min(threads, len(starts))

    def run(start: int) -> None:
        with torch.no_grad():
            work(start)

    torch.set_num_threads(threads // workers)
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="synthdata-sampling") as pool:
            list(pool.map(run, starts))  # re-raises the first batch's error
    finally:
        torch.set_num_threads(threads)


def ddim_timesteps(*, timesteps: int, steps: int) -> list[int]:
    """``steps`` timesteps evenly spaced from ``T-1`` down to 0 ("trailing" spacing: starts at pure noise)."""
    if not 1 <= steps <= timesteps:
        raise ValueError(f"steps must be in [1, {timesteps}], got {steps!r}")
    if steps == 1:
        return [timesteps - 1]
    grid = torch.linspace(timesteps - 1, 0, steps, dtype=torch.float64).round().long()
    return [int(t) for t in torch.unique_consecutive(grid)]


@torch.no_grad()
def ddim_sample(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int],
    steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator,
    clip: float | None = 1.0,
    batch_size: int = 4096,
    condition: Tensor | None = None,
    guidance: float = 0.0,
    precision: str = "float32",
    progress: bool | Progress = False,
) -> Tensor:
    """DDIM (Song et al., 2021) with ``steps`` steps; ``eta=0`` is deterministic given the initial noise.

    The initial noise for all ``n`` records is drawn at once, so with ``eta=0`` the result does not depend
    on ``batch_size`` (up to float rounding) and batches run in parallel on a multi-threaded CPU (module
    docstring).  Returns a float32 ``(n, d)`` tensor on the model's device
    (the condition, if any, in its last ``K`` columns).
    """
    condition = _check_common(shape, clip, batch_size, diffusion, condition, guidance)
    precision = precision_for(model=model, requested=precision)
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta!r}")
    ab_table = diffusion.alphas_cumprod64.tolist()
    ts = ddim_timesteps(timesteps=diffusion.timesteps, steps=steps)
    device = _device_of(model)
    out = torch.randn((shape[0], shape[1] - diffusion.condition_dim), generator=generator,
                      dtype=torch.float32).to(device)
    with _eval_mode(model), _reporting(progress, n=shape[0], batch_size=batch_size, steps=len(ts)) as step:
        def denoise(start: int) -> None:
            x = out[start : start + batch_size]
            cond = None if condition is None else condition[start : start + batch_size].to(device)
            for i, t in enumerate(ts):
                ab = ab_table[t]
                ab_prev = ab_table[ts[i + 1]] if i + 1 < len(ts) else 1.0
                x0, eps = _x0_and_eps(model=model, diffusion=diffusion, x=x, t=t, ab=ab, clip=clip,
                                      condition=cond, guidance=guidance, precision=precision)
                sigma = eta * math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
                x = math.sqrt(ab_prev) * x0 + math.sqrt(max(1 - ab_prev - sigma**2, 0.0)) * eps
                if sigma > 0:
                    x = x + sigma * _noise_like(x, generator)
                step()
            out[start : start + batch_size] = x

        _each_chunk(n=shape[0], batch_size=batch_size, device=device, parallel=eta == 0, work=denoise)
    return _with_condition(out, condition, scale=diffusion.scale)


@torch.no_grad()
def ddpm_sample(
    *,
    model: nn.Module,
    diffusion: GaussianDiffusion,
    shape: tuple[int, int],
    generator: torch.Generator,
    clip: float | None = 1.0,
    batch_size: int = 4096,
    condition: Tensor | None = None,
    guidance: float = 0.0,
    precision: str = "float32",
    progress: bool | Progress = False,
) -> Tensor:
    """Ancestral DDPM sampling (Ho et al., 2020) over all ``T`` steps with the posterior variance.

    Each step draws ``x_{t-1} ~ N(mean(x_t, x0_hat), beta_t (1 - ab_{t-1}) / (1 - ab_t))``; the last step
    (t = 0) adds no noise.  Returns a float32 ``(n, d)`` tensor on the model's device (the condition, if
    any, in its last ``K`` columns).
    """
    condition = _check_common(shape, clip, batch_size, diffusion, condition, guidance)
    precision = precision_for(model=model, requested=precision)
    ab_table = diffusion.alphas_cumprod64.tolist()
    device = _device_of(model)
    out = torch.randn((shape[0], shape[1] - diffusion.condition_dim), generator=generator,
                      dtype=torch.float32).to(device)
    with _eval_mode(model), _reporting(progress, n=shape[0], batch_size=batch_size,
                                       steps=diffusion.timesteps) as step:
        for start in range(0, shape[0], batch_size):
            x = out[start : start + batch_size]
            cond = None if condition is None else condition[start : start + batch_size].to(device)
            for t in range(diffusion.timesteps - 1, -1, -1):
                ab = ab_table[t]
                ab_prev = ab_table[t - 1] if t > 0 else 1.0
                beta = 1 - ab / ab_prev
                x0, _ = _x0_and_eps(model=model, diffusion=diffusion, x=x, t=t, ab=ab, clip=clip,
                                    condition=cond, guidance=guidance, precision=precision)
                coef_x0 = math.sqrt(ab_prev) * beta / (1 - ab)
                coef_xt = math.sqrt(1 - beta) * (1 - ab_prev) / (1 - ab)
                x = coef_x0 * x0 + coef_xt * x
                if t > 0:
                    x = x + math.sqrt(beta * (1 - ab_prev) / (1 - ab)) * _noise_like(x, generator)
                step()
            out[start : start + batch_size] = x
    return _with_condition(out, condition, scale=diffusion.scale)


def _with_condition(out: Tensor, condition: Tensor | None, *, scale: float) -> Tensor:
    """The sampled data part back in data space (divided by the process's ``scale``), the condition appended."""
    out = out / scale if scale != 1 else out
    return out if condition is None else torch.cat([out, condition.to(out.device)], dim=-1)


SAMPLERS: dict[str, Callable[..., Tensor]] = {"ddim": ddim_sample, "ddpm": ddpm_sample}
