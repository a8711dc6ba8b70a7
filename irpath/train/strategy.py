"""Choosing a ``tf.distribute`` strategy. Called only from entry points, never at import."""

from __future__ import annotations

import json
import os

import tensorflow as tf


def make_strategy(devices: list[str] | None = None) -> tf.distribute.Strategy:
    """The strategy training runs under.

    * ``devices`` given (e.g. ``["/cpu:0", "/cpu:1"]`` in tests): MirroredStrategy on them.
    * ``TF_CONFIG`` names more than one worker: MultiWorkerMirroredStrategy.
    * more than one GPU visible: MirroredStrategy over all of them.
    * otherwise the default (single-device) strategy.

    The global batch is the per-replica batch times ``strategy.num_replicas_in_sync``.
    """
    if devices:
        # Logical CPU devices (tests, CPU-only hosts) reduce on one device: collective
        # all-reduce keys are process-wide, and two strategies' keys collide when one
        # process builds several (a shape-mismatch abort).
        cross = (tf.distribute.ReductionToOneDevice()
                 if all("cpu" in d.lower() for d in devices) else None)
        return tf.distribute.MirroredStrategy(devices, cross_device_ops=cross)
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    if len(tf_config.get("cluster", {}).get("worker", [])) > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def describe(strategy: tf.distribute.Strategy) -> str:
    name = type(strategy).__name__
    return f"{name} with {strategy.num_replicas_in_sync} replica(s)"
