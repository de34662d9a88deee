"""
==================================================
Anomaly detection with per-feature explanations
==================================================

:class:`~skae.AutoencoderAnomalyDetector` fits an autoencoder to unlabeled
data and scores each row by how unusual its reconstruction residual is. Rows
unlike the bulk of the data reconstruct badly; ``contamination`` turns the
scores into flags; and
the per-feature errors say which features made a row anomalous.

We simulate readings of eight sensors driven by three hidden factors, so that
the sensors are correlated in a nonlinear way, and plant two kinds of
anomalies whose cause we know:

* **spikes**: one sensor reads far off (a faulty sensor);
* **broken correlations**: two sensors take the values of an unrelated row.
  Each value is ordinary on its own, only the combination is unusual, so a
  per-feature range check cannot see it.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from skae import AutoencoderAnomalyDetector, AutoencoderTransformer

rng = np.random.RandomState(0)
n_rows, n_spikes, n_swaps = 1500, 20, 20
sensors = ["temp", "pressure", "flow", "rpm", "vibration", "current", "voltage", "humidity"]

factors = rng.normal(size=(n_rows, 3))
mixing = rng.normal(size=(3, len(sensors)))
X = np.tanh(factors @ mixing) + 0.05 * rng.normal(size=(n_rows, len(sensors)))
X = pd.DataFrame(10 * X + 50, columns=sensors)

kind = np.array(["normal"] * n_rows, dtype=object)
cause = np.full(n_rows, -1)
anomalous = rng.choice(n_rows, n_spikes + n_swaps, replace=False)
for row in anomalous[:n_spikes]:
    sensor = rng.randint(len(sensors))
    X.iloc[row, sensor] += rng.choice([-1, 1]) * 6 * X.iloc[:, sensor].std()
    kind[row], cause[row] = "spike", sensor
for row in anomalous[n_spikes:]:
    pair = rng.choice(len(sensors), 2, replace=False)
    candidates = rng.randint(n_rows, size=10)  # the donor: the most different of ten rows
    distance = np.abs(X.iloc[candidates, pair].to_numpy() - X.iloc[row, pair].to_numpy()).sum(axis=1)
    X.iloc[row, pair] = X.iloc[candidates[np.argmax(distance)], pair].to_numpy()
    kind[row] = "broken correlation"
is_anomaly = kind != "normal"
print(pd.Series(kind).value_counts())

# %%
# Fit and flag
# ------------
# The detector scales the columns itself (to [0, 1] by default), so that every
# sensor weighs alike, and fits on all rows: it does not
# need labels, and a few anomalies in the training data do no harm. We expect
# about 3% anomalies. The autoencoder is any skae transformer, passed as
# ``estimator``; here a code of 3 units, as many as the hidden factors (in
# practice, choose it as in :ref:`n_components`).

autoencoder = AutoencoderTransformer(n_components=3, hidden_layer_sizes=(64,), batch_size=64, max_iter=150)
detector = AutoencoderAnomalyDetector(autoencoder, contamination=0.03, random_state=0).fit(X)
flags = detector.predict(X) == -1
anomaly_score = -detector.score_samples(X)  # distance of the residual: higher is more anomalous

recall = {k: float(flags[kind == k].mean()) for k in ["spike", "broken correlation"]}
print(f"flagged {flags.sum()} rows; precision {is_anomaly[flags].mean():.2f}")
print("recall by kind:", {k: round(v, 2) for k, v in recall.items()})

# %%
# Against :class:`~sklearn.ensemble.IsolationForest`, by ROC-AUC (threshold-free)
# on each kind of anomaly. Isolation works on axis-aligned splits, so it finds
# the spikes but has a harder time with combinations of ordinary values.

forest_score = -IsolationForest(random_state=0).fit(X).score_samples(X)
for k in ["spike", "broken correlation"]:
    rows = (kind == k) | (kind == "normal")
    print(
        f"{k:18s} ROC-AUC  autoencoder {roc_auc_score(is_anomaly[rows], anomaly_score[rows]):.3f}"
        f"  isolation forest {roc_auc_score(is_anomaly[rows], forest_score[rows]):.3f}"
    )

# %%
# Why an explicit code size? The detector's default autoencoder has a one-unit
# code, measured best on common tabular benchmarks, where anomalies leave one
# main trend. These sensors follow three factors; with one unit the model
# cannot represent normal combinations, so broken ones do not stand out.

default_score = -AutoencoderAnomalyDetector(contamination=0.03, random_state=0).fit(X).score_samples(X)
rows = (kind == "broken correlation") | (kind == "normal")
print(
    "broken correlation ROC-AUC  default detector "
    f"{roc_auc_score(is_anomaly[rows], default_score[rows]):.3f}"
    f"  3-unit code {roc_auc_score(is_anomaly[rows], anomaly_score[rows]):.3f}"
)

# %%
# The threshold
# -------------
# ``offset_`` is the score at the contamination quantile of the training rows;
# rows scoring beyond it are flagged.

fig, ax = plt.subplots(figsize=(8, 4.5))
bins = np.logspace(np.log10(anomaly_score.min()), np.log10(anomaly_score.max()), 60)
for k, color in [("normal", "C0"), ("spike", "C3"), ("broken correlation", "C1")]:
    ax.hist(anomaly_score[kind == k], bins=bins, color=color, alpha=0.7, label=k)
ax.axvline(-detector.offset_, color="k", linestyle="--", label="threshold (contamination=0.03)")
ax.set(xscale="log", yscale="log", xlabel="anomaly score (residual distance)", ylabel="rows")
ax.legend(fontsize=8)
fig.tight_layout()
plt.show()

# %%
# Which sensors? Per-feature errors
# ---------------------------------
# :meth:`~skae.AutoencoderAnomalyDetector.reconstruction_error_per_feature`
# gives each row's error per column, relative to that column's usual error.
# Divided by the row's total, it is each sensor's share of the anomaly. For the flagged
# spikes, the top sensor should be the one we broke.

errors = np.asarray(detector.reconstruction_error_per_feature(X))
shares = errors / errors.sum(axis=1, keepdims=True)
flagged_spikes = np.flatnonzero(flags & (kind == "spike"))
hits = np.mean(shares[flagged_spikes].argmax(axis=1) == cause[flagged_spikes])
print(f"the top sensor is the faulty one for {hits:.0%} of the flagged spikes")

top = pd.DataFrame(
    {
        "kind": kind[flags],
        "score": anomaly_score[flags].round(2),
        "top sensor": [sensors[j] for j in shares[flags].argmax(axis=1)],
        "its share": shares[flags].max(axis=1).round(2),
        "true faulty sensor": [sensors[j] if j >= 0 else "" for j in cause[flags]],
    },
    index=np.flatnonzero(flags),
).sort_values("score", ascending=False)
top.head(12)

# %%
# A heat map of the shares for every flagged row, with the true faulty sensor
# of each spike outlined. Spikes put most of their error on one sensor; broken
# correlations spread it over the swapped pair and the sensors the model
# infers from them.

order = np.flatnonzero(flags)[np.argsort(kind[flags], kind="stable")]
fig, ax = plt.subplots(figsize=(7, 0.22 * len(order) + 1.2))
image = ax.imshow(shares[order], aspect="auto", cmap="magma_r", vmin=0, vmax=1)
for i, row in enumerate(order):
    if cause[row] >= 0:
        ax.add_patch(plt.Rectangle((cause[row] - 0.5, i - 0.5), 1, 1, fill=False, edgecolor="C2", linewidth=2))
ax.set_xticks(range(len(sensors)), sensors, rotation=45, ha="right")
ax.set_yticks(range(len(order)), [f"{row} ({kind[row]})" for row in order], fontsize=6)
fig.colorbar(image, ax=ax, label="share of the row's reconstruction error")
ax.set_title("Flagged rows: where the error is (green: the planted fault)")
fig.tight_layout()
plt.show()

# %%
# Reading the explanations: a row with one dominant sensor most likely has one
# bad reading; a row with the error spread over several sensors is an unusual
# *combination*. A large error on a sensor means the model could not predict it
# from the others; check its raw value against the others before blaming it.
# See :ref:`anomaly` in the user guide.
