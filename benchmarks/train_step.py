"""Training throughput of CompSegNet at the paper's size and at the demo's, against matmul peak.

For each configuration: build the CompSegNet (``build_from_config``, input
statistics mean 0 / std 1), compile it as ``irpath train`` does (RMSprop +
``ComparativeLoss``), run warm-up ``train_on_batch`` steps on a fixed random batch
(half cancer, half cancer-free labels, all pixels tissue), then time ``--steps``
steps. Achieved GFLOP/s use FLOPs counted analytically from the layers
(:func:`irpath.models.flops.conv_flops`: 2 x multiply-adds of the convolutions,
elementwise ops not counted) with the usual convention that a training step
(forward + backward for inputs and weights) costs 3x the forward pass. The
machine's dense float32 matmul rate is measured too, so the fraction of peak can
be read off. Prints figures; never passes or fails.

    python benchmarks/train_step.py --steps 3
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from irpath.cli.demo import DEMO_DATA, DEMO_MODEL, DEMO_TRAIN  # noqa: E402
from irpath.cli.main import start_tensorflow  # noqa: E402
from irpath.methods.compsegnet.config import CompSegNetConfig  # noqa: E402

#: Training step FLOPs / forward FLOPs (forward, gradient w.r.t. inputs, gradient w.r.t. weights).
TRAIN_FACTOR = 3
PAPER_SIZE = 256


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=5, help="timed training steps per configuration")
    p.add_argument("--warmup", type=int, default=2,
                   help="untimed steps first (the first one traces the graph)")
    p.add_argument("--full-batch", type=int, default=2,
                   help="batch of the paper-size run (the paper used 7 on four GPUs)")
    p.add_argument("--demo-batch", type=int, default=DEMO_TRAIN.batch_size,
                   help="batch of the demo-size run")
    p.add_argument("--skip-full", action="store_true",
                   help="skip the paper-size run (256x256x450, 64 filters, depth 4)")
    p.add_argument("--matmul-size", type=int, default=2048, help="n of the n x n float32 matmul")
    args = p.parse_args(argv)
    for name in ("steps", "full_batch", "demo_batch", "matmul_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 1:
        p.error("--warmup must be >= 1 (the first step builds the graph)")
    return args


def matmul_gflops(n: int, reps: int = 10) -> float:
    """Median rate of an n x n float32 ``tf.linalg.matmul`` (2 n^3 FLOPs each), after warm-up."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    b = tf.constant(rng.standard_normal((n, n), dtype=np.float32))
    for _ in range(2):
        tf.linalg.matmul(a, b).numpy()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        tf.linalg.matmul(a, b).numpy()
        times.append(time.perf_counter() - t)
    return 2 * n**3 / float(np.median(times)) / 1e9


def bench(tag: str, cfg: CompSegNetConfig, size: int, batch: int, steps: int, warmup: int,
          peak: float) -> None:
    """Build, compile and time ``cfg`` on (batch, size, size, C) random cubes; print results."""
    import keras

    from irpath.losses import ComparativeLoss
    from irpath.models.compsegnet import build_from_config
    from irpath.models.flops import conv_flops

    keras.utils.set_random_seed(0)
    c = cfg.in_channels
    model = build_from_config(cfg, np.zeros(c, np.float32), np.ones(c, np.float32))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
                  loss=ComparativeLoss(alpha=cfg.alpha))
    forward = conv_flops(model, (size, size))
    per_image = TRAIN_FACTOR * forward
    print(f"[{tag}] input {size}x{size}x{c}, filters {cfg.filters}, depth {cfg.depth}: "
          f"{model.count_params():,} parameters")
    print(f"[{tag}] analytic FLOPs per image: forward {forward / 1e9:.3f} GFLOP, "
          f"training step {per_image / 1e9:.3f} GFLOP ({TRAIN_FACTOR}x forward)")

    rng = np.random.default_rng(0)
    x = {"cube": rng.standard_normal((batch, size, size, c), dtype=np.float32),
         "tissue": np.ones((batch, size, size, 1), np.float32)}
    y = (np.arange(batch) % 2).astype(np.float32)
    t = time.perf_counter()
    model.train_on_batch(x, y)
    first = time.perf_counter() - t
    for _ in range(warmup - 1):
        model.train_on_batch(x, y)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)  # returns the loss as numpy: the step has finished
        times.append(time.perf_counter() - t)
    step = float(np.mean(times))
    gflops = per_image * batch / step / 1e9
    print(f"[{tag}] batch {batch}: first step {first:.2f} s (graph tracing), then {steps} timed "
          f"steps: {step:.3f} s/step (min {min(times):.3f}, max {max(times):.3f})")
    print(f"[{tag}] throughput: {batch / step:.2f} images/s, {gflops:.1f} GFLOP/s achieved, "
          f"{gflops / peak:.2f} of the measured matmul rate")


def main(argv=None) -> int:
    args = parse_args(argv)
    start_tensorflow()
    import keras
    import tensorflow as tf

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, TensorFlow {tf.__version__}, "
          f"Keras {keras.__version__}, devices "
          f"{', '.join(d.name for d in tf.config.list_logical_devices())}")
    n = args.matmul_size
    peak = matmul_gflops(n)
    print(f"dense matmul peak: {peak:.1f} GFLOP/s ({n}x{n} float32 tf.linalg.matmul, median of 10 "
          f"after warm-up)")
    print(f"FLOP convention: 2 x multiply-adds of Conv2D / Conv2DTranspose per image; biases, "
          f"activations, pooling, the pooling neuron not counted; training step = "
          f"{TRAIN_FACTOR} x forward")
    bench("demo", DEMO_MODEL, DEMO_DATA["size"], args.demo_batch, args.steps, args.warmup, peak)
    if args.skip_full:
        print("[paper] skipped (--skip-full)")
    else:
        bench("paper", CompSegNetConfig(filters=64, depth=4), PAPER_SIZE, args.full_batch,
              args.steps, args.warmup, peak)
    return 0


if __name__ == "__main__":
    sys.exit(main())
