"""Helpers for the skae documentation build, importable by name from conf.py."""

import warnings

from sklearn.exceptions import ConvergenceWarning


def silence_convergence_warnings(gallery_conf, fname, when=None):
    """Run before each gallery example: hide the expected ConvergenceWarnings.

    The gallery trains for few epochs to stay fast (its header says so), so
    every fit would warn that it stopped at ``max_iter``; a page of those
    warnings would bury the output that matters.
    """
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
