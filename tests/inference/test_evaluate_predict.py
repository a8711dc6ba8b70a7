import json

import numpy as np
import pytest

from irpath.methods.compsegnet.evaluate import evaluate
from irpath.inference.loading import Predictor, load_predictor
from irpath.inference.predict import predict_files
from irpath.io import read_manifest, read_mask
from irpath.metrics import dice


def oracle_predictor(manifest_path):
    """A 'model' that returns the ground-truth mask of whichever spot it is shown."""
    from irpath.methods.compsegnet.config import CompSegNetConfig
    from irpath.data.prepare import prepare_image

    m = read_manifest(manifest_path)
    cfg = CompSegNetConfig()
    axis = np.linspace(cfg.wn_start, cfg.wn_stop, cfg.in_channels)
    table = []
    for row in m.rows:
        cube = prepare_image(row.image, "ir", axis=axis).data
        table.append((cube, read_mask(row.mask).astype(np.float32)))

    def predict(cubes):
        out = []
        for c in cubes:
            match = [mask for cube, mask in table if cube.shape == c.shape and np.array_equal(cube, c)]
            out.append(match[0])
        return np.stack(out)[..., None]
    return Predictor(predict, "compsegnet", cfg, "oracle")


def test_report_with_an_oracle_model(tiny_tma, tmp_path):
    """Known answer: a predictor returning the GT masks gives AUC 1 and Dice 1."""
    report = evaluate(oracle_predictor(tiny_tma["test"]), tiny_tma["test"], tmp_path / "eval")
    assert report["auc"] == 1.0 and report["threshold"] == 0.35
    assert report["dice_mean"] == pytest.approx(1.0) and report["dice_std"] == pytest.approx(0.0)
    on_disk = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert {"auc", "dice_mean", "dice_std", "threshold", "spots"} <= set(on_disk)
    spot = on_disk["spots"][0]
    assert set(spot) >= {"image", "label", "tumour_fraction", "dice"}
    assert (tmp_path / "eval" / "roc.png").stat().st_size > 1000
    assert len(list((tmp_path / "eval" / "overlays").glob("*.png"))) == len(on_disk["spots"])
    for s in on_disk["spots"]:
        assert (s["dice"] is None) == (s["label"] == 0)
        assert (s["tumour_fraction"] > 0) == (s["label"] == 1)


def test_report_matches_metrics_recomputed_from_saved_maps(tiny_run, tiny_tma, tmp_path):
    from irpath.data import CacheIndex
    from irpath.metrics import roc_auc, tumour_fraction

    report = evaluate(load_predictor(tiny_run), tiny_tma["test"], tmp_path / "eval", overlays=False)
    index = CacheIndex.open(tmp_path / "eval" / "cache")
    thr, dices, fractions, pooled = report["threshold"], [], [], []
    for i, s in enumerate(report["spots"]):
        amap = np.load(tmp_path / "eval" / s["map"])
        assert amap.shape == (24, 24) and 0 <= amap.min() and amap.max() <= 1
        _, tissue, mask = index.load(i)
        tissue = tissue.astype(bool)
        fractions.append(tumour_fraction(amap, tissue, thr))
        pooled.append(amap[tissue].mean())
        assert s["pooled_activation"] == pytest.approx(pooled[-1], rel=1e-6)
        assert s["tumour_fraction"] == pytest.approx(((amap >= thr) & tissue).sum() / tissue.sum())
        if s["label"] == 1:
            expected = dice((amap >= thr) & tissue, mask.astype(bool))
            assert s["dice"] == pytest.approx(expected)
            dices.append(expected)
    assert report["auc"] == pytest.approx(roc_auc(np.array(fractions), np.array([s["label"] for s in report["spots"]])))
    assert report["dice_mean"] == pytest.approx(np.mean(dices))
    assert report["dice_std"] == pytest.approx(np.std(dices))
    labels = np.array([s["label"] for s in report["spots"]])
    assert report["auc_pooled"] == pytest.approx(roc_auc(np.array(pooled), labels))


def test_pooled_score_ranks_spots_that_stay_below_the_threshold(tiny_tma, tmp_path):
    """Known answer: a map of 0.3 on the tumour (below 0.35) leaves every tumour fraction
    at 0 (AUC 0.5, all tied), while the pooled activation still separates the classes."""
    oracle = oracle_predictor(tiny_tma["test"])
    faint = Predictor(lambda cubes: 0.3 * oracle.predict(cubes), "compsegnet", oracle.config, "faint")
    report = evaluate(faint, tiny_tma["test"], tmp_path / "eval", overlays=False)
    assert all(s["tumour_fraction"] == 0 for s in report["spots"])
    assert report["auc"] == 0.5 and report["auc_pooled"] == 1.0
    assert report["dice_mean"] == 0.0
    on_disk = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert on_disk["roc"] == {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}          # one tie: the diagonal
    pooled = on_disk["roc_pooled"]                                            # passes through (0, 1)
    assert any(f == 0.0 and t == 1.0 for f, t in zip(pooled["fpr"], pooled["tpr"]))


def test_predict_writes_maps_and_fractions(tiny_run, tiny_tma, tmp_path):
    rows = read_manifest(tiny_tma["test"]).rows[:2]
    summary = predict_files(load_predictor(tiny_run), [r.image for r in rows], tmp_path / "pred")
    assert len(summary["predictions"]) == 2
    for p, row in zip(summary["predictions"], rows):
        amap = np.load(tmp_path / "pred" / p["map"])
        assert amap.shape == (24, 24)
        assert (tmp_path / "pred" / p["png"]).exists()
        assert 0.0 <= p["tumour_fraction"] <= 1.0
    assert json.loads((tmp_path / "pred" / "predictions.json").read_text()) == summary
    # predict prepares a cube exactly as the training/evaluation cache does, so its map and
    # tumour fraction are the ones `evaluate` reports for the same spot
    from irpath.data import build_cache
    from irpath.data.prepare import prepare_image
    from irpath.metrics import tumour_fraction

    pred = load_predictor(tiny_run)
    index = build_cache(read_manifest(tiny_tma["test"]), tmp_path / "cache", target_axis=pred.axis,
                        progress=False)
    for i, p in enumerate(summary["predictions"]):
        prepared = prepare_image(rows[i].image, "ir", axis=pred.axis)
        cube, tissue = prepared.data, prepared.tissue
        cached_cube, cached_tissue, _ = index.load(i)
        np.testing.assert_array_equal(cube, cached_cube)
        np.testing.assert_array_equal(tissue, cached_tissue.astype(bool))
        amap = np.load(tmp_path / "pred" / p["map"])
        np.testing.assert_allclose(amap, pred.predict(cached_cube[None])[0, ..., 0], rtol=1e-6)
        assert p["tumour_fraction"] == pytest.approx(tumour_fraction(amap, cached_tissue.astype(bool), 0.35))
        assert p["tissue_pixels"] == int(cached_tissue.sum())
