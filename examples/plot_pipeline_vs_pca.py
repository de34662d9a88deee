"""
==========================================================
Dimensionality reduction in a pipeline: autoencoder vs PCA
==========================================================

An :class:`~skae.AutoencoderTransformer` is a scikit-learn transformer, so it
takes PCA's place in a :class:`~sklearn.pipeline.Pipeline`. On the 8x8 digits
we compare the two as

1. a 2-D map of the data (the latent codes, coloured by digit),
2. a feature extractor for a classifier, at several latent sizes.

The digits lie near a curved, low-dimensional manifold, which is where a
nonlinear encoder has room to beat a linear projection at small sizes.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer

X, y = load_digits(return_X_y=True)
print(X.shape)

# %%
# Latent maps
# -----------
# Pixels are intensities in [0, 16]; scale them to [0, 1]. The autoencoder
# has one hidden layer of 128 units on each side of its 2-unit code, and
# trains for 60 epochs (a few seconds on a CPU).


def autoencoder(n_components):
    return AutoencoderTransformer(
        n_components=n_components,
        hidden_layer_sizes=(128,),
        batch_size=64,
        max_iter=60,
        random_state=0,
    )


pca_map = make_pipeline(MinMaxScaler(), PCA(n_components=2, random_state=0))
ae_map = make_pipeline(MinMaxScaler(), autoencoder(2))
codes = {"PCA": pca_map.fit_transform(X), "Autoencoder": ae_map.fit_transform(X)}

fig, axes = plt.subplots(1, 2, figsize=(10, 4.5))
for ax, (name, code) in zip(axes, codes.items()):
    points = ax.scatter(code[:, 0], code[:, 1], c=y, cmap="tab10", s=6)
    ax.set(title=f"{name}: 2-D code", xticks=[], yticks=[])
fig.colorbar(points, ax=axes, label="digit")
plt.show()

# %%
# Both maps keep some digits apart; the autoencoder's nonlinear code separates
# more of the ten classes at the same size. How much of the image survives the
# 2-D bottleneck? Compare mean squared reconstruction errors on the scaled
# pixels.

scaled = MinMaxScaler().fit_transform(X)
pca = pca_map[-1]
pca_error = np.mean((pca.inverse_transform(pca.transform(scaled)) - scaled) ** 2)
ae = ae_map[-1]
ae_error = np.mean((ae.inverse_transform(ae.transform(scaled)) - scaled) ** 2)
print(f"mean squared reconstruction error, 2 components: PCA {pca_error:.4f}, autoencoder {ae_error:.4f}")

# %%
# Downstream accuracy
# -------------------
# The codes as features for a logistic regression, by 3-fold cross-validation
# at several latent sizes. The reduction is fitted inside each training fold,
# as it must be, because it is a pipeline step.

sizes = [2, 4, 8, 16]
accuracy = {"PCA": [], "Autoencoder": []}
for n_components in sizes:
    for name, reducer in [("PCA", PCA(n_components, random_state=0)), ("Autoencoder", autoencoder(n_components))]:
        pipe = make_pipeline(MinMaxScaler(), reducer, LogisticRegression(max_iter=2000))
        accuracy[name].append(cross_val_score(pipe, X, y, cv=3).mean())

for name, scores in accuracy.items():
    print(f"{name:12s}", "  ".join(f"{n}: {s:.3f}" for n, s in zip(sizes, scores)))

fig, ax = plt.subplots(figsize=(6, 4))
for name, scores in accuracy.items():
    ax.plot(sizes, scores, marker="o", label=name)
ax.set_xscale("log", base=2)
ax.minorticks_off()
ax.set(xticks=sizes, xticklabels=sizes, xlabel="n_components", ylabel="accuracy (3-fold CV)")
ax.set_title("Logistic regression on the codes")
ax.legend()
plt.show()

# %%
# The gap is largest at the smallest sizes, where PCA must drop directions
# that carry class information and the autoencoder can bend its code around
# the data. As the code grows, both keep nearly everything and the
# classifier's accuracy converges; then PCA, being exact, instant and
# deterministic, is the better choice. See :ref:`pca` in the user guide.
