"""Benchmark: the structure of a synthetic MIMIC-III demo database (issue 17, in progress).

    python -m evaluation.benchmarks.relational_structure [--epsilons 1 10] [--draws 5] [--delta 1e-5]
        [--release-noise] [--generate]

Loads the MIMIC-III demo subset beside the checkout (``../shared/data/ehr/mimic3_demo_subset_iso``, with the
shipped schema ``synthdata/data/mimic3_demo.schema.yaml``: orphans dropped, caps applied), measures children
per parent row for every relationship with DP (``measure_cardinalities``: the whole epsilon on the
cardinalities, fresh OS entropy per draw), draws a skeleton of as many patients as the real database holds,
and scores each relationship with the two-sample KS distance and whether every synthetic count lies in the real
range (``evaluation.fidelity.cardinality``).  Prints, per relationship and epsilon, the median KS over the draws
[min, max], in how many draws the counts stayed in range and the median share of synthetic parent rows outside
it, beside the sampling floor (the exact shares, no DP), and where the declared range ``0 .. cap`` is wider
than the real counts (a development figure on the demo subset, never in a release's report: only there can noise
put synthetic counts outside the real range).  ``--release-noise`` gives the cardinalities the noise a release
at that epsilon gives them (``plan_fit``: the budget split with the generator's other mechanisms) instead of
the whole epsilon (the schema then bounds LABEVENTS' ``valuenum`` as ``--generate`` does).

``--generate`` then fits the whole DP generator once per epsilon (``fit_relational``: the epsilon split over
the cardinalities, DP column discovery and one DP-SGD denoiser per table, children conditioned on their parent
row; ``GENERATOR_MODEL`` below), samples a database of as many patients and prints per table its epsilon, its
fit time and SDMetrics' quality score (``fidelity.quality`` without its interval, synthetic against the real
rows as the codec sees them, i.e. values outside the DP-learned domains folded), and per relationship the
KS of children per parent on the generated database.  All 66 patients train (no holdout: a fidelity figure, not
an audit).  LABEVENTS' ``valuenum`` has no declared bounds in the shipped schema and cannot be bounded with DP at
its sensitivity (up to 2,700 rows per patient): the benchmark declares [-1000, 10000], clipped (a choice, not
read from the data).  Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

import numpy as np

from evaluation.base import AuditContext
from evaluation.benchmarks.arms import SHARED_DATA
from evaluation.fidelity.cardinality import cardinality_fidelity
from evaluation.fidelity.quality import QualityAudit
from synthdata.config import ModelSpec
from synthdata.modalities.relational import (
    RelationalDatabase,
    fit_relational,
    load_database,
    load_relational_schema,
    sample_relational,
)
from synthdata.modalities.relational.cardinality import (
    CardinalityModel,
    RelationshipCardinality,
    children_per_parent,
    histogram,
    measure_cardinalities,
    relationships,
)
from synthdata.modalities.relational.generator import plan_fit
from synthdata.modalities.relational.skeleton import sample_skeleton
from synthdata.modalities.table.schema import NumericColumn

MIMIC = SHARED_DATA / "ehr" / "mimic3_demo_subset_iso"
SCHEMA = Path(__file__).resolve().parents[2] / "synthdata" / "data" / "mimic3_demo.schema.yaml"


def _exact_model(database) -> CardinalityModel:
    """The real shares without noise: the floor a skeleton of this size reaches by sampling alone."""
    counts = children_per_parent(database)
    found = relationships(database.schema)
    return CardinalityModel(relationships=tuple(
        RelationshipCardinality(parent=r.parent, child=r.child, loose=r.loose, cap=r.cap, bound=r.bound, sigma=0.0,
                                via=r.via, shares=tuple(float(s) for s in histogram(counts[r.name], cap=r.cap)
                                                        / max(1, counts[r.name].size)))
        for r in found))


def _wider(counts: np.ndarray, *, cap: int) -> str:
    """Where the declared range ``0 .. cap`` reaches beyond the real counts (capped): the only places noise can
    put synthetic counts outside the real range."""
    if counts.size == 0:
        return "no real parent row"
    low, high = int(counts.min()) > 0, int(np.minimum(counts, cap).max()) < cap
    return {(True, True): "below and above", (True, False): "below (real minimum above 0)",
            (False, True): "above (cap above the real maximum)"}.get((low, high), "no")


def _scores(database, model: CardinalityModel, *, rng: np.random.Generator) -> dict:
    skeleton = sample_skeleton(schema=database.schema, model=model, n_subjects=database.n_subjects, rng=rng,
                               key_style="sequential")
    return cardinality_fidelity(real=children_per_parent(database), synthetic=skeleton.children_per_parent())


#: The generator's model for 66 patients: every step is a full batch (66 units), so 100 epochs are 100 steps.
GENERATOR_MODEL = ModelSpec(preset="fast", epochs=100, batch_size=1024, hidden=128, depth=2, lr=5e-3,
                            augmentation=1, sample_steps=10, guidance=1.0)


def _schema_with_lab_bounds():
    """The shipped schema with LABEVENTS.valuenum bounded by a declared (public) range."""
    schema = load_relational_schema(SCHEMA)
    lab = schema.tables["LABEVENTS"]
    columns = {**lab.columns, "valuenum": NumericColumn(nullable=True, min=-1000, max=10000, clip=True)}
    return schema.model_copy(update={"tables": {**schema.tables, "LABEVENTS": lab.model_copy(
        update={"columns": columns})}})


def _quality(real, synthetic, codec) -> float:
    """SDMetrics' quality of ``synthetic`` against ``real`` as the codec sees it (no interval)."""
    columns = codec.schema.modelled_columns
    seen = codec.decode(codec.encode(real))
    context = AuditContext(modality="table", train=seen.select(columns).to_pandas(),
                           holdout=seen.select(columns).to_pandas(),
                           synthetic=synthetic.select(columns).to_pandas(), schema=codec.schema)
    return QualityAudit(replicates=0).measure(context).value


def _generate(database: RelationalDatabase, *, epsilons: list[float], delta: float) -> None:
    real_counts = children_per_parent(database)
    rows: dict[str, list[str]] = {}
    cards: dict[str, list[str]] = {}
    for epsilon in epsilons:
        began = time.perf_counter()
        fitted = fit_relational(database=database, epsilon=epsilon, delta=delta, model=GENERATOR_MODEL)
        fit_seconds = time.perf_counter() - began
        synthetic = sample_relational(generator=fitted, n_subjects=database.n_subjects, seed=secrets.randbits(31))
        spent = fitted.epsilon_per_table()
        for name, model in fitted.tables.items():
            quality = _quality(database.tables[name].frame, synthetic.tables[name], model.codec)
            rows.setdefault(name, []).append(
                f"{spent[name]:.3g} | {model.outcome.seconds:.0f} s | {synthetic.tables[name].height} | {quality:.3f}")
        scores = cardinality_fidelity(real=real_counts, synthetic=synthetic.children_per_parent())
        for name, score in scores.items():
            cards.setdefault(name, []).append(f"{score.ks:.3f} ({'in' if score.within_real_range else 'OUT of'} range)")
        print(f"ε = {epsilon:g}: fit {fit_seconds:.0f} s; composed ε {fitted.composition.composed:.3g} (the parts' own "
              f"ε added: {fitted.composition.naive:.3g}); noise scaled by {fitted.noise_scale:.3g} from the split "
              f"{fitted.budget.rule}")
    print(f"\nGenerated databases ({database.n_subjects} patients, model {GENERATOR_MODEL.model_dump(exclude_none=True)})")
    print("| table | real rows | " + " | ".join(f"ε = {e:g}: ε spent, training, rows, quality" for e in epsilons) + " |")
    print("|---|---|" + "---|" * len(epsilons))
    for name, cells in rows.items():
        print(f"| {name} | {database.tables[name].height} | " + " | ".join(cells) + " |")
    print("\n| relationship | " + " | ".join(f"KS at ε = {e:g}" for e in epsilons) + " |")
    print("|---|" + "---|" * len(epsilons))
    for name, cells in cards.items():
        print(f"| {name} | " + " | ".join(cells) + " |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--draws", type=int, default=5)
    parser.add_argument("--release-noise", action="store_true",
                        help="the noise a release's budget split gives the cardinalities, not the whole epsilon")
    parser.add_argument("--generate", action="store_true", help="also fit the DP generator once per epsilon")
    args = parser.parse_args(argv)
    if not MIMIC.is_dir():
        print(f"skipped: {MIMIC} is not there (the MIMIC-III demo subset is not shipped)")
        return 0
    bounded = args.generate or args.release_noise  # a release must be able to plan LABEVENTS.valuenum
    database = load_database(schema=_schema_with_lab_bounds() if bounded else SCHEMA, folder=MIMIC)
    arms = {f"ε = {e:g}": e for e in args.epsilons} | {"exact shares (no DP)": None}
    results: dict[str, dict[str, list]] = {}
    sigmas: dict[str, float] = {}
    for arm, epsilon in arms.items():
        noise = {}
        if epsilon is not None and args.release_noise:
            plan = plan_fit(database=database, epsilon=epsilon, delta=args.delta, model=GENERATOR_MODEL)[1]
            own = plan.own["cardinalities"]
            noise = {"epsilon": own.epsilon, "delta": own.delta, "noise_multiplier": plan.cardinalities}
        for _ in range(args.draws):
            rng = np.random.default_rng(secrets.randbits(128))
            if epsilon is None:
                model = _exact_model(database)
            else:
                model, mechanism = measure_cardinalities(database=database, rng=rng, **(
                    noise or {"epsilon": epsilon, "delta": args.delta}))
                sigmas[arm] = mechanism.sigma
            for name, score in _scores(database, model, rng=rng).items():
                results.setdefault(name, {}).setdefault(arm, []).append(score)
    counts = children_per_parent(database)
    wider = {r.name: _wider(counts[r.name], cap=r.cap) for r in relationships(database.schema)}
    print(f"MIMIC-III demo subset: {database.n_subjects} patients; median KS [min, max] over {args.draws} skeletons "
          f"(draws with every count in the real range; median share of synthetic parent rows outside it); δ = "
          f"{args.delta:g}; noise per bin in patients: "
          + ", ".join(f"{arm} {sigma:.2f}" for arm, sigma in sigmas.items())
          + (" (the release's split)" if args.release_noise else " (the whole epsilon on the cardinalities)"))
    print("| relationship | declared 0 .. cap wider than the real range | " + " | ".join(arms) + " |")
    print("|---|---|" + "---|" * len(arms))
    for name, by_arm in results.items():
        cells = []
        for arm in arms:
            ks = np.array([s.ks for s in by_arm[arm]])
            inside = sum(s.within_real_range for s in by_arm[arm])
            outside = float(np.median([s.outside_share for s in by_arm[arm]]))
            cells.append(f"{np.median(ks):.3f} [{ks.min():.3f}, {ks.max():.3f}] ({inside}/{len(ks)}; {outside:.3f})")
        print(f"| {name} | {wider[name]} | " + " | ".join(cells) + " |")
    if args.generate:
        _generate(database, epsilons=args.epsilons, delta=args.delta)
    return 0


if __name__ == "__main__":
    sys.exit(main())
