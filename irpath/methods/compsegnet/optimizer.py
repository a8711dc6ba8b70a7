"""RMSprop as the CompSegNet paper's TensorFlow ran it.

The paper (2019) trained with TensorFlow 1's ``RMSPropOptimizer``, whose
mean-square accumulator starts at **1**. Keras 3's ``RMSprop`` starts it at
**0**, so its first updates are ``lr / sqrt(1 - rho)`` ≈ 3.2·lr per weight
whatever the gradient. With the accumulator at 1, early steps are ``lr·g`` and
grow into normalised steps as the accumulator learns the gradient scale: a
built-in warm-up, but a slow one for CompSegNet, whose gradients are ~1e-3, so
irpath's default is Keras' 0 and TF1's behaviour is ``initial_accumulator=1``.
See models/compsegnet/README.md.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="irpath")
class RMSprop(keras.optimizers.RMSprop):
    """``keras.optimizers.RMSprop`` with the mean-square accumulator initialised to
    ``initial_accumulator`` (Keras: 0.0, TF1: 1.0). All other arguments are Keras'."""

    def __init__(self, learning_rate=0.001, initial_accumulator: float = 0.0, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator = float(initial_accumulator)

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        # RMSprop.build creates its accumulators here as "velocity"; start them at
        # initial_accumulator (an assign after build would be lost when Keras
        # builds the optimizer symbolically inside fit()).
        if name == "velocity":
            initializer = keras.initializers.Constant(self.initial_accumulator)
        return super().add_optimizer_variables(trainable_variables, name, initializer)

    def get_config(self):
        config = super().get_config()
        config.update(initial_accumulator=self.initial_accumulator)
        return config
