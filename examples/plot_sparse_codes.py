"""
=============================
Sparse codes
=============================

A :class:`~skae.SparseAutoencoder` adds a penalty on the code's activity, so
each sample is described by a few active units out of many. The code may then
be *overcomplete*, wider than the input: here 128 code units for the 64 pixels
of the digits. With the L1 penalty the code units are ReLUs, exactly zero when
off.

We look at how the penalty weight sets the sparsity, and at what the units
encode.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

from skae import SparseAutoencoder
from skae.metrics import neg_mean_squared_reconstruction_error

X = load_digits().data / 16.0

# %%
# Sparsity against the penalty weight
# -----------------------------------
# For each weight, the share of code entries that are exactly zero and the
# reconstruction error. More sparsity costs reconstruction.

weights = [1e-4, 3e-4, 1e-3, 3e-3]
models = {}
for weight in weights:
    models[weight] = SparseAutoencoder(
        n_components=128,
        sparsity="l1",
        sparsity_weight=weight,
        hidden_layer_sizes=(128,),
        batch_size=64,
        max_iter=40,
        random_state=0,
    ).fit(X)

zero_share = [np.mean(models[w].transform(X) == 0) for w in weights]
active_units = [np.mean(np.sum(models[w].transform(X) > 0, axis=1)) for w in weights]
errors = [-neg_mean_squared_reconstruction_error(models[w], X) for w in weights]
for w, z, a, e in zip(weights, zero_share, active_units, errors):
    print(f"sparsity_weight={w:g}: {z:.0%} zeros, {a:.1f} active units per digit, reconstruction MSE {e:.4f}")

fig, ax1 = plt.subplots(figsize=(6, 4))
ax1.plot(weights, active_units, marker="o", color="C0")
ax1.set(xscale="log", xlabel="sparsity_weight", ylabel="active code units per digit (of 128)")
ax2 = ax1.twinx()
ax2.plot(weights, errors, marker="s", color="C1")
ax2.set_ylabel("reconstruction MSE", color="C1")
ax1.set_title("A heavier L1 penalty: fewer active units, worse reconstruction")
plt.show()

# %%
# What the units encode
# ---------------------
# Decode a code with one unit switched on (at its typical active value) and
# subtract the decoding of the all-zero code: the difference is that unit's
# contribution to the image, a "part" of a digit. We show the 24 units that
# are active most often.

model = models[1e-3]
codes = model.transform(X)
most_used = np.argsort(-(codes > 0).mean(axis=0))[:24]
base = model.inverse_transform(np.zeros((1, model.n_components)))
fig, axes = plt.subplots(3, 8, figsize=(8, 3.3))
for ax, unit in zip(axes.ravel(), most_used):
    one_hot = np.zeros((1, model.n_components))
    one_hot[0, unit] = np.percentile(codes[codes[:, unit] > 0, unit], 90)
    part = (model.inverse_transform(one_hot) - base).reshape(8, 8)
    limit = np.abs(part).max()
    ax.imshow(part, cmap="RdBu_r", vmin=-limit, vmax=limit)
    ax.set(xticks=[], yticks=[], title=f"unit {unit}")
    ax.title.set_fontsize(7)
fig.suptitle("Contribution of single code units (red adds ink, blue removes it)")
plt.show()

# %%
# Units learn strokes and blobs, each used by a minority of the digits; a
# digit is a sum of a few of them. The KL penalty (``sparsity="kl"``) instead
# fixes how often each sigmoid unit fires on average (``sparsity_target``).
