"""StarDist side of ``benchmarks/peers/stardist.py``; runs inside StarDist's own virtual
environment (``TF_USE_LEGACY_KERAS=1``), never inside irpath's.

    python -P stardist_job.py export-real OUT.npz
        the annotated fluorescence nuclei image the StarDist wheel ships
        (Caicedo et al. 2019, DSB 2018: ``stardist.data.test_image_nuclei_2d``)
    python -P stardist_job.py train-predict DATA.npz OUT.npz --seed S --budget SECONDS
        trains StarDist2D from scratch on DATA's train crops for a wall-clock budget,
        optimises its thresholds on the val crops and predicts the test crops

(``-P``: this folder also holds ``stardist.py``, which must not shadow the package.)

DATA.npz holds ``train_x``/``train_y``, ``val_x``/``val_y``, ``test_x`` as object arrays of
(H, W) float images (already normalised to [0, 1]) and (H, W) instance maps.
"""

import argparse
import json
import time

import numpy as np


def export_real(out):
    from stardist.data import test_image_nuclei_2d

    img, mask = test_image_nuclei_2d(return_mask=True)
    np.savez_compressed(out, image=np.asarray(img), mask=np.asarray(mask).astype(np.int32))


def _augment(x, y):
    """Flips, 90° turns and an intensity jitter, as in StarDist's 2-D training example."""
    k = np.random.randint(4)
    x, y = np.rot90(x, k), np.rot90(y, k)
    if np.random.rand() < 0.5:
        x, y = x[:, ::-1], y[:, ::-1]
    if np.random.rand() < 0.5:
        x, y = x[::-1], y[::-1]
    x = x * np.random.uniform(0.6, 2) + np.random.uniform(-0.2, 0.2)
    x = x + 0.02 * np.random.normal(0, 1, x.shape)
    return np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y)


def train_predict(data, out, seed, budget, steps_per_epoch, patch):
    import tensorflow as tf
    from stardist.models import Config2D, StarDist2D

    np.random.seed(seed)
    tf.random.set_seed(seed)
    d = np.load(data, allow_pickle=True)
    fix = lambda xs: [np.asarray(x, np.float32) for x in xs]  # noqa: E731
    tx, ty = fix(d["train_x"]), [np.asarray(y, np.int32) for y in d["train_y"]]
    vx, vy = fix(d["val_x"]), [np.asarray(y, np.int32) for y in d["val_y"]]
    patch = min([patch] + [min(x.shape[:2]) // 16 * 16 for x in tx + vx])
    channels = 1 if tx[0].ndim == 2 else tx[0].shape[-1]
    conf = Config2D(n_rays=32, grid=(2, 2), n_channel_in=channels, train_patch_size=(patch, patch),
                    train_batch_size=4, train_steps_per_epoch=steps_per_epoch, use_gpu=False,
                    train_tensorboard=False)
    model = StarDist2D(conf, name=f"stardist_seed{seed}", basedir=str(out) + ".models")

    class Budget(tf.keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if time.time() - start > budget:
                self.model.stop_training = True

    model.prepare_for_training()
    model.callbacks.append(Budget())
    start = time.time()
    hist = model.train(tx, ty, validation_data=(vx, vy), augmenter=_augment, epochs=10_000,
                       steps_per_epoch=steps_per_epoch)
    train_s = time.time() - start
    steps = len(hist.history["loss"]) * steps_per_epoch
    t0 = time.time()
    model.optimize_thresholds(vx, vy)
    thr_s = time.time() - t0
    preds = [model.predict_instances(x)[0].astype(np.int32) for x in fix(d["test_x"])]
    np.savez_compressed(out, **{f"pred{i}": p for i, p in enumerate(preds)})
    info = {"train_s": train_s, "threshold_s": thr_s, "epochs": len(hist.history["loss"]),
            "steps_about": steps, "patch": patch, "thresholds": dict(model.thresholds._asdict())}
    print("STARDIST " + json.dumps(info), flush=True)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export-real")
    e.add_argument("out")
    t = sub.add_parser("train-predict")
    t.add_argument("data")
    t.add_argument("out")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--budget", type=float, default=384)
    t.add_argument("--steps-per-epoch", type=int, default=25)
    t.add_argument("--patch", type=int, default=128)
    a = p.parse_args()
    if a.cmd == "export-real":
        export_real(a.out)
    else:
        train_predict(a.data, a.out, a.seed, a.budget, a.steps_per_epoch, a.patch)


if __name__ == "__main__":
    main()
