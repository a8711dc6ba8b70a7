"""Manifests (reading, one-line errors), the class and seg modes, and evaluation on a manifest."""

import json

import numpy as np
import pytest
from PIL import Image

from irpath.cli.main import main
from irpath.methods.multiloss.data import read_manifest_tiles
from tests.methods.multiloss.conftest import TINY


def _manifest(folder, glas, n=8, rows=None):
    """An image,label,class manifest of the first n tiny GlaS images (PNG images, .npy labels)."""
    from irpath.io.glas import read_glas

    folder.mkdir(parents=True, exist_ok=True)
    lines = ["image,label,class"]
    for rec in read_glas(glas)[:n]:
        Image.fromarray(rec.image.astype(np.uint8)).save(folder / f"{rec.name}.png")
        np.save(folder / f"{rec.name}_inst.npy", rec.labels)
        lines.append(f"{rec.name}.png,{rec.name}_inst.npy,{rec.grade}")
    (folder / "m.csv").write_text("\n".join(rows or lines) + "\n")
    return folder / "m.csv"


def test_manifest_is_read_with_classes_and_instances(tiny_glas, tmp_path):
    from irpath.io.glas import read_glas

    m = _manifest(tmp_path / "m", tiny_glas, n=4)
    tiles = read_manifest_tiles(m)
    recs = read_glas(tiny_glas)[:4]
    assert tiles.classes.tolist() == [r.cls for r in recs]
    for lab, rec in zip(tiles.labels, recs):
        np.testing.assert_array_equal(lab, rec.labels)
    assert tiles.images[0].shape == (64, 64, 3) and tiles.images[0].dtype == np.float32


@pytest.mark.parametrize("edit, message", [
    (lambda rows: ["image,label"] + [r.rsplit(",", 1)[0] for r in rows[1:]], "needs the columns"),
    (lambda rows: rows[:1] + [rows[1].replace("benign", "cancer").replace("malignant", "cancer")],
     "unknown class 'cancer'"),
    (lambda rows: rows[:1] + ["nothere.png," + rows[1].split(",", 1)[1]], "nothere.png: no such image"),
    (lambda rows: rows[:1] + [rows[1].split(",")[0] + ",wrong.npy," + rows[1].split(",")[2]],
     "wrong.npy"),
])
def test_bad_manifests_are_one_line_errors(tiny_glas, tmp_path, capsys, edit, message):
    m = _manifest(tmp_path / "m", tiny_glas, n=2)
    rows = m.read_text().strip().splitlines()
    np.save(tmp_path / "m" / "wrong.npy", np.zeros((5, 7), np.int32))   # wrong shape
    m.write_text("\n".join(edit(rows)) + "\n")
    assert main(["train", "multiloss", "--data", str(m), "--out", str(tmp_path / "r")] + TINY) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err


def test_negative_labels_and_missing_folder_are_refused(tiny_glas, tmp_path, capsys):
    m = _manifest(tmp_path / "m", tiny_glas, n=2)
    first = m.read_text().splitlines()[1].split(",")[1]
    np.save(tmp_path / "m" / first, -np.ones((64, 64), np.int32))
    assert main(["train", "multiloss", "--data", str(m), "--out", str(tmp_path / "r")] + TINY) == 2
    assert "negative" in capsys.readouterr().err
    assert main(["train", "multiloss", "--data", str(tmp_path / "none.csv"), "--out",
                 str(tmp_path / "r")] + TINY) == 2
    assert "no such manifest file or GlaS folder" in capsys.readouterr().err
    assert main(["evaluate", "multiloss", "--model", str(tmp_path / "nothing"), "--data", str(m),
                 "--out", str(tmp_path / "e")]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("mode, channels", [("seg", 2), ("class", 3)])
def test_class_and_seg_modes_train_on_a_manifest_and_evaluate(tiny_glas, tmp_path, capsys, mode,
                                                              channels):
    m = _manifest(tmp_path / "m", tiny_glas, n=8)
    run = tmp_path / "run"
    assert main(["train", "multiloss", "--mode", mode, "--data", str(m), "--out", str(run),
                 "--epochs", "2", "--no-augment"] + TINY) == 0
    split = json.loads((run / "split.json").read_text())
    assert split["kind"] == "manifest" and len(split["val"]) == 1 and len(split["train"]) == 7
    assert not (run / "classifier").exists()
    hist = (run / "history.csv").read_text().splitlines()
    assert len(hist) == 3
    cols = hist[0].split(",")
    if mode == "seg":     # the training loss fell: the segmenter learnt
        assert float(hist[2].split(",")[cols.index("loss")]) < float(hist[1].split(",")[cols.index("loss")])
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(run), "--data", str(m), "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n_images"] == 8 and report["mode"] == mode     # every manifest row
    if mode == "seg":
        assert report["class_accuracy"] is None and report["pixel_accuracy"] > 0
        assert report["benign"]["n_images"] + report["malignant"]["n_images"] == 8
    else:
        assert report["pixel_accuracy"] is None and 0 <= report["class_accuracy"] <= 1
    assert json.loads((run / "saved_model" / "irpath.json").read_text())["maps"].__len__() == channels
