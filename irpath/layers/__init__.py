"""Custom Keras layers; each is registered serialisable under package "irpath"."""

from irpath.layers.padding import CropToMatch, PadToMultiple
from irpath.layers.pooling_neuron import PoolingNeuron, sigma_abg
from irpath.layers.saliency_prior import SaliencyPrior
from irpath.layers.spectral_standardise import SpectralStandardise

__all__ = ["CropToMatch", "PadToMultiple", "PoolingNeuron", "SaliencyPrior", "SpectralStandardise", "sigma_abg"]
