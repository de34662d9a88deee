import numpy as np
import pytest
import torch

# Two cores are shared: one torch thread per test process keeps runs steady.
torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def small_X(rng):
    return rng.normal(size=(60, 5)).astype(np.float64)
