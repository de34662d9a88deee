"""skae: scikit-learn autoencoders on a PyTorch backend."""

from . import losses, metrics
from .autoencoder import AutoencoderTransformer

__version__ = "0.1.0"

__all__ = [
    "AutoencoderTransformer",
    "losses",
    "metrics",
]
