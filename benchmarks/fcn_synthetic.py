"""VGG16-FCN (the ``fcn`` method's recipe) vs the per-pixel logistic baseline on synthetic textures.

Prints, on the same held-out synthetic cancer / stroma / background tiles
(:mod:`irpath.demo.textures`): pixel accuracy, mean IoU, per-class IoU / Dice
(:func:`irpath.metrics.pixel_report`), the paper's mean softmax cross-entropy and a
noise measure (fraction of 4-neighbour pixel pairs whose labels differ) for

* the per-pixel logistic regression on RGB + 7x7 box mean / std (and on RGB alone);
* the FCN trained through the method's own pieces (:func:`irpath.methods.fcn.train.build_model`,
  :func:`irpath.methods.fcn.data.make_datasets`: mirroring, optional noise, Adam with
  per-epoch decay) for a wall-clock budget, once per ``--lr`` / ``--tv`` variant, from
  the same initial weights.

    .venv/bin/python benchmarks/fcn_synthetic.py --budget 300 --lr 1e-4 1e-3
    .venv/bin/python benchmarks/fcn_synthetic.py --budget 300 --lr 1e-3 --cut block2_conv2 \
        --decoder up:2:32,conv:3:32
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np

CLASS_NAMES = ("cancer", "stroma", "background")


def change_fraction(maps):
    """Fraction of 4-neighbour pairs whose labels differ, over (N, H, W) maps."""
    dy = (maps[:, 1:, :] != maps[:, :-1, :]).sum()
    dx = (maps[:, :, 1:] != maps[:, :, :-1]).sum()
    n, h, w = maps.shape
    return float((dy + dx) / (n * ((h - 1) * w + h * (w - 1))))


def line(name, probs, target, seconds):
    from irpath.methods.fcn.evaluate import mean_cross_entropy
    from irpath.metrics import pixel_report

    pred = probs.argmax(-1)
    r = pixel_report(pred, target, 3, CLASS_NAMES)
    ce = np.mean([mean_cross_entropy(p, t) for p, t in zip(probs, target)])
    per = " ".join(f"{c}:{r['iou'][c]:.3f}/{r['dice'][c]:.3f}" for c in CLASS_NAMES)
    print(f"{name:<26} acc={r['pixel_accuracy']:.4f} mIoU={r['mean_iou']:.4f} CE={ce:.4f} "
          f"noise={change_fraction(pred):.4f} IoU/Dice {per} ({seconds:.0f} s)", flush=True)
    return r


def train_fcn(train, val, xt, model_cfg, train_cfg, budget, init=None):
    """Train for ``budget`` seconds (or ``train_cfg.epochs``); (N, H, W, 3) test probabilities."""
    import keras

    from irpath.methods.fcn.data import make_datasets
    from irpath.methods.fcn.train import build_model

    keras.utils.set_random_seed(train_cfg.seed)
    train_ds, val_ds, steps = make_datasets(train, val, train_cfg, global_batch=train_cfg.batch_size)
    model = build_model(model_cfg, train_cfg, steps)
    if init is not None:
        model.set_weights(init)
    init_weights = model.get_weights()
    start = time.time()

    class Budget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"  lr={train_cfg.lr:g} tv={train_cfg.tv_weight:g} epoch {epoch + 1} "
                  f"loss={logs['loss']:.4f} val_loss={logs.get('val_loss', float('nan')):.4f} "
                  f"t={time.time() - start:.0f}s", flush=True)
            if time.time() - start > budget:
                self.model.stop_training = True

    model.fit(train_ds, validation_data=val_ds, epochs=train_cfg.epochs, steps_per_epoch=steps,
              verbose=0, callbacks=[Budget()])
    probs = model.predict(xt.astype("float32"), batch_size=4, verbose=0)
    return probs, time.time() - start, init_weights


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=24)
    parser.add_argument("--n-val", type=int, default=4)
    parser.add_argument("--n-test", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--lr", type=float, nargs="+", default=[1e-4], help="one run per value")
    parser.add_argument("--tv", type=float, nargs="+", default=[0.0], help="one run per value")
    parser.add_argument("--budget", type=float, default=240.0, help="seconds per FCN")
    parser.add_argument("--epochs", type=int, default=1000)
    parser.add_argument("--crop", type=int, default=None, help="train on crops (default whole tiles)")
    parser.add_argument("--noise-std", type=float, default=0.0)
    parser.add_argument("--cut", default="block3_conv2")
    parser.add_argument("--decoder", default=None, help="final|exp1..3|layers like up:2:16,conv:3:16")
    parser.add_argument("--decoder-filters", type=int, nargs="+", default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from irpath.baselines import pixel_logistic
    from irpath.demo.textures import make_texture_set
    from irpath.methods.fcn.config import FcnConfig, FcnTrainConfig
    from irpath.methods.fcn.data import Pairs

    x, y = make_texture_set(args.n_train, args.size, seed=args.seed + 1)
    xv, yv = make_texture_set(args.n_val, args.size, seed=args.seed + 500)
    xt, yt = make_texture_set(args.n_test, args.size, seed=args.seed + 1000)
    print(f"train {x.shape}, val {xv.shape}, test {xt.shape}; test class fractions "
          f"{np.round(np.bincount(yt.ravel(), minlength=3) / yt.size, 3)}; "
          f"ground-truth noise={change_fraction(yt):.4f}", flush=True)

    start = time.time()
    base = pixel_logistic.fit(x, y, n_classes=3, box_sizes=(7,), seed=args.seed)
    line("pixel-logistic RGB+7x7", np.stack([pixel_logistic.predict_proba(base, im) for im in xt]),
         yt, time.time() - start)
    raw = pixel_logistic.fit(x, y, n_classes=3, box_sizes=(), seed=args.seed)
    line("pixel-logistic RGB", np.stack([pixel_logistic.predict_proba(raw, im) for im in xt]), yt, 0)

    as_pairs = lambda xs, ys, name: Pairs([im.astype(np.float32) for im in xs], list(ys),  # noqa: E731
                                          [], name)
    train, val = as_pairs(x, y, "train"), as_pairs(xv, yv, "val")
    model_cfg = FcnConfig(cut=args.cut, decoder=args.decoder, decoder_filters=args.decoder_filters)
    init = None
    for lr in args.lr:
        for tv in args.tv:
            train_cfg = dataclasses.replace(FcnTrainConfig(), lr=lr, tv_weight=tv, epochs=args.epochs,
                                            crop=args.crop, noise_std=args.noise_std, seed=args.seed)
            probs, secs, init = train_fcn(train, val, xt, model_cfg, train_cfg, args.budget, init)
            line(f"vgg-fcn lr={lr:g} tv={tv:g}", probs, yt, secs)


if __name__ == "__main__":
    main()
