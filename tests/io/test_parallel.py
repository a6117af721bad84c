"""Work across processes comes back in order, whether one process or a pool does it."""

import numpy as np
import pytest

from curator.io.parallel import MIN_ITEMS_FOR_POOL, parallel_map, parallel_stack


def square_map(k: int) -> np.ndarray:
    return np.full((2, 3), k * k, np.int32)


@pytest.mark.parametrize("workers", [1, 2])
def test_stack_equals_the_stacked_map(workers):
    items = list(range(MIN_ITEMS_FOR_POOL + 5))  # enough for the pool to start
    stacked = parallel_stack(square_map, items, workers, "test", (2, 3), np.int32)
    assert stacked.shape == (len(items), 2, 3) and stacked.dtype == np.int32
    np.testing.assert_array_equal(stacked, np.stack(parallel_map(square_map, items, workers, "t")))
    assert stacked[7, 1, 2] == 49
