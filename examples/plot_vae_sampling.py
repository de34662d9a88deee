"""
==============================================
Sampling from the variational autoencoder
==============================================

A :class:`~skae.VariationalAutoencoder` learns an encoder that outputs a
distribution over codes and a decoder that maps codes to data, while pulling
the codes of the training set towards a standard normal prior. The result is a
*generative* model: decoding draws from the prior gives new samples, and
nearby codes decode to similar images.

On the digits, with a 2-D latent space so that we can look at all of it, and
binary cross-entropy (a Bernoulli decoder for intensities in [0, 1]).
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from scipy.stats import norm
from sklearn.datasets import load_digits

from skae import VariationalAutoencoder

X, y = load_digits(return_X_y=True)
X = X / 16.0

vae = VariationalAutoencoder(
    n_components=2,
    loss="binary_crossentropy",
    hidden_layer_sizes=(128,),
    batch_size=32,
    max_iter=80,
    random_state=0,
).fit(X)
print({name: round(curve[-1], 2) for name, curve in vae.loss_terms_curve_.items()})

# %%
# New digits from the prior
# -------------------------
# :meth:`~skae.VariationalAutoencoder.sample` draws codes from ``N(0, I)`` and
# decodes them. The images are the decoder's means (pixel probabilities), so
# they are smooth rather than noisy.

samples = vae.sample(40, random_state=0)
fig, axes = plt.subplots(4, 10, figsize=(10, 4.2))
for ax, image in zip(axes.ravel(), samples):
    ax.imshow(image.reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    ax.set(xticks=[], yticks=[])
fig.suptitle("vae.sample(40)")
plt.show()

# %%
# The latent space
# ----------------
# Left: the posterior means of the training digits (``transform``), coloured by
# class, which the model never saw. Right: the decoder over a grid of codes
# placed at the quantiles of the prior, so that each grid cell covers equal
# prior probability.

codes = vae.transform(X)
n_grid = 10
quantiles = norm.ppf(np.linspace(0.03, 0.97, n_grid))
grid = np.array([[a, b] for b in quantiles[::-1] for a in quantiles])  # top row: highest z2
decoded = vae.inverse_transform(grid).reshape(n_grid, n_grid, 8, 8)
# One blank pixel around each tile so that neighbouring digits stay apart.
tiles = np.pad(decoded, ((0, 0), (0, 0), (1, 1), (1, 1)))
mosaic = tiles.transpose(0, 2, 1, 3).reshape(n_grid * 10, n_grid * 10)

fig, axes = plt.subplots(1, 2, figsize=(11, 5))
points = axes[0].scatter(codes[:, 0], codes[:, 1], c=y, cmap="tab10", s=5)
axes[0].set(title="Posterior means of the digits", xlabel="z1", ylabel="z2")
fig.colorbar(points, ax=axes[0], label="digit")
axes[1].imshow(mosaic, cmap="gray_r", vmin=0, vmax=1)
axes[1].set(title="Decoded grid over the prior (z1 across, z2 up)", xticks=[], yticks=[])
plt.show()

# %%
# Digits of the same class gather in regions of the latent space, and the
# decoded grid morphs smoothly from one digit to the next: the KL term keeps
# the codes packed around the origin, without gaps that decode to garbage. A
# plain autoencoder's code space has no such guarantee, which is why it cannot
# be sampled this way.
