"""The ``synthdata`` command line.

Exit codes: 0 released (or command succeeded; ``audit``: every gate passed; ``dp-audit``: the claim held);
2 bad input (nothing written); 3 a gate failed (report written, no data exported; ``dp-audit``: the empirical
lower bound exceeds the claimed epsilon); 4 privacy budget refused; 5 every gate passed but the spec
requires a named sign-off (``synthdata approve RUN --by NAME``); 1 an unexpected error.

This is the only module of the library that imports the Dagster pipelines: ``release`` runs the release's
Dagster job in-process, so CLI runs show in the UI's run history and share its ledger.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from synthdata import home
from synthdata.config import ReleaseSpec, name_from_path, read_yaml
from synthdata.release_spec import load_spec, parse_spec, read_section
from synthdata.errors import (
    AwaitingApprovalError,
    BadInputError,
    GateFailedError,
    SynthdataError,
)
from synthdata.modalities import MODALITIES, registration
from synthdata.versions import __version__


def _fail(error: SynthdataError) -> int:
    print(f"error: {error.message}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)
    return error.exit_code


def spec_from_args(args: argparse.Namespace) -> ReleaseSpec:
    """A release spec from ``--config`` or from the short form's flags."""
    if args.config:
        if args.data:
            raise BadInputError("give either --config SPEC.yaml or DATA with flags, not both")
        overrides = {place: value for place, value in _flag_overrides(args).items() if value is not None}
        spec = load_spec(Path(args.config), overrides=overrides)
        for place, value in overrides.items():
            print(f"{place} {value} from the command line (the spec file says "
                  f"{_spec_value(Path(args.config), place)})", file=sys.stderr)
        return spec
    if not args.data or args.epsilon is None or not args.out:
        raise BadInputError("release needs --config SPEC.yaml, or DATA --epsilon E --out DIR")
    data = Path(args.data).resolve()
    dataset = {"path": str(data), "modality": args.modality, "target": args.target,
               "schema": str(Path(args.schema).resolve()) if args.schema else None}
    entry = registration(args.modality)
    if entry.settings is not None:
        # Signals, images, ...: the "schema" is the declared, public description of the records (rate,
        # amplitude, windows, labels / size, intensity window, classes), the spec's dataset.<section>.
        section = entry.settings.section
        if not args.schema:
            example = f" (see the dataset.{section} section of {entry.example})" if entry.example else ""
            raise BadInputError(f"--modality {args.modality} needs --schema FILE.yaml with the declared {section} "
                                f"settings{example}")
        dataset.update(schema=None, **{section: read_section(Path(args.schema), section=section)})
    raw = {
        "name": args.name or name_from_path(data),
        "dataset": dataset,
        "privacy": {"epsilon": args.epsilon, "delta": args.delta, "total_epsilon": args.total_epsilon,
                    "same_budget_as": args.same_budget_as},
        "model": {"preset": args.preset or "standard"},
        "output": {"out": str(Path(args.out).resolve()), "records": args.records},
    }
    if args.seed is not None:
        raw["seed"] = args.seed
    source = f"the command line with --schema {args.schema}" if entry.settings is not None else "command line"
    return parse_spec(raw, source=source)


def _flag_overrides(args: argparse.Namespace) -> dict[str, object]:
    """Spec places (dotted) the release flags set when given with ``--config``: a flag overrides the file."""
    return {"privacy.epsilon": args.epsilon, "privacy.delta": args.delta, "privacy.total_epsilon": args.total_epsilon,
            "privacy.same_budget_as": args.same_budget_as,
            "output.out": str(Path(args.out).resolve()) if args.out else None, "output.records": args.records,
            "dataset.target": args.target, "model.preset": args.preset, "seed": args.seed, "name": args.name}


def _spec_value(path: Path, place: str) -> object:
    """What the spec file itself says at a dotted place (``unset`` when it says nothing)."""
    value: object = read_yaml(path, what="spec file")
    for key in place.split("."):
        value = value.get(key, "unset") if isinstance(value, dict) else "unset"
    return value


def cmd_release(args: argparse.Namespace) -> int:
    from synthdata.flow import stages

    spec = spec_from_args(args)
    if args.dry_run:
        return _print_plan(spec)
    try:  # a bad spec -> exit 2 before a run starts; prepare reads and validates the data once
        stages.check_spec(spec=spec)
    except BadInputError as error:  # named by where the spec came from, as parse_spec's refusals are
        raise type(error)(f"{args.config or 'command line'}: {error.message}", hint=error.hint) from None

    from pipelines.runner import run_release

    print(f"release {spec.name}: epsilon {spec.privacy.epsilon:g}, seed {spec.seed}, home {home.home()}", file=sys.stderr)
    return _report_outcome(run_release(spec, progress=not args.quiet))


def _print_plan(spec: ReleaseSpec) -> int:
    """``release --dry-run``: the budget split, the DP-SGD plan and the ledger's answer; nothing charged."""
    from synthdata.flow import databases, stages
    from synthdata.privacy.ledger import default_ledger

    databases.refuse(modality=spec.dataset.modality, what="release --dry-run")
    plan = stages.plan(spec=spec, ledger=default_ledger(home_folder=home.home()))
    print(f"plan for {spec.name} (dry run: nothing read through a DP mechanism, nothing charged, nothing written)\n"
          + stages.describe_plan(plan))
    if plan["doomed_columns"]:
        print(f"  column(s) {', '.join(repr(c) for c in plan['doomed_columns'])}: their range could not be learned "
              "with DP at this preprocessing budget; the release would be refused (exit 2) before charging "
              "anything: declare their min and max, or raise privacy.preprocessing_share")
        return 2
    return 0 if plan["fits"] else 4


def _report_outcome(outcome) -> int:
    if outcome.exit_code == 0:
        print(f"released: {outcome.out}")
        print(f"report:   {outcome.report}")
        return 0
    if outcome.exit_code == 5:
        print(f"awaiting sign-off: {outcome.message}")
        print(f"report (not exported yet): {outcome.report}")
        return 5
    print(f"error: {outcome.message}", file=sys.stderr)
    if outcome.hint:
        print(f"hint: {outcome.hint}", file=sys.stderr)
    if outcome.report is not None:
        print(f"report (not exported): {outcome.report}", file=sys.stderr)
    if outcome.work_area.exists():  # a run refused while reading its input leaves none
        print(f"run {outcome.run_id}; private work area {outcome.work_area} (delete with `synthdata purge "
              f"{outcome.run_id}`)", file=sys.stderr)
    return outcome.exit_code


def cmd_approve(args: argparse.Namespace) -> int:
    import uuid

    from synthdata.flow import approvers
    from synthdata.run_area import existing_run_area

    # A name not on the release's approvers list is refused here (exit 2), before any Dagster run is launched;
    # the export step checks it again for sign-offs launched from the UI.
    approvers.check(load_spec(existing_run_area(args.run_id).spec), args.by)
    try:
        uuid.UUID(args.run_id)
    except ValueError:  # not a Dagster run (the Python API's, or a generation): signed off in-process
        from synthdata import api

        return _released(lambda: api.approve(run_id=args.run_id, by=args.by))
    from pipelines.runner import run_approval

    return _report_outcome(run_approval(args.run_id, by=args.by))


def cmd_runs(args: argparse.Namespace) -> int:
    """The runs in ``$SYNTHDATA_HOME/runs`` and where each stands; ``--awaiting``: those due a sign-off."""
    from synthdata.flow import run_status

    if args.awaiting:
        waiting = run_status.awaiting()
        if not waiting:
            print(f"no release awaits sign-off (runs in {home.runs_dir()})")
        for state in waiting:
            who = state.approvers
            print(f"{state.run_id}  release {state.release}: every gate passed, audited {state.audited}; awaiting sign-off")
            print(f"  approve:  {state.approve_command}")
            print(f"  or:       {state.ui_approval}")
            print(f"  who may sign off: {', '.join(who.names) if who else ''} ({who.where if who else ''})")
            if state.report is not None:
                print(f"  report:   {state.report}")
        return 0
    found = run_status.statuses()
    if not found:
        print(f"no runs in {home.runs_dir()}")
    for state in found:
        print(f"{state.run_id}  {state.release}  {state.status}: {state.detail}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    """A Dagster run (the CLI's and the UI's releases) is re-executed from its failure through Dagster, so the UI
    shows the resumed run beside the one that stopped; a run of the Python API is continued in-process."""
    from pipelines.runner import resume_release
    from synthdata import api

    outcome = resume_release(args.run_id, progress=not args.quiet)
    if outcome is None:
        return _released(lambda: api.resume(run_id=args.run_id, progress=not args.quiet))
    return _report_outcome(outcome)


def _released(call: Callable[[], Any]) -> int:
    """Run an in-process release (``synthdata.api``) and print where it went, or why not (with its exit code)."""
    try:
        release = call()
    except (GateFailedError, AwaitingApprovalError) as error:
        print(f"{'awaiting sign-off' if isinstance(error, AwaitingApprovalError) else 'error'}: {error.message}",
              file=sys.stderr)
        if getattr(error, "hint", None):
            print(error.hint, file=sys.stderr)
        return error.exit_code
    print(f"released: {release.out}")
    print(f"report:   {release.out / 'report.html'}")
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    from synthdata import api

    print(f"generate: {args.records} new records from run {args.run_id}'s model (no epsilon: post-processing)",
          file=sys.stderr)
    return _released(lambda: api.generate(run_id=args.run_id, records=args.records, out=args.out, seed=args.seed,
                                          progress=not args.quiet))


def cmd_dp_audit(args: argparse.Namespace) -> int:
    from synthdata import api

    spec = load_spec(Path(args.config))
    found = api.dp_audit(spec=spec, canaries=args.canaries, progress=not args.quiet)
    verdict = "PASS" if found["passed"] else "FAIL"
    print(f"canary audit of {spec.name} (run {found['run_id']}): {found['canaries']} canaries, "
          f"{found['included']} planted; {found['correct']} of {found['guesses']} guesses right")
    print(f"claimed training epsilon {found['claimed_epsilon']:.4g}; empirical lower bound "
          f"{found['empirical_epsilon_lower_bound']:.4g} at {found['confidence']:.0%} confidence "
          f"(the most this audit could certify: {found['max_certifiable_epsilon']:.3g}) -> {verdict}")
    print(f"charged to the ledger: run {found['run_id']} (see `synthdata budget show`); "
          f"private work area: `synthdata purge {found['run_id']}`")
    return 0 if found["passed"] else 3


def _gates(pairs: Sequence[str]) -> dict[str, float]:
    gates: dict[str, float] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            gates[name.strip()] = float(value)
        except ValueError:
            raise BadInputError(f"--gate takes NAME=THRESHOLD (e.g. memorization.dcr_share=0.55), got '{pair}'") from None
    return gates


def cmd_audit(args: argparse.Namespace) -> int:
    from evaluation import gate
    from synthdata.flow.audit_files import audit_files

    outcome = audit_files(
        modality=args.modality, train=Path(args.train), holdout=Path(args.holdout), synthetic=Path(args.synthetic),
        out=Path(args.out), target=args.target, schema=Path(args.schema) if args.schema else None,
        gates=_gates(args.gate), max_rows=args.max_rows, seed=args.seed, internal=args.internal,
        require_judged=args.require_judged,
    )
    width = max(len(r.name) for r in outcome.results) if outcome.results else 10
    for r in outcome.results:
        verdict = gate.verdict(r)[0]
        interval = f"[{r.interval[0]:.3g}, {r.interval[1]:.3g}]" if r.interval else ""
        threshold = "" if r.threshold is None else ("<= " if r.direction == "at_most" else ">= ") + f"{r.threshold:g}"
        value = "-" if r.value is None else f"{r.value:.4g}"
        print(f"  {r.name:<{width}}  {value:>8} {interval:<20} {threshold:<10} {verdict}", file=sys.stderr)
    print(f"audit: {outcome.out}")
    if not outcome.passed:
        print("error: at least one gate failed (see report.html / report.pdf)", file=sys.stderr)
        return 3
    return 0


def cmd_schema_draft(args: argparse.Namespace) -> int:
    from synthdata.modalities.table.infer import draft_schema, render_draft
    from synthdata.modalities.table.reader import read_table

    data = Path(args.data)
    out = Path(args.out) if args.out else data.with_name(f"{data.name.split('.')[0]}.schema.yaml")
    if out.exists() and not args.force:
        raise BadInputError(f"{out} already exists; pass --force to overwrite it")
    frame = read_table(path=data, schema=None)
    text = render_draft(schema=draft_schema(frame=frame), source=str(data))
    out.write_text(text, encoding="utf-8")
    bar = "!" * 78
    print(bar, file=sys.stderr)
    print(f"DRAFT schema written to {out}.\nIts bounds and category lists were READ FROM THE PRIVATE DATA. Before a release,\n"
          "replace them with public knowledge, or write `categories: discover` / remove `min`/`max`\n"
          "so synthdata learns them with DP from the budget. Otherwise the DP guarantee does not cover them.",
          file=sys.stderr)
    print(bar, file=sys.stderr)
    print(out)
    return 0


def cmd_schema_from_sdv(args: argparse.Namespace) -> int:
    from synthdata.modalities.table.sdv_metadata import from_sdv

    source = Path(args.metadata)
    out = Path(args.out) if args.out else source.with_name(f"{source.name.split('.')[0]}.schema.yaml")
    _check_free(out, force=args.force)
    schema, notes = from_sdv(_read_json(source), table=args.table, subject=args.subject,
                             keep_ranges=args.keep_ranges, source=str(source))
    header = f"# Schema converted from the SDV metadata {source.name} by `synthdata schema from-sdv`.\n"
    out.write_text(header + "".join(f"# NOTE: {note}\n" for note in notes) + schema.to_yaml(), encoding="utf-8")
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    print(out)
    return 0


def cmd_schema_to_sdv(args: argparse.Namespace) -> int:
    import json

    from synthdata.modalities.table.schema import load_schema
    from synthdata.modalities.table.sdv_metadata import to_sdv

    source = Path(args.schema)
    schema = load_schema(source)
    table = args.table or source.name.split(".")[0]
    out = Path(args.out) if args.out else source.with_name(f"{table}.metadata.json")
    _check_free(out, force=args.force)
    out.write_text(json.dumps(to_sdv(schema, table=table, primary_key=args.primary_key), indent=4) + "\n",
                   encoding="utf-8")
    print(out)
    return 0


def _check_free(out: Path, *, force: bool) -> None:
    if out.exists() and not force:
        raise BadInputError(f"{out} already exists; pass --force to overwrite it")


def _read_json(path: Path) -> object:
    import json

    if not path.is_file():
        raise BadInputError(f"{path} does not exist")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadInputError(f"{path} is not valid JSON: {error}") from None


def _ledger():
    from synthdata.privacy.ledger import default_ledger

    return default_ledger(home_folder=home.home())


def _fingerprint_of(dataset: str) -> str:
    ledger = _ledger()
    path = Path(dataset)
    if path.is_file():  # the key its charges go to (a derived dataset's parent; an old ledger's key)
        from synthdata.privacy.fingerprint import file_fingerprint, legacy_file_fingerprint

        return ledger.budget_key(fingerprint=file_fingerprint(path=path), legacy=[legacy_file_fingerprint(path=path)],
                                 write=False)
    matches = [s.fingerprint for s in ledger.datasets()
               if s.fingerprint.startswith(dataset) or s.name == dataset or s.dataset_id == dataset]
    if len(matches) != 1:
        raise BadInputError(f"'{dataset}' matches {len(matches)} datasets in the ledger; give a data file or a longer fingerprint")
    return matches[0]


def cmd_budget_show(args: argparse.Namespace) -> int:
    ledger = _ledger()
    states = ledger.datasets() if not args.dataset else [ledger.state(fingerprint=_fingerprint_of(args.dataset))]
    states = [s for s in states if s is not None]
    if not states:
        print(f"the ledger ({ledger.describe_location()}) holds no datasets yet")
        return 0
    for state in states:
        composed = ledger.composition(fingerprint=state.fingerprint)
        print(state.describe())
        prv = f"{composed.prv:.4g}" if composed.prv is not None else "n/a"
        print(f"  composed over {composed.charges} charge(s) at delta {composed.delta:.2g}: naive sum {composed.naive:.4g}, "
              f"RDP {composed.rdp:.4g}, PRV {prv} -> {composed.composed:.4g} (the budget check uses the naive sum)")
        for charge in ledger.history(fingerprint=state.fingerprint):
            plan = next((m for m in charge["mechanisms"] if m.get("noise_multiplier")), None)
            how = (f"  sigma {plan['noise_multiplier']:.3g} q {plan['sample_rate']:.3g} steps {plan['steps']}"
                   if plan else "")
            print(f"  {charge['created']}  {charge['status']:<9}  eps {charge['epsilon']:<8.4g} delta {charge['delta']:.2g}"
                  f"  release {charge['release']}  run {charge['run_id']}  by {charge['who']}{how}")
        for change in ledger.budget_changes(fingerprint=state.fingerprint):
            print(f"  {change['created']}  budget    {change['old_total']:g} -> {change['new_total']:g}  by {change['who']}:"
                  f" {change['reason']}")
    return 0


def cmd_budget_set(args: argparse.Namespace) -> int:
    state = _ledger().set_total(fingerprint=_fingerprint_of(args.dataset), total_epsilon=args.total_epsilon,
                                reason=args.reason)
    print(state.describe())
    return 0


def cmd_budget_settle(args: argparse.Namespace) -> int:
    ledger = _ledger()
    fingerprints = ledger.find_run(run_id=args.run_id)
    if not fingerprints:
        raise BadInputError(f"run {args.run_id} holds no charge in the ledger ({ledger.describe_location()})")
    for fingerprint in fingerprints:
        if args.cancel:
            ledger.cancel(fingerprint=fingerprint, run_id=args.run_id)
            print(f"cancelled the reservation of run {args.run_id}: {ledger.state(fingerprint=fingerprint).describe()}")
        else:
            state = ledger.settle_in_full(fingerprint=fingerprint, run_id=args.run_id, reason=args.reason)
            print(f"settled run {args.run_id} as spent in full: {state.describe()}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    runs = home.list_runs() if args.all else args.run_ids
    if not runs:
        raise BadInputError("name the run ids to purge, or pass --all")
    for run_id in runs:
        print(f"{'purged' if home.purge_run(run_id) else 'no work area for'} {run_id}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthdata", description="Differentially private synthetic clinical data.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="exit codes:\n"
               "  0  released (or the command succeeded; audit: every gate passed; dp-audit: the claim held)\n"
               "  2  bad input: the message names the file, column or record; nothing was written or charged\n"
               "  3  a gate failed: the report is written in the run's work area, nothing is exported\n"
               "  4  privacy budget refused, before training\n"
               "  5  every gate passed; the spec requires a named sign-off (synthdata approve RUN --by NAME)\n"
               "  1  an unexpected error")
    parser.add_argument("--version", action="version", version=f"synthdata {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    release = sub.add_parser("release", help="train, audit and (if every gate passes) export a synthetic release")
    release.add_argument("data", nargs="?", help="CSV or Parquet file (short form)")
    release.add_argument("--config", help="release spec YAML (long form); --epsilon, --delta, --total-epsilon, "
                                          "--same-budget-as, --out, --records, --target, --preset, --seed and --name given "
                                          "beside it override the file (and say so)")
    release.add_argument("--modality", default="table", choices=sorted(MODALITIES), help="short form only")
    release.add_argument("--epsilon", type=float, help="total epsilon of this release")
    release.add_argument("--delta", type=float, default=None, help="default: min(1e-5, 1/(10 n))")
    release.add_argument("--out", help="export folder (must not exist)")
    release.add_argument("--target", help="column the utility audit predicts")
    release.add_argument("--schema", help="table schema YAML (a DP table release needs one: inferring types reads the "
                                          "private data without DP); for ecg/eeg the declared signal settings, for "
                                          "image the image settings")
    release.add_argument("--preset", choices=["fast", "standard"], default=None, help="default: standard")
    release.add_argument("--records", type=int, default=None, help="synthetic records (default: training split size)")
    release.add_argument("--seed", type=int, default=None, help="recorded seed (model init, sampling; never DP noise)")
    release.add_argument("--name", help="release name (default: from the data file name)")
    release.add_argument("--total-epsilon", type=float, default=None, help="dataset budget when first seen (default 10)")
    release.add_argument("--same-budget-as", metavar="DATASET_ID", default=None,
                         help="charge this dataset to the budget of a ledger dataset it was derived from (rows "
                              "dropped or added; its id is in that dataset's manifests and `synthdata budget show`)")
    release.add_argument("--quiet", action="store_true", help="no progress bar")
    release.add_argument("--dry-run", action="store_true",
                         help="print the budget split, the DP-SGD plan and the ledger's answer; charge nothing")
    release.set_defaults(func=cmd_release)

    audit = sub.add_parser("audit", help="audit synthetic data from any source against real train and holdout data")
    audit.add_argument("--modality", default="table", choices=sorted(MODALITIES),
                       help="table (CSV/Parquet), ecg (WFDB), eeg (EDF/BDF/FIF), image (PNG/JPEG folders, npz, DICOM, "
                            "NIfTI)")
    audit.add_argument("--train", required=True, help="the real records the generator was trained on")
    audit.add_argument("--holdout", required=True, help="real records of the same population the generator never saw")
    audit.add_argument("--synthetic", required=True, help="the synthetic records to audit")
    audit.add_argument("--out", required=True, help="new folder for audit.json, report.html and report.pdf")
    audit.add_argument("--target", help="column the utility audits predict")
    audit.add_argument("--schema", help="table schema YAML (default: types inferred from the training file); for "
                                        "ecg/eeg/image the declared signal or image settings the three inputs are "
                                        "read with (required)")
    audit.add_argument("--gate", action="append", default=[], metavar="NAME=THRESHOLD",
                       help="override a gate threshold (repeatable)")
    audit.add_argument("--max-rows", type=int, default=5000, help="rows per side for the slower audits")
    audit.add_argument("--seed", type=int, default=0, help="seed of the audits' subsampling (public)")
    audit.add_argument("--internal", action="store_true",
                       help="also write report_internal.html/.pdf with the closest synthetic/real record pairs "
                            "(REAL records: keep it in-house)")
    audit.add_argument("--require-judged", action="store_true",
                       help="a privacy gate that cannot be judged at these sizes fails the audit (default: it does "
                            "not gate, and the report names it)")
    audit.set_defaults(func=cmd_audit)

    approve = sub.add_parser("approve", help="sign off a release whose gates passed, and export it")
    approve.add_argument("run_id")
    approve.add_argument("--by", required=True, help="name of the person signing off, as on the release's approvers "
                                                     "list (audits.approvers, $SYNTHDATA_HOME/approvers.yaml); "
                                                     "recorded in the manifest with your OS account")
    approve.set_defaults(func=cmd_approve)

    runs = sub.add_parser("runs", help="the runs under $SYNTHDATA_HOME/runs and where each stands (released, "
                                       "blocked, awaiting sign-off, ...)")
    runs.add_argument("--awaiting", action="store_true",
                      help="only the releases whose gates passed and that wait for a sign-off, with the command")
    runs.set_defaults(func=cmd_runs)

    schema = sub.add_parser("schema", help="table schema tools").add_subparsers(dest="schema_command", required=True)
    draft = schema.add_parser("draft", help="write a draft schema read from the data, for the steward to review")
    draft.add_argument("data")
    draft.add_argument("--out")
    draft.add_argument("--force", action="store_true")
    draft.set_defaults(func=cmd_schema_draft)
    from_sdv = schema.add_parser("from-sdv", help="a schema from SDV metadata (sdtypes; SDV's detected ranges are "
                                                  "left out: they were read from the data)")
    from_sdv.add_argument("metadata", help="SDV metadata JSON (Metadata.save_to_json)")
    from_sdv.add_argument("--table", help="which table, when the metadata describes several")
    from_sdv.add_argument("--subject", help="the column naming the privacy unit (the patient)")
    from_sdv.add_argument("--keep-ranges", action="store_true",
                          help="copy SDV's detected category lists and bounds in, as a draft to be edited")
    from_sdv.add_argument("--out")
    from_sdv.add_argument("--force", action="store_true")
    from_sdv.set_defaults(func=cmd_schema_from_sdv)
    to_sdv = schema.add_parser("to-sdv", help="SDV metadata JSON of a schema (sdtypes only)")
    to_sdv.add_argument("schema")
    to_sdv.add_argument("--table", help="the table's name in the metadata (default: from the file name)")
    to_sdv.add_argument("--primary-key", help="an identifier column that is the table's primary key")
    to_sdv.add_argument("--out")
    to_sdv.add_argument("--force", action="store_true")
    to_sdv.set_defaults(func=cmd_schema_to_sdv)

    budget = sub.add_parser("budget", help="the privacy budget ledger").add_subparsers(dest="budget_command", required=True)
    show = budget.add_parser("show", help="budget and audit trail per dataset")
    show.add_argument("dataset", nargs="?", help="data file, ledger name or fingerprint prefix")
    show.set_defaults(func=cmd_budget_show)
    setter = budget.add_parser("set", help="change a dataset's total budget (logged in the ledger)")
    setter.add_argument("dataset")
    setter.add_argument("--total-epsilon", type=float, required=True)
    setter.add_argument("--reason", default="", help="why the budget changes (kept in the ledger's log)")
    setter.set_defaults(func=cmd_budget_set)
    settle = budget.add_parser(
        "settle", help="close the reservation of a run that crashed: spent in full (default) or --cancel")
    settle.add_argument("run_id")
    settle.add_argument("--cancel", action="store_true",
                        help="drop the reservation: only for a run that never trained (read no private data)")
    settle.add_argument("--reason", default="run crashed; true spend unknown, counted in full")
    settle.set_defaults(func=cmd_budget_settle)

    resume = sub.add_parser("resume", help="continue a run that stopped (training resumes from its checkpoint)")
    resume.add_argument("run_id")
    resume.add_argument("--quiet", action="store_true", help="no progress bar")
    resume.set_defaults(func=cmd_resume)

    generate = sub.add_parser(
        "generate", help="sample more records from a run's trained model (no epsilon), audit them, export if every "
                         "gate passes")
    generate.add_argument("run_id", help="the run whose model to sample (its work area must not be purged)")
    generate.add_argument("--records", type=int, required=True, help="how many synthetic records")
    generate.add_argument("--out", required=True, help="export folder (must not exist)")
    generate.add_argument("--seed", type=int, default=None, help="sampling seed (default: a fresh one, recorded)")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.set_defaults(func=cmd_generate)

    dp_audit = sub.add_parser(
        "dp-audit", help="empirical DP check: train a throwaway model with planted canaries, bound its epsilon "
                         "(charges the spec's epsilon to the dataset's budget; exports nothing)")
    dp_audit.add_argument("--config", required=True, help="release spec YAML (its data, model and privacy)")
    dp_audit.add_argument("--canaries", type=int, default=1000)
    dp_audit.add_argument("--quiet", action="store_true", help="no progress bar")
    dp_audit.set_defaults(func=cmd_dp_audit)

    purge = sub.add_parser("purge", help="delete runs' private work areas under $SYNTHDATA_HOME/runs")
    purge.add_argument("run_ids", nargs="*")
    purge.add_argument("--all", action="store_true")
    purge.set_defaults(func=cmd_purge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logger = logging.getLogger("synthdata")
    for old in [h for h in logger.handlers if getattr(h, "synthdata_cli", False)]:
        logger.removeHandler(old)  # a handler bound to an earlier call's stderr (tests capture and close it)
    handler = logging.StreamHandler(sys.stderr)
    handler.synthdata_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if getattr(args, "quiet", False) else logging.INFO)
    logger.propagate = False  # Dagster configures the root logger too: print each line once
    try:
        return int(args.func(args))
    except SynthdataError as error:
        return _fail(error)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
