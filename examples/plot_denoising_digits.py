"""
=============================
Denoising digits
=============================

A :class:`~skae.DenoisingAutoencoder` is trained to reconstruct each *clean*
image from a corrupted copy, so it learns what digits look like rather than
how to copy pixels. Given a noisy image it returns a clean-looking one. We
compare it with a plain :class:`~skae.AutoencoderTransformer` of the same size
trained on clean images, on test images with added Gaussian noise.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer, DenoisingAutoencoder
from skae.inspection import ReconstructionDisplay

X, y = load_digits(return_X_y=True)
X = X / 16.0  # intensities in [0, 1]
X_train, X_test = train_test_split(X, test_size=0.25, random_state=0)

rng = np.random.RandomState(0)
noise_sd = 0.5
X_test_noisy = np.clip(X_test + noise_sd * rng.normal(size=X_test.shape), 0, 1)

# %%
# Both models: a 48-unit code (wide, so that a plain autoencoder has room to
# copy noise), one hidden layer of 128 units, 60 epochs. The denoising one
# corrupts every training batch with the test noise itself: Gaussian, of
# standard deviation 0.5 on every pixel. The built-in ``noise="gaussian"``
# scales its ``noise_level`` by each pixel's spread instead, which would
# leave the blank border pixels uncorrupted, so a callable draws it here.


def pixel_noise(images, generator):
    return images + noise_sd * torch.randn(images.shape, generator=generator, dtype=images.dtype)


settings = dict(n_components=48, hidden_layer_sizes=(128,), batch_size=64, max_iter=60, random_state=0)
plain = AutoencoderTransformer(**settings).fit(X_train)
denoising = DenoisingAutoencoder(noise=pixel_noise, **settings).fit(X_train)


def reconstruct(model, images):
    return np.clip(model.inverse_transform(model.transform(images)), 0, 1)


def mse(images, clean):
    return np.mean((images - clean) ** 2)


print(f"noisy input vs clean:            {mse(X_test_noisy, X_test):.4f}")
for name, model in [("plain", plain), ("denoising", denoising)]:
    print(f"{name:9s} reconstruction vs clean: {mse(reconstruct(model, X_test_noisy), X_test):.4f}")

# %%
# What the denoising autoencoder does
# -----------------------------------
# :class:`~skae.inspection.ReconstructionDisplay` draws images above their
# reconstructions and the squared difference of each pixel. On the noisy test
# digits, the difference is what the model removed: mostly the noise.

n_images = 10
display = ReconstructionDisplay.from_estimator(denoising, X_test_noisy[:n_images], image_shape=(8, 8))
display.figure_.suptitle("Noisy test digits, denoised")
plt.show()

# %%
# Against the clean originals
# ---------------------------
# A display can also be built from images and reconstructions computed
# elsewhere: here the clean originals and each model's reconstruction of
# their noisy copies, so that the bottom row is each model's error, on one
# colour scale for both.

fig, axes = plt.subplots(6, n_images, figsize=(1.2 * n_images + 1, 7.5), layout="constrained")
displays = {}
for rows, (name, model) in zip([axes[:3], axes[3:]], [("plain", plain), ("denoising", denoising)]):
    reconstructions = reconstruct(model, X_test_noisy[:n_images])
    displays[name] = ReconstructionDisplay(X_test[:n_images], reconstructions, (8, 8)).plot(ax=rows)
    for row, label in enumerate(["clean", name, "error"]):
        displays[name].ax_[row, 0].set_ylabel(label)
highest_error = max(image.get_clim()[1] for display in displays.values() for image in display.images_[2])
for display in displays.values():
    for image in display.images_[2]:
        image.set_clim(0, highest_error)
plt.show()

# %%
# The plain autoencoder, having only ever seen clean digits, passes part of
# the noise through: its wide code has room to encode it. The denoising one
# was trained to map noisy inputs to clean targets, so its reconstructions are
# closer to the originals, and its errors smaller. The noise level is its
# main knob: choose it around the scale of the noise you want removed.
