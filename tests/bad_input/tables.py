"""Malformed tables and table schemas of the bad-input corpus, and the table a release handles (a column named
``<script>``, an all-missing column)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import yaml

from bad_input.case import LEVELS, SCRIPT, Case, Invocation
from helpers import DATA, TINY_COLUMNS, tiny_schema


def tiny_frame(rows: int = 600) -> pl.DataFrame:
    """The first ``rows`` rows of the demo slice, the 13 columns of the tests' tiny table, as text."""
    return pl.read_csv(DATA / "diabetes_demo.csv", infer_schema=False, n_rows=rows).select(TINY_COLUMNS)


def write_table(root: Path, *, frame: pl.DataFrame | None = None, schema: dict | None = None,
                name: str = "visits.csv") -> tuple[Path, Path]:
    """A CSV and its schema under ``root/input``: the tiny table unless ``frame`` / ``schema`` are given."""
    folder = root / "input"
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / name
    (tiny_frame() if frame is None else frame).write_csv(data)
    schema_file = folder / "visits.schema.yaml"
    schema_file.write_text(yaml.safe_dump(tiny_schema() if schema is None else schema, sort_keys=False))
    return data, schema_file


def table_release(root: Path, data: Path, schema: Path, *extra: str, target: str = "readmitted") -> list[str]:
    """The short form of ``synthdata release`` on a table, the export going to ``root/out``."""
    return ["release", str(data), "--schema", str(schema), "--epsilon", "2", "--target", target,
            "--out", str(root / "out"), "--preset", "fast", "--quiet", *extra]


def _table_case(edit: Callable[[Path, Path], tuple[str, ...]]) -> Callable[[Path], Invocation]:
    """A case on the tiny table: ``edit(data, schema)`` damages the files and returns what the message names."""

    def build(root: Path) -> Invocation:
        data, schema = write_table(root)
        names = edit(data, schema)
        return Invocation(table_release(root, data, schema), root / "out", names)

    return build


def _rewrite(data: Path, frame: pl.DataFrame) -> None:
    frame.write_csv(data)


def _semicolons(data: Path, schema: Path) -> tuple[str, ...]:
    tiny_frame().write_csv(data, separator=";")
    return (data.name, "';'")


def _utf16(data: Path, schema: Path) -> tuple[str, ...]:
    data.write_bytes(data.read_text(encoding="utf-8").encode("utf-16"))
    return (data.name,)


def _latin1(data: Path, schema: Path) -> tuple[str, ...]:
    # A Latin-1 export: 'é' is one byte (0xE9), which is not UTF-8.
    frame = tiny_frame().with_columns(pl.when(pl.int_range(pl.len()) == 6).then(pl.lit("Caucasian é"))
                                      .otherwise(pl.col("race")).alias("race"))
    data.write_bytes(frame.write_csv().encode("latin-1"))
    return (data.name, "UTF-8", "row 7")


def _header_only(data: Path, schema: Path) -> tuple[str, ...]:
    data.write_text(",".join(TINY_COLUMNS) + "\n")
    return (data.name,)


def _zero_bytes(data: Path, schema: Path) -> tuple[str, ...]:
    data.write_bytes(b"")
    return (data.name,)


def _one_row(data: Path, schema: Path) -> tuple[str, ...]:
    _rewrite(data, tiny_frame(1))
    return (data.name,)


def _ten_patients(data: Path, schema: Path) -> tuple[str, ...]:
    _rewrite(data, tiny_frame(10))
    return (data.name, "at least 50")


def _all_nan_required(data: Path, schema: Path) -> tuple[str, ...]:
    _rewrite(data, tiny_frame().with_columns(pl.lit("NaN").alias("num_medications")))
    return (data.name, "'num_medications'")


def _all_missing_discovered(data: Path, schema: Path) -> tuple[str, ...]:
    # Every value missing, and no public range: DP cannot learn one, refused before any budget is reserved.
    _rewrite(data, tiny_frame().with_columns(pl.lit(None, dtype=pl.String).alias("num_medications")))
    spec = yaml.safe_load(schema.read_text())
    spec["columns"]["num_medications"] = {"type": "numeric", "nullable": True, "integer": True}
    schema.write_text(yaml.safe_dump(spec, sort_keys=False))
    return ("'num_medications'",)


def _many_undeclared_levels(data: Path, schema: Path) -> tuple[str, ...]:
    # 100,000 rows whose 'insulin' holds 100,000 distinct levels, none declared: the message stays one line.
    frame = pl.concat([tiny_frame()] * 167).head(LEVELS)
    _rewrite(data, frame.with_columns(pl.Series("insulin", [f"L{i:06d}" for i in range(LEVELS)])))
    return (data.name, "'insulin'", f"{LEVELS} value(s)")


def _many_declared_levels(data: Path, schema: Path) -> tuple[str, ...]:
    # A public list of 100,000 levels is read (in C: 0.9 s, not 6 s) and checked; one value is not on it.
    codes = [f"D{i:05d}" for i in range(LEVELS)]
    values = codes[:599] + ["X99999"]
    _rewrite(data, tiny_frame().with_columns(pl.Series("insulin", values)))
    spec = yaml.safe_load(schema.read_text())
    spec["columns"]["insulin"] = {"type": "categorical", "categories": codes}
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml: the 100,000 codes in 0.3 s, not 4 s
    schema.write_text(yaml.dump(spec, Dumper=dumper, sort_keys=False))
    return (data.name, "'insulin'", "rows 600")


def _ragged(data: Path, schema: Path) -> tuple[str, ...]:
    lines = data.read_text().splitlines()
    lines[12] += ",extra"
    data.write_text("\n".join(lines) + "\n")
    return (data.name, "rows 12")


def _duplicate_header(data: Path, schema: Path) -> tuple[str, ...]:
    lines = data.read_text().splitlines()
    lines[0] = lines[0].replace("insulin", "gender")
    data.write_text("\n".join(lines) + "\n")
    return (data.name, "'gender'")


def _script_column_undeclared(data: Path, schema: Path) -> tuple[str, ...]:
    _rewrite(data, tiny_frame().with_columns(pl.lit("1").alias(SCRIPT)))
    return (data.name, SCRIPT)


def _infinite(data: Path, schema: Path) -> tuple[str, ...]:
    _rewrite(data, tiny_frame().with_columns(pl.when(pl.int_range(pl.len()) == 4).then(pl.lit("inf"))
                                             .otherwise(pl.col("num_lab_procedures")).alias("num_lab_procedures")))
    return (data.name, "'num_lab_procedures'", "rows 5")


def _out_of_bounds(data: Path, schema: Path) -> tuple[str, ...]:
    _rewrite(data, tiny_frame().with_columns(pl.when(pl.int_range(pl.len()) == 9).then(pl.lit("999"))
                                             .otherwise(pl.col("time_in_hospital")).alias("time_in_hospital")))
    return (data.name, "'time_in_hospital'", "rows 10")


def _subject_missing(data: Path, schema: Path) -> tuple[str, ...]:
    _rewrite(data, tiny_frame().with_columns(pl.when(pl.int_range(pl.len()) == 2).then(pl.lit(""))
                                             .otherwise(pl.col("patient_nbr")).alias("patient_nbr")))
    return (data.name, "'patient_nbr'", "rows 3")


def _schema_min_above_max(data: Path, schema: Path) -> tuple[str, ...]:
    spec = yaml.safe_load(schema.read_text())
    spec["columns"]["time_in_hospital"].update(min=14, max=1)
    schema.write_text(yaml.safe_dump(spec, sort_keys=False))
    return (schema.name, "time_in_hospital")


def _schema_unknown_key(data: Path, schema: Path) -> tuple[str, ...]:
    spec = yaml.safe_load(schema.read_text())
    spec["columns"]["gender"]["categoires"] = ["Male", "Female"]
    schema.write_text(yaml.safe_dump(spec, sort_keys=False))
    return (schema.name, "gender", "categoires")


def _schema_not_yaml(data: Path, schema: Path) -> tuple[str, ...]:
    schema.write_text("columns: {age: [unclosed\n")
    return (schema.name,)


def _parquet_garbage(root: Path) -> Invocation:
    data, schema = write_table(root)
    fake = data.with_name("visits.parquet")
    fake.write_bytes(b"PAR1" + bytes(range(256)) * 4)
    return Invocation(table_release(root, fake, schema), root / "out", (fake.name,))


def _unsupported_extension(root: Path) -> Invocation:
    data, schema = write_table(root)
    xlsx = data.with_name("visits.xlsx")
    data.rename(xlsx)
    return Invocation(table_release(root, xlsx, schema), root / "out", (xlsx.name,))


def _unknown_target(root: Path) -> Invocation:
    data, schema = write_table(root)
    return Invocation(table_release(root, data, schema, target="outcome"), root / "out", ("'outcome'", data.name))


def _draft_from_utf16(root: Path) -> Invocation:
    # `schema draft` reads the same way a release does.
    data, _ = write_table(root)
    _utf16(data, data)
    draft = root / "visits.draft.yaml"
    return Invocation(["schema", "draft", str(data), "--out", str(draft)], draft, (data.name,))


def _audit_latin1_holdout(root: Path) -> Invocation:
    # `synthdata audit` of another tool's output: a holdout file exported in Latin-1.
    data, schema = write_table(root)
    holdout = data.with_name("holdout.csv")
    _rewrite(holdout, tiny_frame())
    _latin1(holdout, schema)
    argv = ["audit", "--train", str(data), "--holdout", str(holdout), "--synthetic", str(data), "--schema",
            str(schema), "--target", "readmitted", "--out", str(root / "out")]
    return Invocation(argv, root / "out", (holdout.name, "row 7"))


TABLE_CASES: list[Case] = [
    Case("csv-semicolon-delimiter", "table", _table_case(_semicolons), ("delimiter",)),
    Case("csv-utf16", "table", _table_case(_utf16), ("utf-16", "save it as utf-8")),
    Case("csv-latin1", "table", _table_case(_latin1), ("not utf-8", "latin-1")),
    Case("csv-header-only", "table", _table_case(_header_only), ("no rows",)),
    Case("csv-zero-bytes", "table", _table_case(_zero_bytes), ("empty",)),
    Case("csv-one-row", "table", _table_case(_one_row), ("too few",)),
    Case("csv-ten-patients", "table", _table_case(_ten_patients), ("privacy units",)),
    Case("csv-all-nan-required-column", "table", _table_case(_all_nan_required), ("missing value",)),
    Case("csv-100000-undeclared-levels", "table", _table_case(_many_undeclared_levels), ("not among the declared",)),
    Case("schema-100000-levels-value-off-the-list", "table", _table_case(_many_declared_levels),
         ("not among the declared",)),
    Case("csv-ragged-row", "table", _table_case(_ragged), ("malformed",)),
    Case("csv-duplicate-header", "table", _table_case(_duplicate_header), ("more than once",)),
    Case("csv-script-column-undeclared", "table", _table_case(_script_column_undeclared), ("not declared",)),
    Case("csv-infinite-number", "table", _table_case(_infinite), ("not finite",)),
    Case("csv-out-of-bounds", "table", _table_case(_out_of_bounds), ("outside the declared bounds",)),
    Case("csv-subject-missing", "table", _table_case(_subject_missing), ("subject",)),
    Case("csv-all-missing-column-range-to-learn", "table", _table_case(_all_missing_discovered),
         ("could not learn the range", "nothing was charged")),
    Case("schema-min-above-max", "table", _table_case(_schema_min_above_max), ("must be below",)),
    Case("schema-unknown-key", "table", _table_case(_schema_unknown_key), ("not permitted",)),
    Case("schema-not-yaml", "table", _table_case(_schema_not_yaml), ("not valid yaml",)),
    Case("parquet-garbage", "table", _parquet_garbage, ("parquet",)),
    Case("unsupported-extension", "table", _unsupported_extension, ("unsupported extension",)),
    Case("unknown-target", "table", _unknown_target, ("target column",)),
    Case("schema-draft-of-a-utf16-csv", "table", _draft_from_utf16, ("utf-16",)),
    Case("audit-latin1-holdout", "table", _audit_latin1_holdout, ("not utf-8",)),
]




def handled_table(root: Path) -> tuple[Path, Path]:
    """The tiny table with two inputs a release handles rather than refuses: a column named
    ``<script>alert(1)</script>`` and a nullable column whose every value is missing."""
    frame = tiny_frame().with_columns(
        pl.col("diabetesMed").alias(SCRIPT),
        pl.lit(None, dtype=pl.String).alias("hba1c_value"),
    ).drop("diabetesMed")
    schema = tiny_schema()
    columns = schema["columns"]
    columns[SCRIPT] = columns.pop("diabetesMed")
    columns["hba1c_value"] = {"type": "numeric", "min": 3, "max": 20, "nullable": True}
    return write_table(root, frame=frame, schema=schema)
