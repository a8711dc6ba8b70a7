"""multiloss from slides + QuPath GeoJSON glands: crops' instances and the joint / class targets
match the polygons and grades (column or collection), --class-map picks the glands, joint
training at --mpp beats chance, evaluate --manifest on GeoJSON rows equals the label-image
evaluation of the same pixels, bad rows exit 2 in one line, --data and manifests are exclusive."""

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


def test_joint_and_class_inputs_come_from_the_polygons_and_grades(slides):
    """The joint / class pipelines' targets of slide crops: segmentation = the crop's gland
    pixels, scores (and the label input) = the one-hot grade of the crop's slide."""
    from irpath.methods.multiloss.config import MultiLossConfig, MultiLossTrainConfig
    from irpath.methods.multiloss.slides import read_slide_set
    from irpath.methods.multiloss.train import _datasets

    root, made = slides
    cfg = MultiLossTrainConfig(crop=32, augment=False)
    train, val = (read_slide_set(root / f, None, cfg, train=False) for f in ("train.csv", "val.csv"))
    for mode in ("joint", "class"):
        ds, _ = _datasets(train, val, MultiLossConfig(mode=mode), cfg, 0, 4)
        x, y = next(iter(ds))
        for i in range(4):
            r, yy, xx, _ = train.sample(cfg.seed, 0, i)
            grade = np.eye(2)[r]  # a benign (collection property), b malignant (column)
            np.testing.assert_array_equal(y["scores"][i], grade)
            np.testing.assert_array_equal(x["image"][i], made["ab"[r]][2][yy:yy + 32, xx:xx + 32])
            if mode == "joint":
                np.testing.assert_array_equal(x["label"][i], grade)
                np.testing.assert_array_equal(y["segmentation"][i][..., 0],
                                              made["ab"[r]][3][yy:yy + 32, xx:xx + 32] > 0)
            else:
                assert "segmentation" not in y


def test_class_map_keeps_the_gland_names_and_refuses_unmapped_ones(slides, tmp_path):
    from irpath.errors import ConfigError
    from irpath.methods.multiloss.slides import read_slide_rows

    root, made = slides
    doc = json.loads(made["a"][1].read_text())
    doc["features"].append(feature([[[0, 0], [30, 0], [30, 30], [0, 30], [0, 0]]], "Stroma"))
    (tmp_path / "a.geojson").write_text(json.dumps(doc))
    (tmp_path / "m.csv").write_text(f"image,label\n{made['a'][0]},a.geojson\n")
    assert len(read_slide_rows(tmp_path / "m.csv")[0][0].objects) == 10  # default: every annotation
    rows, grades = read_slide_rows(tmp_path / "m.csv", "Gland=gland,Stroma=ignore")
    assert len(rows[0].objects) == 9 and grades[rows[0].label] == 0
    with pytest.raises(ConfigError, match="not in the class map: Stroma"):
        read_slide_rows(tmp_path / "m.csv", "Gland=gland")


@pytest.fixture(scope="module")
def joint_geojson_run(slides, tmp_path_factory):
    """RUN_DIR of `train multiloss --mode joint` from the GeoJSON manifests at --mpp 1 (the
    slides' level 1): 1 pre-training epoch (the class branch alone), 10 joint epochs of
    16-pixel crops (2 steps each: a third of the time 30 epochs of 32-pixel crops take)."""
    root, _ = slides
    out = tmp_path_factory.mktemp("multiloss_qupath_run") / "joint"
    assert main(["train", "multiloss", "--train-manifest", str(root / "train.csv"), "--val-manifest",
                 str(root / "val.csv"), "--out", str(out), "--mpp", "1", "--mode", "joint",
                 "--epochs", "10", "--pretrain-epochs", "1", "--no-export", *TINY, "--crop", "16"]) == 0
    return out


def _level1_twins(root, made, names, grades):
    """An image,label,class manifest of the slides' level-1 pixels and their glands rasterised
    on that grid (scale 2): the label-image twin of the GeoJSON rows read at --mpp 1."""
    from PIL import Image

    from irpath.methods.multiloss.slides import gland_instances, read_slide_rows

    rows, _ = read_slide_rows(root / "test.csv")
    lines = ["image,label,class"]
    for n, row, g in zip(names, rows, grades):
        rgb = made[n][2][::2, ::2]  # the pyramid's level 1 (write_pyramid subsamples)
        Image.fromarray(rgb).save(root / f"{n}_l1.png")
        np.save(root / f"{n}_l1.npy", gland_instances(row.objects, rgb.shape[:2], scale=2.0))
        lines.append(f"{n}_l1.png,{n}_l1.npy,{g}")
    (root / "twins.csv").write_text("\n".join(lines) + "\n")
    return root / "twins.csv"


@pytest.mark.slow
def test_evaluate_geojson_rows_equals_label_image_twins_and_beats_chance(slides, joint_geojson_run,
                                                                         tmp_path):
    """Joint training from GeoJSON slides at --mpp 1 runs both phases and segments the glands
    far above chance; evaluate --manifest (slide + GeoJSON rows) reads the slides at the run's
    1 µm/px and scores the polygons rasterised there: every metric equals that of the same
    pixels and labels given as an image,label,class manifest; --geojson writes one annotation
    per predicted gland in level-0 pixels."""
    root, made = slides
    run = joint_geojson_run
    for f in ("best.keras", "classifier/best.keras"):
        assert (run / f).is_file(), f
    assert json.loads((run / "classifier" / "config.json").read_text())["model"]["mode"] == "class"
    assert not (run / "split.json").exists()  # manifests name their own parts
    (root / "test.csv").write_text("image,label,grade\na.tif,a.geojson,\nb.tif,b.geojson,malignant\n"
                                   "c.tif,c.geojson,0\n")
    twins = _level1_twins(root, made, "abc", ("benign", "malignant", "benign"))
    assert main(["evaluate", "multiloss", "--model", str(run), "--manifest", str(root / "test.csv"),
                 "--out", str(tmp_path / "geo"), "--geojson"]) == 0
    assert main(["evaluate", "multiloss", "--model", str(run), "--data", str(twins),
                 "--out", str(tmp_path / "png")]) == 0
    geo, png = (json.loads((tmp_path / d / "report.json").read_text()) for d in ("geo", "png"))
    assert [r["class"] for r in geo["images"]] == ["benign", "malignant", "benign"]
    for a, b in zip(geo["images"], png["images"]):
        assert a["objects"]["tp"] + a["objects"]["fn"] == 9  # nine glands, all kept at level 1
        for k in ("objects", "n_glands", "predicted_class", "class_correct"):
            assert a[k] == b[k], k
        for k in ("object_dice", "object_hausdorff", "object_f1", "pixel_accuracy", "p_malignant"):
            assert a[k] == pytest.approx(b[k], abs=1e-6), k
    for c in ("benign", "malignant"):
        assert geo[c] == pytest.approx(png[c], abs=1e-6)
    assert geo["class_accuracy"] == png["class_accuracy"] and geo["benign"]["n_images"] == 2
    gland_fraction = np.mean([(m[3] > 0).mean() for m in made.values()])
    print(f"object Dice benign {geo['benign']['object_dice']:.3f}, malignant "
          f"{geo['malignant']['object_dice']:.3f}, pixel accuracy {geo['pixel_accuracy']:.3f} "
          f"(all background: {1 - gland_fraction:.3f}), class accuracy {geo['class_accuracy']:.2f}")
    assert geo["benign"]["object_dice"] > 0.6 and geo["malignant"]["object_dice"] > 0.6
    assert 1 - geo["pixel_accuracy"] < 0.5 * gland_fraction  # half the errors of calling all background
    for row in geo["images"]:
        col = json.loads((tmp_path / "geo" / row["geojson"]).read_text())
        assert row["objects"]["tp"] <= len(col["features"]) <= row["n_glands"]  # tiny blobs are dropped
        assert col["properties"]["class"] == row["predicted_class"]
        xs = [x for f in col["features"] for ring in f["geometry"]["coordinates"]
              for x, _ in (ring if f["geometry"]["type"] == "Polygon" else ring[0])]
        assert 64 < max(xs) <= 128  # level-0 pixels of the 128-pixel slide, not level-1 ones


@pytest.mark.slow
@pytest.mark.parametrize("line, expected", [
    ("a.tif,a.geojson,", "no grade"),                    # neither a column value nor a property
    ("a.tif,a.geojson,grade 3", "unknown class 'grade 3'"),
    ("gone.tif,a.geojson,benign", "gone.tif: no such image"),
    ("a.tif,gone.geojson,benign", "gone.geojson: no such GeoJSON file")])
def test_evaluate_bad_rows_exit_2_in_one_line(slides, joint_geojson_run, tmp_path, capsys, line, expected):
    root, made = slides
    write_geojson(tmp_path / "a.geojson", json.loads(made["a"][1].read_text())["features"])  # no grade
    (tmp_path / "a.tif").symlink_to(made["a"][0])
    (tmp_path / "t.csv").write_text(f"image,label,grade\n{line}\n")
    capsys.readouterr()
    code = main(["evaluate", "multiloss", "--model", str(joint_geojson_run), "--manifest",
                 str(tmp_path / "t.csv"), "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0], err


@pytest.mark.slow
def test_evaluate_unmapped_class_name_exits_2_listing_it(slides, joint_geojson_run, tmp_path, capsys):
    root, made = slides
    capsys.readouterr()
    code = main(["evaluate", "multiloss", "--model", str(joint_geojson_run), "--manifest",
                 str(root / "val.csv"), "--class-map", "Tumor=gland", "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "class name(s) not in the class map: Gland" in err[0], err
    assert not (tmp_path / "eval" / "report.json").exists()


def test_evaluate_help_explains_the_geojson_manifest_rows(capsys):
    code = main(["evaluate", "multiloss", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert code == 0
    for words in ("an image,label[,grade] manifest of slides (or any image) and QuPath GeoJSON",
                  "the annotation polygons are the glands", "at --mpp (default: the run's µm/px)"):
        assert words in text, words
