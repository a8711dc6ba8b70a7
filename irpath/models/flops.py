"""Analytic FLOP counts of a Keras model's convolutions, for throughput benchmarks.

One multiply-add is two FLOPs. Per image and forward pass:

* ``Conv2D``: 2 · H_out · W_out · k_h · k_w · (C_in / groups) · C_out;
* ``Conv2DTranspose``: 2 · H_in · W_in · k_h · k_w · C_in · C_out (every input
  pixel is scattered through the whole kernel; for the U-Net's k = stride = 2
  this is 2 · H_out · W_out · C_in · C_out);
* ``Dense``: 2 · (positions) · C_in · units.

Biases, activations, pooling, concatenation, normalisation and the pooling
neuron are elementwise (O(H · W · C)) and not counted: in a U-Net they are well
under 1 % of the convolutions. Nested models (the segmenter inside a
CompSegNet) are walked recursively.
"""

from __future__ import annotations

import math

import keras


def _hwc(layer, spec) -> tuple[int, int, int]:
    """(H, W, C) of a 4-D tensor spec in the layer's data format."""
    if layer.data_format == "channels_last":
        return spec.shape[1], spec.shape[2], spec.shape[3]
    return spec.shape[2], spec.shape[3], spec.shape[1]


def _conv_flops(layer, x, y) -> int:
    """FLOPs of one call of a convolution / dense layer with input spec x, output spec y."""
    if isinstance(layer, (keras.layers.Conv2DTranspose, keras.layers.Conv2D)):
        kh, kw = layer.kernel_size
        h_in, w_in, c_in = _hwc(layer, x)
        h_out, w_out, c_out = _hwc(layer, y)
        if isinstance(layer, keras.layers.Conv2DTranspose):  # every input pixel x the whole kernel
            return 2 * h_in * w_in * kh * kw * c_in * c_out
        return 2 * h_out * w_out * kh * kw * (c_in // layer.groups) * c_out
    if isinstance(layer, keras.layers.Dense):
        positions = math.prod(x.shape[1:-1])
        return 2 * positions * x.shape[-1] * layer.units
    return 0


class _Counter:
    """Runs a model's graph on concrete shapes, adding up each layer's FLOPs."""

    def __init__(self):
        self.total = 0

    def run(self, model, inputs: list):
        """Output specs of ``model`` for the flat list of input specs ``inputs``."""
        if isinstance(model, keras.Sequential):
            x = inputs[0]
            for layer in model.layers:
                x = self.call(layer, x)
            return x
        if not hasattr(model, "_run_through_graph"):
            raise ValueError(f"cannot count FLOPs inside the subclassed model {model.name!r}: "
                             "only functional and Sequential models are walked")
        # Keras' own graph runner (used by clone_model): calls operation_fn(layer)(*args)
        # for every node in topological order, with the specs computed so far.
        return model._run_through_graph(inputs, operation_fn=lambda op: (
            lambda *args, **kwargs: self.call(op, *args, **kwargs)))

    def call(self, layer, *args, **kwargs):
        if isinstance(layer, keras.Model):
            flat = keras.tree.flatten(args[0]) if len(args) == 1 else list(args)
            return self.run(layer, flat)
        out = layer.compute_output_spec(*args, **kwargs)
        if args:
            self.total += _conv_flops(layer, args[0], out)
        return out


def _input_spec(tensor, input_hw):
    shape = list(tensor.shape)
    shape[0] = 1
    if len(shape) == 4:  # (N, H, W, C): fill in the spatial size
        if input_hw is None:
            raise ValueError(f"input {tensor.name!r} has shape {tensor.shape}: pass input_hw")
        for i, size in zip((1, 2), input_hw):
            if shape[i] is not None and shape[i] != size:
                raise ValueError(f"input {tensor.name!r} is fixed to {tuple(tensor.shape[1:3])}, "
                                 f"not {tuple(input_hw)}")
            shape[i] = int(size)
    if any(s is None for s in shape):
        raise ValueError(f"input {tensor.name!r} has undefined dimensions {tensor.shape}")
    return keras.KerasTensor(tuple(shape), dtype=tensor.dtype)


def conv_flops(model: keras.Model, input_hw: tuple[int, int] | None) -> int:
    """Forward FLOPs per image of a model's convolutions and dense layers.

    Args:
        model: a functional or Sequential ``keras.Model`` (nested models are walked).
            Image inputs are (N, H, W, C), channels last.
        input_hw: (H, W) of the image inputs; may be None for models without them.

    Returns:
        FLOPs of one forward pass of one image (see the module docstring for the
        convention). A training step costs about 3x this (forward + backward).
    """
    counter = _Counter()
    counter.run(model, [_input_spec(t, input_hw) for t in model.inputs])
    return counter.total
