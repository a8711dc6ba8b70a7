"""nuclei from slides + QuPath GeoJSON detections: crops' labels match the polygons, training
at --mpp beats chance, manifests and folders are exclusive."""

import numpy as np
import pytest

from irpath.cli.main import main
from tests.io.qupath_files import feature, write_geojson
from tests.methods.nuclei.test_cli import TINY

CLASSES = {"Tumor": 0, "Immune cells": 1}


def nuclei_slide(root, rng, name, size=160):
    """Pink tissue with dark tumour nuclei (r 6) and blue lymphocytes (r 4), as a pyramid,
    and their QuPath detections. Returns (slide, geojson, truth id-mod-3 label at level 0)."""
    from shapely.geometry import Point

    from irpath.methods.nuclei.slides import instance_label
    from tests.io.test_sources import write_pyramid

    rgb = np.zeros((size, size, 3)) + [235.0, 170.0, 200.0]
    yy, xx = np.mgrid[:size, :size]
    feats, objects = [], []
    for j, (cy, cx) in enumerate((y, x) for y in range(12, size - 8, 22) for x in range(12, size - 8, 22)):
        cy, cx = cy + rng.integers(-3, 4), cx + rng.integers(-3, 4)
        name_ = "Tumor" if rng.random() < 0.5 else "Immune cells"
        r = 6 if name_ == "Tumor" else 4
        rgb[(yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2 < r * r] = [80, 30, 120] if r == 6 else [40, 40, 160]
        disc = Point(cx, cy).buffer(r, quad_segs=16)
        feats.append(feature([list(map(list, disc.exterior.coords))], name_, kind="detection"))
        objects.append((disc, CLASSES[name_]))
    rgb = np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)
    slide = root / f"{name}.tif"
    write_pyramid(slide, rgb, ome=False, mpp=0.5, levels=2)
    geojson = write_geojson(root / f"{name}.geojson", feats)
    return slide, geojson, rgb, instance_label(objects, (size, size))


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    root = tmp_path_factory.mktemp("nuclei_qupath")
    rng = np.random.default_rng(3)
    made = {n: nuclei_slide(root, rng, n) for n in ("a", "b", "c")}
    for split, names in (("train", "ab"), ("val", "c")):
        (root / f"{split}.csv").write_text("image,label\n" + "".join(f"{n}.tif,{n}.geojson\n" for n in names))
    return root, made


def test_crop_targets_match_the_detections(slides):
    from irpath.methods.nuclei.config import NucleiTrainConfig
    from irpath.methods.nuclei.slides import read_slide_set
    from irpath.methods.nuclei.targets import pack_targets

    root, made = slides
    _, _, rgb, label = made["a"]
    drawn = rgb.mean(-1) < 130  # the painted nuclei
    assert ((label > 0) & drawn).sum() / ((label > 0) | drawn).sum() > 0.9
    assert set(np.unique(label[label > 0] % 3)) == {0, 1}  # tumour and lymphocyte ids
    crops = read_slide_set(root / "train.csv", {"mpp": None}, NucleiTrainConfig(crop=32), train=False)
    for i in range(6):
        r, y, x, _ = crops.sample(0, 0, i)
        image, y_true = crops.read(r, y, x)
        truth = made["ab"[r]][3][y:y + 32, x:x + 32]
        assert (truth > 0).any()  # centred on a nucleus
        np.testing.assert_array_equal(y_true[..., 0], pack_targets(truth)[..., 0])
        np.testing.assert_array_equal(image, made["ab"[r]][2][y:y + 32, x:x + 32].astype(np.float32))


@pytest.fixture(scope="module")
def trained(slides, tmp_path_factory):
    """RUN_DIR of a tiny `train nuclei` from the GeoJSON manifests at --mpp 0.5."""
    root, _ = slides
    out = tmp_path_factory.mktemp("nuclei_qupath_run") / "run"
    args = [a for a in TINY]
    args[args.index("--steps-per-epoch") + 1] = "6"
    assert main(["train", "nuclei", "--train-manifest", str(root / "train.csv"), "--val-manifest",
                 str(root / "val.csv"), "--out", str(out), "--mpp", "0.5", "--epochs", "3",
                 "--lr", "3e-3", "--inner-threshold", "argmax", "--no-export", *args]) == 0
    return out


@pytest.mark.slow
def test_training_from_geojson_slides_beats_chance(slides, trained):
    root, made = slides
    out = trained
    history = [float(r.split(",")[1]) for r in (out / "history.csv").read_text().splitlines()[1:]]
    assert history[-1] < 0.8 * history[0], history
    from irpath.inference.loading import load_predictor

    _, _, rgb, truth = made["c"]
    maps = np.asarray(load_predictor(out).predict(rgb[None, :160, :160].astype(np.float32)))[0]
    fg, true_fg = maps.argmax(-1) != 0, truth > 0
    dice = 2 * (fg & true_fg).sum() / (fg.sum() + true_fg.sum())
    print(f"nucleus Dice {dice:.3f}, chance {true_fg.mean():.3f}")
    assert dice > 2 * true_fg.mean(), (dice, true_fg.mean())  # chance Dice is about the fraction


@pytest.mark.slow
def test_evaluate_on_geojson_rows_scores_the_rasterised_nuclei(slides, trained, tmp_path, capsys):
    """evaluate --manifest (slide + GeoJSON rows): the object metrics are those of the model's
    nuclei against the polygons rasterised on the slide's grid."""
    import json

    from irpath.inference.loading import load_predictor
    from irpath.methods.nuclei.evaluate import image_metrics

    root, made = slides
    assert main(["evaluate", "nuclei", "--model", str(trained), "--manifest", str(root / "val.csv"),
                 "--out", str(tmp_path / "eval")]) == 0
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    _, _, rgb, truth = made["c"]
    (row,) = report["images"]
    assert row["n_gt"] == len(np.unique(truth[truth > 0]))  # every detection is a GT nucleus
    predictor = load_predictor(trained)
    maps = np.asarray(predictor.predict(rgb[None].astype(np.float32)))[0]
    result = predictor.method_obj.postprocess(maps, None, predictor.config)
    want = image_metrics(result["arrays"]["instances"], result["classes"], truth)["all"]
    print(f"evaluate: F1 {row['all']['f1']:.3f}, Dice {row['all']['dice']:.3f} (direct "
          f"F1 {want['f1']:.3f})")
    assert row["all"]["tp"] == want["tp"] and row["all"]["fn"] == want["fn"]
    assert abs(row["all"]["dice"] - want["dice"]) < 1e-6 and row["all"]["f1"] > 0


def test_folders_and_manifests_are_exclusive(slides, tmp_path, capsys):
    root, _ = slides
    code = main(["train", "nuclei", "--train-manifest", str(root / "train.csv"), "--train", str(root),
                 "--val-manifest", str(root / "val.csv"), "--out", str(tmp_path / "r"), *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "exactly one of --train" in err[0]
