"""Custom Keras layers; each is registered serialisable under package "irpath"."""

from irpath.layers.channel_pad import PadChannels
from irpath.layers.class_planes import ClassPlanes, StopGradient
from irpath.layers.padding import CropToMatch, PadToMultiple
from irpath.layers.pooling_neuron import PoolingNeuron, sigma_abg
from irpath.layers.saliency_prior import SaliencyPrior
from irpath.layers.spectral_standardise import SpectralStandardise
from irpath.layers.spectral_preprocess import MinMaxScale, SavitzkyGolay, VectorNormalise

__all__ = ["ClassPlanes", "CropToMatch", "MinMaxScale", "PadChannels", "PadToMultiple", "PoolingNeuron",
           "SaliencyPrior", "SavitzkyGolay", "SpectralStandardise", "StopGradient", "VectorNormalise", "sigma_abg"]
