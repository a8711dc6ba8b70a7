"""Perceptual loss on the contour map (Qu et al. 2019, eq. 3; Johnson et al. 2016).

A frozen VGG16 (``keras.applications.VGG16(weights=None, include_top=False)``
with weights from a local file; nothing is ever downloaded) extracts relu1_2,
relu2_2, relu3_3 and relu4_3 (Keras: ``block1_conv2``, ``block2_conv2``,
``block3_conv3``, ``block4_conv3``, whose activations are those ReLUs) of the
prediction and of the ground truth; the loss is the mean squared feature
difference of each layer (the 1/(C_k H_k W_k) of eq. 3), averaged over the four.

What goes into VGG16 follows the authors' ``train.py``, not the paper's
``argmax y``: argmax is piecewise constant, so a loss through it has zero
gradient everywhere and could not train the network. The authors instead feed
the softmax probability of the *contour* class (channel 4), repeated to three
channels, against the ground-truth contour mask likewise repeated: the loss then
sharpens exactly the thin structures that separate touching nuclei.

Input scale: the authors pass maps in [0, 1] unnormalised to torchvision's
VGG16, whose inputs are in units of the ImageNet std (~0.225 * 255 pixel
levels). Keras' (caffe-style) VGG16 takes mean-subtracted 0-255 BGR pixels, so
maps are multiplied by ``input_scale`` = 0.225 * 255 to give a unit step the
same size in VGG input units, keeping the loss on the authors' scale for beta.
"""

from __future__ import annotations

import warnings

import keras
from keras import ops

from irpath.io.keras_weights import VGG16, load_weights_file

#: Keras VGG16 layers whose outputs are relu1_2, relu2_2, relu3_3, relu4_3.
VGG_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3")


def build_vgg16_features(weights_path, layers=VGG_LAYERS) -> keras.Model:
    """A frozen VGG16 feature extractor with weights from a local file.

    Args:
        weights_path: a VGG16 weights file in either Keras layout (Keras 3
            ``.weights.h5`` from ``save_weights``, or Keras' legacy ``*_notop.h5``; see
            :func:`irpath.io.keras_weights.read_weights_file`); a top is ignored.
        layers: names of the VGG16 layers to return.

    Returns:
        A non-trainable model (N, H, W, 3) -> list of (N, H_k, W_k, C_k) features.

    Raises:
        MissingFileError: no such file.
        DataFileError: the file does not hold VGG16 conv weights.
    """
    vgg = keras.applications.VGG16(weights=None, include_top=False, input_shape=(None, None, 3))
    load_weights_file(vgg, weights_path, VGG16)
    model = keras.Model(vgg.input, [vgg.get_layer(name).output for name in layers],
                        name="vgg16_features")
    model.trainable = False
    return model


def _target_classes(y_true):
    """(N, H, W) class indices from packed (N, H, W, 2) / (N, H, W, 1) or plain (N, H, W) targets."""
    return y_true[..., 0] if len(y_true.shape) == 4 else y_true


@keras.saving.register_keras_serializable(package="irpath")
class PerceptualLoss(keras.losses.Loss):
    """Eq. 3 on the contour probability vs the contour mask; one value per image.

    Args:
        vgg_weights: local VGG16 weights file; None disables the loss (it is then
            0 and a warning says so). Never fetched.
        layers: VGG16 layers compared (default relu1_2 ... relu4_3).
        contour_channel: channel of ``y_pred`` and class of ``y_true`` that is the contour.
        input_scale: factor applied to the [0, 1] maps before VGG16 (see module doc).

    ``y_true``: (N, H, W, 2) [class, weight] (as for :class:`NucleiLoss`), or
    (N, H, W) / (N, H, W, 1) class indices. ``y_pred``: (N, H, W, K) probabilities.
    """

    DEFAULT_INPUT_SCALE = 0.225 * 255.0

    def __init__(self, vgg_weights=None, layers=VGG_LAYERS, contour_channel: int = 4,
                 input_scale: float = DEFAULT_INPUT_SCALE, reduction="sum_over_batch_size",
                 name="perceptual_loss", **kwargs):
        super().__init__(reduction=reduction, name=name, **kwargs)
        self.vgg_weights = None if vgg_weights is None else str(vgg_weights)
        self.layers = tuple(layers)
        self.contour_channel = int(contour_channel)
        self.input_scale = float(input_scale)
        if self.vgg_weights is None:
            warnings.warn("perceptual loss disabled: no VGG16 weights file given (vgg_weights=None); "
                          "weights are never downloaded, pass a local VGG16 include_top=False "
                          "weights file to enable it", UserWarning, stacklevel=2)
            self.features = None
        else:
            self.features = build_vgg16_features(self.vgg_weights, self.layers)

    @property
    def enabled(self) -> bool:
        """Whether VGG16 weights were given (otherwise the loss is identically 0)."""
        return self.features is not None

    def call(self, y_true, y_pred):
        if self.features is None:
            return ops.zeros(ops.shape(y_pred)[:1], dtype=y_pred.dtype)
        c = self.contour_channel
        pred = ops.repeat(y_pred[..., c:c + 1], 3, axis=-1) * self.input_scale
        mask = ops.cast(ops.equal(ops.cast(_target_classes(y_true), "int32"), c), y_pred.dtype)
        target = ops.repeat(ops.expand_dims(mask, -1), 3, axis=-1) * self.input_scale
        n = ops.shape(pred)[0]
        feats = self.features(ops.concatenate([pred, target], axis=0))
        per_layer = []
        for f in feats:
            f = ops.cast(f, y_pred.dtype)  # VGG computes in the policy's dtype (bf16 when mixed)
            diff = f[:n] - ops.stop_gradient(f[n:])
            per_layer.append(ops.mean(ops.square(diff), axis=(1, 2, 3)))
        return ops.mean(ops.stack(per_layer, axis=0), axis=0)

    def get_config(self):
        config = super().get_config()
        config.update(vgg_weights=self.vgg_weights, layers=list(self.layers),
                      contour_channel=self.contour_channel, input_scale=self.input_scale)
        return config
