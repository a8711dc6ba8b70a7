"""``evaluate --mpp``: images read at a chosen µm/px as predict reads them, labels by nearest
neighbour onto that grid; refused in one line where the pixel size is unknown."""

import numpy as np
import pytest

from irpath.errors import ConfigError
from irpath.io.colour_labels import encode_colour_labels, read_colour_labels
from tests.inference.test_slides import box_mean_predictor
from tests.io.test_sources import write_pyramid


def _save_png(path, rgb):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rgb).save(path)


def _blocky(rng, h, w):
    """An (h, w, 3) image and (h, w) class labels and their 2x downsamples: constant on
    2 x 2 blocks, so the 2x2 mean and any nearest neighbour give the small ones exactly."""
    small = rng.integers(0, 256, (h // 2, w // 2, 3), dtype=np.uint8)
    labels = rng.integers(0, 3, (h // 2, w // 2))
    up = lambda a: np.repeat(np.repeat(a, 2, axis=0), 2, axis=1)  # noqa: E731
    return up(small), up(labels), small, labels


def test_evaluate_at_half_resolution_equals_the_downsampled_image(tmp_path, rng):
    """Known-value equivalence: a 0.5 µm/px slide evaluated at --mpp 1.0 scores exactly what
    its 2x-downsampled image and labels score evaluated directly; its maps are predict's."""
    from irpath.inference.predict import PredictOptions, predict_files
    from irpath.methods.fcn.evaluate import evaluate

    big, big_lab, small, small_lab = _blocky(rng, 96, 128)
    slide = tmp_path / "a" / "images" / "s.tif"
    slide.parent.mkdir(parents=True)
    write_pyramid(slide, big, ome=False, mpp=0.5, levels=1, tile=32)
    _save_png(tmp_path / "a" / "labels" / "s.png", encode_colour_labels(big_lab))
    _save_png(tmp_path / "b" / "images" / "s.png", small)
    _save_png(tmp_path / "b" / "labels" / "s.png", encode_colour_labels(small_lab))

    at_mpp = evaluate(box_mean_predictor(), tmp_path / "a", tmp_path / "ev_a", mpp=1.0, overlays=False)
    direct = evaluate(box_mean_predictor(), tmp_path / "b", tmp_path / "ev_b", overlays=False)
    assert at_mpp["confusion_matrix"] == direct["confusion_matrix"]
    assert np.sum(at_mpp["confusion_matrix"]) == 48 * 64          # counted on the 1.0 µm/px grid
    assert at_mpp["pixel_accuracy"] == direct["pixel_accuracy"]
    assert at_mpp["mean_cross_entropy"] == pytest.approx(direct["mean_cross_entropy"], rel=1e-5)
    # evaluate's classes at --mpp 1.0 are predict's (--mpp 1.0 --tissue none) on the same slide
    opts = PredictOptions(mpp=1.0, tissue="none", progress=False)
    row = predict_files(box_mean_predictor(), [slide], tmp_path / "pred", options=opts)["predictions"][0]
    assert row["mpp"] == pytest.approx(1.0) and row["downsample"] == pytest.approx(2.0)
    np.testing.assert_array_equal(np.load(tmp_path / "pred" / row["classes"]),
                                  read_colour_labels(tmp_path / "ev_a" / "predictions" / "s.png"))
    # without --mpp the slide is scored on its own 0.5 µm/px grid
    native = evaluate(box_mean_predictor(), tmp_path / "a", tmp_path / "ev_c", overlays=False)
    assert np.sum(native["confusion_matrix"]) == 96 * 128


def test_labels_on_grid_is_the_centre_pixel():
    from types import SimpleNamespace

    from irpath.inference.resolution import labels_on_grid

    label = np.arange(36).reshape(6, 6)
    prepared = SimpleNamespace(path="x.tif", shape=(2, 2), downsample=3.0,
                               image_source=SimpleNamespace(level_shapes=((6, 6),)))
    np.testing.assert_array_equal(labels_on_grid(label, prepared), [[7, 10], [25, 28]])
    with pytest.raises(Exception, match="label is 5 x 6"):
        labels_on_grid(label[:, :5], prepared, "lab.png")


def test_mpp_on_an_image_without_a_pixel_size_is_one_line_exit_2(tmp_path, rng, capsys, monkeypatch):
    import irpath.inference.loading as loading
    from irpath.cli.main import main

    _, _, small, small_lab = _blocky(rng, 32, 32)
    _save_png(tmp_path / "d" / "images" / "s.png", small)
    _save_png(tmp_path / "d" / "labels" / "s.png", encode_colour_labels(small_lab))
    monkeypatch.setattr(loading, "load_predictor", lambda *a, **k: box_mean_predictor())
    code = main(["evaluate", "fcn", "--model", str(tmp_path / "m.keras"), "--manifest", str(tmp_path / "d"),
                 "--out", str(tmp_path / "ev"), "--mpp", "1.0"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert "s.png" in err[0] and "records no pixel size" in err[0] and "Traceback" not in err[0]


def test_compsegnet_refuses_mpp_in_one_line(tmp_path):
    from irpath.methods import get_method

    method = get_method("compsegnet")
    options = method.evaluate_options(manifest=str(tmp_path / "m.csv"), mpp=1.0)
    with pytest.raises(ConfigError, match="--mpp does not apply"):
        method.evaluate(None, options, tmp_path / "ev")
