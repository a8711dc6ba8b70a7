"""fcn through the CLI (``main(argv)``): train, resume, evaluate, export, predict, VGG16 weights, errors."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from irpath.cli.main import main
from irpath.io.colour_labels import read_colour_labels

# Experiments 1-3's cut (stride 2) with a 16-filter decoder: learns the textures in seconds.
TINY = ["--cut", "block2_conv2", "--decoder", "up:2:16,conv:3:16", "--lr", "1e-3"]
EPOCHS = 10


@pytest.fixture(scope="module")
def textures(tmp_path_factory):
    from irpath.demo.textures import write_texture_set

    root = tmp_path_factory.mktemp("textures")
    for name, n, seed in (("train", 16, 11), ("val", 4, 12), ("test", 6, 13)):
        write_texture_set(root / name, n, 32, seed=seed)
    return root


@pytest.fixture(scope="module")
def run(textures, tmp_path_factory):
    out = tmp_path_factory.mktemp("fcn") / "run"
    assert main(["train", "fcn", "--train-manifest", str(textures / "train" / "manifest.csv"),
                 "--val-manifest", str(textures / "val"), "--out", str(out), "--epochs", str(EPOCHS),
                 "--noise-std", "4", *TINY]) == 0
    return out


@pytest.mark.slow
def test_train_writes_a_run_that_beats_chance(run, textures, tmp_path, capsys):
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "fcn" and config["model"]["cut"] == "block2_conv2"
    assert config["train"]["noise_std"] == 4.0 and config["train"]["crop"] is None
    for f in ("segmenter.keras", "best.keras", "saved_model/saved_model.pb", "history.csv"):
        assert (run / f).exists(), f
    history = (run / "history.csv").read_text().strip().splitlines()
    assert len(history) == EPOCHS + 1
    losses = [float(r.split(",")[1]) for r in history[1:]]
    assert losses[-1] < 0.6 * losses[0]
    capsys.readouterr()
    ev = tmp_path / "eval"
    assert main(["evaluate", "fcn", "--model", str(run), "--manifest",
                 str(textures / "test" / "manifest.csv"), "--out", str(ev)]) == 0
    brief = json.loads(capsys.readouterr().out.splitlines()[0])
    report = json.loads((ev / "report.json").read_text())
    cm = np.array(report["confusion_matrix"])
    truth = np.stack([read_colour_labels(textures / "test" / "labels" / f"tile_{i:03d}.png")
                      for i in range(6)])
    majority = np.bincount(truth.ravel(), minlength=3).max() / truth.size
    assert cm.sum() == truth.size and (cm.sum(1) == np.bincount(truth.ravel(), minlength=3)).all()
    assert report["pixel_accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert brief["pixel_accuracy"] == report["pixel_accuracy"] > majority + 0.15, (brief, majority)
    assert set(report["iou"]) == set(report["dice"]) == {"cancer", "stroma", "background"}
    # the paper's mean cross-entropy, recomputed from the model's own probabilities
    from irpath.inference.loading import load_predictor
    from irpath.io.rgb import read_rgb

    images = np.stack([read_rgb(textures / "test" / "images" / f"tile_{i:03d}.png").data
                       for i in range(6)])
    probs = load_predictor(run).predict(images)
    p_true = np.take_along_axis(probs, truth[..., None], -1)[..., 0]
    ce = np.mean([-np.log(np.clip(p, 1e-7, 1)).mean() for p in p_true])
    assert report["mean_cross_entropy"] == pytest.approx(ce, rel=1e-4)
    assert report["images"][0]["cross_entropy"] == pytest.approx(-np.log(np.clip(p_true[0], 1e-7, 1)).mean(),
                                                                 rel=1e-4)
    # colour-coded predictions decode to the argmax classes
    np.testing.assert_array_equal(read_colour_labels(ev / "predictions" / "tile_000.png"),
                                  probs[0].argmax(-1))
    assert (ev / "overlays" / "tile_000.png").stat().st_size > 1000


@pytest.mark.slow
def test_resume_continues_the_run(run, textures, capsys):
    before = (run / "history.csv").read_text().strip().splitlines()
    assert main(["train", "fcn", "--train-manifest", str(textures / "train" / "manifest.csv"),
                 "--val-manifest", str(textures / "val"), "--out", str(run), "--epochs",
                 str(EPOCHS + 1), "--noise-std", "4", *TINY]) == 0
    after = (run / "history.csv").read_text().strip().splitlines()
    assert after[:len(before)] == before and len(after) == len(before) + 1
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epoch"] == EPOCHS + 1
    assert "resuming" in capsys.readouterr().err
    # a changed recipe is refused, naming the setting
    assert main(["train", "fcn", "--train-manifest", str(textures / "train" / "manifest.csv"),
                 "--val-manifest", str(textures / "val"), "--out", str(run), "--epochs", "20",
                 *TINY, "--tv-weight", "0.5"]) == 2
    assert "tv_weight" in capsys.readouterr().err


RELOAD = """
import sys, numpy as np, tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
np.save(sys.argv[3], np.asarray(loaded.serve(tf.constant(np.load(sys.argv[2])))))
"""


@pytest.mark.slow
def test_export_reload_in_a_fresh_process_and_predict(run, textures, tmp_path, capsys):
    from irpath.inference.loading import load_predictor

    saved = tmp_path / "saved"
    assert main(["export", "--model", str(run), "--out", str(saved)]) == 0
    assert json.loads((saved / "irpath.json").read_text())["method"] == "fcn"
    x = np.random.default_rng(0).uniform(0, 255, (2, 27, 33, 3)).astype(np.float32)  # odd size
    np.save(tmp_path / "x.npy", x)
    res = subprocess.run([sys.executable, "-c", RELOAD, str(saved), str(tmp_path / "x.npy"),
                          str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    expected = load_predictor(run).predict(x)
    assert expected.shape == (2, 27, 33, 3)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, rtol=1e-5, atol=1e-6)
    # predict from the run and from the SavedModel: maps, argmax classes, colour PNG
    image = textures / "test" / "images" / "tile_001.png"
    outs = {}
    for name, model in (("run", run), ("saved", saved)):
        out = tmp_path / f"pred_{name}"
        assert main(["predict", "--model", str(model), "--input", str(image), "--out", str(out)]) == 0
        maps, classes = np.load(out / "tile_001.npy"), np.load(out / "tile_001_classes.npy")
        assert maps.shape == (32, 32, 3) and classes.dtype == np.int32
        np.testing.assert_array_equal(classes, maps.argmax(-1))
        np.testing.assert_array_equal(read_colour_labels(out / "tile_001_classes.png"), classes)
        row = json.loads((out / "predictions.json").read_text())["predictions"][0]
        assert row["classes"] == "tile_001_classes.npy"
        assert sum(row[f"{c}_fraction"] for c in ("cancer", "stroma", "background")) == pytest.approx(1)
        outs[name] = maps
    np.testing.assert_allclose(outs["run"], outs["saved"], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_paper_size_image_predicts(run, tmp_path):
    """A 1128 x 720 tile (the paper's size) goes through predict at full size."""
    from PIL import Image

    from irpath.demo.textures import make_texture_tile

    image, _ = make_texture_tile(np.random.default_rng(0), (720, 1128))
    Image.fromarray(image).save(tmp_path / "big.png")
    assert main(["predict", "--model", str(run), "--input", str(tmp_path / "big.png"),
                 "--out", str(tmp_path / "p")]) == 0
    assert np.load(tmp_path / "p" / "big_classes.npy").shape == (720, 1128)


@pytest.mark.slow
def test_vgg16_weights_from_a_local_file_through_the_cli(textures, tmp_path):
    import keras

    from irpath.inference.loading import load_keras_model

    keras.utils.set_random_seed(7)
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
    weights = tmp_path / "vgg16_notop.weights.h5"
    vgg.save_weights(weights)
    out = tmp_path / "run"
    assert main(["train", "fcn", "--train-manifest", str(textures / "val"), "--val-manifest",
                 str(textures / "val"), "--out", str(out), "--epochs", "1", "--freeze-encoder",
                 "--vgg-weights", str(weights), *TINY]) == 0
    model = load_keras_model(out / "segmenter.keras")
    names = [layer.name for layer in model.layers if layer.name.startswith("block")]
    assert names == ["block1_conv1", "block1_conv2", "block1_pool", "block2_conv1", "block2_conv2"]
    for name in names:
        for got, want in zip(model.get_layer(name).get_weights(), vgg.get_layer(name).get_weights()):
            np.testing.assert_array_equal(got, want)


def _one_line_error(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and match in err, err


def test_bad_inputs_are_one_line_errors(textures, tmp_path, capsys):
    from PIL import Image

    base = ["train", "fcn", "--out", str(tmp_path / "run"), *TINY]
    val = ["--val-manifest", str(textures / "val")]
    _one_line_error(capsys, base + ["--train-manifest", str(tmp_path / "none.csv")] + val, "none.csv")
    _one_line_error(capsys, base + ["--train-manifest", str(textures / "val"), "--val-manifest",
                                    str(textures / "val"), "--vgg-weights", str(tmp_path / "x.h5")],
                    "x.h5: VGG16 weights file not found")
    # an unknown label colour names the file and pixel count
    bad = tmp_path / "bad"
    (bad / "images").mkdir(parents=True)
    (bad / "labels").mkdir()
    Image.fromarray(np.full((16, 16, 3), 120, np.uint8)).save(bad / "images" / "a.png")
    label = np.zeros((16, 16, 3), np.uint8)
    label[0, :5] = (0, 0, 255)
    Image.fromarray(label).save(bad / "labels" / "a.png")
    _one_line_error(capsys, base + ["--train-manifest", str(bad)] + val, "a.png: 5 pixel(s)")
    # whole-image training with two sizes asks for --crop
    label[0, :5] = 0
    Image.fromarray(label).save(bad / "labels" / "a.png")
    Image.fromarray(np.full((16, 20, 3), 120, np.uint8)).save(bad / "images" / "b.png")
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(bad / "labels" / "b.png")
    _one_line_error(capsys, base + ["--train-manifest", str(bad)] + val, "--crop")
    # a manifest with a missing label file lists the row
    with open(tmp_path / "m.csv", "w", newline="") as f:
        csv.writer(f).writerows([["image", "label"], ["bad/images/a.png", "bad/labels/zz.png"]])
    _one_line_error(capsys, base + ["--train-manifest", str(tmp_path / "m.csv")] + val,
                    "label image bad/labels/zz.png not found")
    _one_line_error(capsys, base + ["--train-manifest", str(bad), "--crop", "16", "--cut", "block3_conv2"]
                    + val, "upsamples by 2")
