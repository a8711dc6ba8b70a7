"""The ``--mixed-precision`` switch: Keras' global dtype policy, set once before building models.

Under a mixed policy layers keep float32 variables and compute in float16 (GPU
tensor cores) or bfloat16 (CPU; no loss scaling needed). irpath's builders read
the policy at build time: numerically sensitive layers (spectral preprocessing,
the pooling neuron, every output map and score) are float32 under a mixed
policy (:func:`output_dtype`), and CompSegNet pads its first convolution's
input channels to a multiple of 8 when the policy computes in reduced
precision (:func:`reduced_precision`). ``compile`` wraps the optimizer in a
``LossScaleOptimizer`` under ``mixed_float16`` by itself.
"""

from __future__ import annotations

REDUCED_DTYPES = ("float16", "bfloat16")


def set_precision(mixed: bool) -> str:
    """Set Keras' global dtype policy and return its name.

    Call it before any model is built (the CLI entry point does); models built
    earlier keep the policy they were built with.

    Args:
        mixed: True for mixed precision: "mixed_float16" when TensorFlow sees a
            GPU, "mixed_bfloat16" otherwise; False for "float32".

    Returns:
        The name of the policy now in force.
    """
    import keras

    if not mixed:
        name = "float32"
    else:
        import tensorflow as tf

        name = "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"
    keras.config.set_dtype_policy(name)
    return keras.config.dtype_policy().name


def reduced_precision() -> bool:
    """Whether the current global policy computes in float16 or bfloat16."""
    import keras

    return keras.config.dtype_policy().compute_dtype in REDUCED_DTYPES


def output_dtype() -> str | None:
    """dtype for layers that must stay full precision (outputs, preprocessing, pooling).

    "float32" under a mixed policy, None (the global policy, unchanged) otherwise,
    so float32 and float64 models are built exactly as without this switch.
    """
    return "float32" if reduced_precision() else None
