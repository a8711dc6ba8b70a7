"""VGG16-FCN vs the per-pixel logistic baseline and a supervised bound, on two beds.

* bed 1: the project's synthetic cancer / stroma / background textures (:mod:`irpath.demo.textures`);
* bed 2: a real stained tile that scikit-image ships on disk (``skimage.data.immunohistochemistry()``,
  512 x 512 IHC: DAB brown, haematoxylin blue, white background), labelled by colour (colour
  deconvolution ``skimage.color.rgb2hed``, smoothed): "cancer" = DAB-dominant, "stroma" =
  haematoxylin-dominant, "background" = bright pixels; the label image goes through JPEG
  (quality 75) and back through :mod:`irpath.io.colour_labels`'s nearest-colour decoding,
  as a user's JPEG label would. Three quadrants train (one of them also validates), the
  fourth tests.

Rows, measured in one run on the same test pixels: the majority class; the baseline (pixel
logistic regression on RGB + 3 box means / stds, :mod:`irpath.baselines.pixel_logistic`,
fitted on the training pixels); the **bound** (the same logistic regression fitted on the
test pixels themselves: what a per-pixel colour rule can reach there at best); and the FCN,
one row per ``--variant`` (``name:key=value,...`` over :class:`FcnTrainConfig` / :class:`FcnConfig`
fields; ``recipe=FILE`` starts from a recipe file; ``budget=S`` overrides ``--budget``), each
trained from random initialisation for its ``epochs`` (default: unlimited) or its budget in
seconds, whichever ends first.

    .venv/bin/python benchmarks/fcn_beds.py --budget 900 \\
        --variant paper:budget=150 recommended:recipe=models/fcn-recommended/config.json
    .venv/bin/python benchmarks/fcn_beds.py --beds 2 --budget 150 \\
        --variant b2:cut=block2_conv2,decoder=up:2:32,conv:3:32,crop=64,batch_size=8,steps_per_epoch=20
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fcn_synthetic import CLASS_NAMES, line, train_fcn  # noqa: E402

BOXES = (3, 7, 15)


def ihc_bed():
    """``(image (512, 512, 3) float32 [0, 255], classes (512, 512) int)`` of the real tile."""
    from PIL import Image
    from scipy import ndimage
    from skimage import color, data

    from irpath.io.colour_labels import decode_colour_labels, encode_colour_labels

    rgb = data.immunohistochemistry()
    hed = color.rgb2hed(rgb)
    h = ndimage.gaussian_filter(hed[..., 0], 1.5)
    d = ndimage.gaussian_filter(hed[..., 2], 1.5)
    bright = ndimage.gaussian_filter(rgb.astype(float).mean(-1), 1.5) > 200
    h, d = (h - h.mean()) / h.std(), (d - d.mean()) / d.std()
    classes = np.where(bright, 2, np.where(d > h, 0, 1))
    buf = io.BytesIO()
    Image.fromarray(encode_colour_labels(classes).astype(np.uint8)).save(buf, "JPEG", quality=75)
    noisy = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    return rgb.astype(np.float32), decode_colour_labels(noisy, max_distance=450.0)


def quadrants(x):
    h, w = x.shape[0] // 2, x.shape[1] // 2
    return [x[:h, :w], x[:h, w:], x[h:, :w], x[h:, w:]]


def parse_variant(text):
    """``"name:key=value,..."`` -> ``(name, {key: value})``; an item without ``=`` continues
    the previous value (``decoder=up:2:32,conv:3:32``)."""
    name, _, spec = text.partition(":")
    items = []
    for item in filter(None, spec.split(",")):
        if "=" in item or not items:
            items.append(item)
        else:
            items[-1] += "," + item
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = None if v == "none" else (int(v) if v.isdigit() else
                                            (float(v) if v.replace(".", "").replace("e-", "").isdigit() else v))
    return name, out


def run_bed(title, x, y, xv, yv, xt, yt, variants, budget, seed):
    from irpath.baselines import pixel_logistic
    from irpath.methods.fcn.config import FcnConfig, FcnTrainConfig
    from irpath.methods.fcn.data import Pairs

    frac = np.bincount(yt.ravel(), minlength=3) / yt.size
    print(f"\n== {title}: train {x.shape}, test {xt.shape}, test class fractions "
          f"{dict(zip(CLASS_NAMES, np.round(frac, 3)))}; majority acc {frac.max():.4f}", flush=True)
    t = time.time()
    base = pixel_logistic.fit(x, y, n_classes=3, box_sizes=BOXES, seed=seed)
    rows = {"baseline": line("baseline pixel-logistic", np.stack(
        [pixel_logistic.predict_proba(base, im) for im in xt]), yt, time.time() - t)}
    t = time.time()
    bound = pixel_logistic.fit(xt, yt, n_classes=3, box_sizes=BOXES, seed=seed)
    rows["bound"] = line("bound: logistic on test", np.stack(
        [pixel_logistic.predict_proba(bound, im) for im in xt]), yt, time.time() - t)
    train = Pairs([im.astype(np.float32) for im in x], list(y), [], "train")
    val = Pairs([im.astype(np.float32) for im in xv], list(yv), [], "val")
    model_fields = {f.name for f in dataclasses.fields(FcnConfig)}
    for name, spec in variants:
        spec = dict(spec)
        seconds = float(spec.pop("budget", budget))  # budget=S: this variant's own cap
        model_cfg, train_cfg = FcnConfig(), dataclasses.replace(FcnTrainConfig(), epochs=10_000, seed=seed)
        if "recipe" in spec:  # a recipe file, e.g. models/fcn-recommended/config.json
            from irpath.config import read_recipe
            from irpath.methods import get_method

            _, model_cfg, train_cfg = read_recipe(spec.pop("recipe"), get_method, method="fcn")
        m = {k: v for k, v in spec.items() if k in model_fields}
        tr = {k: v for k, v in spec.items() if k not in model_fields}
        model_cfg = dataclasses.replace(model_cfg, **m)
        train_cfg = dataclasses.replace(train_cfg, **tr)
        probs, secs, _ = train_fcn(train, val, xt, model_cfg, train_cfg, seconds)
        rows[name] = line(f"fcn {name}", probs, yt, secs)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=240.0, help="seconds per FCN variant")
    parser.add_argument("--variant", nargs="+", default=["default:"], help="name:key=value,...")
    parser.add_argument("--beds", nargs="+", default=["1", "2"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    variants = [parse_variant(v) for v in args.variant]
    if "1" in args.beds:
        from irpath.demo.textures import make_texture_set

        x, y = make_texture_set(12, 128, seed=args.seed + 1)
        xv, yv = make_texture_set(2, 128, seed=args.seed + 500)
        xt, yt = make_texture_set(6, 128, seed=args.seed + 1000)
        run_bed("bed 1 (synthetic textures)", x, y, xv, yv, xt, yt, variants, args.budget, args.seed)
    if "2" in args.beds:
        image, classes = ihc_bed()
        qi, qc = quadrants(image), quadrants(classes)
        x, y = np.stack(qi[:3]), np.stack(qc[:3])
        run_bed("bed 2 (real IHC tile, skimage.data.immunohistochemistry; quadrant 4 tests)",
                x, y, x[2:3], y[2:3], np.stack(qi[3:]), np.stack(qc[3:]), variants, args.budget,
                args.seed)


if __name__ == "__main__":
    main()
