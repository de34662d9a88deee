import os

# scikit-learn's array API check (NumPy namespace) runs only when SciPy is
# imported with array API support; set it before anything imports SciPy.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# Two cores are shared: one torch thread per test process keeps runs steady.
torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def small_X(rng):
    return rng.normal(size=(60, 5)).astype(np.float64)
