"""skae: scikit-learn autoencoders on a PyTorch backend."""

from . import losses, metrics
from .anomaly import AutoencoderAnomalyDetector
from .autoencoder import AutoencoderTransformer

__version__ = "0.1.0"

__all__ = [
    "AutoencoderAnomalyDetector",
    "AutoencoderTransformer",
    "losses",
    "metrics",
]
