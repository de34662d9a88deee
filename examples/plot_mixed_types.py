"""
==================================================
Mixed-type tables: categories, flags and numbers
==================================================

Real tables mix numbers with categories and yes/no columns. skae reads such
a table straight from a :class:`pandas.DataFrame`: each column gets the
likelihood of its type (a Bernoulli for a two-level column, a softmax over
the levels for a categorical one, the estimator's ``loss`` on standardised
values for a numeric one), ``inverse_transform`` gives the table back with
its columns and dtypes, and the anomaly detector names the *column* that
made a row odd, not one of its one-hot indicators. See :ref:`mixed_types`.

We generate a small shop's diamond sales: the carat drives the price, the
cut and the colour; whether a stone was certified depends on its price; the
store it was sold in is a column of many levels, most of them rare.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from skae import AutoencoderAnomalyDetector, AutoencoderTransformer

rng = np.random.RandomState(0)
cuts = np.array(["Fair", "Good", "Very Good", "Ideal"])


def make_sales(n_rows):
    carat = rng.gamma(4.0, 0.2, n_rows)
    quality = rng.uniform(0, 1, n_rows)
    price = 4000 * carat**1.5 * (0.6 + quality) + rng.normal(0, 300, n_rows)
    cut = cuts[np.minimum((4 * quality + 0.4 * rng.normal(size=n_rows)).clip(0), 3).astype(int)]
    colour = np.where(carat + 0.1 * rng.normal(size=n_rows) > 0.8, "H", np.where(quality > 0.5, "E", "G"))
    return pd.DataFrame(
        {
            "carat": carat,
            "price": price.round(-1),
            "cut": pd.Categorical(cut, categories=cuts, ordered=True),
            "colour": pd.Series(colour, dtype="str"),
            "certified": price + 500 * rng.normal(size=n_rows) > 3500,
            "store": pd.Series(rng.zipf(1.6, n_rows).clip(max=15), dtype="str").radd("store "),
        }
    )


train, test = make_sales(1200), make_sales(400)
print(train.dtypes)
print(train.head())

# %%
# Fit on the DataFrame
# --------------------
# ``categorical_features="from_dtype"`` (the default) makes the category,
# string and bool columns categorical. ``max_categories`` groups the rare
# stores, as :class:`~sklearn.preprocessing.OneHotEncoder` does, so an
# identifier-like column cannot blow up the network; ``handle_unknown="ignore"``
# reads a store opened after training as a missing value rather than raising.
# The numeric columns are standardised inside the model (and scaled back by
# ``inverse_transform``).

autoencoder = AutoencoderTransformer(
    n_components=2, max_categories=8, handle_unknown="ignore", max_iter=60, random_state=0
)
autoencoder.fit(train)
reconstruction = autoencoder.inverse_transform(autoencoder.transform(test))
print(reconstruction.dtypes.equals(test.dtypes))
print(reconstruction.head())

# %%
# Against one-hot encoding and PCA
# --------------------------------
# The usual pipeline one-hot encodes the categories and standardises the
# numbers, then compresses with :class:`~sklearn.decomposition.PCA`; a
# reconstructed category is the level of the largest one-hot entry. At the
# same code size, we compare each column's reconstruction on the test rows:
# the share of categories right (against always predicting the most common
# level) and the numeric error relative to the column's variance.

categorical = ["cut", "colour", "certified", "store"]
numeric = ["carat", "price"]
one_hot = ColumnTransformer(
    [("numeric", StandardScaler(), numeric), ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)],
    sparse_threshold=0,
)
Z_train = one_hot.fit_transform(train.astype({"cut": object, "certified": object}))
Z_test = one_hot.transform(test.astype({"cut": object, "certified": object}))
pca = PCA(n_components=2).fit(Z_train)
Z_back = pca.inverse_transform(pca.transform(Z_test))

scaler = one_hot.named_transformers_["numeric"]
encoder = one_hot.named_transformers_["categorical"]
pca_reconstruction = pd.DataFrame(scaler.inverse_transform(Z_back[:, : len(numeric)]), columns=numeric)
start = len(numeric)
for column, levels in zip(categorical, encoder.categories_):
    pca_reconstruction[column] = levels[np.argmax(Z_back[:, start : start + len(levels)], axis=1)]
    start += len(levels)

scores = {}
for column in categorical:
    truth = test[column].to_numpy(dtype=object)
    scores[column] = {
        "most common level": np.mean(truth == train[column].mode()[0]),
        "one-hot + PCA": np.mean(pca_reconstruction[column].to_numpy(dtype=object) == truth),
        "skae": np.mean(reconstruction[column].to_numpy(dtype=object) == truth),
    }
for column in numeric:
    variance = train[column].var()
    scores[column] = {
        "one-hot + PCA": np.mean((pca_reconstruction[column] - test[column]) ** 2) / variance,
        "skae": np.mean((reconstruction[column] - test[column]) ** 2) / variance,
    }
scores = pd.DataFrame(scores).T
print(scores.round(3))

# %%
# The detector names the column
# -----------------------------
# We swap the cut of a few test stones for a level at the other end of the
# scale (an "Ideal" cut recorded as "Fair", say): each value is an ordinary
# one, only the combination with the stone's price and colour is not. The
# detector scores each row by its columns' negative log-likelihoods,
# normalised as for numeric residuals, and its per-feature errors have one
# column per table column. A swapped cut also moves the row's code, and with
# it the reconstruction of the price and the carat that go with the cut, so
# read the few largest columns of a row, not only the first.

swapped = rng.choice(len(test), 8, replace=False)
planted = test.copy()
flip = {"Fair": "Ideal", "Good": "Ideal", "Very Good": "Fair", "Ideal": "Fair"}
planted.loc[swapped, "cut"] = [flip[cut] for cut in planted.loc[swapped, "cut"]]
# The member is the autoencoder above, unfitted: a code of two units, as the
# table has two hidden factors (carat and quality).
member = AutoencoderTransformer(n_components=2, max_categories=8, handle_unknown="ignore", max_iter=60)
detector = AutoencoderAnomalyDetector(member, contamination=0.02, random_state=0).fit(train)
anomaly_score = -detector.score_samples(planted)
errors = detector.reconstruction_error_per_feature(planted.iloc[swapped])
print("share of swapped rows flagged:", np.mean(detector.predict(planted.iloc[swapped]) == -1))
print("two most unusual columns of each swapped row:")
print(errors.apply(lambda row: list(row.nlargest(2).index), axis=1).to_string())

# %%
# The figure: on the left, categorical accuracy by column; on the right, the
# anomaly scores, with the swapped rows marked.

fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
accuracy = scores.loc[categorical, ["most common level", "one-hot + PCA", "skae"]]
accuracy.plot.bar(ax=left, rot=0, color=["0.75", "tab:blue", "tab:orange"])
left.set_ylabel("share of test categories reconstructed")
left.set_ylim(0, 1.05)
left.set_title("Categorical reconstruction, 2-unit code")
is_swapped = np.isin(np.arange(len(planted)), swapped)
right.scatter(planted["price"][~is_swapped], anomaly_score[~is_swapped], s=8, color="0.6", label="as sold")
right.scatter(planted["price"][is_swapped], anomaly_score[is_swapped], s=30, color="tab:red", label="cut swapped")
right.axhline(-detector.offset_, color="k", lw=0.8, ls="--", label="threshold")
right.set_xlabel("price")
right.set_ylabel("anomaly score")
right.set_yscale("log")
right.set_title("Detector on the mixed table")
right.legend()
fig.tight_layout()
plt.show()
