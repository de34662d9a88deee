"""
=============================
Loss and validation curves
=============================

Every skae estimator records its training: ``loss_curve_`` (the training
objective per epoch), ``loss_terms_curve_`` (each term of it separately) and,
with ``early_stopping=True``, ``validation_scores_`` (minus the loss on the
held-out ``validation_fraction`` of the rows). Plotting them answers the usual
questions: has training converged, is the model overfitting, is the learning
rate sensible?
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer, SparseAutoencoder

X = MinMaxScaler().fit_transform(load_digits().data)

# %%
# Early stopping
# --------------
# A wide model with a generous epoch budget: early stopping holds out 20% of
# the rows, stops when their loss has not improved by ``tol`` for
# ``n_iter_no_change`` epochs, and restores the weights of the best epoch.

model = AutoencoderTransformer(
    n_components=16,
    hidden_layer_sizes=(256,),
    batch_size=32,
    alpha=0.0,
    early_stopping=True,
    validation_fraction=0.2,
    n_iter_no_change=5,
    tol=1e-5,
    max_iter=150,
    random_state=0,
).fit(X)

validation_loss = -np.asarray(model.validation_scores_)
best_epoch = int(np.argmax(model.validation_scores_)) + 1
print(f"stopped after {model.n_iter_} epochs; best validation loss {validation_loss.min():.5f} at epoch {best_epoch}")

fig, ax = plt.subplots(figsize=(6, 4))
epochs = np.arange(1, model.n_iter_ + 1)
ax.plot(epochs, model.loss_curve_, label="training loss")
ax.plot(epochs, validation_loss, label="validation loss")
ax.axvline(best_epoch, color="gray", linestyle=":", label=f"best epoch ({best_epoch})")
ax.set(yscale="log", xlabel="epoch", ylabel="mean squared error", title="Early stopping")
ax.legend()
plt.show()

# %%
# The training loss keeps falling while the validation loss flattens: past that
# point, extra epochs fit the training rows rather than the digits in general.
# The model keeps the weights of the best validation epoch.
#
# The learning rate
# -----------------
# Too small a step converges slowly; too large a step is noisy or diverges.
# The curves show which, in a few epochs each.

fig, ax = plt.subplots(figsize=(6, 4))
for learning_rate in [1e-4, 1e-3, 1e-2]:
    run = AutoencoderTransformer(
        n_components=16,
        hidden_layer_sizes=(128,),
        batch_size=64,
        learning_rate_init=learning_rate,
        max_iter=30,
        random_state=0,
    ).fit(X)
    ax.plot(np.arange(1, run.n_iter_ + 1), run.loss_curve_, label=f"learning_rate_init={learning_rate:g}")
ax.set(yscale="log", xlabel="epoch", ylabel="training loss", title="Learning rate")
ax.legend()
plt.show()

# %%
# Loss terms
# ----------
# ``loss_terms_curve_`` splits the objective by term. The plain autoencoder
# has one term, ``"reconstruction"``; the sparse, contractive and variational
# autoencoders add their penalty as a second curve. Plotting both shows
# whether the penalty weight dominates training. Here the L1 penalty falls
# fast in the first epochs, as the code's activity shrinks, and then stays well
# below the reconstruction term, which keeps improving; a weight large enough
# to dominate would show the reconstruction curve stalling instead.

print({name: round(curve[-1], 5) for name, curve in model.loss_terms_curve_.items()})

sparse = SparseAutoencoder(
    n_components=64,
    sparsity_weight=3e-3,
    hidden_layer_sizes=(128,),
    batch_size=64,
    max_iter=40,
    random_state=0,
).fit(X)

fig, ax = plt.subplots(figsize=(6, 4))
for name, curve in sparse.loss_terms_curve_.items():
    ax.plot(np.arange(1, len(curve) + 1), curve, label=name)
ax.plot(np.arange(1, sparse.n_iter_ + 1), sparse.loss_curve_, "k:", label="total (loss_curve_)")
ax.set(yscale="log", xlabel="epoch", ylabel="loss term", title="SparseAutoencoder: the terms of the objective")
ax.legend()
plt.show()
