"""How this process trains, as opposed to what it trains (the recipe): determinism,
precision and compilation. Set once by the CLI before any model is built.

These switches change speed or bit-exactness, not the method, so they are not part of
a run's locked recipe: a run may be resumed with other values.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RuntimeOptions:
    """Attributes:
        deterministic: TensorFlow op determinism (``enable_op_determinism``); with the
            recipe's seed, a run is then repeatable bit for bit on the same machine, and
            a resumed run ends with the same weights as an uninterrupted one.
        mixed_precision: compute in float16 (GPU) or bfloat16 (CPU), keep float32
            weights and outputs (:func:`irpath.layers.precision.set_precision`).
        jit_compile: XLA-compile the training step.
    """

    deterministic: bool = False
    mixed_precision: bool = False
    jit_compile: bool = False


_current = RuntimeOptions()


def current() -> RuntimeOptions:
    """The options set by :func:`configure` (defaults until then)."""
    return _current


def configure(options: RuntimeOptions) -> RuntimeOptions:
    """Apply ``options`` to TensorFlow / Keras and remember them for :func:`current`."""
    global _current
    import tensorflow as tf

    if options.deterministic:
        tf.config.experimental.enable_op_determinism()
    from irpath.layers.precision import set_precision

    set_precision(options.mixed_precision)
    _current = options
    return options
