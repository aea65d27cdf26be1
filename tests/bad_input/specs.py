"""Malformed release specs and command lines of the bad-input corpus."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import yaml

from bad_input.case import Case, Invocation
from bad_input.tables import table_release, write_table


def spec_dict(root: Path) -> dict:
    """A valid spec of the tiny table (the files written under ``root/input``)."""
    data, schema = write_table(root)
    return {"name": "visits", "dataset": {"path": str(data), "schema": str(schema), "target": "readmitted"},
            "privacy": {"epsilon": 2.0}, "model": {"preset": "fast"}, "output": {"out": str(root / "out")}}


def write_spec(root: Path, spec: dict | str) -> Path:
    path = root / "spec.yaml"
    path.write_text(spec if isinstance(spec, str) else yaml.safe_dump(spec, sort_keys=False))
    return path


def _spec_case(edit: Callable[[dict], tuple[str, ...]]) -> Callable[[Path], Invocation]:
    """A case on a spec file: ``edit(spec)`` changes the valid spec in place and returns what the message names
    besides the spec file."""

    def build(root: Path) -> Invocation:
        spec = spec_dict(root)
        names = edit(spec)
        path = write_spec(root, spec)
        return Invocation(["release", "--config", str(path), "--quiet"], root / "out", (path.name, *names))

    return build


def _unknown_top_key(spec: dict) -> tuple[str, ...]:
    spec["privacy_budget"] = 3
    return ("privacy_budget",)


def _unknown_privacy_key(spec: dict) -> tuple[str, ...]:
    spec["privacy"]["epsilom"] = 1
    return ("privacy.epsilom",)


def _negative_epsilon(spec: dict) -> tuple[str, ...]:
    spec["privacy"]["epsilon"] = -1.0
    return ("privacy.epsilon",)


def _zero_epsilon(spec: dict) -> tuple[str, ...]:
    spec["privacy"]["epsilon"] = 0
    return ("privacy.epsilon",)


def _nan_epsilon(spec: dict) -> tuple[str, ...]:
    spec["privacy"]["epsilon"] = float("nan")
    return ("privacy.epsilon",)


def _text_epsilon(spec: dict) -> tuple[str, ...]:
    spec["privacy"]["epsilon"] = "three"
    return ("privacy.epsilon",)


def _huge_epsilon(spec: dict) -> tuple[str, ...]:
    spec["privacy"]["epsilon"] = 1e6
    return ("privacy.epsilon",)


def _delta_one(spec: dict) -> tuple[str, ...]:
    spec["privacy"]["delta"] = 1.0
    return ("privacy.delta",)


def _name_traversal(spec: dict) -> tuple[str, ...]:
    spec["name"] = "../../etc/visits"
    return ("name",)


def _unknown_modality(spec: dict) -> tuple[str, ...]:
    spec["dataset"]["modality"] = "xray"
    return ("dataset.modality", "xray")


def _unknown_gate(spec: dict) -> tuple[str, ...]:
    spec["audits"] = {"gates": {"fidelity.qualty": 0.5}}
    return ("audits.gates", "fidelity.qualty")


def _signal_section_on_table(spec: dict) -> tuple[str, ...]:
    spec["dataset"]["signal"] = {"sample_rate": 100, "amplitude": [-1, 1]}
    return ("dataset.signal",)


def _out_is_data_folder(spec: dict) -> tuple[str, ...]:
    spec["output"]["out"] = str(Path(spec["dataset"]["path"]).parent)
    return ("output.out",)


def _spec_not_yaml(root: Path) -> Invocation:
    spec_dict(root)
    path = write_spec(root, "name: visits\nprivacy: {epsilon: 2\n")
    return Invocation(["release", "--config", str(path), "--quiet"], root / "out", (path.name,))


def _spec_a_list(root: Path) -> Invocation:
    path = write_spec(root, "- release\n- visits\n")
    return Invocation(["release", "--config", str(path), "--quiet"], root / "out", (path.name,))


def _out_exists(root: Path) -> Invocation:
    spec = spec_dict(root)
    (root / "out").mkdir()
    (root / "out" / "earlier.txt").write_text("an earlier release\n")
    path = write_spec(root, spec)
    return Invocation(["release", "--config", str(path), "--quiet"], root / "out", (str(root / "out"),))


def _flag_negative_epsilon(root: Path) -> Invocation:
    data, schema = write_table(root)
    argv = table_release(root, data, schema)
    argv[argv.index("--epsilon") + 1] = "-3"
    return Invocation(argv, root / "out", ("privacy.epsilon",))


def _generate_traversal(root: Path) -> Invocation:
    return Invocation(["generate", "../../etc", "--records", "10", "--out", str(root / "out"), "--quiet"],
                      root / "out", ("'../../etc'",))


def _approve_traversal(root: Path) -> Invocation:
    return Invocation(["approve", "../runs/x", "--by", "Dr Reviewer"], root / "out", ("'../runs/x'",))


SPEC_CASES: list[Case] = [
    Case("spec-unknown-top-key", "spec", _spec_case(_unknown_top_key), ("not permitted",)),
    Case("spec-unknown-privacy-key", "spec", _spec_case(_unknown_privacy_key), ("not permitted",)),
    Case("spec-negative-epsilon", "spec", _spec_case(_negative_epsilon), ("greater than 0",)),
    Case("spec-zero-epsilon", "spec", _spec_case(_zero_epsilon), ("greater than 0",)),
    Case("spec-nan-epsilon", "spec", _spec_case(_nan_epsilon), ("finite",)),
    Case("spec-text-epsilon", "spec", _spec_case(_text_epsilon), ("number",)),
    Case("spec-epsilon-above-100", "spec", _spec_case(_huge_epsilon), ("above 100",)),
    Case("spec-delta-one", "spec", _spec_case(_delta_one), ("less than 1",)),
    Case("spec-name-with-path-separators", "spec", _spec_case(_name_traversal), ("pattern",)),
    Case("spec-unknown-modality", "spec", _spec_case(_unknown_modality), ("unknown",)),
    Case("spec-unknown-gate", "spec", _spec_case(_unknown_gate), ("unknown audit",)),
    Case("spec-signal-section-on-a-table", "spec", _spec_case(_signal_section_on_table), ("not for modality",)),
    Case("spec-out-is-the-data-folder", "spec", _spec_case(_out_is_data_folder), ("private data",)),
    Case("spec-not-yaml", "spec", _spec_not_yaml, ("not valid yaml",)),
    Case("spec-a-list", "spec", _spec_a_list, ("mapping",)),
    Case("spec-out-exists", "spec", _out_exists, ("already exists",)),
    Case("flag-negative-epsilon", "spec", _flag_negative_epsilon, ("greater than 0",)),
    Case("generate-run-id-traversal", "spec", _generate_traversal, ("not a valid run id",)),
    Case("approve-run-id-traversal", "spec", _approve_traversal, ("not a valid run id",)),
]
