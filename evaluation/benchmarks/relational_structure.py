"""Benchmark: the structure of a synthetic MIMIC-III demo database (issue 17, in progress).

    python -m evaluation.benchmarks.relational_structure [--epsilons 1 10] [--draws 5] [--delta 1e-5]

Loads the MIMIC-III demo subset beside the checkout (``../shared/data/ehr/mimic3_demo_subset_iso``, with the
shipped schema ``synthdata/data/mimic3_demo.schema.yaml``: orphans dropped, caps applied), measures children
per parent row for every relationship with DP (``measure_cardinalities``: the whole epsilon on the
cardinalities, fresh OS entropy per draw), draws a skeleton of as many patients as the real database holds,
and scores each relationship with the two-sample KS distance and whether every synthetic count lies in the real
range (``evaluation.fidelity.cardinality``).  Prints, per relationship and epsilon, the median KS over the draws
[min, max] and in how many draws the counts stayed in range, beside the sampling floor (the exact shares, no
DP).  Only the structure: no row values are generated yet.  Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

import numpy as np

from evaluation.benchmarks.arms import SHARED_DATA
from evaluation.fidelity.cardinality import cardinality_fidelity
from synthdata.modalities.relational import load_database
from synthdata.modalities.relational.cardinality import (
    CardinalityModel,
    RelationshipCardinality,
    children_per_parent,
    histogram,
    measure_cardinalities,
    relationships,
)
from synthdata.modalities.relational.skeleton import sample_skeleton

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


def _scores(database, model: CardinalityModel, *, rng: np.random.Generator) -> dict:
    skeleton = sample_skeleton(schema=database.schema, model=model, n_subjects=database.n_subjects, rng=rng,
                               key_style="sequential")
    return cardinality_fidelity(real=children_per_parent(database), synthetic=skeleton.children_per_parent())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 10.0])
    parser.add_argument("--delta", type=float, default=1e-5)
    parser.add_argument("--draws", type=int, default=5)
    args = parser.parse_args(argv)
    if not MIMIC.is_dir():
        print(f"skipped: {MIMIC} is not there (the MIMIC-III demo subset is not shipped)")
        return 0
    database = load_database(schema=SCHEMA, folder=MIMIC)
    arms = {f"ε = {e:g}": e for e in args.epsilons} | {"exact shares (no DP)": None}
    results: dict[str, dict[str, list]] = {}
    for arm, epsilon in arms.items():
        for _ in range(args.draws):
            rng = np.random.default_rng(secrets.randbits(128))
            model = (_exact_model(database) if epsilon is None else
                     measure_cardinalities(database=database, epsilon=epsilon, delta=args.delta, rng=rng)[0])
            for name, score in _scores(database, model, rng=rng).items():
                results.setdefault(name, {}).setdefault(arm, []).append(score)
    print(f"MIMIC-III demo subset: {database.n_subjects} patients; median KS [min, max] over {args.draws} skeletons "
          f"(draws with every count in the real range); δ = {args.delta:g}")
    print("| relationship | " + " | ".join(arms) + " |")
    print("|---|" + "---|" * len(arms))
    for name, by_arm in results.items():
        cells = []
        for arm in arms:
            ks = np.array([s.ks for s in by_arm[arm]])
            inside = sum(s.within_real_range for s in by_arm[arm])
            cells.append(f"{np.median(ks):.3f} [{ks.min():.3f}, {ks.max():.3f}] ({inside}/{len(ks)})")
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
