"""Reconstruction error of skae autoencoders against PCA at the same latent size.

The linear autoencoder (identity activation, squared error) should reach PCA's
error on standardised digits; a nonlinear one should beat it on the swiss
roll. The same settings are asserted in tests/test_autoencoder.py; this script
prints the figures.

    python benchmarks/bench_pca_equivalence.py
"""

import warnings

import numpy as np
from sklearn.datasets import load_digits, make_swiss_roll
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skae import AutoencoderTransformer
from skae.metrics import neg_mean_squared_reconstruction_error


def split_standardised(X):
    X_train, X_test = train_test_split(X, random_state=0)
    scaler = StandardScaler().fit(X_train)
    return scaler.transform(X_train), scaler.transform(X_test)


def pca_error(X_train, X_test, n_components):
    pca = PCA(n_components).fit(X_train)
    return np.mean((pca.inverse_transform(pca.transform(X_test)) - X_test) ** 2)


def compare(name, X_train, X_test, autoencoder):
    k = autoencoder.n_components
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        autoencoder.fit(X_train)
    ae, pca = -neg_mean_squared_reconstruction_error(autoencoder, X_test), pca_error(X_train, X_test, k)
    print(f"{name}, {k} components: test MSE PCA {pca:.4f}, autoencoder {ae:.4f}, ratio {ae / pca:.3f}")


def main():
    digits, _ = load_digits(return_X_y=True)
    compare(
        "digits, linear autoencoder",
        *split_standardised(digits),
        AutoencoderTransformer(
            8,
            hidden_layer_sizes=(),
            activation="identity",
            alpha=0.0,
            learning_rate_init=1e-2,
            max_iter=200,
            tol=0.0,
            random_state=0,
        ),
    )
    roll, _ = make_swiss_roll(1500, noise=0.05, random_state=0)
    X_train, X_test = train_test_split(StandardScaler().fit_transform(roll), random_state=0)
    compare(
        "swiss roll, tanh autoencoder",
        X_train,
        X_test,
        AutoencoderTransformer(
            2,
            hidden_layer_sizes=(64, 64),
            activation="tanh",
            learning_rate_init=3e-3,
            max_iter=150,
            batch_size=64,
            random_state=0,
        ),
    )


if __name__ == "__main__":
    main()
