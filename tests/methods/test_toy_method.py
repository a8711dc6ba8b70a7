"""A second method registered in this test only: train, evaluate, export and predict
work for it through the same CLI, with no change outside the registry.

The toy method is a 1x1 convolution on RGB tiles that learns which pixels are
"red" (a per-pixel class map); its post-processing labels connected red regions
as instances, so predict must write an integer ``*inst*.npy``.
"""

import csv
import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from irpath.cli.main import main
from irpath.config import check
from irpath.methods import REGISTRY, get_method
from irpath.methods.base import Method


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    in_channels: int = 3
    threshold: float = 0.5


@dataclasses.dataclass(frozen=True)
class ToyTrainConfig:
    epochs: int = 3
    seed: int = 0
    lr: float = 0.05

    def __post_init__(self):
        check(self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}")


def _read_pairs(manifest):
    from irpath.io import read_manifest

    m = read_manifest(manifest, labels=None)
    x = np.stack([np.asarray(Image.open(r.image).convert("RGB"), np.float32) for r in m.rows])
    y = np.stack([np.asarray(Image.open(r.label), np.float32) for r in m.rows])[..., None] / 255.0
    return x, y


class Toy(Method):
    name = "toy"
    modality = "rgb"
    summary = "a 1x1 convolution on RGB tiles (test only)"
    description = "test-only method"
    config_class = ToyConfig
    train_config_class = ToyTrainConfig
    map_names = ("red",)

    def add_train_arguments(self, p):
        p.add_argument("--train-manifest", required=True)
        p.add_argument("--val-manifest", required=True)
        p.add_argument("--epochs", type=int, default=ToyTrainConfig.epochs)
        p.add_argument("--lr", type=float, default=ToyTrainConfig.lr)

    def configs_from_args(self, args):
        return ToyConfig(), ToyTrainConfig(epochs=args.epochs, lr=args.lr)

    def data_from_args(self, args):
        return {"train": args.train_manifest, "val": args.val_manifest}

    def train(self, data, out_dir, model_cfg, train_cfg, *, strategy=None, verbose=None):
        import keras
        import tensorflow as tf

        from irpath.train.run_dir import RunDirectory, finish, fit

        run = RunDirectory(out_dir)
        run.start(self.name, model_cfg, train_cfg)
        x, y = _read_pairs(data["train"])
        vx, vy = _read_pairs(data["val"])

        def build():
            inp = keras.Input((None, None, 3), name="image")
            out = keras.layers.Conv2D(1, 1, activation="sigmoid", name="conv")(keras.layers.Rescaling(1 / 255.0)(inp))
            model = keras.Model(inp, out, name="toy")
            model.compile(optimizer=keras.optimizers.Adam(train_cfg.lr), loss="binary_crossentropy")
            return model

        def datasets(batch):
            return (tf.data.Dataset.from_tensor_slices((x, y)).batch(batch),
                    tf.data.Dataset.from_tensor_slices((vx, vy)).batch(batch))

        info = fit(run, build=build, datasets=datasets, epochs=train_cfg.epochs, seed=train_cfg.seed,
                   batch_size=2, strategy=strategy, verbose=0 if verbose is None else verbose)
        return finish(run, self, fit_info=info)

    def postprocess(self, maps, prepared, cfg, *, threshold=None):
        from scipy import ndimage

        inst, n = ndimage.label(maps[..., 0] >= self.threshold(cfg, threshold))
        return {"arrays": {"inst": inst.astype(np.int32)}, "summary": {"objects": int(n)}}

    def add_evaluate_arguments(self, group):
        group.add_argument("--manifest", default=None)

    def evaluate(self, predictor, args, out_dir):
        x, y = _read_pairs(args.manifest)
        pred = predictor.predict(x) >= 0.5
        report = {"pixel_accuracy": float((pred == (y > 0.5)).mean()), "n_images": len(x)}
        (out_dir if hasattr(out_dir, "joinpath") else __import__("pathlib").Path(out_dir)).joinpath(
            "report.json").write_text(json.dumps(report))
        return report


def _tiles(folder, n, seed):
    """RGB tiles with red squares on grey noise; label images mark the red pixels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    rows = []
    for i in range(n):
        img = rng.integers(90, 160, (16, 16, 3)).astype(np.uint8)
        lab = np.zeros((16, 16), np.uint8)
        y0, x0 = rng.integers(0, 8, 2)
        img[y0:y0 + 6, x0:x0 + 6] = (220, 30, 30)
        lab[y0:y0 + 6, x0:x0 + 6] = 255
        Image.fromarray(img).save(folder / f"t{i}.png")
        Image.fromarray(lab).save(folder / f"t{i}_label.png")
        rows.append((f"t{i}.png", f"t{i}_label.png"))
    with open(folder / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label"])
        w.writerows(rows)
    return folder / "manifest.csv"


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy", Toy())
    yield


def test_toy_method_through_the_cli(toy_registered, tmp_path, capsys):
    train_m, val_m = _tiles(tmp_path / "train", 6, 0), _tiles(tmp_path / "val", 2, 1)
    run = tmp_path / "run"
    assert main(["train", "toy", "--train-manifest", str(train_m), "--val-manifest", str(val_m),
                 "--out", str(run), "--epochs", "40", "--lr", "0.1"]) == 0
    capsys.readouterr()
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "toy" and config["model"] == {"in_channels": 3, "threshold": 0.5}
    # evaluate with the method named, and with it read from the model
    for argv in (["evaluate", "toy"], ["evaluate"]):
        assert main(argv + ["--model", str(run), "--manifest", str(val_m), "--out", str(tmp_path / "e")]) == 0
        brief = json.loads(capsys.readouterr().out.splitlines()[0])
        assert brief["pixel_accuracy"] > 0.9                      # the 1x1 conv learnt "red"
    assert main(["export", "--model", str(run), "--out", str(tmp_path / "saved")]) == 0
    assert json.loads((tmp_path / "saved" / "irpath.json").read_text())["method"] == "toy"
    for model in (run, tmp_path / "saved"):
        out = tmp_path / f"pred_{model.name}"
        assert main(["predict", "--model", str(model), "--input", str(tmp_path / "val" / "t0.png"),
                     "--out", str(out)]) == 0
        maps = np.load(out / "t0.npy")
        inst = np.load(out / "t0_inst.npy")
        assert maps.shape == (16, 16) and inst.dtype == np.int32
        truth = np.asarray(Image.open(tmp_path / "val" / "t0_label.png")) > 0
        assert ((inst > 0) == truth).mean() > 0.9
        summary = json.loads((out / "predictions.json").read_text())
        assert summary["method"] == "toy" and summary["predictions"][0]["objects"] >= 1
    # a method named on the command line must agree with the model
    assert main(["predict", "compsegnet", "--model", str(run), "--input", str(tmp_path / "val" / "t0.png"),
                 "--out", str(tmp_path / "p2")]) == 2
    assert "not 'compsegnet'" in capsys.readouterr().err


def test_unknown_or_missing_method_is_a_one_line_error(toy_registered, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "segmenter.keras").write_bytes(b"PK")
    (run / "config.json").write_text(json.dumps({"model": {}}))
    assert main(["predict", "--model", str(run), "--input", "x.png", "--out", str(tmp_path / "p")]) == 2
    assert "records no method" in capsys.readouterr().err
    (run / "config.json").write_text(json.dumps({"method": "nonesuch", "model": {}}))
    assert main(["predict", "--model", str(run), "--input", "x.png", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'nonesuch'" in err and len(err.strip().splitlines()) == 1


def test_registry_lists_compsegnet_and_refuses_unknown_names():
    assert get_method("compsegnet").name == "compsegnet"
    from irpath.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        get_method("nope")
