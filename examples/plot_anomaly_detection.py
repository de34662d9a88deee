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
from skae.inspection import AnomalyScoreDisplay, ExplanationDisplay

rng = np.random.RandomState(0)
n_rows, n_spikes, n_swaps = 1500, 20, 20
sensors = ["temp", "pressure", "flow", "rpm", "vibration", "current", "voltage", "humidity"]

factors = rng.normal(size=(n_rows, 3))
mixing = rng.normal(size=(3, len(sensors)))
X = np.tanh(factors @ mixing) + 0.05 * rng.normal(size=(n_rows, len(sensors)))
X = pd.DataFrame(10 * X + 50, columns=sensors)

kind = np.array(["normal"] * n_rows, dtype=object)
cause = np.full(n_rows, -1)
swapped = {}
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
    swapped[row] = [sensors[j] for j in pair]
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
# rows scoring beyond it are flagged. :class:`~skae.inspection.AnomalyScoreDisplay`
# bins ``decision_function`` (the score minus ``offset_``: the threshold is 0,
# and lower is more anomalous) on the training rows, coloured by the kinds we
# planted, which the detector never saw. The scores' long tail puts the axis
# on a symmetric-logarithmic scale; the counts are on a logarithmic one, so
# that the few anomalies show next to the normal rows.

display = AnomalyScoreDisplay.from_estimator(detector, X, kind, bins=60, name="contamination=0.03")
display.ax_.set_yscale("log")
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
# :class:`~skae.inspection.ExplanationDisplay` draws one row's shares as bars,
# largest first. Here the highest-scoring row of each kind: the spike puts
# most of its error on one sensor, the one we broke; the broken correlation
# spreads more of it over other sensors, those the model infers from the
# swapped pair.

fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
for ax, k in zip(axes, ["spike", "broken correlation"]):
    row = np.flatnonzero(kind == k)[np.argmax(anomaly_score[kind == k])]
    planted = f"{sensors[cause[row]]} broken" if cause[row] >= 0 else " and ".join(swapped[row]) + " swapped"
    ExplanationDisplay.from_estimator(detector, X.iloc[[row]], ax=ax, name=f"row {row}: {planted}")
plt.show()

# %%
# Reading the explanations: a row with one dominant sensor most likely has one
# bad reading; a row with the error spread over several sensors is an unusual
# *combination*. A large error on a sensor means the model could not predict it
# from the others; check its raw value against the others before blaming it.
# See :ref:`anomaly` in the user guide.
