"""Fit once, sample many: a DP generator object in the spirit of SDV and synthcity, gated like a release.

::

    from synthdata.api import TableSynthesizer

    synth = TableSynthesizer(schema="diabetes.schema.yaml", epsilon=1.0, target="readmitted")
    synth.fit(frame)                               # DP training: charges epsilon 1 to the dataset's budget
    rows = synth.sample(50_000)                    # post-processing: no epsilon
    synth.save("diabetes.synth")                   # DP outputs only: weights, codec, column distributions
    done = synth.release(20_000, out="release/")   # audited against the real data, exported if every gate passes

``fit`` runs the release's ``prepared`` and ``model`` steps (``synthdata.flow.steps``) in a run work area
under ``$SYNTHDATA_HOME/runs``, against the same ledger as the CLI; ``release`` is ``synthdata generate`` on
that run (``synthdata.flow.generation``).  ``Synthesizer(spec=...)`` does the same for any modality from a
release spec; ``TableSynthesizer`` builds the spec of a table from keywords and fits a DataFrame.

Privacy caveats: ``sample`` returns records that went through no audit.  They carry the model's DP guarantee
(post-processing), but nothing checked their fidelity or looked for copies: what leaves the building should
be a ``release``.  The saved file holds only DP outputs and public facts (the denoiser's weights, the public
encoding, the DP-measured column distributions, the spec and the privacy statement), never a real record;
it is loaded with ``torch.load(weights_only=True)``.  The run's work area keeps the private splits that
``release`` audits against (and the copy of a DataFrame given to ``fit``) until ``synthdata purge RUN``; a loaded synthesizer whose run was purged can
sample but not release.
"""

from __future__ import annotations

import secrets
import shutil
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import polars as pl
import torch
import yaml

from synthdata import home
from synthdata.api import Release, generate
from synthdata.config import ReleaseSpec
from synthdata.errors import BadInputError
from synthdata.flow import publish, stages
from synthdata.flow.steps import RELEASE, Run, run_steps
from synthdata.modalities import get_modality
from synthdata.modalities.table.schema import TableSchema, parse_schema
from synthdata.privacy.ledger import default_ledger
from synthdata.release_spec import load_spec, parse_spec
from synthdata.run_area import RunArea, read_json

FORMAT = "synthdata.synthesizer"
VERSION = 2  # 2: the model is its trained record, weights with the diffusion settings they learned under


class Synthesizer:
    """A DP diffusion generator of one release spec: ``fit`` once (spends the spec's epsilon), then ``sample``
    (free), ``save``/``load`` and ``release`` (audited and gated) as often as needed."""

    def __init__(self, *, spec: ReleaseSpec | Path | str) -> None:
        self.spec = spec if isinstance(spec, ReleaseSpec) else load_spec(Path(spec))
        self.run_id: str | None = None
        self._model: dict[str, Any] | None = None

    def fit(self, *, progress: bool = True) -> Synthesizer:
        """Read, validate and split the spec's data, measure what it needs with DP and train the denoiser with
        DP-SGD: the spec's epsilon is charged to the dataset's budget (with ``progress``, the plan is printed first).  Bad input
        raises BadInputError before anything is charged; a refused budget raises BudgetRefusedError."""
        return self._train(run_id=f"api-{uuid.uuid4().hex[:12]}", progress=progress)

    def _train(self, *, run_id: str, progress: bool) -> Synthesizer:
        if self._model is not None:
            raise BadInputError(f"this synthesizer is fitted already (run {self.run_id}): sample from it, or make "
                                "a new one to train again (a new charge)")
        stages.check_spec(spec=self.spec)
        ledger = default_ledger(home_folder=home.home())
        if progress:  # the steward sees what will be spent before it is (the plan reads the data once more)
            plan = stages.describe_plan(stages.plan(spec=self.spec, ledger=ledger))
            print(f"fit {self.spec.name}: the plan\n{plan}", file=sys.stderr)
        run = Run(spec=self.spec, area=RunArea(home.run_path(run_id)), open_ledger=lambda: ledger, run_id=run_id,
                  progress=progress)
        run_steps(run, steps=RELEASE[:2])
        self.run_id = run_id
        self._model = _model_of(spec=self.spec, area=run.area, run_id=run_id)
        return self

    @property
    def privacy(self) -> dict[str, Any]:
        """The privacy statement of the trained model: epsilon, delta, privacy unit, mechanisms, public facts."""
        return dict(self._fitted()["privacy"])

    def sample(self, n: int, *, seed: int | None = None) -> Any:
        """``n`` new records (no epsilon: post-processing).  NOT audited: see the module's privacy caveat.
        Tables come back as a pandas DataFrame; ``seed`` (public) makes a draw repeatable."""
        if n < 1:
            raise BadInputError(f"sample needs at least 1 record, got {n}")
        model = self._fitted()
        modality = get_modality(model["modality"])
        data = stages.draw(spec=self.spec, modality=modality, codec=_codec(modality, model["codec"]),
                           trained=model["trained"], source=f"the model of run {self.run_id}", marginals=model["marginals"], width=model["width"], n=n,
                           seed=secrets.randbits(31) if seed is None else seed)
        return data.to_pandas() if isinstance(data, pl.DataFrame) else data

    def release(self, n: int, *, out: Path | str, seed: int | None = None, progress: bool = True) -> Release:
        """``n`` new records audited against the run's real training and holdout splits and exported to ``out``
        only if every gate passes (``synthdata generate``); raises GateFailedError otherwise.  No epsilon."""
        self._fitted()
        return generate(run_id=self.run_id, records=n, out=out, seed=seed, progress=progress)

    def save(self, path: Path | str) -> Path:
        """Write the trained model (DP outputs and public facts only, see the module docstring) to ``path``."""
        path = Path(path)
        torch.save({"format": FORMAT, "version": VERSION, "run_id": self.run_id, "spec": self.spec.to_yaml(),
                    **self._fitted()}, path)
        return path

    @staticmethod
    def load(path: Path | str) -> Synthesizer:
        """A synthesizer saved by ``save`` (of any modality); BadInputError naming the file when it is not one."""
        path = Path(path)
        if not path.is_file():
            raise BadInputError(f"{path} does not exist")
        try:
            saved = torch.load(path, weights_only=True)
        except Exception:  # torch raises several kinds for a file that is not its own
            raise BadInputError(f"{path} is not a saved synthdata synthesizer (torch could not read it)") from None
        if not isinstance(saved, dict) or saved.get("format") != FORMAT:
            raise BadInputError(f"{path} is not a saved synthdata synthesizer")
        if saved.get("version") != VERSION:
            raise BadInputError(f"{path} was saved by another synthdata version (format {saved.get('version')}, "
                                f"this one reads {VERSION})")
        synth = Synthesizer(spec=parse_spec(yaml.safe_load(saved["spec"]), source=str(path)))
        synth.run_id = saved["run_id"]
        synth._model = {key: saved[key] for key in ("modality", "codec", "marginals", "width", "trained", "privacy")}
        return synth

    def _fitted(self) -> dict[str, Any]:
        if self._model is None:
            raise BadInputError("fit the synthesizer first (or load a saved one)")
        return self._model


class TableSynthesizer(Synthesizer):
    """A DP table generator from keywords: ``TableSynthesizer(schema=..., epsilon=1.0, target="readmitted")``.

    ``schema`` (a TableSchema, its mapping, or a YAML file) declares the public domains, identifiers and the
    subject (the patient); ``epsilon`` is what ``fit`` charges.  Every other keyword is a release spec's
    (``synthdata.config``): ``delta``, ``total_epsilon``, ``max_rows_per_subject``, ``preset``, ``epochs``,
    ``batch_size``, ``gates``, ``holdout_fraction``, ``seed``.
    """

    def __init__(self, *, schema: TableSchema | dict | Path | str, epsilon: float, target: str | None = None,
                 name: str = "table", delta: float | None = None, total_epsilon: float | None = None,
                 max_rows_per_subject: int | None = None, preset: str = "standard", epochs: int | None = None,
                 batch_size: int | None = None, gates: dict[str, float] | None = None,
                 holdout_fraction: float | None = None, seed: int = 0) -> None:
        if isinstance(schema, (str, Path)):
            schema = Path(schema)
            if not schema.is_file():
                raise BadInputError(f"schema file {schema} does not exist")
            schema = yaml.safe_load(schema.read_text(encoding="utf-8"))
        self.schema = schema if isinstance(schema, TableSchema) else parse_schema(schema)
        privacy = {"epsilon": epsilon, "delta": delta, "total_epsilon": total_epsilon,
                   "max_rows_per_subject": max_rows_per_subject}
        audits = {"gates": gates, "holdout_fraction": holdout_fraction}
        self._raw = {"name": name, "dataset": {"path": "unfitted.parquet", "target": target},
                     "privacy": {k: v for k, v in privacy.items() if v is not None},
                     "model": {k: v for k, v in {"preset": preset, "epochs": epochs, "batch_size": batch_size}.items()
                               if v is not None},
                     "audits": {k: v for k, v in audits.items() if v is not None},
                     "output": {"out": "{home}/releases/{name}-{run_id}"}, "seed": seed}
        super().__init__(spec=parse_spec(self._raw, source="TableSynthesizer"))

    def fit(self, data: Any = None, *, progress: bool = True) -> TableSynthesizer:
        """Train on ``data``: a pandas or polars DataFrame, or a CSV/Parquet file.  A DataFrame is written into
        the run's private work area first (the ledger knows a dataset by its content, so a DataFrame and the
        file it came from share one budget); input refused before training leaves nothing behind."""
        if data is None:
            raise BadInputError("fit needs the real table: a pandas or polars DataFrame, or a CSV/Parquet file")
        run_id = f"api-{uuid.uuid4().hex[:12]}"
        inputs = home.run_path(run_id) / "input"
        if isinstance(data, (str, Path)):
            path = Path(data).expanduser().resolve()
            if not path.is_file():
                raise BadInputError(f"data file {path} does not exist")
            frame = None
        else:
            frame, path = _polars(data), inputs / f"{self.spec.name}.parquet"
        inputs.mkdir(parents=True)
        if frame is not None:
            frame.write_parquet(path)
        schema_file = inputs / f"{self.spec.name}.schema.yaml"
        schema_file.write_text(self.schema.to_yaml(), encoding="utf-8")
        self.spec = parse_spec({**self._raw, "dataset": {**self._raw["dataset"], "path": str(path),
                                                         "schema": str(schema_file)}}, source="TableSynthesizer")
        try:
            return self._train(run_id=run_id, progress=progress)
        except BaseException:
            if not (home.run_path(run_id) / "prepared" / "prepared.json").is_file():
                shutil.rmtree(home.run_path(run_id), ignore_errors=True)  # refused before any DP mechanism ran
            raise


def _polars(data: Any) -> pl.DataFrame:
    if isinstance(data, pl.DataFrame):
        return data
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is a dependency
        pd = None
    if pd is not None and isinstance(data, pd.DataFrame):
        return pl.from_pandas(data)
    raise BadInputError(f"fit takes a pandas or polars DataFrame or a file path, not {type(data).__name__}")


def _model_of(*, spec: ReleaseSpec, area: RunArea, run_id: str) -> dict[str, Any]:
    """What sampling needs, and the privacy statement, from a run's work area (DP outputs and public facts)."""
    prepared = read_json(area.prepared / "prepared.json")
    training = read_json(area.model / "training.json")
    canary = area.model / "canary_audit.json"
    privacy = publish.privacy_statement(spec=spec, prepared=prepared, training=training,
                                        canary=read_json(canary) if canary.is_file() else None)
    marginals = area.prepared / "marginals.json"
    return {"modality": prepared["modality"], "codec": (area.prepared / "codec.json").read_text(encoding="utf-8"),
            "marginals": read_json(marginals) if marginals.is_file() else None, "width": prepared["encoded_width"],
            "trained": torch.load(area.model / "denoiser.pt", weights_only=True),
            "privacy": {k: v for k, v in privacy.items() if k != "ledger"} | {"run_id": run_id}}


def _codec(modality: Any, text: str) -> Any:
    """A modality's codec from the text of its codec file (the modalities read codecs from files)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "codec.json"
        path.write_text(text, encoding="utf-8")
        return modality.read_codec(path=path)
