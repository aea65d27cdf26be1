"""`make bench` without ../shared/data: what runs on shipped data exists, what is skipped says why."""

from __future__ import annotations

from pathlib import Path

from evaluation.benchmarks.__main__ import BENCHMARKS, plan


def test_without_shared_data_every_benchmark_runs_on_shipped_files_or_says_why_not() -> None:
    modules = Path(__file__).resolve().parents[3] / "evaluation" / "benchmarks"
    skipped = 0
    for benchmark, arguments in plan(shared=False):
        assert (modules / f"{benchmark.name}.py").is_file()
        if arguments is None:
            skipped += 1
            assert len(benchmark.why) > 20  # a reason a reader can act on
            continue
        for value in arguments:
            if "/" in value:
                assert Path(value).is_file(), f"{benchmark.name} would run on {value}, which is not shipped"
    assert 0 < skipped < len(BENCHMARKS)
    assert all(arguments is not None for _, arguments in plan(shared=True))
