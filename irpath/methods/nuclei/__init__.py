"""Joint nuclei segmentation and classification (Qu et al., ISBI 2019).

A ResNet34-encoder U-Net (:mod:`irpath.models.resnet_unet`) predicts five maps:
background, the inner parts of tumour / lymphocyte / stroma nuclei, and the
contours of all nuclei. It is trained with a pixel-weighted cross-entropy (weight
map of eq. 2) plus 0.1 x a VGG16 perceptual loss on the contour map
(:mod:`irpath.losses.weighted_ce`, :mod:`irpath.losses.perceptual`). Instances come
from the connected inner parts grown back by one pixel.

* :mod:`~irpath.methods.nuclei.labels`: the id-mod-3 label image and instance + type maps;
* :mod:`~irpath.methods.nuclei.targets`: 5-class targets with contours, the weight map;
* :mod:`~irpath.methods.nuclei.postprocess`: maps → instances and their classes.
"""
