"""The declared range mapping shared by signal amplitudes and image windows."""

from __future__ import annotations

import numpy as np
import pytest

from synthdata.errors import BadInputError
from synthdata.modalities.declared_range import from_unit_range, to_unit_range


def test_unit_range_round_trip_and_clipped_count() -> None:
    x = np.array([[-300.0, -100.0, 0.0, 100.0, 300.0]], dtype=np.float32)
    scaled, clipped = to_unit_range(x, window=(-200, 200))
    np.testing.assert_allclose(scaled, [[-1, -0.5, 0, 0.5, 1]])
    assert clipped == 2 and scaled.dtype == np.float32
    back = from_unit_range(scaled, window=(-200, 200))
    np.testing.assert_allclose(back, [[-200, -100, 0, 100, 200]], atol=1e-4)
    np.testing.assert_allclose(from_unit_range(np.array([3.0]), window=(0, 10)), [10.0])


@pytest.mark.parametrize("window", [(1, 1), (2, 1), (0, float("inf")), (float("nan"), 1)])
def test_a_bad_declared_range_is_refused(window) -> None:
    with pytest.raises(BadInputError, match="declared range"):
        to_unit_range(np.zeros(3), window=window)
