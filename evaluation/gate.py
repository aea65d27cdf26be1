"""The gate, in one place: which audits a release requires, each audit's verdict (pass / FAIL / not judged /
informative), whether it blocks (spec overrides included), the release status and the words for all of it.
Every caller asks this module: the release flow and its export check, ``synthdata audit``, the Dagster
asset checks, the CLI and the report.

Fidelity and utility gates ask for evidence of quality: they pass when the *pessimistic* end of the 95%
interval clears the threshold (the lower end for ``at_least`` audits, the upper end for ``at_most`` ones; the
value itself when there is no interval).

Privacy gates (``at_most`` audits with a ``no_leak_value``: memorization and attacks) are tests of "no leak"
against "a leak above the threshold", and block on evidence: they FAIL when the *lower* end of the interval
is above the threshold (a one-sided test at 2.5%; with the thresholds a margin above the no-leak value, data
that leaks nothing is blocked far less often than that).  Their power is stated in the note: the smallest
value they would have caught at these sizes is the threshold plus the interval's lower half-width.  When
that margin is wider than the threshold's own distance from the no-leak value, the audit cannot tell a leak
of twice the tolerated size from none: it is *not judged* (it does not block; the note says what it could
have caught), and the release rests on its DP guarantee there, which the report's first page says.  Which
release sizes give which error rates is measured by ``python -m evaluation.benchmarks.gate_calibration``.

An audit without a threshold is informative and never blocks; neither does a measurement marked
``not_informative`` (the note says why).

Privacy caveat: the decision is computed from private data outside the DP guarantee.  It is a single bit per
audit plus the audits' aggregate details, which is what the release report states.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

from evaluation.base import Audit, AuditContext, AuditResult, Measurement
from evaluation.registry import AUDITS
from synthdata.errors import BadInputError, GateFailedError

log = logging.getLogger("synthdata")

VerdictKind = Literal["pass", "fail", "info"]


def _value(result: AuditResult) -> str:
    return "not run" if result.value is None else f"{result.value:.3g}"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def decide(*, audit: Audit, measurement: Measurement, threshold: float | None) -> AuditResult:
    """The verdict on one measurement at ``threshold`` (None: informative only)."""
    because = None
    if measurement.not_informative:
        passed, note = None, f"Not informative, does not gate: {measurement.not_informative}"
        because = measurement.not_informative.split(":")[0].split(";")[0]
    elif threshold is None:
        passed, note = None, "Informative only: no threshold is set, so this audit does not gate."
    elif _tests_for_leak(audit, measurement):
        passed, note = _leak_test(audit=audit, measurement=measurement, threshold=threshold)
        if passed is None:
            low = measurement.interval[0]
            because = (f"too few records: only a value above about "
                       f"{_fmt(threshold + max(measurement.value - low, 0.0))} would have shown (gate {_fmt(threshold)})")
    else:
        at_most = audit.direction == "at_most"
        if measurement.interval is not None:
            pessimistic = measurement.interval[1] if at_most else measurement.interval[0]
            judged = f"{'upper' if at_most else 'lower'} end of the 95% interval ({_fmt(pessimistic)})"
        else:
            pessimistic = measurement.value
            judged = f"value ({_fmt(pessimistic)})"
        passed = pessimistic <= threshold if at_most else pessimistic >= threshold
        note = (f"{'Passed' if passed else 'FAILED'}: the {judged} must be {'at most' if at_most else 'at least'} "
                f"{_fmt(threshold)}.")
    return AuditResult(
        name=audit.name,
        category=audit.category,
        title=audit.title,
        value=measurement.value,
        interval=measurement.interval,
        threshold=threshold,
        direction=audit.direction,
        passed=passed,
        explanation=audit.explanation,
        details=dict(measurement.details),
        figures=dict(measurement.figures),
        note=note,
        unjudged_because=because if threshold is not None else None,
    )


def _not_run(audit: Audit, context: AuditContext, threshold: float) -> AuditResult:
    """A gated audit that reads this data but cannot run at these sizes: not judged, and said so."""
    sizes = {side: len(getattr(context, side)) for side in ("train", "holdout", "synthetic")}
    return AuditResult(
        name=audit.name, category=audit.category, title=audit.title, value=None, interval=None, threshold=threshold,
        direction=audit.direction, passed=None, explanation=audit.explanation, details={"records": sizes},
        note=("Not informative, does not gate: this audit could not run on this data (too few records or columns, or "
              f"no categorical target or labels where it needs them; training {sizes['train']}, holdout "
              f"{sizes['holdout']}, synthetic {sizes['synthetic']} records); the release rests on its DP "
              "guarantee here."),
        unjudged_because=(f"could not run (training {sizes['train']}, holdout {sizes['holdout']}, synthetic "
                          f"{sizes['synthetic']} records)"))


def _crashed(audit: Audit, threshold: float | None) -> AuditResult:
    """An audit that raised on data that passed input validation: a bug, answered without crashing the
    release.  Fails closed: a gated audit blocks (nothing leaves on an unmeasured gate), an ungated one is
    reported as not measured."""
    return AuditResult(
        name=audit.name, category=audit.category, title=audit.title, value=None, interval=None, threshold=threshold,
        direction=audit.direction, passed=False if threshold is not None else None, explanation=audit.explanation,
        details={}, note=("This audit could not be computed on this data (an internal error, logged locally; "
                          "please report it)" + ("; as a gate it blocks the release." if threshold is not None
                                                 else ".")))


def _tests_for_leak(audit: Audit, measurement: Measurement) -> bool:
    """Privacy audits (``at_most`` with a no-leak value and an interval) block on evidence of a leak."""
    return audit.direction == "at_most" and audit.no_leak_value is not None and measurement.interval is not None


def _leak_test(*, audit: Audit, measurement: Measurement, threshold: float) -> tuple[bool | None, str]:
    """FAIL when the lower end is above the threshold; not judged when the audit could not catch a leak of
    twice the tolerated size; else pass, stating the smallest value it would have caught."""
    low = measurement.interval[0]
    margin = max(measurement.value - low, 0.0)
    detectable = threshold + margin
    if low > threshold:
        return False, (f"FAILED: the lower end of the 95% interval ({_fmt(low)}) is above the threshold "
                       f"{_fmt(threshold)}: a leak, beyond chance.")
    if margin >= threshold - audit.no_leak_value:
        return None, (f"Not informative, does not gate: too few records to judge. At these sizes only a value above "
                      f"about {_fmt(detectable)} would show as a leak (the threshold is {_fmt(threshold)}; leaking "
                      f"nothing gives {_fmt(audit.no_leak_value)}), and the lower end ({_fmt(low)}) shows no clear "
                      "leak. A larger holdout set sharpens this audit; the release rests on its DP guarantee here.")
    return True, (f"Passed: no evidence of a leak above {_fmt(threshold)} (the lower end of the 95% interval, "
                  f"{_fmt(low)}, is below it). At these sizes a value above about {_fmt(detectable)} would have "
                  "been caught.")


PART = ":"  # between a part's name and an audit's: ``ADMISSIONS:fidelity.quality``


def qualified_name(part: str, name: str) -> str:
    """The name of audit ``name`` run on one part of a view made of parts (a database's table)."""
    return f"{part}{PART}{name}"


def base_name(name: str) -> str:
    """The registered audit a (possibly qualified) result name is (``ADMISSIONS:fidelity.quality`` ->
    ``fidelity.quality``)."""
    return name.rsplit(PART, 1)[-1]


def _qualified(result: AuditResult, part: str) -> AuditResult:
    return replace(result, name=qualified_name(part, result.name), title=f"{result.title} ({part})")


def check_gate_names(names: Iterable[str]) -> None:
    """Refuse gate names (from a spec) that are not registered audits."""
    unknown = sorted(set(names).difference(AUDITS))
    if unknown:
        raise BadInputError(
            f"audits.gates: unknown audit name(s) {', '.join(unknown)}; known audits: {', '.join(sorted(AUDITS))}"
        )


def run_audits(
    *,
    context: AuditContext,
    gates: Mapping[str, float] | None = None,
    names: Sequence[str] | None = None,
    on_progress: Callable[[str], None] | None = None,
    require_judged: bool = False,
) -> list[AuditResult]:
    """Measure and decide every registered audit (or those in ``names``) that applies to the context.

    ``gates`` overrides default thresholds by audit name.  ``require_judged`` (the spec's
    ``audits.require_judged``) makes a gated audit that could not be judged block, instead of leaving the
    release to rest on its DP guarantee.  An audit that raises propagates its error: a crashed audit must
    stop the release, not pass silently.
    """
    gates = dict(gates or {})
    check_gate_names(gates)
    if names is not None:
        check_gate_names(names)
    results: list[AuditResult] = []
    for part, part_context in context.parts().items():  # a database: every table audit on every table
        results += [_qualified(result, part) for result in run_audits(
            context=part_context, gates=gates, names=names, require_judged=require_judged,
            on_progress=None if on_progress is None else lambda name, part=part: on_progress(f"{part}: {name}"))]
    expected = set(audits_for(view=type(context.synthetic), target=context.target,
                              optional="canary_audit" in context.extras))
    for name, audit_type in AUDITS.items():
        if names is not None and name not in names:
            continue
        audit = audit_type()
        if not audit.applies_to(context):
            if name in expected and threshold(name, gates) is not None:
                results.append(_not_run(audit, context, threshold(name, gates)))  # a gate is never silently absent
            continue
        if on_progress is not None:
            on_progress(name)
        try:
            measurement = audit.measure(context)
        except (BadInputError, GateFailedError):
            raise
        except Exception:  # noqa: BLE001 - any other failure is a bug: logged, answered, fails closed
            log.warning("audit %s could not be computed on this data; it is reported so (details at DEBUG level)", name)
            log.debug("audit %s failed", name, exc_info=True)
            results.append(_crashed(audit, threshold(name, gates)))
            continue
        result = decide(audit=audit, measurement=measurement, threshold=threshold(name, gates))
        if require_judged and result.passed is None and result.threshold is not None:
            result = replace(result, passed=False, note=f"{result.note} FAILED: the spec requires every gate to be "
                                                        "judged (audits.require_judged).")
        results.append(result)
    return results


def blocking(results: Iterable[AuditResult]) -> list[AuditResult]:
    """The results that block a release (``passed is False``)."""
    return [result for result in results if result.passed is False]


def unjudged(results: Iterable[AuditResult]) -> list[AuditResult]:
    """The gated audits that could not be judged on this data (a threshold, but ``passed is None``): they
    neither pass nor block."""
    return [result for result in results if result.passed is None and result.threshold is not None]


def threshold(name: str, gates: Mapping[str, float] | None = None) -> float | None:
    """The threshold audit ``name`` is judged at: the spec's override, else the audit's default (None:
    informative, never blocks)."""
    return (gates or {}).get(base_name(name), AUDITS[base_name(name)].default_threshold)


def is_gated(name: str, gates: Mapping[str, float] | None = None) -> bool:
    """Whether a failure of audit ``name`` blocks the release (a threshold set by default or by the spec)."""
    return threshold(name, gates) is not None


def audits_for(*, view: type, target: str | None, optional: bool = False, parts: Sequence[str] = ()) -> list[str]:
    """The registered audits that read this kind of data view (``Modality.view``), in registry order:
    those needing a target only when there is one, the optional ones (the canary audit) only when asked.  A
    view made of ``parts`` (a database's tables) first has every audit of its ``part_view`` on every part
    (``qualified_name``; no target, nothing optional), then its own."""
    own = [name for name, cls in AUDITS.items()
           if cls.reads(view) and (target is not None or not cls.requires_target) and (optional or not cls.optional)]
    part_view = getattr(view, "part_view", None)
    if part_view is None:
        return own
    return [qualified_name(part, name) for part in parts for name in audits_for(view=part_view, target=None)] + own


def required(*, view: type, target: str | None, gates: Mapping[str, float] | None = None,
             optional: bool = False, parts: Sequence[str] = ()) -> list[str]:
    """The gated audits a release of this view (of these ``parts``) must have in its audit record before export."""
    return [name for name in audits_for(view=view, target=target, optional=optional, parts=parts)
            if is_gated(name, gates)]


def enforce(results: Sequence[AuditResult], *, required_names: Sequence[str]) -> None:
    """Raise GateFailedError unless every required audit is in ``results`` and none of them failed."""
    names = {r.name for r in results}
    missing = [name for name in required_names if name not in names]
    if missing:
        raise GateFailedError(f"audits missing from the audit record: {', '.join(missing)}")
    failed = blocking(results)
    if failed:
        raise GateFailedError("export refused, gates failed: " + failures(failed))


def failures(results: Iterable[AuditResult]) -> str:
    """The failed gates in one line: name, value, what the threshold needs, and the audit's note."""
    return "; ".join(
        f"{r.name} = {_value(r)} ({'needs at most' if r.direction == 'at_most' else 'needs at least'} "
        f"{r.threshold:g}" + (f"; {r.note})" if r.note else ")") for r in blocking(results))


def verdict(result: AuditResult) -> tuple[str, VerdictKind]:
    """(word, kind) of a result's verdict, as every surface shows it: PASS, FAIL, not informative (a gate
    that could not be judged, or a figure that cannot support a verdict) or informative (no threshold)."""
    if result.passed is True:
        return "PASS", "pass"
    if result.passed is False:
        return "FAIL", "fail"
    if result.note and result.note.startswith("Not informative"):
        return "not informative", "info"
    return "informative", "info"


def status_of(results: Sequence[AuditResult], *, require_approval: bool, approved: bool,
              exported: bool = False) -> dict[str, Any]:
    """Release status and its reasons: blocked (a gate failed), awaiting sign-off, released, or audited."""
    failed = blocking(results)
    if failed:
        status = "blocked"
    elif require_approval and not approved:
        status = "awaiting"
    else:
        status = "released" if exported else "passed"
    reasons = [f"{r.title}: {_value(r)} fails its threshold {r.threshold:g}" for r in failed]
    if status == "awaiting":
        reasons.append("Every gate passed; the release waits for a named person's sign-off.")
    return {"status": status, "reasons": reasons}
