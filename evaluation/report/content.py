"""The release report's content, built once and formatted by the HTML and PDF renderers.

``build_report_content`` turns the release facts, the privacy statement, the audit results, the column plots
and the notes into a frozen ``ReportContent``: every sentence and table cell as plain text (the renderers
escape and lay it out, they never write a sentence of their own), in the order an ethics board reads:

1. executive summary: released / blocked / awaiting sign-off, why, and one table of every audit grouped by
   category (fidelity, utility, memorization, attack);
2. privacy statement: epsilon, delta, the budget split, what it means for one person, composition,
   accountant, noise source, and what lies OUTSIDE the guarantee (this report and the gate decision);
3. each audit: what it tests, its figures, value / 95% interval / threshold, verdict, gate note, how often a
   privacy gate was wrong in the benchmark (``evaluation.gate_rates``), details;
4. column plots; 5. notes and release facts; 6. human sign-off (when ``approval`` is given);
7. closest synthetic/real pairs (internal reports only).

Privacy caveat: everything here except the synthetic data's own properties is computed from the private data
outside the DP guarantee (aggregates, scores, the gate decision), and the statement says so.  Callers must
pass aggregates only (audit details, suppressed column plots); this module adds no data of its own.  The one
exception is ``closest_pairs`` (real records), which is accepted only for an ``internal`` report: the public
report refuses it with ``ValueError``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from evaluation.base import MIN_CELL_COUNT, AuditResult
from evaluation.gate import VerdictKind, unjudged, verdict
from evaluation.gate_rates import gate_error_rates, release_error_rates
from evaluation.report.data_figures import data_section

Status = Literal["released", "blocked", "awaiting", "passed"]

CATEGORY_ORDER = ("privacy", "fidelity", "utility", "memorization", "attack")
CATEGORY_TITLES = {
    "privacy": "Privacy guarantee check",
    "fidelity": "Fidelity",
    "utility": "Utility",
    "memorization": "Memorization",
    "attack": "Privacy attacks",
}
CATEGORY_QUESTIONS = {
    "privacy": "Does the training behave as differentially private as it claims, when tested with planted "
               "records?",
    "fidelity": "Does the synthetic data look like the real data, column by column and in pairs of columns?",
    "utility": "Does a model trained on synthetic data predict real outcomes about as well as one trained on "
               "real data?",
    "memorization": "Does the synthetic data copy, or sit unusually close to, the records the model was "
                    "trained on?",
    "attack": "Can an attacker holding the synthetic data tell whether a person was in the training data, or "
              "infer their sensitive values?",
}
INTERNAL_WARNING = "INTERNAL — contains real records — do not distribute"
SUMMARY_COLUMNS = ("Audit", "Category", "Value", "95% interval", "Threshold", "Verdict")
GATE_RULE = (
    "A fidelity or utility gate passes only when the pessimistic end of its 95% interval clears the threshold "
    "(the lower end for 'at least' thresholds, the upper end for 'at most'): quality must be shown. A privacy "
    "gate (memorization, attacks) blocks on evidence of a leak: it fails when even the lower end of its 95% "
    "interval is above the threshold, so data that leaks nothing is blocked by chance rarely (measured rates: "
    "python -m evaluation.benchmarks.gate_calibration), and its note states the smallest leak it would have "
    "caught at these sizes. A privacy gate that could not catch a leak of twice the tolerated size is 'not "
    "informative': it does not block, and the release rests on its differential privacy guarantee there. "
    "Informative audits have no threshold and never block a release."
)
_HEADLINES = {
    "released": "Released: every gated audit passed.",
    "blocked": "Not released: at least one gated audit failed.",
    "awaiting": "Awaiting decision: the synthetic data has not been released yet.",
    "passed": "Every gated audit passed (an audit only: nothing is released by it).",
}
_SIGN_OFF_HEADLINE = "Awaiting sign-off: every gated audit passed; a named person must approve the release."


def _open_gate(result: AuditResult) -> str:
    """A gate that could not be judged, with why (the smallest value it could have caught, or what is missing)."""
    return f"{result.name}: {result.unjudged_because}" if result.unjudged_because else result.name


def _headline(status: str, *, awaiting_sign_off: bool, unjudged: int) -> str:
    """The one-line verdict; it never says "every gated audit passed" when some could not be judged."""
    text = _SIGN_OFF_HEADLINE if awaiting_sign_off else _HEADLINES[status]
    if unjudged and status != "blocked":
        text = text.replace("every gated audit passed",
                            f"every gated audit that could be judged passed ({unjudged} could not be, on this "
                            "little data)")
    return text


def format_number(value: Any) -> str:
    """A number as report text: 4 significant digits, thousands separators for large values, '–' for none."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    return str(value)


def format_detail(value: Any) -> str:
    """An audit detail (number, text, list or nested mapping) as one line of text."""
    if isinstance(value, Mapping):
        inner = ", ".join(
            f"{key}: ({format_detail(item)})" if isinstance(item, Mapping) else f"{key}: {format_detail(item)}"
            for key, item in value.items()
        )
        return inner or "–"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_detail(item) for item in value) or "–"
    return format_number(value)


def format_interval(interval: tuple[float, float] | None) -> str:
    if interval is None:
        return "–"
    low, high = interval
    return f"{format_number(float(low))} – {format_number(float(high))}"


def format_threshold(result: AuditResult) -> str:
    if result.threshold is None:
        return "none (informative)"
    return ("≤ " if result.direction == "at_most" else "≥ ") + format_number(float(result.threshold))


@dataclass(frozen=True)
class Section:
    """A numbered section heading; ``key`` names the section for the renderers (anchors, bookmarks)."""

    key: str
    number: int
    title: str

    @property
    def heading(self) -> str:
        return f"{self.number}. {self.title}"


@dataclass(frozen=True)
class SummaryRow:
    """One row of the executive-summary table."""

    name: str
    title: str
    category: str
    value: str
    interval: str
    threshold: str
    verdict: str
    kind: VerdictKind


@dataclass(frozen=True)
class CategoryGroup:
    """The audits of one category, in registry order."""

    category: str
    title: str
    question: str
    rows: tuple[SummaryRow, ...]


@dataclass(frozen=True)
class AuditSection:
    """One audit as the report shows it: plain explanation, figures, numbers, verdict, gate note, details."""

    name: str
    title: str
    category: str  # key: fidelity, utility, memorization, attack
    category_title: str
    explanation: str
    value: str
    interval: str
    threshold: str
    verdict: str
    kind: VerdictKind
    note: str | None
    error_rates: str | None  # privacy gates: how often the gate was wrong in the benchmark, in plain words
    figures: tuple[tuple[str, str], ...]  # (caption, base64 PNG)
    details: tuple[tuple[str, str], ...]  # (key, text), aggregates only

    @property
    def numbers(self) -> str:
        return f"Value {self.value}, 95% interval {self.interval}, threshold {self.threshold}."


@dataclass(frozen=True)
class PrivacyStatement:
    warning: str | None  # set when the DP guarantee does not hold
    paragraphs: tuple[str, ...]
    public_facts_intro: str
    public_facts: tuple[str, ...]
    outside_label: str
    outside: str


@dataclass(frozen=True)
class SignOff:
    """Human sign-off: ``kind`` is 'approved', 'awaiting', 'refused' (blocked) or 'not_required'."""

    kind: str
    text: str
    command: str | None = None  # the command that records the approval, when awaiting


@dataclass(frozen=True)
class PairsTable:
    """Closest synthetic/real pairs (internal report only): every cell as text."""

    intro: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class ReportContent:
    """Everything the report says, as plain text, in reading order; rendered by html.py and pdf.py."""

    title: str
    subtitle: str
    internal: bool
    internal_warning: str | None
    sections: tuple[Section, ...]
    status: Status
    headline: str
    reasons: tuple[str, ...]
    tally: str
    summary_columns: tuple[str, ...]
    groups: tuple[CategoryGroup, ...]
    gate_rule: str
    gate_rates: str | None  # the privacy gates' measured error rates together, for this modality's example
    privacy: PrivacyStatement
    audits: tuple[AuditSection, ...]
    no_audits: str
    column_plots_note: str
    column_plots: tuple[tuple[str, str], ...]
    no_column_plots: str
    notes: tuple[str, ...]
    no_notes: str
    release_facts: tuple[tuple[str, str], ...]
    sign_off: SignOff | None
    closest_pairs: PairsTable | None

    def section(self, key: str) -> Section:
        return next(section for section in self.sections if section.key == key)

    @property
    def verdicts(self) -> dict[str, str]:
        """Audit title -> verdict text (what both renderers must show)."""
        return {audit.title: audit.verdict for audit in self.audits}


def _ordered(results: Sequence[AuditResult]) -> list[AuditResult]:
    rank = {category: i for i, category in enumerate(CATEGORY_ORDER)}
    return sorted(results, key=lambda r: rank.get(r.category, len(rank)))  # stable: registry order kept


def _summary_row(result: AuditResult) -> SummaryRow:
    text, kind = verdict(result)
    return SummaryRow(
        name=result.name, title=result.title, category=CATEGORY_TITLES.get(result.category, result.category),
        value=format_number(None if result.value is None else float(result.value)), interval=format_interval(result.interval),
        threshold=format_threshold(result), verdict=text, kind=kind,
    )


def _groups(results: list[AuditResult]) -> tuple[CategoryGroup, ...]:
    groups: list[CategoryGroup] = []
    for category in dict.fromkeys(r.category for r in results):
        groups.append(CategoryGroup(
            category=category,
            title=CATEGORY_TITLES.get(category, category),
            question=CATEGORY_QUESTIONS.get(category, ""),
            rows=tuple(_summary_row(r) for r in results if r.category == category),
        ))
    return tuple(groups)


def _audit_section(result: AuditResult, *, modality: str) -> AuditSection:
    row = _summary_row(result)
    privacy_gate = result.category in ("memorization", "attack") and result.threshold is not None
    return AuditSection(
        name=result.name, title=result.title, category=result.category, category_title=row.category,
        explanation=result.explanation,
        value=row.value, interval=row.interval, threshold=row.threshold, verdict=row.verdict, kind=row.kind,
        note=result.note, error_rates=gate_error_rates(result.name, modality=modality) if privacy_gate else None,
        figures=tuple((str(k), str(v)) for k, v in result.figures.items()),
        details=tuple((str(k), format_detail(v)) for k, v in result.details.items()),
    )


def _privacy_statement(privacy: Mapping[str, Any], *, internal: bool) -> PrivacyStatement:
    warning = None
    if privacy.get("dp_valid") is False:
        warning = (
            "NOT DIFFERENTIALLY PRIVATE: this release has no differential-privacy guarantee and states no ε "
            "(dp_valid is false; e.g. the noise was replayed from a recorded seed, or a bound or category list "
            "was read from the private data without DP). Treat this synthetic data as potentially disclosive."
        )
    epsilon = privacy.get("epsilon")
    delta = privacy.get("delta")
    unit = privacy.get("privacy_unit") or "one record"
    lines: list[str] = []
    if privacy.get("dp_valid") is False:  # never an epsilon beside the statement that there is no guarantee
        lines.append(f"No differential-privacy guarantee is stated for this release. The unit it was trained on "
                     f"is {unit}.")
    elif isinstance(epsilon, (int, float)) and not isinstance(epsilon, bool) and math.isfinite(epsilon):
        factor = math.exp(float(epsilon))
        lines.append(
            f"The synthetic data was produced with differential privacy at ε = {format_number(float(epsilon))}, "
            f"δ = {format_number(delta)}. The privacy unit is {unit}. For any one such unit, the probability of "
            f"any outcome of this release changes by at most a factor e^ε ≈ {factor:.3g} whether or not their "
            f"records were used, except with probability δ = {format_number(delta)}."
        )
    else:
        lines.append(f"No privacy budget is recorded for this release. The privacy unit is {unit}.")
    split = []
    if privacy.get("epsilon_preprocessing") is not None:
        split.append(
            "preprocessing (learning what the schema did not declare public): ε = "
            f"{format_number(privacy.get('epsilon_preprocessing'))}"
            + (f", δ = {format_number(privacy.get('delta_preprocessing'))}"
               if privacy.get("delta_preprocessing") is not None else "")
        )
    if privacy.get("epsilon_marginals") is not None:
        split.append(
            "measuring each column's distribution (noisy histograms, Gaussian mechanism), which the synthetic rows "
            f"are then calibrated to: ε = {format_number(privacy.get('epsilon_marginals'))}, "
            f"δ = {format_number(privacy.get('delta_marginals'))}")
    if privacy.get("epsilon_training") is not None:
        split.append(f"training the model with DP-SGD: ε = {format_number(privacy.get('epsilon_training'))}")
    joint = (privacy.get("epsilon_basic_composition") or 0) > (privacy.get("epsilon") or 0) * (1 + 1e-9)
    if split and joint:  # DP-SGD's noise was chosen with the accountants' composition: the parts add up to more
        lines.append("The release ran these mechanisms, each with the ε it spends on its own: " + "; and ".join(split)
                     + f" (added up: ε = {format_number(privacy.get('epsilon_basic_composition'))}).")
    elif split:
        lines.append("The budget is split between " + "; and ".join(split) + ".")
    per_table = privacy.get("epsilon_per_table")
    if isinstance(per_table, Mapping) and per_table:  # a database: each table's own figure, then the total's
        structure = privacy.get("epsilon_structure")
        lines.append(
            "Each table's own mechanisms composed (what releasing that table's model alone would cost): "
            + "; ".join(f"{table} ε = {format_number(value)}" for table, value in per_table.items())
            + ("; the structure shared by every table (children per parent row, patients with rows and rows "
               f"loading removed per table) ε = {format_number(structure)}" if structure is not None else "")
            + f". These figures do not add up to the database's ε = {format_number(epsilon)}: one patient's rows in "
            "every table are protected together, and the accountants compose every mechanism of the database at "
            "once.")
    shares = privacy.get("marginals_share_per_table")
    if isinstance(shares, Mapping) and shares:  # a database: each table's split between its two mechanisms
        lines.append(
            "Each table's ε is split between its column distributions and its model's DP-SGD: "
            + "; ".join(f"{table} {format_number(share)} / {format_number(1 - share)}" for table, share in shares.items())
            + f" ({privacy.get('marginals_share_chosen') or 'as declared'}).")
    loading = privacy.get("loading_counts")
    if isinstance(loading, Mapping) and loading:  # a database: what loading removed, DP estimates only
        lines.append(
            "Rows removed before training, per table (DP estimates from the structure mechanism, included in the "
            "database's ε; each patient counted for at most the table's bound on rows per patient, so they "
            "estimate clipped counts; never the exact numbers): "
            + "; ".join(f"{table}: orphans dropped ≈ {format_number(c.get('orphans_dropped'))}, rows removed by the "
                        f"caps ≈ {format_number(c.get('rows_removed_by_caps'))} (noise sd "
                        f"{format_number(c.get('noise_sd'))}, at most {c.get('clipped_per_patient')} per patient)"
                        for table, c in loading.items() if isinstance(c, Mapping)) + ".")
    if privacy.get("composition"):
        lines.append(f"The parts are combined by {privacy['composition']}.")
    if privacy.get("weight_average"):
        text = str(privacy["weight_average"])
        lines.append(f"{text[:1].upper()}{text[1:]}.")
    if privacy.get("epsilon_with_canary_audit") is not None:
        lines.append(
            "The canary audit trained a second, throwaway model on the same data (ε = "
            f"{format_number(privacy.get('epsilon_canary_audit'))}); its figures in this report are computed from "
            "that model, so the release as a whole, synthetic data and canary figures together, is "
            f"differentially private at ε = {format_number(privacy.get('epsilon_with_canary_audit'))}, δ = "
            f"{format_number(privacy.get('delta_with_canary_audit'))} (basic composition of the two trainings).")
    if privacy.get("accountant"):
        lines.append(f"Privacy accounting: {privacy['accountant']}.")
    if privacy.get("noise_source"):
        lines.append(f"Noise source: {privacy['noise_source']}.")
    ledger = privacy.get("ledger")
    if isinstance(ledger, Mapping) and ledger.get("total_epsilon") is not None:
        composed = ledger.get("composition") or {}
        tight = (f" ({format_number(composed['composed'])} when the runs' mechanisms are composed with the "
                 f"RDP/PRV accountants at δ = {format_number(composed.get('delta'))})"
                 if composed.get("composed") is not None else "")
        lines.append(
            f"Budget ledger: this dataset (id {ledger.get('dataset_id')}) has a total budget of "
            f"ε = {format_number(ledger['total_epsilon'])}. With this release, {composed.get('charges', '?')} "
            f"run(s) have charged it ε = {format_number(composed.get('naive'))} by plain summation{tight}"
            + (f", of which ε = {format_number(ledger.get('reserved'))} is reserved by runs still open"
               if ledger.get("reserved") else "")
            + f"; ε = {format_number(ledger.get('remaining'))} remains. Every run is listed with who ran it and "
            "when by `synthdata budget show`."
        )
    outside = (
        "this report's own numbers and figures (audit scores, distances, column distributions) and the "
        "decision to release are computed from the private data and are not covered by the "
        "differential-privacy guarantee. They are aggregates only; every count of real records below "
        f"{MIN_CELL_COUNT} is suppressed (merged into a larger group or hidden)"
    )
    outside += (
        ". This INTERNAL report also shows real records (the closest synthetic/real pairs) for human review: "
        "it must not leave the data custodian." if internal else ", and no real record is shown."
    )
    return PrivacyStatement(
        warning=warning,
        paragraphs=tuple(lines),
        public_facts_intro="Facts treated as public (not protected by the guarantee):",
        public_facts=tuple(str(f) for f in privacy.get("public_facts") or ()),
        outside_label="Outside the guarantee:",
        outside=outside,
    )


def _sign_off(approval: Mapping[str, Any] | None, *, status: str, run_id: str) -> SignOff | None:
    if approval is None:
        return None
    by, at = approval.get("by"), approval.get("at")
    if by:
        machine = "; ".join(f"{label} {approval[key]}" for key, label in (("account", "OS account"),
                                                                          ("deployment_user", "deployment user"))
                            if approval.get(key))
        return SignOff("approved", f"Approved for release by {by}{f' ({machine})' if machine else ''} at "
                                   f"{at or 'an unrecorded time'}.")
    if not approval.get("required"):
        return SignOff("not_required", "Human sign-off was not required for this release "
                                       "(audits.require_approval is false).")
    if status == "blocked":
        return SignOff("refused", "Sign-off is not possible: the release is blocked by a failed audit; "
                                  "nothing can be approved or exported.")
    command = f"synthdata approve {run_id} --by NAME"
    return SignOff("awaiting", f"Awaiting sign-off: run `{command}`", command=command)


def _pairs(frame: pd.DataFrame) -> PairsTable:
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    cells = frame.astype(object).where(frame.notna(), None)
    rows = tuple(
        tuple("–" if v is None else format_number(v) for v in row) for row in cells.itertuples(index=False)
    )
    return PairsTable(
        intro=("Each synthetic record next to the real training record closest to it, for human review of "
               "possible memorization. These are REAL records: this section exists only in the internal "
               "report."),
        columns=tuple(str(c) for c in frame.columns),
        rows=rows,
    )


def _release_facts(release: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    keys = [("name", "Release"), ("run_id", "Run"), ("status", "Status"), ("modality", "Modality"),
            ("records", "Synthetic records"), ("created", "Created"), ("synthdata_version", "synthdata version"),
            ("seed", "Seed (public, sampling and audits only; DP noise uses OS entropy)"), ("licence", "Licence"),
            ("attribution", "Attribution")]
    return tuple((label, format_number(release[key])) for key, label in keys if release.get(key) is not None)




def build_report_content(
    *,
    release: Mapping[str, Any],
    privacy: Mapping[str, Any],
    results: Sequence[AuditResult],
    column_plots: Sequence[tuple[str, str]],
    notes: Sequence[str],
    approval: Mapping[str, Any] | None = None,
    internal: bool = False,
    closest_pairs: pd.DataFrame | None = None,
) -> ReportContent:
    """The report's content, once, for both renderers.

    ``approval`` is ``{"required": bool, "by": str | None, "at": ISO time | None}``: a release whose gates
    all passed but which still needs a named approver is shown as awaiting sign-off.  ``closest_pairs``
    (real records) is refused with ``ValueError`` unless ``internal`` is true.
    """
    if closest_pairs is not None and not internal:
        raise ValueError("closest_pairs holds real records: it may only be shown in an internal report "
                         "(internal=True); the public report never shows a real record")
    ordered = _ordered(results)
    failed = [r for r in ordered if r.blocks]
    status = str(release.get("status") or ("blocked" if failed else "awaiting"))
    if status not in _HEADLINES:
        status = "blocked" if failed else "awaiting"
    awaiting_sign_off = (status in ("released", "awaiting") and approval is not None and approval.get("required")
                         and not approval.get("by"))
    if awaiting_sign_off:
        status = "awaiting"
    reasons = [str(r) for r in release.get("reasons") or ()]
    if status == "blocked" and not reasons:
        reasons = [f"{r.title}: {r.note}" for r in failed]
    gated = [r for r in ordered if r.passed is not None]
    open_gates = unjudged(ordered)
    tally = (f"{sum(r.passed is True for r in gated)} of {len(gated)} gated audits passed, "
             f"{len(failed)} failed; "
             + (f"{len(open_gates)} gated audit{'s' if len(open_gates) != 1 else ''} could not be judged on this "
                f"data and do not gate ({'; '.join(_open_gate(r) for r in open_gates)}); "
                if open_gates else "")
             + f"{len(ordered) - len(gated) - len(open_gates)} informative audits do not gate.")
    name = str(release.get("name", "synthetic data release"))
    modality = str(release.get("modality") or "")
    data_title, data_note = release.get("data_section") or data_section(pd.DataFrame())
    keys = [("summary", "Executive summary"), ("privacy", "Privacy statement"), ("audits", "Audits"),
            ("columns", str(data_title)), ("notes", "Notes and release facts")]
    if approval is not None:
        keys.append(("sign_off", "Human sign-off"))
    if internal:
        keys.append(("pairs", "Closest synthetic/real pairs (INTERNAL)"))
    return ReportContent(
        title=str(release.get("title") or f"Synthetic data release report: {name}"),
        subtitle=" · ".join(str(release[k]) for k in ("modality", "created") if release.get(k)),
        internal=internal,
        internal_warning=INTERNAL_WARNING if internal else None,
        sections=tuple(Section(key, i, title) for i, (key, title) in enumerate(keys, start=1)),
        status=status,  # type: ignore[arg-type]
        headline=_headline(status, awaiting_sign_off=awaiting_sign_off, unjudged=len(open_gates)),
        reasons=tuple(reasons),
        tally=tally,
        summary_columns=SUMMARY_COLUMNS,
        groups=_groups(ordered),
        gate_rule=GATE_RULE,
        gate_rates=release_error_rates(modality=modality),
        privacy=_privacy_statement(privacy, internal=internal),
        audits=tuple(_audit_section(r, modality=modality) for r in ordered),
        no_audits="No audits were run.",
        column_plots_note=str(data_note),
        column_plots=tuple((str(t), str(b)) for t, b in column_plots),
        no_column_plots="No column plots.",
        notes=tuple(str(n) for n in notes),
        no_notes="No notes.",
        release_facts=_release_facts(release),
        sign_off=_sign_off(approval, status=status, run_id=str(release.get("run_id") or "RUN_ID")),
        closest_pairs=(_pairs(closest_pairs) if closest_pairs is not None else
                       PairsTable(intro="No closest pairs were supplied.", columns=(), rows=()) if internal
                       else None),
    )
