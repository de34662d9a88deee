"""
==========================================================
Grid-searching the reconstruction loss and the latent size
==========================================================

The loss and ``n_components`` are ordinary hyperparameters, so
:class:`~sklearn.model_selection.GridSearchCV` searches them. Loss objects from
:mod:`skae.losses` are grid values, and their own parameters are searchable
(``loss__p`` below).

Which score to search on matters:

* a **reconstruction** score always improves with a larger code, so it cannot
  choose ``n_components``; it is fine for comparing losses at a fixed size;
* the score of the **task the codes are for** (here, classifying digits) can
  choose both.

We record both in one search with multi-metric scoring.
"""

# %%
import matplotlib.pyplot as plt
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderTransformer
from skae.losses import AbsoluteError, Lp, SquaredError
from skae.metrics import neg_mean_squared_reconstruction_error

X, y = load_digits(return_X_y=True)

pipe = Pipeline(
    [
        ("scale", MinMaxScaler()),
        ("ae", AutoencoderTransformer(hidden_layer_sizes=(64,), batch_size=64, max_iter=20, random_state=0)),
        ("clf", LogisticRegression(max_iter=2000)),
    ]
)

# %%
# The grid: four latent sizes, and squared error, absolute error, an L1 + L2
# sum and an Lp loss whose exponent is itself a grid parameter
# (``ae__loss__p``). Fractional exponents (``p < 1``) are for heavy-tailed,
# high-dimensional data; on pixel intensities they train slowly and poorly, so
# this grid tries ``p = 1.5``, between absolute and squared error.

grid = [
    {
        "ae__n_components": [2, 4, 8, 16],
        "ae__loss": ["squared_error", "absolute_error", AbsoluteError() + SquaredError()],
    },
    {"ae__n_components": [2, 4, 8, 16], "ae__loss": [Lp()], "ae__loss__p": [1.5]},
]

# %%
# Two scores per candidate: the pipeline's accuracy, and the autoencoder's
# reconstruction score (minus the mean squared error of the scaled pixels,
# whatever loss trained it, so that losses compare like with like).


def reconstruction(pipeline, X, y=None):
    return neg_mean_squared_reconstruction_error(pipeline["ae"], pipeline["scale"].transform(X))


search = GridSearchCV(
    pipe, grid, scoring={"accuracy": "accuracy", "reconstruction": reconstruction}, refit="accuracy", cv=3
)
search.fit(X, y)
print("best:", search.best_params_, f"accuracy {search.best_score_:.3f}")

# %%
# The results table
# -----------------

results = pd.DataFrame(search.cv_results_)
loss_names = {"squared_error": "squared error", "absolute_error": "absolute error"}
results["loss"] = [
    f"Lp(p={params['ae__loss__p']})" if "ae__loss__p" in params else loss_names.get(params["ae__loss"], "L1 + L2")
    for params in results["params"]
]
table = results.pivot_table(
    index="loss", columns="param_ae__n_components", values=["mean_test_accuracy", "mean_test_reconstruction"]
)
table.round(4)

# %%
# Reading the table: the reconstruction score rises with ``n_components`` for
# every loss, so maximising it would always pick the largest size, whatever
# the data. Accuracy is the score that can choose: it also rises here, but
# flattens from 8 to 16 components, and it would start to fall once the code
# carries more noise than signal for the classifier. At a fixed size, the
# reconstruction columns compare the losses in one unit; squared error, which
# matches the metric, is among the best, absolute error the worst.

fig, axes = plt.subplots(1, 2, figsize=(11, 4))
for loss, rows in results.groupby("loss"):
    rows = rows.sort_values("param_ae__n_components")
    sizes = rows["param_ae__n_components"].astype(int)
    axes[0].plot(sizes, rows["mean_test_accuracy"], marker="o", label=loss)
    axes[1].plot(sizes, -rows["mean_test_reconstruction"], marker="o", label=loss)
axes[0].set(ylabel="accuracy (3-fold CV)", title="Downstream accuracy: the score to choose by")
axes[1].set(ylabel="mean squared reconstruction error", title="Reconstruction: always prefers more")
for ax in axes:
    ax.set_xscale("log", base=2)
    ax.minorticks_off()
    ax.set(xticks=[2, 4, 8, 16], xticklabels=[2, 4, 8, 16], xlabel="n_components")
axes[0].legend(fontsize=8)
plt.show()
