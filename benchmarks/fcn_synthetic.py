"""VGG16-FCN vs the per-pixel logistic baseline on synthetic H&E-like textures.

Prints pixel accuracy, per-class IoU / Dice, mean cross-entropy and a noise
measure (fraction of 4-neighbour pixel pairs with different labels) for:
the pixel-logistic baseline, the FCN trained with tv_weight=0, and (with
``--tv``) the FCN trained with tv_weight > 0 from the same initial weights.

    .venv/bin/python benchmarks/fcn_synthetic.py --budget 240 --tv 0.5
"""

from __future__ import annotations

import argparse
import time

import numpy as np

CLASS_NAMES = ("cancer", "stroma", "background")


def scores(pred, target, probs, k=3):
    """Pixel accuracy, per-class IoU/Dice, mean CE and label-change fraction on stacked maps."""
    pred, target = pred.ravel(), target.ravel()
    cm = np.bincount(target * k + pred, minlength=k * k).reshape(k, k)
    tp = np.diag(cm).astype(float)
    iou = tp / np.maximum(cm.sum(0) + cm.sum(1) - tp, 1)
    dice = 2 * tp / np.maximum(cm.sum(0) + cm.sum(1), 1)
    p_true = np.take_along_axis(probs.reshape(-1, k), target[:, None], axis=1)
    ce = float(np.mean(-np.log(np.clip(p_true, 1e-7, 1.0))))
    return dict(acc=float(tp.sum() / cm.sum()), iou=iou, dice=dice, ce=ce)


def change_fraction(maps):
    """Fraction of 4-neighbour pairs whose labels differ, over (N, H, W) maps."""
    dy = (maps[:, 1:, :] != maps[:, :-1, :]).sum()
    dx = (maps[:, :, 1:] != maps[:, :, :-1]).sum()
    n, h, w = maps.shape
    return float((dy + dx) / (n * ((h - 1) * w + h * (w - 1))))


def report(name, s, noise, seconds):
    per = " ".join(f"{c}:{i:.3f}/{d:.3f}" for c, i, d in zip(CLASS_NAMES, s["iou"], s["dice"]))
    print(f"{name:<22} acc={s['acc']:.4f} mIoU={s['iou'].mean():.4f} CE={s['ce']:.4f} "
          f"noise={noise:.4f} IoU/Dice {per} ({seconds:.0f} s)", flush=True)


def train_fcn(x, y, xt, *, tv, lr, budget, epochs, seed, init=None, decoder_filters=None):
    import keras

    from irpath.losses.fcn import SegmentationLoss
    from irpath.models.vgg_fcn import build_vgg_fcn

    keras.utils.set_random_seed(seed)
    model = build_vgg_fcn(weights=None, decoder_filters=decoder_filters)
    if init is not None:
        model.set_weights(init)
    init_weights = model.get_weights()
    # The paper's augmentation: add copies mirrored about the x and the y axis.
    xa = np.concatenate([x, x[:, :, ::-1], x[:, ::-1]]).astype("float32")
    ya = np.concatenate([y, y[:, :, ::-1], y[:, ::-1]])
    steps = int(np.ceil(len(xa) / 4))
    schedule = keras.optimizers.schedules.ExponentialDecay(lr, steps, 0.96, staircase=True)
    model.compile(keras.optimizers.Adam(schedule), loss=SegmentationLoss("ce", tv_weight=tv))
    start = time.time()

    class Budget(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print(f"  tv={tv} epoch {epoch + 1} loss={logs['loss']:.4f} "
                  f"t={time.time() - start:.0f}s", flush=True)
            if time.time() - start > budget:
                self.model.stop_training = True

    model.fit(xa, ya, batch_size=4, epochs=epochs, shuffle=True, verbose=0, callbacks=[Budget()])
    probs = model.predict(xt.astype("float32"), batch_size=4, verbose=0)
    return probs, time.time() - start, init_weights


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=24)
    parser.add_argument("--n-test", type=int, default=8)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--budget", type=float, default=240.0, help="seconds per FCN")
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--tv", type=float, default=0.0, help="also train with this tv_weight")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--decoder-filters", type=int, nargs=6, default=None,
                        help="narrower decoder than Fig. 6's 256 256 256 128 64 32")
    args = parser.parse_args(argv)

    from irpath.baselines import pixel_logistic
    from irpath.demo.textures import make_texture_set

    x, y = make_texture_set(args.n_train, args.size, seed=args.seed + 1)
    xt, yt = make_texture_set(args.n_test, args.size, seed=args.seed + 1000)
    print(f"train {x.shape}, test {xt.shape}; test class fractions "
          f"{np.round(np.bincount(yt.ravel(), minlength=3) / yt.size, 3)}; "
          f"GT noise={change_fraction(yt):.4f}", flush=True)

    start = time.time()
    base = pixel_logistic.fit(x, y, n_classes=3, box_sizes=(7,), seed=args.seed)
    bprobs = np.stack([pixel_logistic.predict_proba(base, im) for im in xt])
    bpred = bprobs.argmax(-1)
    report("pixel-logistic 7x7", scores(bpred, yt, bprobs), change_fraction(bpred),
           time.time() - start)
    raw = pixel_logistic.fit(x, y, n_classes=3, box_sizes=(), seed=args.seed)
    rprobs = np.stack([pixel_logistic.predict_proba(raw, im) for im in xt])
    report("pixel-logistic RGB", scores(rprobs.argmax(-1), yt, rprobs),
           change_fraction(rprobs.argmax(-1)), 0)

    probs, secs, init = train_fcn(x, y, xt, tv=0.0, lr=args.lr, budget=args.budget,
                                  epochs=args.epochs, seed=args.seed,
                                  decoder_filters=args.decoder_filters)
    pred = probs.argmax(-1)
    report("vgg-fcn tv=0", scores(pred, yt, probs), change_fraction(pred), secs)
    if args.tv > 0:
        probs, secs, _ = train_fcn(x, y, xt, tv=args.tv, lr=args.lr, budget=args.budget,
                                   epochs=args.epochs, seed=args.seed, init=init,
                                   decoder_filters=args.decoder_filters)
        pred = probs.argmax(-1)
        report(f"vgg-fcn tv={args.tv:g}", scores(pred, yt, probs), change_fraction(pred), secs)


if __name__ == "__main__":
    main()
