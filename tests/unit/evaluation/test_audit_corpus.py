"""The audit suite never crashes on tables that passed input validation (a corpus of edge cases): every
audit answers with a value or says why it could not judge, and a crash inside an audit fails closed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from evaluation.base import AuditContext, AuditSettings
from evaluation.gate import run_audits
from synthdata.modalities import get_modality


def _base(n: int, rng: np.random.Generator) -> pl.DataFrame:
    return pl.DataFrame({"age": rng.integers(18, 90, n), "bmi": np.round(rng.normal(28, 5, n), 1),
                         "sex": rng.choice(["F", "M"], n), "ward": rng.choice(["A", "B", "C", "D"], n),
                         "outcome": rng.choice(["yes", "no"], n, p=[0.3, 0.7])})


def _corpus() -> dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, str | None]]:
    """name -> (train, holdout, synthetic, target)."""
    rng = np.random.default_rng(0)

    def halves(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        return frame[: frame.height // 2], frame[frame.height // 2:]

    cases: dict[str, tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame, str | None]] = {}
    cases["plain"] = (*halves(_base(400, rng)), _base(200, rng), "outcome")
    rare = _base(400, rng).with_columns(pl.Series("outcome", ["yes"] * 300 + ["no"] * 98 + ["rare1", "rare2"]))
    cases["single_row_classes"] = (*halves(rare.sample(fraction=1.0, shuffle=True, seed=1)), _base(200, rng), "outcome")
    one = _base(400, rng).with_columns(pl.lit("yes").alias("outcome"))
    cases["single_class_target"] = (*halves(one), one[:200], "outcome")
    cases["synthetic_one_class"] = (*halves(_base(400, rng)), _base(200, rng).with_columns(pl.lit("no").alias("outcome")),
                                    "outcome")
    const = _base(400, rng).with_columns(pl.lit(7).alias("const"))
    cases["constant_column"] = (*halves(const), const[:200], "outcome")
    empty = _base(400, rng).with_columns(pl.lit(None, dtype=pl.Float64).alias("empty"))
    cases["all_missing_column"] = (*halves(empty), empty[:200], "outcome")  # crashed scikit-learn's binning
    text = _base(3000, rng).with_columns(pl.Series("note", [f"free text {i}" for i in range(3000)]))
    cases["free_text_thousands_of_levels"] = (*halves(text), text.sample(1000, seed=2), "outcome")
    small = _base(30, rng)
    cases["ten_records"] = (small[:10], small[10:20], small[20:30], "outcome")
    numbers = _base(400, rng).select("age", "bmi")
    cases["numbers_only_no_target"] = (*halves(numbers), numbers[:100], None)
    cats = _base(400, rng).select("sex", "ward", "outcome")
    cases["categories_only"] = (*halves(cats), cats[:200], "outcome")
    days = [dt.datetime(2020, 1, 1) + dt.timedelta(days=int(d)) for d in rng.integers(0, 900, 400)]
    dated = _base(400, rng).with_columns(pl.Series("admitted", days))
    cases["datetime_column"] = (*halves(dated), dated[:200], "outcome")
    gaps = _base(400, rng).with_columns(pl.when(pl.int_range(pl.len()) % 5 == 0).then(None)
                                        .otherwise(pl.col("outcome")).alias("outcome"))
    cases["target_with_missing"] = (*halves(gaps), gaps[:200], "outcome")
    plain = _base(400, rng)
    cases["exact_copies"] = (*halves(plain), plain[:200], "outcome")
    cases["numeric_target"] = (*halves(plain), plain[:200], "bmi")
    once = _base(400, rng).with_columns(pl.Series("ward", ["A"] * 399 + ["Z"]))
    cases["category_only_in_training"] = (*halves(once), _base(200, rng), "outcome")
    cases["synthetic_all_one_record"] = (*halves(plain), pl.concat([plain[:1]] * 200), "outcome")
    zeros = _base(400, rng).with_columns((pl.col("age") * 0).alias("zeros"))
    cases["zero_variance_number"] = (*halves(zeros), zeros[:200], "outcome")
    sparse = _base(400, rng).with_columns(pl.Series("bmi", [None if r < 0.9 else float(v) for r, v in
                                                            zip(rng.random(400), rng.normal(28, 5, 400))]))
    cases["mostly_missing_number"] = (*halves(sparse), sparse[:200], "outcome")
    many = _base(400, rng).with_columns(pl.Series("outcome", rng.choice(list("abcdef"), 400)))
    cases["six_classes"] = (*halves(many), many[:200], "outcome")
    cases["synthetic_out_of_range"] = (*halves(plain), plain[:200].with_columns((pl.col("age") * 10).alias("age")),
                                       "outcome")
    ids = _base(400, rng).with_columns(pl.Series("mrn", [f"MRN{i:06d}" for i in range(400)]))
    cases["unique_text_per_row"] = (*halves(ids), ids[:200].with_columns(pl.Series("mrn", [f"S{i}" for i in range(200)])),
                                    "outcome")
    return cases


CORPUS = _corpus()


def _context(tmp_path: Path, name: str) -> AuditContext:
    train, holdout, synthetic, target = CORPUS[name]
    for role, frame in (("train", train), ("holdout", holdout), ("synthetic", synthetic)):
        frame.write_csv(tmp_path / f"{role}.csv")
    inputs = get_modality("table").read_audit_inputs(train=tmp_path / "train.csv", holdout=tmp_path / "holdout.csv",
                                                     synthetic=tmp_path / "synthetic.csv", schema=None, target=target)
    return AuditContext(modality="table", train=inputs.train, holdout=inputs.holdout, synthetic=inputs.synthetic,
                        schema=inputs.schema, target=target, settings=AuditSettings(max_rows=300, bootstrap=50))


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS) >= 20


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_audit_answers_on_an_edge_case(name: str, tmp_path: Path) -> None:
    results = run_audits(context=_context(tmp_path, name))
    assert results
    for result in results:
        answered = result.value is not None and np.isfinite(result.value)
        assert answered or (result.passed is not True and result.note), (name, result.name, result.note)
        assert "could not be computed" not in (result.note or ""), (name, result.name)  # no audit crashed


def test_an_audit_that_crashes_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug inside a gated audit must not let the release through, nor crash it with a traceback."""
    from evaluation.registry import AUDITS

    def broken(self, context):
        raise RuntimeError("boom")

    monkeypatch.setattr(AUDITS["memorization.dcr_share"], "measure", broken)
    results = {r.name: r for r in run_audits(context=_context(tmp_path, "plain"))}
    crashed = results["memorization.dcr_share"]
    assert crashed.passed is False and "could not be computed" in crashed.note and "RuntimeError" not in crashed.note
