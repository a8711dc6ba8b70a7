"""multiloss from slides + QuPath GeoJSON glands: crops' instances match the polygons, the grade
comes from the column or the collection, training at --mpp beats chance, --data and manifests
are exclusive."""

import json

import numpy as np
import pytest

from irpath.cli.main import main
from tests.io.qupath_files import feature, write_geojson
from tests.methods.multiloss.conftest import TINY


def gland_slide(root, rng, name, grade, size=128):
    """Pink stroma with dark purple elliptic glands, as a pyramid, and their QuPath annotations
    (the grade as the collection's property). Returns (slide, geojson, rgb, truth instances)."""
    from shapely import affinity
    from shapely.geometry import Point

    from irpath.methods.multiloss.slides import gland_instances
    from tests.io.test_sources import write_pyramid

    rgb = np.zeros((size, size, 3)) + [235.0, 170.0, 200.0]
    feats, objects = [], []
    for cy in range(20, size - 10, 40):
        for cx in range(20, size - 10, 40):
            g = affinity.scale(Point(cx + rng.integers(-3, 4), cy + rng.integers(-3, 4)).buffer(1, quad_segs=16),
                               rng.uniform(9, 14), rng.uniform(7, 12))
            feats.append(feature([list(map(list, g.exterior.coords))], "Gland"))
            objects.append((g, 1))
    inst = gland_instances(objects, (size, size))
    rgb[inst > 0] = [90.0, 40.0, 140.0]
    rgb = np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    slide = root / f"{name}.tif"
    write_pyramid(slide, rgb, ome=False, mpp=0.5, levels=2)
    path = root / f"{name}.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats,
                                "properties": {"grade": grade}}))
    return slide, path, rgb, inst


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    root = tmp_path_factory.mktemp("multiloss_qupath")
    rng = np.random.default_rng(5)
    made = {n: gland_slide(root, rng, n, g) for n, g in (("a", "benign"), ("b", "malignant"),
                                                         ("c", "benign"))}
    (root / "train.csv").write_text("image,label,grade\na.tif,a.geojson,\nb.tif,b.geojson,1\n")
    (root / "val.csv").write_text("image,label\nc.tif,c.geojson\n")
    return root, made


def test_crop_instances_match_the_polygons(slides):
    from irpath.methods.multiloss.config import MultiLossTrainConfig
    from irpath.methods.multiloss.slides import read_slide_set

    root, made = slides
    _, _, rgb, inst = made["a"]
    assert len(np.unique(inst)) - 1 == 9  # nine glands, one id each
    crops = read_slide_set(root / "train.csv", None, MultiLossTrainConfig(crop=32), train=False)
    for i in range(6):
        r, y, x, _ = crops.sample(0, 0, i)
        image, got, grade = crops.read(r, y, x)
        truth = made["ab"[r]][3][y:y + 32, x:x + 32]
        assert (truth > 0).any()  # centred on a gland
        np.testing.assert_array_equal(got, truth)
        assert (grade == r).all()  # a: benign from its collection, b: malignant from the column
        np.testing.assert_array_equal(image, made["ab"[r]][2][y:y + 32, x:x + 32].astype(np.float32))


def test_a_row_without_grade_is_refused(slides, tmp_path, capsys):
    root, made = slides
    label = tmp_path / "x.geojson"
    write_geojson(label, json.loads(made["a"][1].read_text())["features"])
    (tmp_path / "t.csv").write_text(f"image,label\n{made['a'][0]},{label}\n")
    code = main(["train", "multiloss", "--train-manifest", str(tmp_path / "t.csv"), "--val-manifest",
                 str(root / "val.csv"), "--out", str(tmp_path / "r"), "--mode", "seg", *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no grade" in err[0] and "line 2" in err[0], err


def test_data_and_manifests_are_exclusive(slides, tmp_path, capsys):
    root, _ = slides
    code = main(["train", "multiloss", "--data", str(root / "train.csv"), "--train-manifest",
                 str(root / "train.csv"), "--val-manifest", str(root / "val.csv"),
                 "--out", str(tmp_path / "r"), *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "exactly one of --data" in err[0]


@pytest.mark.slow
def test_training_from_geojson_slides_beats_chance(slides, tmp_path):
    root, made = slides
    out = tmp_path / "run"
    assert main(["train", "multiloss", "--train-manifest", str(root / "train.csv"), "--val-manifest",
                 str(root / "val.csv"), "--out", str(out), "--mpp", "0.5", "--mode", "seg",
                 "--epochs", "30", "--no-export", *TINY]) == 0
    from irpath.inference.loading import load_predictor

    _, _, rgb, truth = made["c"]
    maps = np.asarray(load_predictor(out).predict(rgb[None].astype(np.float32)))[0]
    fg, true_fg = maps[..., 0] > maps[..., 1], truth > 0
    dice = 2 * (fg & true_fg).sum() / (fg.sum() + true_fg.sum())
    print(f"gland Dice {dice:.3f}, chance {true_fg.mean():.3f}")
    assert dice > 1.5 * true_fg.mean(), (dice, true_fg.mean())
