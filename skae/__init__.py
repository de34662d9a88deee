"""skae: scikit-learn autoencoders on a PyTorch backend."""

from . import losses, metrics
from .anomaly import AutoencoderAnomalyDetector
from .autoencoder import AutoencoderTransformer
from .contractive import ContractiveAutoencoder
from .denoising import DenoisingAutoencoder
from .sparse import SparseAutoencoder
from .variational import VariationalAutoencoder

__version__ = "0.1.0"

__all__ = [
    "AutoencoderAnomalyDetector",
    "AutoencoderTransformer",
    "ContractiveAutoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "VariationalAutoencoder",
    "losses",
    "metrics",
]
