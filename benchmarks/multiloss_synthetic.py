"""Segmentation Dice of the multi-loss network's "seg" and "joint" modes on synthetic glands.

Writes a synthetic GlaS folder (:func:`irpath.demo.glands.make_glas_folder`),
reads it back with :func:`irpath.io.glas.read_glas`, prepares crops as in the
paper (resize, non-overlapping crops) and splits 70/10/20 by image. Then:

- ``seg``: segmenter only (no prior, no scores), ``--epochs`` epochs;
- ``joint``: classifier pre-trained ``--pretrain`` epochs (phase 1), then the
  joint model ``--epochs`` epochs (phase 2) with λ = ``--lam``;
- ``seg+``: the segmenter alone for ``--epochs + --pretrain`` epochs, so the
  joint model's extra classifier epochs are matched too.

Same seed, architecture, optimiser (``--optimizer``: Adam by default, the
paper's SGD with momentum 0.99 at batch 1 needs far more steps than a CPU
benchmark affords; ``sgd`` uses ``--momentum``) and batch size for all; the
segmenter's initial weights are drawn from seed + 1 in every row. Each
``--joint`` variant ``SCORE:PRIOR_USE:LAMBDA[:stop][:concat|:zero]`` (e.g.
``probability:target:0.5``, the paper's eq. 3 and 4; ``logit:weight:0.5``; ``:stop``
builds the joint model with ``score_gradient=False``; ``:concat`` / ``:zero`` pick the
segmenter's ``prior_entry``, default the recipe's, ``zero_branch``) is trained as its
own "joint" row. ``--hard``
generates the harder glands (``make_glas_folder(hard=True)``). Reports per-image
pixel Dice (mean over test crops, Ŝ = argmax P) and pixel accuracy on the test
split, plus the joint classifier's test accuracy, and with ``--curve`` the test
Dice after every epoch. Prints figures; never passes or fails.

    python benchmarks/multiloss_synthetic.py --images 40 --epochs 15
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


def dice_scores(prob, masks):
    """Mean per-crop Dice of argmax(P) (channel 0 gland) vs (N, H, W, 1) masks; pixel accuracy."""
    from irpath.metrics.pixel import dice

    pred = prob[..., 0] > prob[..., 1]
    truth = masks[..., 0] > 0.5
    return (float(np.mean([dice(p, t) for p, t in zip(pred, truth)])),
            float((pred == truth).mean()))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--size", type=int, default=256, help="resize size (paper: 500)")
    ap.add_argument("--crop", type=int, default=128, help="crop size (paper: 250)")
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--pretrain", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--filters", type=int, default=8)
    ap.add_argument("--depth", type=int, default=3)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--optimizer", default="adam", choices=["adam", "sgd"])
    ap.add_argument("--momentum", type=float, default=0.99)
    ap.add_argument("--joint", nargs="+", default=["probability:target:0.5"],
                    metavar="SCORE:PRIOR_USE:LAMBDA[:stop][:concat|:zero]", help="joint variants to train")
    ap.add_argument("--hard", action="store_true", help="the harder synthetic glands")
    ap.add_argument("--no-seg-plus", action="store_true", help="skip the seg+ baseline")
    ap.add_argument("--curve", action="store_true", help="print the test Dice after each epoch")
    ap.add_argument("--no-seg", action="store_true", help="skip the seg / seg+ baselines")
    args = ap.parse_args(argv)

    import keras

    from irpath.demo.glands import make_glas_folder
    from irpath.io.glas import prepare_glas, read_glas, split_by_image
    from irpath.losses.multiloss import multiloss_compile_args
    from irpath.methods.multiloss.config import MultiLossConfig
    from irpath.models.multiloss import (build_classifier, build_joint_model, build_segmenter,
                                         inference_model)

    with tempfile.TemporaryDirectory() as tmp:
        folder = make_glas_folder(tmp, n_images=args.images, size=args.size, seed=123,
                                  hard=args.hard)
        crops = prepare_glas(read_glas(folder), size=args.size, crop=args.crop)
    parts = split_by_image(crops.names, seed=0)
    data = {k: (crops.images[i], crops.masks[i], crops.one_hot[i]) for k, i in parts.items()}
    print("crops: " + ", ".join(f"{k} {len(v[0])}" for k, v in data.items())
          + f" ({args.crop}x{args.crop}); gland fraction {crops.masks.mean():.2f}")

    def optimizer():
        if args.optimizer == "sgd":
            return keras.optimizers.SGD(args.lr, momentum=args.momentum)
        return keras.optimizers.Adam(args.lr)

    curve = []

    class Curve(keras.callbacks.Callback):
        """Test Dice of Ŝ after each epoch (``--curve``)."""

        def __init__(self, model):
            super().__init__()
            self.net = model

        def on_epoch_end(self, epoch, logs=None):
            x_test, m_test, _ = data["test"]
            p = inference_model(self.net).predict(x_test, batch_size=args.batch, verbose=0)
            curve.append(dice_scores(p[..., :2], m_test)[0])

    def fit(model, mode, epochs, lam=0.5, prior_use="target"):
        model.compile(optimizer=optimizer(),
                      **multiloss_compile_args(mode, lam=lam, prior_use=prior_use))
        x, m, y = data["train"]
        inputs = {"image": x}
        if "label" in model.input:
            inputs["label"] = y
        targets = {k: v for k, v in {"scores": y, "segmentation": m}.items()
                   if k in multiloss_compile_args(mode)["loss"]}
        callbacks = [Curve(model)] if args.curve and mode != "class" else []
        curve.clear()
        model.fit(inputs, targets, epochs=epochs, batch_size=args.batch, verbose=0,
                  callbacks=callbacks)

    seg_names = [] if args.no_seg else ["seg"] + ([] if args.no_seg_plus else ["seg+"])
    names = seg_names + [f"joint {v}" for v in args.joint]
    print(f"optimizer {args.optimizer} lr {args.lr:g}"
          + (f" momentum {args.momentum}" if args.optimizer == "sgd" else "")
          + f", batch {args.batch}, epochs {args.epochs} (+{args.pretrain} pre-training)"
          + (", hard glands" if args.hard else ""))
    rows = []
    for seed in args.seeds:
        x_test, m_test, y_test = data["test"]
        for name in names:
            keras.utils.set_random_seed(seed)
            start = time.time()
            kw = dict(filters=args.filters, depth=args.depth)
            if name.startswith("seg"):
                keras.utils.set_random_seed(seed + 1)
                model = build_joint_model(None, build_segmenter(with_prior=False, with_scores=False,
                                                                **kw), mode="seg")
                fit(model, "seg", args.epochs + (args.pretrain if name == "seg+" else 0))
            else:
                score, prior_use, lam, *opts = name.split()[1].split(":")
                clf = build_classifier(**kw)
                fit(build_joint_model(clf, None, mode="class", score=score), "class",
                    args.pretrain)
                keras.utils.set_random_seed(seed + 1)
                entry = ("concat" if "concat" in opts else "zero_branch" if "zero" in opts
                         else MultiLossConfig().prior_entry)
                model = build_joint_model(clf, build_segmenter(prior_entry=entry, **kw), mode="joint",
                                          score=score, score_gradient="stop" not in opts)
                fit(model, "joint", args.epochs, lam=float(lam), prior_use=prior_use)
            maps = inference_model(model).predict(x_test, batch_size=args.batch, verbose=0)
            d, acc = dice_scores(maps[..., :2], m_test)
            extra = ""
            if name.startswith("joint"):
                cls_acc = float((maps[:, 0, 0, 3:5].argmax(-1) == y_test.argmax(-1)).mean())
                extra = f"  class acc {cls_acc:.3f}"
            rows.append((name, seed, d, acc))
            if curve:
                extra += "  curve " + " ".join(f"{c:.2f}" for c in curve)
            print(f"seed {seed}  {name:30s}  Dice {d:.3f}  pixel acc {acc:.3f}{extra}  "
                  f"({time.time() - start:.0f} s)", flush=True)
    for name in names:
        ds = [r[2] for r in rows if r[0] == name]
        print(f"{name:30s} Dice over {len(ds)} seed(s): mean {np.mean(ds):.3f}  "
              f"min {np.min(ds):.3f}  max {np.max(ds):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
