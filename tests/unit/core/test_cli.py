"""The CLI's contract with a data steward: clear errors, exit codes, and nothing written on bad input."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from synthdata.cli import main


def _release(data: Path, schema: Path | None, out: Path, *extra: str) -> list[str]:
    args = ["release", str(data), "--epsilon", "2", "--out", str(out), "--target", "readmitted", "--quiet"]
    return args + (["--schema", str(schema)] if schema else []) + list(extra)


def _assert_nothing_written(home: Path, out: Path) -> None:
    assert not out.exists()
    assert not home.exists() or not (home / "runs").exists() or not any((home / "runs").iterdir())


def _edit(data: Path, edit) -> None:
    frame = pl.read_csv(data, infer_schema=False)
    edit(frame).write_csv(data)


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("unknown column", "not declared in the schema"),
        ("wrong type", "num_lab_procedures"),
        ("empty file", "no rows"),
        ("nan in non-nullable", "gender"),
        ("missing file", "does not exist"),
    ],
)
def test_bad_input_exits_2_names_the_problem_and_writes_nothing(
    case: str, expected: str, tiny_table, synthdata_home: Path, tmp_path: Path, capsys
) -> None:
    data, schema = tiny_table
    if case == "unknown column":
        _edit(data, lambda f: f.with_columns(pl.lit("1").alias("shoe_size")))
    elif case == "wrong type":
        _edit(data, lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 5).then(pl.lit("many"))
                                             .otherwise(pl.col("num_lab_procedures")).alias("num_lab_procedures")))
    elif case == "empty file":
        data.write_text(data.read_text().splitlines()[0] + "\n")
    elif case == "nan in non-nullable":
        _edit(data, lambda f: f.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("?"))
                                             .otherwise(pl.col("gender")).alias("gender")))
    elif case == "missing file":
        data = data.with_name("absent.csv")
    out = tmp_path / "release"
    code = main(_release(data, schema, out))
    err = capsys.readouterr().err
    assert code == 2, err
    assert expected in err
    _assert_nothing_written(synthdata_home, out)


@pytest.mark.parametrize("epsilon", ["0", "-1"])
def test_non_positive_epsilon_is_refused(epsilon: str, tiny_table, synthdata_home: Path, tmp_path: Path, capsys) -> None:
    data, schema = tiny_table
    out = tmp_path / "release"
    args = _release(data, schema, out)
    args[args.index("--epsilon") + 1] = epsilon
    assert main(args) == 2
    assert "epsilon" in capsys.readouterr().err
    _assert_nothing_written(synthdata_home, out)


def test_unknown_target_is_refused(tiny_table, synthdata_home: Path, tmp_path: Path, capsys) -> None:
    data, schema = tiny_table
    args = _release(data, schema, tmp_path / "release")
    args[args.index("--target") + 1] = "outcome"
    assert main(args) == 2
    assert "target column 'outcome'" in capsys.readouterr().err


def test_budget_refused_exits_4_before_training(tiny_table, synthdata_home: Path, tmp_path: Path, capsys) -> None:
    data, schema = tiny_table
    out = tmp_path / "release"
    code = main(_release(data, schema, out, "--total-epsilon", "1"))
    err = capsys.readouterr().err
    assert code == 4, err
    assert "budget refused" in err and "remaining 1" in err
    assert not out.exists()
    runs = list((synthdata_home / "runs").iterdir())
    assert all(not (run / "model").exists() or not any((run / "model").iterdir()) for run in runs)
    assert main(["budget", "show"]) == 0  # the refused run wrote nothing to the ledger
    assert "no datasets" in capsys.readouterr().out


def test_dry_run_states_the_split_and_the_ledgers_answer_and_charges_nothing(
    tiny_table, synthdata_home: Path, tmp_path: Path, capsys
) -> None:
    data, schema = tiny_table
    out = tmp_path / "release"
    assert main(_release(data, schema, out, "--dry-run")) == 0
    printed = capsys.readouterr().out
    # epsilon 2: the tiny table's few patients leave DP-SGD too noisy to learn, so 0.9 to the distributions
    assert "column distributions 1.8" in printed and "DP-SGD training 0.2" in printed
    assert "noise multiplier" in printed and "a new dataset: its budget would be 10" in printed and "fits" in printed
    _assert_nothing_written(synthdata_home, out)
    assert main(["budget", "show"]) == 0 and "no datasets" in capsys.readouterr().out
    assert main(_release(data, schema, out, "--dry-run", "--total-epsilon", "1")) == 4
    assert "would be REFUSED" in capsys.readouterr().out
    _assert_nothing_written(synthdata_home, out)


def test_schema_draft_warns_and_round_trips(tiny_table, tmp_path: Path, capsys) -> None:
    from synthdata.modalities.table.schema import load_schema

    data, _ = tiny_table
    out = tmp_path / "draft.yaml"
    assert main(["schema", "draft", str(data), "--out", str(out)]) == 0
    assert "READ FROM THE PRIVATE DATA" in capsys.readouterr().err
    schema = load_schema(out)
    assert schema.columns["encounter_id"].type == "identifier"
    assert "private data" in out.read_text().lower()
    assert main(["schema", "draft", str(data), "--out", str(out)]) == 2


def test_purge_deletes_a_run_work_area(synthdata_home: Path, capsys) -> None:
    from synthdata import home

    area = home.run_dir("run-1")
    (area / "secret.parquet").write_text("x")
    assert main(["purge", "run-1"]) == 0
    assert not area.exists()
    assert main(["purge", "../etc"]) == 2


def test_ledger_key_ignores_schema_edits_and_matches_budget_show(tiny_table, tmp_path: Path) -> None:
    from synthdata.config import DatasetSpec, PrivacySpec
    from synthdata.modalities.table.modality import TableModality
    from synthdata.privacy.fingerprint import file_fingerprint

    data, schema = tiny_table
    modality = TableModality()
    privacy = PrivacySpec(epsilon=1)
    declared = modality.load(dataset=DatasetSpec(path=data, schema=schema), privacy=privacy)
    inferred = modality.load(dataset=DatasetSpec(path=data), privacy=PrivacySpec(epsilon=1, not_private=True))
    assert modality.fingerprint(source=declared) == modality.fingerprint(source=inferred) == file_fingerprint(path=data)


def test_flags_beside_config_override_the_spec_and_say_so(tmp_path: Path, capsys) -> None:
    """`release --config spec.yaml --epsilon 1` spends 1, not the file's 3 (flags were silently dropped)."""
    from synthdata.cli import build_parser, spec_from_args

    demo = Path(__file__).resolve().parents[3] / "synthdata" / "data" / "demo.yaml"
    out = tmp_path / "elsewhere"
    args = build_parser().parse_args(["release", "--config", str(demo), "--epsilon", "1", "--out", str(out),
                                      "--seed", "5", "--preset", "standard", "--target", "readmitted"])
    spec = spec_from_args(args)
    assert spec.privacy.epsilon == 1.0 and spec.output.out == out and spec.seed == 5
    assert spec.dataset.target == "readmitted" and spec.model.preset == "standard"
    assert spec.model.batch_size == 4096  # the standard preset filled the model, not the file's fast one
    assert yaml.safe_load(spec.to_yaml())["privacy"]["epsilon"] == 1.0  # what runs is what the run records
    err = capsys.readouterr().err
    assert "privacy.epsilon 1.0 from the command line (the spec file says 3.0)" in err
    assert "seed 5 from the command line (the spec file says 1234)" in err
    unchanged = spec_from_args(build_parser().parse_args(["release", "--config", str(demo)]))
    assert unchanged.privacy.epsilon == 3.0 and unchanged.model.preset == "fast" and unchanged.seed == 1234
    assert "from the command line" not in capsys.readouterr().err


def test_version_exit_codes_and_settings_hints_lead_somewhere(tmp_path: Path, capsys) -> None:
    import re

    from synthdata.versions import __version__

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"synthdata {__version__}"
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    for code in ("0", "1", "2", "3", "4", "5"):
        assert re.search(rf"^  {code}  \w", help_text, re.M), code
    for modality in ("image", "ecg", "eeg"):  # the settings example the error names exists
        assert main(["release", str(tmp_path / "x"), "--modality", modality, "--epsilon", "1",
                     "--out", str(tmp_path / "o")]) == 2
        named = re.search(r"section of (\S+\.yaml)\)", capsys.readouterr().err)
        assert named and Path(named.group(1)).is_file()


def test_a_reproducible_run_is_refused_unless_marked_not_private(tiny_table, synthdata_home: Path, tmp_path: Path,
                                                                 capsys) -> None:
    """Reproducible noise makes a release non-DP: refused before anything runs; with privacy.not_private it is
    exported stating no epsilon and saying NOT DIFFERENTIALLY PRIVATE in its files and report."""
    import json

    import pyarrow.parquet as pq

    from helpers import tiny_spec_dict

    data, schema = tiny_table
    spec_path = tmp_path / "spec.yaml"
    out = tmp_path / "release"
    raw = tiny_spec_dict(data, schema, out)
    raw["privacy"]["reproducible"] = True
    spec_path.write_text(yaml.safe_dump(raw))
    assert main(["release", "--config", str(spec_path), "--quiet"]) == 2
    assert "privacy.not_private" in capsys.readouterr().err
    _assert_nothing_written(synthdata_home, out)
    assert not (synthdata_home / "ledger.sqlite").exists()

    raw["privacy"]["not_private"] = True
    spec_path.write_text(yaml.safe_dump(raw))
    assert main(["release", "--config", str(spec_path), "--quiet"]) == 0, capsys.readouterr().err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dp_valid"] is False and manifest["epsilon"] is None and manifest["delta"] is None
    assert manifest["privacy"] == "NOT DIFFERENTIALLY PRIVATE"
    metadata = pq.read_schema(out / "synthetic.parquet").metadata
    assert b"synthdata.epsilon" not in metadata and metadata[b"synthdata.dp_valid"] == b"false"
    report = (out / "report.html").read_text()
    assert "NOT DIFFERENTIALLY PRIVATE" in report and "produced with differential privacy at" not in report


def test_an_unedited_schema_draft_is_refused_and_accepted_once_edited(tiny_table, synthdata_home: Path,
                                                                      tmp_path: Path, capsys) -> None:
    """A draft holds the real min/max and categories: released as is, its domains would count as public."""
    data, _ = tiny_table
    draft = tmp_path / "draft.yaml"
    assert main(["schema", "draft", str(data), "--out", str(draft)]) == 0
    capsys.readouterr()
    out = tmp_path / "release"
    args = ["release", str(data), "--epsilon", "2", "--out", str(out), "--target", "readmitted", "--quiet",
            "--schema", str(draft)]
    assert main(args) == 2
    assert "unedited draft" in capsys.readouterr().err
    _assert_nothing_written(synthdata_home, out)
    assert not (synthdata_home / "ledger.sqlite").exists()
    # the steward edits it (here: every bound and category list replaced by `discover` / no bounds) and deletes
    # the draft line: accepted
    edited = yaml.safe_load(draft.read_text())
    edited.pop("draft")
    for column in edited["columns"].values():
        column.pop("min", None), column.pop("max", None)
        if column["type"] == "categorical":
            column["categories"] = "discover"
    draft.write_text(yaml.safe_dump(edited))
    from synthdata.modalities.table.schema import load_schema

    assert not load_schema(draft).draft


def test_a_range_dp_cannot_learn_is_refused_before_any_charge(
    tiny_table, synthdata_home: Path, tmp_path: Path, capsys
) -> None:
    """600 rows, a range to learn at a preprocessing epsilon far too small: the dry run says so (exit 2) and
    the release refuses it (exit 2) before reserving anything, instead of failing after the reservation."""
    data, schema = tiny_table
    raw = yaml.safe_load(schema.read_text())
    raw["columns"]["num_lab_procedures"] = {"type": "numeric", "integer": True}  # no bounds: learned with DP
    schema.write_text(yaml.safe_dump(raw, sort_keys=False))
    out = tmp_path / "release"
    args = _release(data, schema, out)
    args[args.index("--epsilon") + 1] = "0.2"  # 0.02 for the range
    assert main([*args, "--dry-run"]) == 2
    assert "'num_lab_procedures'" in capsys.readouterr().out
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "'num_lab_procedures'" in err and "Nothing was charged" in err
    _assert_nothing_written(synthdata_home, out)
    assert main(["budget", "show"]) == 0 and "no datasets" in capsys.readouterr().out
    args[args.index("--epsilon") + 1] = "8"  # 0.8 for the range: learned
    assert main([*args, "--dry-run"]) == 0
    assert "0.8 each for num_lab_procedures" in capsys.readouterr().out  # the split per column


def test_without_a_schema_the_release_is_refused_before_any_charge(
    tiny_table, synthdata_home: Path, tmp_path: Path, capsys
) -> None:
    """Types inferred from the private data are a non-DP decision (one added row can flip a column): without a
    schema the release is refused (exit 2) before anything is charged, unless it is declared not private."""
    from synthdata.config import DatasetSpec, PrivacySpec
    from synthdata.modalities import get_modality

    data, _ = tiny_table
    out = tmp_path / "release"
    assert main(_release(data, None, out)) == 2
    assert "no schema" in capsys.readouterr().err
    _assert_nothing_written(synthdata_home, out)
    assert not (synthdata_home / "ledger.sqlite").exists()
    source = get_modality("table").load(dataset=DatasetSpec(path=data), privacy=PrivacySpec(epsilon=1, not_private=True))
    assert source.inference is not None and not get_modality("table").public_inputs(source=source)


def test_a_holdout_draw_leaving_too_few_training_patients_is_explained_before_any_charge(
    tiny_table, synthdata_home: Path, tmp_path: Path, capsys
) -> None:
    """45 patients, each held out with probability 20%: at most 45 (about 36) remain for training, fewer than
    the 50 DP training needs whatever the draw (with 55 patients, about 2% of draws left 50 and the release
    ran). The refusal says what the draw left and what to change, and charges nothing."""
    data, schema = tiny_table
    _edit(data, lambda frame: frame.filter(pl.col("patient_nbr").is_in(frame["patient_nbr"].unique(maintain_order=True)[:45].implode())))
    out = tmp_path / "release"
    assert main(_release(data, schema, out)) == 2
    err = capsys.readouterr().err
    assert "has 45 privacy units" in err and "left" in err and "for training" in err
    assert "audits.holdout_fraction" in err and "Nothing was charged" in err and "Traceback" not in err
    _assert_nothing_written(synthdata_home, out)
    assert main(["budget", "show"]) == 0 and "no datasets" in capsys.readouterr().out
