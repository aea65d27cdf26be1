"""Fit one peer generator and sample from it: runs in ``.venv-peers``, never imports synthdata.

    .venv-peers/bin/python -P evaluation/benchmarks/peer_runner.py --method mst --epsilon 1 \
        --train train.csv --columns columns.json --rows 16000 --out synthetic.csv

Peers' pins conflict with synthdata's (smartnoise-synth 1.0 needs opacus 0.14), so ``make bench-peers``
gives them their own virtualenv and this script is the only code that runs there.  Methods:

- ``mst``, ``aim`` (smartnoise-synth): every column discretised with the schema's PUBLIC bounds (numbers
  in ``--bins`` equal-width bins; no epsilon spent on bounds), the whole epsilon on the model;
- ``dpctgan`` (smartnoise-synth, Opacus 0.14): numbers min-max scaled with the public bounds, categories
  one-hot, ``--epochs`` epochs;
- ``gaussiancopula`` (SDV 2, not private).

``columns.json`` maps each modelled column to ``{"type": "categorical"}`` or ``{"type": "numeric", "min":
.., "max": .., "integer": bool}``.  Prints one JSON line: fit seconds, sample seconds, peak RSS (MiB).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd


def _smartnoise(method: str, epsilon: float, data: pd.DataFrame, columns: dict, bins: int, epochs: int):
    from snsynth import Synthesizer
    from snsynth.transform import (BinTransformer, ChainTransformer, LabelTransformer, MinMaxTransformer,
                                   OneHotEncoder, TableTransformer)

    transformers = []
    for name, spec in columns.items():
        if spec["type"] == "categorical":
            label = LabelTransformer(nullable=True)
            transformers.append(ChainTransformer([label, OneHotEncoder()]) if method == "dpctgan" else label)
        elif method == "dpctgan":
            transformers.append(MinMaxTransformer(lower=spec["min"], upper=spec["max"], nullable=True))
        else:
            transformers.append(BinTransformer(bins=bins, lower=spec["min"], upper=spec["max"], nullable=True))
    kwargs = {"epochs": epochs} if method == "dpctgan" else {}
    synth = Synthesizer.create(method, epsilon=float(epsilon), **kwargs)
    synth.fit(data, transformer=TableTransformer(transformers), preprocessor_eps=0.0)
    return synth


def _gaussian_copula(data: pd.DataFrame, columns: dict):
    from sdv.metadata import Metadata
    from sdv.single_table import GaussianCopulaSynthesizer

    metadata = Metadata.load_from_dict({"tables": {"table": {"columns": {
        name: {"sdtype": "categorical" if spec["type"] == "categorical" else "numerical"}
        for name, spec in columns.items()}}}})
    synth = GaussianCopulaSynthesizer(metadata)
    synth.fit({"table": data})  # SDV 2 takes a table name -> frame mapping even for one table
    return synth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--method", required=True, choices=["mst", "aim", "dpctgan", "gaussiancopula"])
    parser.add_argument("--epsilon", type=float, default=1.0)
    parser.add_argument("--train", type=Path, required=True)
    parser.add_argument("--columns", type=Path, required=True)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--bins", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()
    columns = json.loads(args.columns.read_text())
    data = pd.read_csv(args.train, dtype=str, keep_default_na=False, na_values=[""])[list(columns)]
    for name, spec in columns.items():
        if spec["type"] == "numeric":
            data[name] = pd.to_numeric(data[name]).astype(float)
        else:
            data[name] = data[name].astype(object).where(data[name].notna(), None)
    started = time.perf_counter()
    synth = (_gaussian_copula(data, columns) if args.method == "gaussiancopula"
             else _smartnoise(args.method, args.epsilon, data, columns, args.bins, args.epochs))
    fitted = time.perf_counter()
    sample = synth.sample(num_rows=args.rows) if args.method == "gaussiancopula" else synth.sample(args.rows)
    sampled = time.perf_counter()
    if isinstance(sample, dict):
        (sample,) = sample.values()
    sample = pd.DataFrame(sample, columns=list(columns))
    for name, spec in columns.items():
        if spec["type"] == "numeric" and spec.get("integer"):
            sample[name] = np.round(pd.to_numeric(sample[name], errors="coerce"))
    sample.to_csv(args.out, index=False)
    print(json.dumps({"fit_seconds": fitted - started, "sample_seconds": sampled - fitted,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
