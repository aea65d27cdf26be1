"""The printed tables of the signal and image benchmarks: one cell per dataset x arm, audit figures and timing.

Every function returns rows ``(name, cells)``; ``print_table`` prints them under a header.  Cells hold
aggregates only (audit values, intervals, verdicts, seconds), as the audit record does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from evaluation.base import AuditResult
from evaluation.gate import verdict
from evaluation.benchmarks.arms import Arm, Comparison
from evaluation.benchmarks.step_costs import STEP_MODES, StepCost

Row = tuple[str, list[str]]


def audit_cell(result: AuditResult | None) -> str:
    """``value [low, high] (threshold) verdict`` of one audit (``-`` when it did not run)."""
    if result is None:
        return "-"
    interval = f" [{result.interval[0]:.3f}, {result.interval[1]:.3f}]" if result.interval else ""
    sign = "≤" if result.direction == "at_most" else "≥"
    threshold = "" if result.threshold is None else f" ({sign} {result.threshold:g})"
    value = "not run" if result.value is None else f"{result.value:.3f}"
    return f"{value}{interval}{threshold} {verdict(result)[0]}"


def utility_rows(arms: Sequence[Arm], *, target_ratio: float) -> list[Row]:
    """Per model family of ``utility.tstr``: TRTR and TSTR macro-F1 / AUC, their ratios and the target check
    (both ratios at least ``target_ratio``), then the gated lift ratio.  A ``*`` marks a TRTR that does not
    beat the majority-class baseline (its ratios are then moot)."""
    families = list(dict.fromkeys(f for arm in arms for f in _families(arm)))
    rows = [("majority-class baseline macro-F1", [
        next((f"{v['baseline_macro_f1']:.3f}" for v in _families(arm).values()), "-") for arm in arms])]
    for family in families:
        scores = [_families(arm).get(family) for arm in arms]
        name = family.replace("_", " ")
        rows += [
            (f"{name}: TRTR macro-F1 / AUC", [_pair(s, "trtr_macro_f1", "trtr_auc") +
                                              ("" if s is None or s["not_informative"] is None else " *")
                                              for s in scores]),
            (f"{name}: TSTR macro-F1 / AUC", [_pair(s, "tstr_macro_f1", "tstr_auc") for s in scores]),
            (f"{name}: TSTR/TRTR macro-F1 / AUC", [_pair(s, "macro_f1_ratio", "auc_ratio") for s in scores]),
            (f"{name}: TSTR ≥ {target_ratio:g} x TRTR (both)", [_target(s, target_ratio) for s in scores]),
        ]
    rows.append(("utility.tstr (gated: AUC lift ratio)", [audit_cell(arm.results.get("utility.tstr")) for arm in arms]))
    return rows


def remaining_rows(arms: Sequence[Arm], *, shown: Sequence[str]) -> list[Row]:
    """One row per audit that ran and is not in ``shown`` (so every gated audit appears in the table)."""
    names = [n for n in dict.fromkeys(n for arm in arms for n in arm.results) if n not in shown]
    return [(name, [audit_cell(arm.results.get(name)) for arm in arms]) for name in names]


def _families(arm: Arm) -> dict[str, dict]:
    result = arm.results.get("utility.tstr")
    return {} if result is None else result.details.get("families", {})


def _pair(score: dict | None, first: str, second: str) -> str:
    def number(key: str) -> str:
        return "-" if score is None or score.get(key) is None else f"{score[key]:.3f}"

    return f"{number(first)} / {number(second)}"


def _target(score: dict | None, ratio: float) -> str:
    if score is None or score.get("macro_f1_ratio") is None or score.get("auc_ratio") is None:
        return "-"
    met = score["macro_f1_ratio"] >= ratio and score["auc_ratio"] >= ratio
    return ("met" if met else "missed") + ("" if score["not_informative"] is None else " (TRTR moot)")


def timing_rows(runs: Sequence[Comparison]) -> list[Row]:
    """Training steps, seconds, throughput (and DP / no-DP), sampling and audit seconds, peak memory, gates."""
    arms = [arm for run in runs for arm in run.arms]

    def noise(arm: Arm) -> str:
        value = arm.training.get("noise_multiplier")
        return "-" if value is None else f"{value:.3f}"

    def ratio(run: Comparison) -> list[str]:
        if len(run.arms) < 2:
            return ["-"]
        dp, non_dp = run.arms
        return [f"{dp.training['records_per_second'] / non_dp.training['records_per_second']:.2f}x", "-"]

    return [
        ("epsilon spent (preprocessing + training)", [
            "∞ (no DP)" if arm.training.get("epsilon") is None else
            f"{arm.training['epsilon']:.3f} ({arm.prepared['epsilon_preprocessing']:.2f} + "
            f"{arm.training['epsilon_training']:.3f})" for arm in arms]),
        ("steps / noise multiplier", [f"{arm.training['steps']} / {noise(arm)}" for arm in arms]),
        ("training loop seconds (whole stage)", [
            f"{arm.training['seconds']:.1f} ({arm.train_seconds:.1f})" for arm in arms]),
        ("training records/s", [f"{arm.training['records_per_second']:.1f}" for arm in arms]),
        ("DP / no-DP training records/s", [cell for run in runs for cell in ratio(run)]),
        ("sampling seconds (synthetic records)", [f"{arm.sample_seconds:.1f} ({arm.records})" for arm in arms]),
        ("synthetic records/s sampled", [f"{arm.records / arm.sample_seconds:.1f}" for arm in arms]),
        ("audit seconds", [f"{arm.audit_seconds:.1f}" for arm in arms]),
        ("peak RSS of the process so far", [f"{arm.peak_mib:.0f} MiB" for arm in arms]),
        ("load average before / after training", [f"{arm.load[0]:.1f} / {arm.load[1]:.1f}" for arm in arms]),
        ("gate outcome", [arm.gate for arm in arms]),
    ]


def detail(result: AuditResult | None, *keys: str, digits: int = 3) -> str:
    """A number nested in an audit's details (``-`` when absent)."""
    value: Any = None if result is None else result.details
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return "-" if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
        else f"{value:.{digits}f}"


def print_table(*, title: str, header: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> None:
    """One plain-text table: a first column of row names, then one column per ``header`` entry."""
    names = max(len(title), *(len(name) for name, _ in rows))
    widths = [max(len(h), *(len(str(cells[i])) for _, cells in rows)) for i, h in enumerate(header)]
    line = " | ".join([f"{title:<{names}}", *(f"{h:<{w}}" for h, w in zip(header, widths))])
    print()
    print(line)
    print("-" * len(line))
    for name, cells in rows:
        print(" | ".join([f"{name:<{names}}", *(f"{c!s:<{w}}" for c, w in zip(cells, widths))]))


def print_step_costs(costs: dict[str, list[StepCost]]) -> None:
    """The per-step table: one column per measured setting, one row per training mode."""
    if not costs:
        return
    header = list(costs)
    rows = [("batch (expected Poisson batch of units)", [str(costs[h][0].batch) for h in header])]
    for i, mode in enumerate(STEP_MODES):
        rows.append((f"{mode}: s/step, +MiB (peak MiB)", [
            f"{costs[h][i].seconds:.3f} s, +{costs[h][i].added_mib:.0f} ({costs[h][i].peak_mib:.0f})" for h in header]))
    for i, mode in enumerate(STEP_MODES[:2]):
        rows.append((f"{mode} / no DP, time", [f"{costs[h][i].seconds / costs[h][2].seconds:.1f}x" for h in header]))
    print_table(title="per training step, one fixed batch", header=header, rows=rows)


def dump(path: Path | None, *, runs: Sequence[Comparison], rows: Sequence[tuple[str, Sequence[str]]],
         extra: dict[str, Any] | None = None) -> None:
    """Write the printed rows, every audit result (figures left out) and the step costs as JSON when
    ``--json PATH`` was given: aggregates only, as in the audit record."""
    if path is None:
        return
    payload = {
        "columns": columns(runs), "rows": [list(row) for row in rows],
        "arms": {f"{run.name} {arm.label}": {"prepared": arm.prepared, "training": arm.training,
                                             "results": [r.to_dict() for r in arm.results.values()]}
                 for run in runs for arm in run.arms},
        "steps": {run.name: [asdict(c) for c in run.costs] for run in runs}, **(extra or {}),
    }
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")


def columns(runs: Sequence[Comparison]) -> list[str]:
    """One column per dataset x arm."""
    return [f"{run.name} {arm.label}" for run in runs for arm in run.arms]


def setting_rows(runs: Sequence[Comparison]) -> list[Row]:
    """Model settings (preset values filled in), training units and holdout records, one cell per column."""
    def row(title: str, keys: Sequence[str]) -> Row:
        return title, [", ".join(f"{run.settings[k]:g}" if isinstance(run.settings[k], float) else str(run.settings[k])
                                 for k in keys) for run in runs for _ in run.arms]

    return [
        row("preset, epochs, batch size, lr", ("preset", "epochs", "batch_size", "lr")),
        row("augmentation, unet_base", ("augmentation", "unet_base")),
        row("guidance, DDIM steps, data scale, EMA share", ("guidance", "sample_steps", "data_scale", "ema")),
        ("training units / holdout records", [f"{run.arms[0].prepared['units']} / "
                                              f"{run.arms[0].prepared['holdout_records']}"
                                              for run in runs for _ in run.arms]),
    ]
