"""The privacy gates' measured error rates, in plain words for the report.

A privacy gate is a statistical test, so it can be wrong both ways: block a release that leaks nothing, or
pass one that copies.  ``python -m evaluation.benchmarks.gate_calibration --write-rates`` measures both over
repeated draws on the shipped examples (the demo table, the EEG and ECG recordings, BreastMNIST) and writes
``gate_rates.json`` beside this module (database releases: ``python -m evaluation.benchmarks.relational_gates
--write-rates`` on the shipped invented hospital, whose entry names that command); this module only reads
that file and says what it holds, per gate and for the gates together, with the examples' sizes (rates at
other sizes differ: each gate's own note states the smallest leak it could catch on the data at hand).

Privacy: the file holds counts of benchmark draws on public data, nothing of any release's data.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

RATES_FILE = Path(__file__).with_name("gate_rates.json")
BENCHMARK = "python -m evaluation.benchmarks.gate_calibration"  # unless a modality's entry names its own
CLEAN = "fresh"


@cache
def measured_rates() -> dict[str, Any]:
    """The shipped measurements, by modality (empty when the file is absent)."""
    return json.loads(RATES_FILE.read_text(encoding="utf-8")) if RATES_FILE.is_file() else {}


def _percent(value: float) -> str:
    return f"{100 * value:.0f}%" if value >= 0.1 else f"{100 * value:.1f}%"


def _sizes(example: dict[str, Any]) -> str:
    sizes = example["sizes"]
    return (f"{example['example']}, with about {sizes['train']:,} training, {sizes['holdout']:,} holdout and "
            f"{sizes['synthetic']:,} synthetic {example['records']}")


def _benchmark(example: dict[str, Any]) -> str:
    """The command that measured a modality's rates (database releases: ``relational_gates``)."""
    return str(example.get("benchmark") or BENCHMARK)


def _why(gate: dict[str, Any]) -> str:
    """Why a gate could not judge in the benchmark draws, in words."""
    if gate.get("too_few_units"):
        return " (too few subjects or blocks of time on a side)"
    if gate.get("floor") is not None:
        return f" (it could only catch a value above about {gate['floor']:.2g} there)"
    return ""


def gate_error_rates(name: str, *, modality: str) -> str | None:
    """How often gate ``name`` was wrong in the benchmark on ``modality``'s shipped example, in plain words;
    None when it was not measured there."""
    example = measured_rates().get(modality)
    if not example or name not in example["scenarios"].get(CLEAN, {}).get("gates", {}):
        return None
    clean = example["scenarios"][CLEAN]
    gate = clean["gates"][name]
    text = (f"How often this gate is wrong, measured ({_benchmark(example)}) on {_sizes(example)}: given as synthetic "
            f"data real {example['records']} that no model was trained on (they copy nothing), it blocked the "
            f"release {gate['failed']} times in {clean['draws']} (at most {_percent(gate['bound'])} of such "
            "releases, with 95% confidence)")
    if gate["unjudged"]:
        text += f"; it could not judge {gate['unjudged']} of them{_why(gate)}"
    caught = []
    for scenario, measured in example["scenarios"].items():
        if scenario == CLEAN or name not in measured["gates"]:
            continue
        copier = measured["gates"][name]
        line = f"{measured['description']}: caught {copier['failed']} times in {measured['draws']}"
        if copier["failed"]:
            line += f" (at least {_percent(copier['bound'])})"
        if copier["unjudged"]:
            line += f", not judged in {copier['unjudged']}{_why(copier)}"
        caught.append(line)
    if caught:
        text += ". Given synthetic data that copies training records: " + "; ".join(caught)
    return text + ". On other data the rates differ with the sizes; the note above states this gate's power here."


def release_error_rates(*, modality: str) -> str | None:
    """How often the privacy gates together blocked a release in the benchmark on ``modality``'s shipped
    example (the family-wise rates, and the real DP releases of the demo for tables), or None."""
    example = measured_rates().get(modality)
    if not example:
        return None
    clean = example["scenarios"][CLEAN]
    text = (f"Measured error rates of the privacy gates together ({_benchmark(example)}, on {_sizes(example)}): a release "
            f"of real {example['records']} that no model was trained on, which copies nothing, was blocked by some "
            f"privacy gate {clean['blocked']} times in {clean['draws']} (at most {_percent(clean['bound'])}, with "
            "95% confidence)")
    copiers = [f"{m['description']}: {m['blocked']} of {m['draws']}"
               + (f" (at least {_percent(m['bound'])})" if m["blocked"] else "")
               for s, m in example["scenarios"].items() if s != CLEAN]
    if copiers:
        text += "; releases that copy training records were blocked: " + "; ".join(copiers)
    demo = example.get("demo_releases")
    if demo:
        text += (f". Real DP releases of the demo ({demo['description']}): {demo['released']} of {demo['runs']} "
                 f"released, {demo['blocked_by_privacy']} blocked by a privacy gate")
    return text + "."
