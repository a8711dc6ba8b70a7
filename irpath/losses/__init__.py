"""Losses; each registered serialisable under package "irpath".

Importing this package registers every loss, so saved models that use them load.
"""

from irpath.losses.fcn import L1L2Loss, SegmentationLoss, SoftmaxCrossEntropy, TotalVariation
from irpath.losses.multiloss import PriorWeightedSegLoss
from irpath.losses.nuclei import NucleiLoss, WeightedCrossEntropy
from irpath.losses.perceptual import PerceptualLoss
from irpath.losses.weak_label import ComparativeLoss, comparative_loss

__all__ = ["ComparativeLoss", "comparative_loss", "NucleiLoss", "PerceptualLoss", "PriorWeightedSegLoss",
           "WeightedCrossEntropy", "L1L2Loss", "SegmentationLoss", "SoftmaxCrossEntropy", "TotalVariation"]
