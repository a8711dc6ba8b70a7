"""Custom Keras layers; each is registered serialisable under package "irpath"."""

from irpath.layers.channel_pad import PadChannels
from irpath.layers.class_planes import ClassPlanes, StopGradient
from irpath.layers.dihedral import DihedralTransform
from irpath.layers.padding import CropToMatch, PadToMultiple
from irpath.layers.pooling_neuron import PoolingNeuron, sigma_abg
from irpath.layers.saliency_prior import SaliencyPrior
from irpath.layers.spectral_standardise import SpectralStandardise
from irpath.layers.spectral_preprocess import MinMaxScale, SavitzkyGolay, VectorNormalise
from irpath.layers.tissue_noise import TissueNoise

__all__ = ["ClassPlanes", "CropToMatch", "DihedralTransform", "MinMaxScale", "PadChannels", "PadToMultiple", "PoolingNeuron",
           "SaliencyPrior", "SavitzkyGolay", "SpectralStandardise", "StopGradient", "TissueNoise", "VectorNormalise",
           "sigma_abg"]
