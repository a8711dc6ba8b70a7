"""Method-level checks: the shipped recipe, tiled vs whole-image evaluation, encoder and VGG16
weights from files saved by the test, and evaluation metrics on hand-made labels."""

import dataclasses
import json
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest

from irpath.config import read_recipe
from irpath.cli.main import main
from irpath.inference.loading import Predictor
from irpath.methods import get_method
from irpath.methods.nuclei.config import NucleiConfig, NucleiTrainConfig, network_kwargs

RECIPE = Path(__file__).resolve().parents[3] / "models" / "nuclei" / "config.json"
TINY = dict(decoder_filters=[8, 8, 8, 8], encoder_blocks=[1, 1, 1, 1], encoder_filters=[8, 8, 16, 16])


def test_shipped_recipe_equals_code_defaults():
    name, model, train = read_recipe(RECIPE, get_method)
    assert name == "nuclei" and model == NucleiConfig() and train == NucleiTrainConfig()
    assert model.is_resnet34 and train.patches_per_image == 16 and train.crop == 224
    assert json.loads(RECIPE.read_text())["train"]["beta"] == 0.1


def _local_model():
    """5-way softmax of two 3x3 convs: receptive field radius 2 px (<= the tiling margin)."""
    keras.utils.set_random_seed(1)
    inp = keras.Input((None, None, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(5, 3, padding="same")(x)
    x = keras.layers.Lambda(lambda t: t * 4.0)(x)
    return keras.Model(inp, keras.layers.Softmax()(x))


def test_tiled_evaluation_equals_whole_image_evaluation(tmp_path):
    from irpath.demo.nuclei import make_nuclei_dataset
    from irpath.methods.nuclei.evaluate import evaluate

    make_nuclei_dataset(tmp_path / "d", n=1, size=150, seed=4)
    model = _local_model()
    predict = lambda x: np.asarray(model(np.asarray(x, np.float32)))  # noqa: E731
    calls = []

    def counting(x):
        calls.append(x.shape)
        return predict(x)
    reports = {}
    # memory decides: a 1-byte budget forces tiles, the default budget takes the image whole
    for name, cfg, budget in (("tiled", NucleiConfig(tile=64, overlap=24, min_area=5, **TINY), 1),
                              ("whole", NucleiConfig(tile=64, overlap=24, min_area=5, **TINY), None)):
        calls.clear()
        reports[name] = evaluate(Predictor(counting, "nuclei", cfg, "test"), tmp_path / "d",
                                 tmp_path / name, overlays=False, memory_limit=budget)
        reports[name + "_calls"] = list(calls)
    tiles = reports["tiled_calls"]
    assert len(tiles) > 4 and all(max(s[1:3]) <= 64 for s in tiles)
    assert reports["whole_calls"] == [(1, 150, 150, 3)]
    tiled = np.load(tmp_path / "tiled" / "instances" / "nuclei_000.npy")
    whole = np.load(tmp_path / "whole" / "instances" / "nuclei_000.npy")
    assert whole.max() > 0
    np.testing.assert_array_equal(tiled, whole)
    assert reports["tiled"]["all"] == reports["whole"]["all"]


def test_build_model_loads_encoder_weights_saved_by_the_test(tmp_path):
    from irpath.methods.nuclei.train import build_model
    from irpath.models.resnet_unet import _encoder_of, build_resnet34_unet, save_encoder_weights

    cfg = NucleiConfig(**TINY)
    donor = build_resnet34_unet(**network_kwargs(cfg))
    path = save_encoder_weights(donor, tmp_path / "enc.weights.h5")
    model = build_model(cfg, NucleiTrainConfig(encoder_weights=str(path), beta=0.0))
    for a, b in zip(_encoder_of(donor).get_weights(), _encoder_of(model).get_weights()):
        np.testing.assert_array_equal(a, b)
    fresh = build_model(cfg, NucleiTrainConfig(beta=0.0), compile=False)
    assert any(not np.array_equal(a, b) for a, b in
               zip(_encoder_of(donor).get_weights(), _encoder_of(fresh).get_weights()))
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == pytest.approx(1e-4)


@pytest.mark.slow
def test_vgg_weights_file_enables_the_perceptual_loss(tmp_path):
    from irpath.losses.nuclei import weighted_cross_entropy
    from irpath.methods.nuclei.train import build_model

    vgg = keras.applications.VGG16(weights=None, include_top=False)  # random init, saved locally
    path = tmp_path / "vgg16.weights.h5"
    vgg.save_weights(path)
    cfg = NucleiConfig(**TINY)
    model = build_model(cfg, NucleiTrainConfig(vgg_weights=str(path)))
    loss = model.loss
    assert loss.perceptual is not None and loss.beta == 0.1
    feats = loss.perceptual.features
    np.testing.assert_array_equal(feats.get_layer("block1_conv1").get_weights()[0],
                                  vgg.get_layer("block1_conv1").get_weights()[0])
    rng = np.random.default_rng(0)
    y_pred = keras.ops.softmax(rng.normal(size=(2, 32, 32, 5)).astype(np.float32))
    y_true = np.stack([rng.integers(0, 5, (2, 32, 32)), np.ones((2, 32, 32))], -1).astype(np.float32)
    ce = np.asarray(keras.ops.mean(weighted_cross_entropy(y_true, y_pred), axis=(1, 2)))
    per = np.asarray(loss.perceptual.call(y_true, y_pred))
    assert (per > 0).all()
    np.testing.assert_allclose(np.asarray(loss.call(y_true, y_pred)), ce + 0.1 * per, rtol=1e-5)
    # without the file the loss is plain weighted CE, with a warning
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        from irpath.losses.nuclei import NucleiLoss

        plain = NucleiLoss(beta=0.1, vgg_weights=None)
    assert plain.perceptual is None and any("perceptual loss disabled" in str(w.message) for w in caught)
    np.testing.assert_allclose(np.asarray(plain.call(y_true, y_pred)), ce, rtol=1e-6)


def test_image_metrics_on_hand_made_labels():
    from irpath.methods.nuclei.evaluate import image_metrics, summarise

    gt = np.zeros((20, 20), np.int32)
    gt[1:5, 1:5] = 3     # tumour, 16 px
    gt[10:14, 10:14] = 4  # lymphocyte
    gt[15:19, 1:5] = 5    # stroma
    pred = np.zeros_like(gt)
    pred[1:5, 1:4] = 1     # covers 12/16 of the tumour: TP, classified tumour
    pred[10:14, 10:12] = 2  # covers 8/16 = 50 %: not > 50 %, FP
    pred[15:19, 1:5] = 3   # exact stroma, but classified lymphocyte
    m = image_metrics(pred, {1: 0, 2: 1, 3: 1}, gt)
    assert (m["all"]["tp"], m["all"]["fp"], m["all"]["fn"]) == (2, 1, 1)
    assert m["all"]["f1"] == pytest.approx(4 / 6)
    assert m["confusion"] == [[1, 0, 0], [0, 0, 0], [0, 1, 0]] and m["accuracy"] == 0.5
    assert m["tumour"]["f1"] == 1.0 and m["tumour"]["dice"] == pytest.approx(2 * 12 / 28)
    assert m["stroma"]["f1"] == 0.0 and m["stroma"]["tp"] == 0     # wrong class: no stroma prediction
    assert m["lymphocyte"]["tp"] == 0 and m["lymphocyte"]["fp"] == 2
    # empty prediction and empty GT
    empty = image_metrics(np.zeros_like(gt), {}, gt)
    assert empty["all"]["f1"] == 0.0 and empty["accuracy"] is None
    none = image_metrics(np.zeros_like(gt), {}, np.zeros_like(gt))
    assert none["all"]["f1"] == 1.0 and none["tumour"] is None
    report = summarise([m, none])
    assert report["all"]["f1"] == pytest.approx((4 / 6 + 1) / 2) and report["tumour"]["n_images"] == 1
    assert report["stroma"]["accuracy"] == 0.0 and report["tumour"]["accuracy"] == 1.0
    assert report["all"]["accuracy"] == 0.5


def test_config_validation_and_json_round_trip():
    from irpath.config import from_dict
    from irpath.errors import ConfigError

    cfg = NucleiConfig(decoder_filters=(16, 8, 8, 8), stain={"mean": (50, 10, -5), "std": [10, 5, 5]})
    again = from_dict(NucleiConfig, json.loads(json.dumps(dataclasses.asdict(cfg))))
    assert again == cfg and again.decoder_filters == [16, 8, 8, 8]
    assert from_dict(NucleiConfig, {"inner_threshold": 0.8}).inner_threshold == 0.8
    assert from_dict(NucleiConfig, {"split": 1}).split == 1.0 and NucleiConfig().split is None
    for bad in (dict(tile=100), dict(overlap=200), dict(decoder_filters=[8, 8]),
                dict(stain={"mean": [1, 2, 3], "std": [1, 0, 1]}), dict(in_channels=1),
                dict(inner_threshold=1.0), dict(inner_threshold=0), dict(inner_threshold="0.8"),
                dict(inner_threshold=True), dict(split=0), dict(split=2.0), dict(split="0.2"),
                dict(split=False)):
        with pytest.raises(ConfigError):
            NucleiConfig(**bad)
    for bad in (dict(crop=300), dict(patches_per_image=5), dict(scale_min=2.0), dict(lr=0.0),
                dict(brightness=-0.1), dict(brightness=1.5), dict(contrast=1.0)):
        with pytest.raises(ConfigError):
            NucleiTrainConfig(**bad)


def test_intensity_jitter_reaches_the_augmentation_on_the_0_255_scale():
    """--brightness / --contrast jitter a [0, 255] crop without clipping it to white; the
    paper's recipe (0, 0) leaves intensities alone; the flags set the recipe."""
    from irpath.cli.main import build_parser
    from irpath.data.joint_augment import augment

    assert NucleiTrainConfig().augment_config().brightness == 0.0
    cfg = NucleiTrainConfig(brightness=0.2, contrast=0.5, rotation=0.0, scale_min=1.0, scale_max=1.0,
                            shear=0.0, elastic_alpha=0.0).augment_config()
    assert (cfg.brightness, cfg.contrast, cfg.value_range) == (0.2, 0.5, 255.0)
    rng = np.random.default_rng(0)
    image = np.full((32, 32, 3), 60.0, np.float32) + rng.uniform(0, 40, (32, 32, 1)).astype(np.float32)
    labels = np.zeros((32, 32), np.int32)
    outs = [augment(image, labels, np.array([s, 1]), cfg)[0].numpy() for s in range(8)]
    means = [o.mean() for o in outs]
    assert all(0 <= o.min() and o.max() <= 255 for o in outs)
    assert np.ptp(means) > 10 and max(means) < 200  # jittered, not washed out to white
    stds = [np.std(o) for o in outs]
    assert np.ptp(stds) > 1  # the contrast changes too
    plain = NucleiTrainConfig(rotation=0.0, scale_min=1.0, scale_max=1.0, shear=0.0,
                              elastic_alpha=0.0).augment_config()
    out = augment(image, labels, np.array([3, 1]), plain)[0].numpy()
    assert sorted(out.ravel().tolist()) == pytest.approx(sorted(image.ravel().tolist()))  # flips only
    args = build_parser().parse_args(["train", "nuclei", "--train", "T", "--val", "V", "--out", "R",
                                      "--brightness", "0.1", "--contrast", "0.4"])
    train = get_method("nuclei").configs_from_args(args)[1]
    assert (train.brightness, train.contrast) == (0.1, 0.4)


def test_split_flag_sets_the_recipe_and_bad_values_exit_2(tmp_path, capsys):
    from irpath.cli.main import build_parser

    method = get_method("nuclei")
    for text, want in (("none", None), ("0.3", 0.3)):
        args = build_parser().parse_args(["train", "nuclei", "--train", "T", "--val", "V", "--out", "R",
                                          "--split", text])
        assert method.configs_from_args(args)[0].split == want
    assert main(["train", "nuclei", "--train", str(tmp_path), "--val", str(tmp_path),
                 "--out", str(tmp_path / "run"), "--split", "3"]) == 2
    assert "split height must be in (0, 2)" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_evaluate_and_predict_give_identical_maps(tmp_path):
    """One inference path: with a model that sees the whole input (its maps shift with the
    input's mean), tiling in one command and not the other would change the instances."""
    from irpath.demo.nuclei import make_nuclei_dataset
    from irpath.inference.predict import predict_files
    from irpath.methods.nuclei.evaluate import evaluate

    make_nuclei_dataset(tmp_path / "d", n=1, size=150, seed=4)
    model = _local_model()

    def global_context(x):
        x = np.asarray(x, np.float32)
        return np.asarray(model(x - x.mean(axis=(1, 2), keepdims=True) + 128.0))
    cfg = NucleiConfig(tile=64, overlap=24, min_area=5, **TINY)
    predictor = Predictor(global_context, "nuclei", cfg, "test")
    report = evaluate(predictor, tmp_path / "d", tmp_path / "eval", overlays=False, geojson=True)
    image = next((tmp_path / "d" / "images").iterdir())
    col = json.loads((tmp_path / "eval" / report["images"][0]["geojson"]).read_text())  # one per nucleus
    assert len(col["features"]) == report["images"][0]["n_pred"] > 0  # none under 4 px (min_area 5)
    assert {f["properties"]["objectType"] for f in col["features"]} <= {"detection"}
    row = predict_files(predictor, [image], tmp_path / "pred")["predictions"][0]
    np.testing.assert_array_equal(np.load(tmp_path / "pred" / row["label"]),
                                  np.load(tmp_path / "eval" / "instances" / f"{image.stem}.npy"))
    assert row["tiled"] is False and row["nuclei"] > 0
