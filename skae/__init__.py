"""skae: scikit-learn autoencoders on a PyTorch backend."""

from . import inspection, losses, metrics
from .anomaly import AutoencoderAnomalyDetector
from .autoencoder import AutoencoderTransformer
from .contractive import ContractiveAutoencoder
from .denoising import DenoisingAutoencoder
from .impute import AutoencoderImputer
from .persistence import load, save
from .sparse import SparseAutoencoder
from .variational import VariationalAutoencoder

__version__ = "0.1.0"

__all__ = [
    "AutoencoderAnomalyDetector",
    "AutoencoderImputer",
    "AutoencoderTransformer",
    "ContractiveAutoencoder",
    "DenoisingAutoencoder",
    "SparseAutoencoder",
    "VariationalAutoencoder",
    "inspection",
    "load",
    "losses",
    "metrics",
    "save",
]
