"""Regression (issue 23): multiloss learns on gland images it was not built around.

The folder comes from the second bed's generator (:mod:`irpath.demo.bed2.glands`), not the
first's; the held-out images are a fresh draw of it, evaluated through a manifest. Before the
fix, the colour jitter clipped the [0, 255] crops to [0, 1] (white), so the network saw no
glands: class accuracy stayed at chance and object Dice at 0.
"""

import json

import pytest

from irpath.cli.main import main

pytestmark = pytest.mark.slow


def _manifest(folder):
    rows = ["image,label,class"]
    for line in (folder / "Grade.csv").read_text().splitlines()[1:]:
        name, _, grade, _ = line.split(",")
        rows.append(f"{name}.bmp,{name}_anno.bmp,{grade.strip()}")
    path = folder / "manifest.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


def test_short_run_beats_chance_on_class_and_object_dice(tmp_path, capsys):
    from irpath.demo.bed2.glands import make_glas_folder

    train = make_glas_folder(tmp_path / "glas", n_images=10, height=80, seed=3)
    test = make_glas_folder(tmp_path / "held_out", n_images=8, height=80, seed=11)
    run = tmp_path / "run"
    assert main(["train", "multiloss", "--data", str(train), "--out", str(run), "--resize", "80",
                 "--tile", "40", "--crop", "40", "--filters", "8", "--depth", "2",
                 "--batch-size", "4", "--lr", "3e-3", "--epochs", "3",
                 "--pretrain-epochs", "3", "--no-export"]) == 0
    capsys.readouterr()
    out = tmp_path / "eval"
    assert main(["evaluate", "multiloss", "--model", str(run), "--data", str(_manifest(test)),
                 "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["n_images"] == 8
    assert report["class_accuracy"] >= 0.75  # chance: 0.5 (4 benign, 4 malignant)
    for grade in ("benign", "malignant"):  # all-background (the failure) gives 0
        assert report[grade]["object_dice"] > 0.4, report[grade]
