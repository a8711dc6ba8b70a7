"""fcn from slides + QuPath GeoJSON: trains at --mpp beyond chance, evaluates, refuses unknown names."""

import json

import numpy as np
import pytest

from irpath.cli.main import main
from tests.io.qupath_files import annotated_slide, feature, rect, truth_at, write_geojson
from tests.methods.fcn.test_cli import TINY


@pytest.fixture(scope="module")
def slides(tmp_path_factory):
    root = tmp_path_factory.mktemp("qupath")
    rng = np.random.default_rng(5)
    for name in ("a", "b", "c"):
        annotated_slide(root, rng, name=name, size=128, mpp=0.5)
    for split, names in (("train", "ab"), ("val", "c"), ("test", "c")):
        (root / f"{split}.csv").write_text("image,label\n" + "".join(f"{n}.tif,{n}.geojson\n" for n in names))
    return root


@pytest.mark.slow
def test_train_from_geojson_slides_beats_chance(slides, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "fcn", "--train-manifest", str(slides / "train.csv"), "--val-manifest",
                 str(slides / "val.csv"), "--out", str(out), "--mpp", "1.0", "--crop", "32",
                 "--epochs", "4", "--batch-size", "4", "--no-export", *TINY]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["train"]["crop"] == 32
    history = (out / "history.csv").read_text().strip().splitlines()
    losses = [float(r.split(",")[1]) for r in history[1:]]
    assert len(losses) == 4 and losses[-1] < 0.7 * losses[0], losses
    capsys.readouterr()
    ev = tmp_path / "eval"
    assert main(["evaluate", "fcn", "--model", str(out), "--manifest", str(slides / "test.csv"),
                 "--out", str(ev)]) == 0
    report = json.loads((ev / "report.json").read_text())
    cm = np.array(report["confusion_matrix"])
    yy, xx = np.mgrid[:64, :64]  # the 1 µm/px grid the model was trained and is evaluated at
    truth = truth_at(128, (yy + 0.5) * 2, (xx + 0.5) * 2)
    known = truth != 255
    assert cm.sum() == known.sum()  # only annotated pixels are scored
    np.testing.assert_array_equal(cm.sum(1), np.bincount(truth[known], minlength=3))
    majority = np.bincount(truth[known], minlength=3).max() / known.sum()
    assert report["pixel_accuracy"] > majority + 0.2, (report["pixel_accuracy"], majority)


def test_unknown_class_names_exit_2_in_one_line(slides, tmp_path, capsys):
    write_geojson(tmp_path / "x.geojson", [feature([rect(4, 4, 60, 60)], "Tumor"),
                                           feature([rect(64, 4, 120, 60)], "Mystery")])
    (tmp_path / "x.tif").write_bytes((slides / "a.tif").read_bytes())
    (tmp_path / "m.csv").write_text("image,label\nx.tif,x.geojson\n")
    code = main(["train", "fcn", "--train-manifest", str(tmp_path / "m.csv"), "--val-manifest",
                 str(tmp_path / "m.csv"), "--out", str(tmp_path / "run"), "--crop", "32", *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "x.geojson" in err[0] and "Mystery" in err[0], err
    assert not (tmp_path / "run" / "config.json").exists()  # refused before any training work
    # mapped by --class-map, the same rows load: Mystery becomes cancer
    from irpath.data.slide_crops import geojson_rows
    from irpath.io.colour_labels import CLASS_NAMES
    from irpath.io.qupath import parse_class_map

    rows = geojson_rows(tmp_path / "m.csv", parse_class_map("Tumor=cancer,Mystery=cancer", CLASS_NAMES))
    assert [k for _, k in rows[0].objects] == [0, 0]


def test_unannotated_pixels_weigh_nothing_in_the_loss(slides):
    from irpath.methods.fcn.config import FcnTrainConfig
    from irpath.methods.fcn.data import make_slide_datasets, read_slide_set

    cfg = FcnTrainConfig(crop=32, mirror=False)
    train = read_slide_set(slides / "train.csv", {"mpp": 1.0}, cfg, train=True)
    val = read_slide_set(slides / "val.csv", {"mpp": 1.0}, cfg, train=False)
    train_ds, val_ds = make_slide_datasets(train, val, cfg, global_batch=4)
    x, y, w = (t.numpy() for t in next(iter(train_ds)))
    raw = np.stack([train.crop_at(cfg.seed, 0, i)[1] for i in range(4)])
    np.testing.assert_array_equal(w, (raw != 255).astype(np.float32))
    np.testing.assert_array_equal(y, np.where(raw != 255, raw, 0))
    assert 0 < w.mean() < 1 and x.shape == (4, 32, 32, 3)
    from irpath.data.slide_crops import crops_per_epoch

    val_batches = list(val_ds)  # finite: the same crops every epoch
    assert sum(int(b[0].shape[0]) for b in val_batches) == crops_per_epoch(val, 1)
    assert val_batches[0][2].numpy().min() == 0
