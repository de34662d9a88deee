"""
=============================
Loss and validation curves
=============================

Every skae estimator records its training: ``loss_curve_`` (the training
objective per epoch), ``loss_terms_curve_`` (each term of it separately) and,
with ``early_stopping=True``, ``validation_scores_`` (minus the loss on the
held-out ``validation_fraction`` of the rows). Plotting them answers the usual
questions: has training converged, is the model overfitting, is the learning
rate sensible? :class:`~skae.inspection.LossCurveDisplay` draws them.
"""

# %%
import matplotlib.pyplot as plt
from sklearn.datasets import load_digits
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer, SparseAutoencoder
from skae.inspection import LossCurveDisplay

X = MinMaxScaler().fit_transform(load_digits().data)

# %%
# Early stopping
# --------------
# A wide model with a generous epoch budget: early stopping holds out 20% of
# the rows, stops when their loss has not improved by ``tol`` for
# ``n_iter_no_change`` epochs, and restores the weights of the best epoch,
# which the display marks.

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

display = LossCurveDisplay.from_estimator(model, name="Early stopping")
display.ax_.set(yscale="log", ylabel="mean squared error")
print(
    f"stopped after {model.n_iter_} epochs; best validation loss {min(display.validation_loss):.5f} "
    f"at epoch {display.best_epoch}"
)
plt.show()

# %%
# The training loss keeps falling while the validation loss flattens: past that
# point, extra epochs fit the training rows rather than the digits in general.
# The model keeps the weights of the best validation epoch.
#
# The learning rate
# -----------------
# Too small a step converges slowly; too large a step is noisy or diverges.
# The curves show which, in a few epochs each. A display built from the
# curve alone (``LossCurveDisplay(loss_curve)``) draws only it, so that three
# runs share one axes; its ``line_`` takes the run's name.

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for learning_rate in [1e-4, 1e-3, 1e-2]:
    run = AutoencoderTransformer(
        n_components=16,
        hidden_layer_sizes=(128,),
        batch_size=64,
        learning_rate_init=learning_rate,
        max_iter=30,
        random_state=0,
    ).fit(X)
    display = LossCurveDisplay(run.loss_curve_).plot(ax=ax, name="Learning rate")
    display.line_.set_label(f"learning_rate_init={learning_rate:g}")
ax.set(yscale="log", ylabel="training loss")
ax.legend()
plt.show()

# %%
# Loss terms
# ----------
# ``loss_terms_curve_`` splits the objective by term. The plain autoencoder
# has one term, ``"reconstruction"``; the sparse, contractive and variational
# autoencoders add their penalty as a second curve, which the display draws
# dashed under the total. Plotting them shows whether the penalty weight
# dominates training. Here the L1 penalty falls
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

display = LossCurveDisplay.from_estimator(sparse, name="SparseAutoencoder: the terms of the objective")
display.ax_.set_yscale("log")
plt.show()
