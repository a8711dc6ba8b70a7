"""Training throughput of CompSegNet at the paper's size and the demo's: six ways to run a step.

For each size the CompSegNet is built with ``build_from_config`` (input statistics
mean 0 / std 1) and compiled as ``irpath train`` does (irpath's RMSprop +
``ComparativeLoss``). On one fixed random batch (half cancer, half cancer-free,
all pixels tissue) the same step is then timed, in this run, as:

- ``train_on_batch``: Keras, numpy batch in;
- ``eager``: a plain Python loop, forward + loss under ``tf.GradientTape``,
  ``tape.gradient``, ``optimizer.apply_gradients``, no ``tf.function``. This is
  how the public TF2 port of CompSegNet trains (the script headed "author: Dajana
  Mueller, February 2022, script: CompSegNet by David Schuhmacher": its
  ``train_CSN`` iterates ``train_dataset.take(n).as_numpy_iterator()`` and per
  batch calls ``grad()`` -- ``with tf.GradientTape(): loss(model, x, ...)``,
  ``tape.gradient(loss, model.trainable_variables)`` -- then
  ``optimizer.apply_gradients``, all eager, numpy batches in);
- ``tf_function``: the same custom step inside ``tf.function``;
- ``fit``: ``model.fit`` on a ``tf.data`` dataset repeating the batch;
- ``fit_xla``: the same with ``model.jit_compile = True`` (``--jit-compile``);
- ``fit_bf16``: the same under the ``mixed_bfloat16`` policy (``--mixed-precision``
  on CPU; the model pads its 450 channels to 456).

FLOPs are counted analytically from the float32 model's layers
(:func:`irpath.models.flops.conv_flops`: 2 x multiply-adds of the convolutions;
a training step = 3 x forward) and used for every mode, so GFLOP/s compare
useful work. References measured in the same run: a square float32 matmul
(the "peak"; re-measured right before every mode, since other processes share
the CPU), a bfloat16 matmul, and at paper size the model's own convolution
shapes (forward, forward + backward, and as an im2col GEMM). Prints a table and
optionally writes the figures to JSON; never passes or fails.

    python benchmarks/train_step.py --steps 2 --json /tmp/train_step.json
"""

from __future__ import annotations

import argparse
import json
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
MODES = ("train_on_batch", "eager", "tf_function", "fit", "fit_xla", "fit_bf16")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--steps", type=int, default=3, help="timed steps per mode at paper size")
    p.add_argument("--demo-steps", type=int, default=20, help="timed steps per mode at demo size")
    p.add_argument("--warmup", type=int, default=1,
                   help="untimed steps first (the first one traces / compiles)")
    p.add_argument("--full-batch", type=int, default=2,
                   help="batch of the paper-size run (the paper used 7 on four GPUs)")
    p.add_argument("--demo-batch", type=int, default=DEMO_TRAIN.batch_size,
                   help="batch of the demo-size run")
    p.add_argument("--skip-full", action="store_true",
                   help="skip the paper-size run (256x256x450, 64 filters, depth 4)")
    p.add_argument("--modes", default=",".join(MODES), help="comma-separated subset of " + ", ".join(MODES))
    p.add_argument("--matmul-size", type=int, default=2048, help="n of the n x n matmul references")
    p.add_argument("--json", default=None, help="also write all figures to this JSON file")
    args = p.parse_args(argv)
    for name in ("steps", "demo_steps", "full_batch", "demo_batch", "matmul_size", "warmup"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    args.modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = sorted(set(args.modes) - set(MODES))
    if bad:
        p.error(f"unknown modes {bad}; choose from {', '.join(MODES)}")
    return args


def _rate(fn, flops: float, reps: int) -> float:
    """Median GFLOP/s of ``fn`` (which must block until done) after two warm-up calls."""
    fn()
    fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return flops / float(np.median(times)) / 1e9


def matmul_gflops(n: int, dtype: str = "float32", reps: int = 5) -> float:
    """Median rate of an n x n ``tf.linalg.matmul`` in ``dtype`` (2 n^3 FLOPs each)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.cast(rng.standard_normal((n, n), dtype=np.float32), dtype)
    b = tf.cast(rng.standard_normal((n, n), dtype=np.float32), dtype)
    return _rate(lambda: tf.linalg.matmul(a, b).numpy(), 2 * n**3, reps)


def conv_references(size: int, batch: int, shapes, reps: int = 3) -> list[dict]:
    """GFLOP/s of the model's own 3x3 convolutions: forward, forward + backward, im2col GEMM."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    out = []
    for hw, cin, cout in shapes:
        hw = size * hw // PAPER_SIZE
        x = tf.constant(rng.standard_normal((batch, hw, hw, cin), dtype=np.float32))
        k = tf.Variable(rng.standard_normal((3, 3, cin, cout), dtype=np.float32) * 0.01)
        flops = 2 * batch * hw * hw * 9 * cin * cout
        fwd = tf.function(lambda: tf.nn.conv2d(x, k, 1, "SAME"))

        @tf.function
        def fwd_bwd():
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = tf.nn.conv2d(x, k, 1, "SAME")
            gx, gk = tape.gradient(y, [x, k], output_gradients=y)
            return tf.reduce_sum(gx[:1, :1, :1]) + tf.reduce_sum(gk[:1, :1, :1])

        a = tf.constant(rng.standard_normal((batch * hw * hw, 9 * cin), dtype=np.float32))
        b = tf.constant(rng.standard_normal((9 * cin, cout), dtype=np.float32))
        out.append({"shape": f"{batch}x{hw}x{hw}x{cin}->{cout}",
                    "forward": _rate(lambda: fwd().numpy(), flops, reps),
                    "forward_backward": _rate(lambda: fwd_bwd().numpy(), TRAIN_FACTOR * flops, reps),
                    "im2col_gemm": _rate(lambda: tf.linalg.matmul(a, b).numpy(), flops, reps)})
    return out


def _build(cfg: CompSegNetConfig, *, mixed: bool = False):
    import keras

    from irpath.losses import ComparativeLoss
    from irpath.methods.compsegnet.config import build_from_config
    from irpath.methods.compsegnet.optimizer import RMSprop
    from irpath.layers.precision import set_precision

    set_precision(mixed)
    try:
        keras.utils.set_random_seed(0)
        c = cfg.in_channels
        model = build_from_config(cfg, np.zeros(c, np.float32), np.ones(c, np.float32))
        model.compile(optimizer=RMSprop(learning_rate=1e-3), loss=ComparativeLoss(alpha=cfg.alpha))
    finally:
        set_precision(False)
    return model


def _time_loop(step, warmup: int, steps: int) -> dict:
    """Run ``step()`` (blocking) ``warmup`` times, then time ``steps`` calls."""
    t = time.perf_counter()
    step()
    first = time.perf_counter() - t
    for _ in range(warmup - 1):
        step()
    wall, cpu = [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        step()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"first_s": first, "step_s": float(np.mean(wall)), "min_s": min(wall), "max_s": max(wall),
            "cpu_s": float(np.mean(cpu))}


def _time_fit(model, ds, warmup: int, steps: int) -> dict:
    """Time ``model.fit`` over ``steps`` steps of ``ds`` after a ``warmup``-step fit."""
    t = time.perf_counter()
    model.fit(ds, steps_per_epoch=warmup, epochs=1, verbose=0, shuffle=False)
    first = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    return {"first_s": first, "step_s": wall / steps, "min_s": None, "max_s": None,
            "cpu_s": cpu / steps}


def custom_steps(model, x, y):
    """``(eager_step, graph_step)``: the port's GradientTape step, and the same in ``tf.function``."""
    import tensorflow as tf

    loss_fn, opt = model.loss, model.optimizer
    variables = model.trainable_variables

    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    graph_step = tf.function(train_step)
    xt = {k: tf.constant(v) for k, v in x.items()}
    yt = tf.constant(y)
    # eager: numpy in every step, as the port's as_numpy_iterator() feeds it
    return (lambda: float(train_step(x, y)), lambda: float(graph_step(xt, yt)))


def bench(tag: str, cfg: CompSegNetConfig, size: int, batch: int, steps: int, warmup: int,
          modes, matmul_n: int) -> dict:
    """Time every mode of ``modes`` for ``cfg`` on (batch, size, size, C); print and return figures."""
    import tensorflow as tf

    from irpath.models.flops import conv_flops

    model = _build(cfg)
    c = cfg.in_channels
    per_image = TRAIN_FACTOR * conv_flops(model, (size, size))
    print(f"\n[{tag}] input {size}x{size}x{c}, filters {cfg.filters}, depth {cfg.depth}, batch {batch}: "
          f"{model.count_params():,} parameters, {per_image / TRAIN_FACTOR / 1e9:.3f} GFLOP forward, "
          f"{per_image / 1e9:.3f} GFLOP per training image", flush=True)
    rng = np.random.default_rng(0)
    x = {"cube": rng.standard_normal((batch, size, size, c), dtype=np.float32),
         "tissue": np.ones((batch, size, size, 1), np.float32)}
    y = (np.arange(batch) % 2).astype(np.float32)
    ds = tf.data.Dataset.from_tensors((x, y)).repeat()
    rows = {}
    for mode in modes:
        ref = matmul_gflops(matmul_n)
        if mode == "train_on_batch":
            r = _time_loop(lambda: model.train_on_batch(x, y), warmup, steps)
        elif mode in ("eager", "tf_function"):
            eager, graph = custom_steps(model, x, y)
            r = _time_loop(eager if mode == "eager" else graph, warmup, steps)
        elif mode == "fit":
            r = _time_fit(model, ds, warmup, steps)
        else:
            other = _build(cfg, mixed=mode == "fit_bf16")
            if mode == "fit_xla":
                other.jit_compile = True   # what --jit-compile does, after compile
            r = _time_fit(other, ds, warmup, steps)
            del other
        r.update(mode=mode, matmul_ref=ref, images_s=batch / r["step_s"],
                 gflops=per_image * batch / r["step_s"] / 1e9)
        r["of_ref"] = r["gflops"] / ref
        rows[mode] = r
        print(f"[{tag}] {mode:<14} {r['step_s']:8.3f} s/step (first {r['first_s']:.1f} s), "
              f"{r['gflops']:7.1f} GFLOP/s, matmul right before {ref:.1f} GFLOP/s", flush=True)
    return {"tag": tag, "size": size, "channels": c, "filters": cfg.filters, "depth": cfg.depth,
            "batch": batch, "steps": steps, "train_gflop_per_image": per_image / 1e9, "modes": rows}


def print_table(result: dict, peak: float) -> None:
    rows = result["modes"]
    eager = rows.get("eager", {}).get("step_s")
    print(f"\n[{result['tag']}] {result['size']}x{result['size']}x{result['channels']}, "
          f"batch {result['batch']}, {result['steps']} timed steps; peak = best float32 matmul "
          f"of the run, {peak:.1f} GFLOP/s")
    print(f"{'mode':<15}{'s/step':>9}{'images/s':>10}{'GFLOP/s':>9}{'of peak':>9}"
          f"{'of mm ref':>10}{'CPU use':>9}{'x eager':>9}")
    for mode, r in rows.items():
        speedup = f"{eager / r['step_s']:.2f}" if eager else "-"
        print(f"{mode:<15}{r['step_s']:9.3f}{r['images_s']:10.2f}{r['gflops']:9.1f}"
              f"{r['gflops'] / peak:9.2f}{r['of_ref']:10.2f}{r['cpu_s'] / r['step_s']:9.2f}{speedup:>9}")
        r["of_peak"] = r["gflops"] / peak
        r["x_eager"] = eager / r["step_s"] if eager else None


def main(argv=None) -> int:
    args = parse_args(argv)
    start_tensorflow()
    import keras
    import tensorflow as tf

    env = {k: os.environ.get(k) for k in ("TF_ENABLE_ONEDNN_OPTS", "OMP_NUM_THREADS",
                                          "TF_NUM_INTRAOP_THREADS", "TF_XLA_FLAGS")}
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, load average "
          f"{os.getloadavg()[0]:.1f}, TensorFlow {tf.__version__}, Keras {keras.__version__}; "
          f"env {env}")
    n = args.matmul_size
    refs = {"matmul_float32": [matmul_gflops(n)], "matmul_bfloat16": matmul_gflops(n, "bfloat16", 3)}
    print(f"references: {n}x{n} matmul float32 {refs['matmul_float32'][0]:.1f} GFLOP/s, bfloat16 "
          f"{refs['matmul_bfloat16']:.1f} GFLOP/s (median of 5/3 after warm-up)")
    print(f"FLOP convention: 2 x multiply-adds of Conv2D / Conv2DTranspose of the float32 model per "
          f"image; elementwise ops not counted; training step = {TRAIN_FACTOR} x forward")
    results = [bench("demo", DEMO_MODEL, DEMO_DATA["size"], args.demo_batch, args.demo_steps,
                     args.warmup, args.modes, n)]
    if args.skip_full:
        print("[paper] skipped (--skip-full)")
    else:
        # the paper U-Net's dominant convolutions: first (450 -> 64) and level-0 (64 -> 64)
        refs["paper_convs"] = conv_references(PAPER_SIZE, 1, [(256, 450, 64), (256, 64, 64),
                                                              (32, 512, 1024)])
        for r in refs["paper_convs"]:
            print(f"reference conv {r['shape']}: forward {r['forward']:.1f}, forward+backward "
                  f"{r['forward_backward']:.1f}, as im2col GEMM {r['im2col_gemm']:.1f} GFLOP/s")
        results.append(bench("paper", CompSegNetConfig(filters=64, depth=4), PAPER_SIZE,
                             args.full_batch, args.steps, args.warmup, args.modes, n))
    peak = max(refs["matmul_float32"] + [r["matmul_ref"] for res in results
                                         for r in res["modes"].values()])
    for res in results:
        print_table(res, peak)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"peak_matmul_gflops": peak, "references": refs, "results": results,
                       "env": env, "cpu_count": os.cpu_count()}, f, indent=2)
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
