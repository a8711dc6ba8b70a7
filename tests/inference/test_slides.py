"""Slides end to end with a stand-in model: tissue mask, resolution choice, tissue-only
tiles, tiled == whole, OME-TIFF round trip, resumable runs."""

import json

import numpy as np
import pytest
import tifffile

from irpath.data.rgb_tissue import rgb_tissue_mask
from irpath.inference.loading import Predictor
from irpath.inference.predict import PredictOptions, predict_files
from irpath.io.sources import open_image
from tests.io.test_sources import write_pyramid


def synthetic_slide(rng, h=256, w=320):
    """White glass with a pink-purple disc of tissue; returns (rgb uint8, tissue mask)."""
    yy, xx = np.mgrid[:h, :w]
    tissue = (yy - h * 0.45) ** 2 + (xx - w * 0.4) ** 2 < (0.3 * h) ** 2
    rgb = np.full((h, w, 3), 242.0) + rng.normal(0, 3, (h, w, 3))
    stain = np.array([200.0, 110.0, 170.0]) + rng.normal(0, 12, (h, w, 3))
    rgb[tissue] = stain[tissue]
    return np.clip(rgb, 0, 255).astype(np.uint8), tissue


def box_mean_predictor(calls=None):
    """An fcn stand-in: 3 class maps from a 3x3 mean of the image (receptive radius 1)."""
    from irpath.methods.fcn.config import FcnConfig

    def predict(x):
        x = np.asarray(x, np.float32)
        if calls is not None:
            calls.append(x.shape)
        pad = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="edge")
        m = sum(pad[:, i:i + x.shape[1], j:j + x.shape[2]] for i in range(3) for j in range(3)) / 9
        g = m.mean(axis=-1, keepdims=True) / 255.0
        return np.concatenate([g, 1 - g, m[..., :1] / 255.0], axis=-1)
    return Predictor(predict=predict, method="fcn", config=FcnConfig(), source="stand-in")


def test_tissue_mask_finds_the_known_tissue(rng):
    rgb, truth = synthetic_slide(rng)
    mask = rgb_tissue_mask(rgb)
    iou = (mask & truth).sum() / (mask | truth).sum()
    assert iou > 0.95, iou
    assert not rgb_tissue_mask(np.full((64, 64, 3), 240, np.uint8)).any()  # bare glass: none


def test_slide_at_an_mpp_is_tissue_only_and_round_trips(tmp_path, rng):
    rgb, truth = synthetic_slide(rng, 512, 640)
    write_pyramid(tmp_path / "s.ome.tif", rgb, ome=True, mpp=0.5, levels=3)
    calls = []
    opts = PredictOptions(mpp=1.5, tile=64, overlap=16, progress=False)
    summary = predict_files(box_mean_predictor(calls), [tmp_path / "s.ome.tif"], tmp_path / "out", options=opts)
    row = summary["predictions"][0]
    # 1.5 µm/px: level 1 (1.0 µm/px) resampled by 1.5; map pixel = 3 level-0 pixels
    assert row["level"] == 1 and row["mpp"] == pytest.approx(1.5) and row["downsample"] == pytest.approx(3.0)
    assert row["shape"][:2] == [171, 213]
    assert 0.2 < row["tissue_fraction"] < 0.9  # only tiles touching the disc were computed
    assert len({c[1:3] for c in calls}) == 1 and calls[0][1] <= 64  # tiles, never the whole slide
    with open_image(tmp_path / "out" / row["ome_tiff"]) as src:
        assert src.mpp == pytest.approx(1.5) and src.levels == len(row["ome_levels"]) >= 2
        classes = np.load(tmp_path / "out" / row["classes"])
        np.testing.assert_array_equal(src.read_region(0, 0, 0, *classes.shape)[..., 0], classes)
        np.testing.assert_array_equal(np.asarray(src.level(1))[..., 0], classes[::2, ::2])
    assert (tmp_path / "out" / row["overlay"]).is_file()
    with tifffile.TiffFile(tmp_path / "out" / row["ome_tiff"]) as tif:
        assert tif.is_ome and tif.pages[0].is_tiled and tif.pages[0].compression != 1
    # a re-run skips the complete image
    calls.clear()
    again = predict_files(box_mean_predictor(calls), [tmp_path / "s.ome.tif"], tmp_path / "out", options=opts)
    assert calls == [] and again["predictions"][0] == row


def test_tiled_equals_whole_and_level_choice(tmp_path, rng):
    from irpath.data.prepare_source import prepare_slide
    from irpath.inference.engine import predict_maps
    from irpath.inference.plan import Plan

    rgb, _ = synthetic_slide(rng, 200, 232)
    write_pyramid(tmp_path / "s.ome.tif", rgb, ome=True, mpp=0.25, levels=3)
    p = box_mean_predictor()
    prepared = prepare_slide(tmp_path / "s.ome.tif", "rgb", level=0, tissue="none")
    whole = predict_maps(p, prepared, plan=Plan(True, 64, 16, 0, 0), progress=False)
    tiled = predict_maps(p, prepared, plan=Plan(False, 64, 16, 0, 0), progress=False)
    np.testing.assert_allclose(tiled, whole, atol=1e-5)  # radius 1 <= margin 4: exact up to round-off
    np.testing.assert_allclose(whole[..., 2], np.asarray(whole[..., 2]))
    assert prepare_slide(tmp_path / "s.ome.tif", "rgb", mpp=1.0).level == 2
    assert prepare_slide(tmp_path / "s.ome.tif", "rgb", mpp=0.6).level == 1


def test_cli_refuses_bad_resolution(tmp_path, rng, capsys):
    from irpath.cli.main import main

    rgb, _ = synthetic_slide(rng, 64, 64)
    write_pyramid(tmp_path / "s.tif", rgb, ome=False, mpp=0.5, levels=1)
    rc = main(["predict", "--model", str(tmp_path / "none"), "--input", str(tmp_path / "s.tif"),
               "--out", str(tmp_path / "o"), "--mpp", "1", "--level", "0"])
    assert rc == 2
    json.dumps(capsys.readouterr().err)


def test_inspect_prints_vendor_levels_mpp_and_tissue(tmp_path, rng, capsys):
    from irpath.cli.main import main

    rgb, truth = synthetic_slide(rng, 256, 320)
    write_pyramid(tmp_path / "g.tif", rgb, ome=False, mpp=0.5, levels=2)
    assert main(["inspect", str(tmp_path / "g.tif"), "--json"]) == 0
    (s,) = json.loads(capsys.readouterr().out)
    assert s["vendor"] == "generic-tiff" and s["levels"] == 2 and s["mpp"] == 0.5
    assert s["dimensions"] == [[256, 320], [128, 160]]
    assert s["tissue_fraction"] == pytest.approx(truth.mean(), abs=0.03)
    assert main(["inspect", str(tmp_path / "g.tif")]) == 0
    assert "generic-tiff" in capsys.readouterr().out


def test_the_model_recorded_resolution_is_the_default(tmp_path, rng):
    import dataclasses

    from irpath.inference.engine import prepare_input
    from irpath.inference.loading import record_mpp

    rgb, _ = synthetic_slide(rng, 128, 160)
    write_pyramid(tmp_path / "s.ome.tif", rgb, ome=True, mpp=0.5, levels=3)
    (tmp_path / "model").mkdir()
    record_mpp(tmp_path / "model", 2.0)
    predictor = dataclasses.replace(box_mean_predictor(), source=str(tmp_path / "model"))
    prepared, plan = prepare_input(predictor, tmp_path / "s.ome.tif")
    assert prepared.level == 2 and prepared.mpp == 2.0 and not plan.whole  # slides are always tiled
    prepared, _ = prepare_input(predictor, tmp_path / "s.ome.tif", mpp=1.0)
    assert prepared.level == 1 and prepared.downsample == 2.0


def _tree(folder):
    import hashlib

    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_slide_outputs_are_guarded_and_leave_no_temporaries(tmp_path, rng):
    """The output guard covers a slide's OME-TIFF and overlay: a foreign file of the same
    name is refused before any work (nothing changes), and a finished run leaves no temporary."""
    from irpath.io.paths import OutputError

    rgb, _ = synthetic_slide(rng, 256, 320)
    write_pyramid(tmp_path / "s.ome.tif", rgb, ome=True, mpp=0.5, levels=2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "s_overlay.png").write_bytes(b"the user's own figure")
    before = _tree(tmp_path)
    calls = []
    opts = PredictOptions(mpp=1.0, tile=64, overlap=16, progress=False)
    with pytest.raises(OutputError, match="s_overlay.png"):
        predict_files(box_mean_predictor(calls), [tmp_path / "s.ome.tif"], out, options=opts)
    assert calls == [] and _tree(tmp_path) == before
    (out / "s_overlay.png").unlink()
    row = predict_files(box_mean_predictor(), [tmp_path / "s.ome.tif"], out, options=opts)["predictions"][0]
    assert (out / row["ome_tiff"]).is_file() and (out / row["overlay"]).is_file()
    assert not [p for p in out.rglob("*") if "irpath-tmp" in p.name]
