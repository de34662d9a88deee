"""Helpers for the skae documentation build, importable by name from conf.py."""

import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits


def silence_convergence_warnings(gallery_conf, fname, when=None):
    """Run before each gallery example: hide the expected ConvergenceWarnings.

    The gallery trains for few epochs to stay fast (its header says so), so
    every fit would warn that it stopped at ``max_iter``; a page of those
    warnings would bury the output that matters.
    """
    warnings.filterwarnings("ignore", category=ConvergenceWarning)


def one_thread_per_example(gallery_conf, fname, when=None):
    """Run before each gallery example: one torch thread and one BLAS/OpenMP thread.

    The examples train small networks on small batches, where intra-op
    threads save little: on a quiet two-core machine one example took 15 s
    with one thread and 17 s with torch's default two. On a busy one (CI,
    other jobs) the threads oversubscribe the cores; one gallery build there
    took 6 minutes with default threads against under 1 with one thread. Run
    standalone, the examples keep the user's defaults.
    """
    torch.set_num_threads(1)
    threadpool_limits(limits=1)
