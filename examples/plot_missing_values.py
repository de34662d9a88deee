"""
================================================
Imputing missing pixels with an autoencoder
================================================

Every skae estimator trains on incomplete rows: the reconstruction loss is
taken over the observed entries only, and the encoder sees each missing
entry filled with its feature's mean. :class:`~skae.AutoencoderImputer`
turns this into an imputer in scikit-learn's conventions: it fits an
autoencoder to the observed entries and fills each hole with the model's
reconstruction of its row.

We hide 30 % of the pixels of scikit-learn's 8x8 digits at random and
compare the imputers on the hidden pixels. (``IterativeImputer``
takes minutes on these 64 features; ``benchmarks/bench_impute.py`` compares
it on many data sets.)
"""

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.impute import KNNImputer, SimpleImputer

from skae import AutoencoderImputer

X, _ = load_digits(return_X_y=True)
rng = np.random.RandomState(0)
hidden = rng.uniform(size=X.shape) < 0.3
X_missing = X.copy()
X_missing[hidden] = np.nan

imputers = {
    "SimpleImputer (mean)": SimpleImputer(),
    "KNNImputer": KNNImputer(),
    "AutoencoderImputer": AutoencoderImputer(random_state=0),
}
imputed, errors = {}, {}
for name, imputer in imputers.items():
    tic = time.perf_counter()
    imputed[name] = imputer.fit_transform(X_missing)
    seconds = time.perf_counter() - tic
    errors[name] = np.sqrt(np.mean((imputed[name][hidden] - X[hidden]) ** 2))
    print(f"{name:>22}: RMSE {errors[name]:.3f} on the hidden pixels, {seconds:.1f} s")

# %%
# The observed pixels are returned unchanged; only the holes are filled.
observed = ~hidden
assert np.array_equal(imputed["AutoencoderImputer"][observed], X[observed])

# %%
# What the imputers make of a few digits: the hidden pixels are shown in red
# in the second row.
rows = [0, 1, 2, 3, 4, 5]
shown = ["SimpleImputer (mean)", "KNNImputer", "AutoencoderImputer"]
fig, axes = plt.subplots(2 + len(shown), len(rows), figsize=(1.4 * len(rows), 1.5 * (2 + len(shown))))
for column, row in enumerate(rows):
    holes = np.ma.masked_where(~hidden[row].reshape(8, 8), np.ones((8, 8)))
    axes[0, column].imshow(X[row].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    axes[1, column].imshow(np.nan_to_num(X_missing[row]).reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
    axes[1, column].imshow(holes, cmap="autumn", alpha=0.6)
    for offset, name in enumerate(shown, start=2):
        axes[offset, column].imshow(imputed[name][row].reshape(8, 8), cmap="gray_r", vmin=0, vmax=16)
labels = ["original", "30 % hidden", *[f"{name.split(' ')[0]}\nRMSE {errors[name]:.2f}" for name in shown]]
for axis_row, label in zip(axes, labels):
    axis_row[0].set_ylabel(label, fontsize=8)
for axis in axes.ravel():
    axis.set_xticks([])
    axis.set_yticks([])
fig.tight_layout()
plt.show()

# %%
# The same model also reduces and scores incomplete rows: ``transform``,
# ``reconstruction_error_per_feature`` (``NaN`` where the input was
# missing) and :class:`~skae.AutoencoderAnomalyDetector` all accept them.
# See :ref:`missing_values` for the masked loss and when to prefer
# ``IterativeImputer``.
