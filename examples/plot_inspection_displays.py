"""
=====================================
Looking at models with the displays
=====================================

:mod:`skae.inspection` draws the plots that answer the usual questions about
a fitted autoencoder, as scikit-learn's Display objects: ``from_estimator``
computes and draws, and the display keeps the axes (``ax_``), the figure
(``figure_``) and what it drew, to restyle. This example uses all four:
the loss curves and the reconstructions of a model of handwritten digits,
then the scores and one explanation of an anomaly detector on sensor data.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler

from skae import AutoencoderAnomalyDetector, AutoencoderTransformer
from skae.inspection import AnomalyScoreDisplay, ExplanationDisplay, LossCurveDisplay, ReconstructionDisplay

# %%
# Has training converged?
# -----------------------
# A model of 8 by 8 digits, with early stopping on a fifth of the training
# rows. :class:`~skae.inspection.LossCurveDisplay` draws the training and
# validation losses per epoch and marks the epoch whose weights the model
# kept. It accepts a Pipeline ending in an autoencoder.

X_train, X_test = train_test_split(load_digits().data, test_size=0.2, random_state=0)
model = make_pipeline(
    MinMaxScaler(),
    AutoencoderTransformer(
        n_components=12,
        hidden_layer_sizes=(64,),
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=5,
        tol=1e-3,
        max_iter=150,
        random_state=0,
    ),
).fit(X_train)

display = LossCurveDisplay.from_estimator(model, name="digits, 12-unit code")
display.ax_.set_yscale("log")
plt.show()

# %%
# What does the model keep?
# -------------------------
# :class:`~skae.inspection.ReconstructionDisplay` shows test digits, their
# reconstructions (through the scaler's ``inverse_transform`` too, so in
# pixel units) and where the error lies.

display = ReconstructionDisplay.from_estimator(model, X_test[:8], image_shape=(8, 8))
display.figure_.suptitle("Test digits, reconstructions, squared errors")
plt.show()

# %%
# Which samples are anomalous?
# ----------------------------
# Three sensors that follow one load; in 10 of the 500 readings one sensor
# is off. :class:`~skae.inspection.AnomalyScoreDisplay` bins the detector's
# scores on the training data, coloured by what we know (which the detector
# did not), with the threshold set by ``contamination``, and marks new
# readings: one normal, one with a faulty temperature.

rng = np.random.RandomState(0)
load = rng.uniform(0, 1, size=500)
readings = pd.DataFrame({"load": load, "power": load**2, "temperature": 20 + 10 * load})
readings += 0.01 * rng.normal(size=readings.shape)
faulty = rng.choice(len(readings), size=10, replace=False)
for row, column in zip(faulty, rng.randint(3, size=10)):
    readings.iloc[row, column] += 0.5
known = np.where(np.isin(np.arange(len(readings)), faulty), "faulty", "normal")

detector = AutoencoderAnomalyDetector(contamination=0.02, random_state=0).fit(readings)
new = pd.DataFrame({"load": [0.5, 0.5], "power": [0.25, 0.25], "temperature": [25.0, 26.0]})
AnomalyScoreDisplay.from_estimator(detector, readings, known, samples=new)
plt.show()

# %%
# Why is it anomalous?
# --------------------
# :class:`~skae.inspection.ExplanationDisplay` splits one sample's
# reconstruction error among its features: the temperature took most of it.

ExplanationDisplay.from_estimator(detector, new.iloc[[1]])
plt.show()
