"""The bad-input corpus: one table of cases, each writing one malformed input into a temporary folder and saying
how the CLI is called on it and what its message must name.

Nothing is committed as a data file: every input is generated from the shipped examples (the diabetes demo
slice, MIT-BIH record 100, eegmmidb S001, BreastMNIST, the invented EHR database) or from scratch (``tables``,
``specs``, ``signals``, ``images``; ``relational`` damages a copy of the EHR example).  ``tests/bad_input/test_*.py`` run the cases through ``synthdata.cli.main`` and check the
contract of docs/guide.md ("Bad input", ``refusal.assert_refused``): exit code 2, a message naming the file
(and column or record) and the problem, no traceback and no internal class name, nothing written to the
export folder, no run work area, the ledger untouched.
"""

from __future__ import annotations

from bad_input.case import Case, Invocation
from bad_input.images import IMAGE_CASES
from bad_input.relational import RELATIONAL_CASES
from bad_input.signals import SIGNAL_CASES
from bad_input.specs import SPEC_CASES
from bad_input.tables import TABLE_CASES

CASES: list[Case] = [*TABLE_CASES, *SPEC_CASES, *SIGNAL_CASES, *IMAGE_CASES, *RELATIONAL_CASES]

__all__ = ["CASES", "IMAGE_CASES", "RELATIONAL_CASES", "SIGNAL_CASES", "SPEC_CASES", "TABLE_CASES", "Case", "Invocation"]
