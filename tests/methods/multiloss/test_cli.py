"""`irpath train / evaluate / export / predict` for the multiloss method, end to end on tiny glands."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from irpath.cli.main import main
from tests.methods.multiloss.conftest import TINY

pytestmark = pytest.mark.slow

CHANNELS = ["p_gland", "p_background", "prior", "score_benign", "score_malignant"]


def test_train_writes_both_phases_and_the_split(joint_run, tiny_glas):
    for f in ("config.json", "split.json", "best.keras", "segmenter.keras", "saved_model/saved_model.pb",
              "classifier/best.keras", "classifier/segmenter.keras", "classifier/config.json"):
        assert (joint_run / f).exists(), f
    split = json.loads((joint_run / "split.json").read_text())
    names = split["train"] + split["val"] + split["test"]
    assert (len(split["train"]), len(split["val"]), len(split["test"])) == (7, 1, 2)
    assert sorted(names) == sorted(p.stem for p in tiny_glas.glob("train_*[0-9].bmp"))
    assert json.loads((joint_run / "config.json").read_text())["model"]["mode"] == "joint"
    assert json.loads((joint_run / "classifier" / "config.json").read_text())["model"]["mode"] == "class"
    meta = json.loads((joint_run / "saved_model" / "irpath.json").read_text())
    assert meta["method"] == "multiloss" and meta["maps"] == CHANNELS
    summary = json.loads((joint_run / "train_summary.json").read_text())
    assert summary["epochs"] == 1 and summary["pretrain"]["epochs"] == 1


def _expected_rows(run, glas, names):
    """Independent recomputation of what evaluate reports, from the predictor's maps."""
    from irpath.inference.loading import load_predictor
    from irpath.io.glas import prepare_glas, read_glas
    from irpath.metrics import glas_object_dice

    pred = load_predictor(run)
    crops = prepare_glas([r for r in read_glas(glas) if r.name in names], 64, 64)
    rows = {}
    for image, gt, cls, name in zip(crops.images, crops.labels, crops.classes, crops.names):
        maps = pred.predict(image[None])[0]
        inst, _ = ndimage.label(maps[..., 0] > maps[..., 1])
        rows[name] = dict(correct=int(np.argmax(maps[0, 0, 3:5]) == cls),
                          acc=((inst > 0) == (gt > 0)).mean(), dice=glas_object_dice(inst, gt))
    return rows


def test_evaluate_reports_the_test_split(joint_run, tiny_glas, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "multiloss", "--model", str(joint_run), "--data", str(tiny_glas),
                 "--out", str(out), "--geojson"]) == 0
    brief = json.loads(capsys.readouterr().out.splitlines()[0])
    report = json.loads((out / "report.json").read_text())
    split = json.loads((joint_run / "split.json").read_text())
    assert [r["image"] for r in report["images"]] == split["test"]
    expected = _expected_rows(joint_run, tiny_glas, split["test"])
    assert report["class_accuracy"] == pytest.approx(np.mean([e["correct"] for e in expected.values()]))
    assert report["pixel_accuracy"] == pytest.approx(np.mean([e["acc"] for e in expected.values()]))
    for row in report["images"]:
        assert row["object_dice"] == pytest.approx(expected[row["image"]]["dice"])
        assert (out / row["figure"]).exists()
        col = json.loads((out / row["geojson"]).read_text())  # one annotation per gland, the class
        assert len(col["features"]) <= row["n_glands"] and col["properties"]["class"] == row["predicted_class"]
    for c in ("benign", "malignant"):
        group = [r for r in report["images"] if r["class"] == c]
        assert report[c]["n_images"] == len(group)
        if group:
            assert report[c]["object_dice"] == pytest.approx(np.mean([r["object_dice"] for r in group]))
            assert 0 <= report[c]["object_f1"] <= 1 and report[c]["object_hausdorff"] >= 0
    assert brief["class_accuracy"] == report["class_accuracy"]


RELOAD = """
import sys, numpy as np, tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
fn = m.serve
np.save(sys.argv[3], np.asarray(fn(tf.constant(np.load(sys.argv[2])))))
"""


def test_export_reload_in_fresh_process_and_predict(joint_run, tiny_glas, tmp_path):
    from irpath.inference.loading import load_predictor

    saved = tmp_path / "saved"
    assert main(["export", "--model", str(joint_run), "--out", str(saved)]) == 0
    assert json.loads((saved / "irpath.json").read_text())["maps"] == CHANNELS
    x = np.random.default_rng(0).uniform(0, 255, (2, 37, 45, 3)).astype(np.float32)  # odd size
    np.save(tmp_path / "x.npy", x)
    res = subprocess.run([sys.executable, "-c", RELOAD, str(saved), str(tmp_path / "x.npy"),
                          str(tmp_path / "y.npy")], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    fresh = np.load(tmp_path / "y.npy")
    here = load_predictor(joint_run).predict(x)
    assert fresh.shape == (2, 37, 45, 5)
    np.testing.assert_allclose(fresh, here, atol=1e-5)
    np.testing.assert_allclose(fresh[..., 0] + fresh[..., 1], 1.0, atol=1e-5)   # P is a softmax
    assert fresh[..., 2].min() >= 0 and fresh[..., 2].max() <= 1 + 1e-6           # the prior
    # predict from the run directory and from the SavedModel: maps, instances, class
    image = tmp_path / "img.png"
    Image.open(tiny_glas / "train_1.bmp").save(image)
    for model in (joint_run, saved):
        out = tmp_path / f"pred_{model.name}"
        assert main(["predict", "--model", str(model), "--input", str(image), "--out", str(out)]) == 0
        maps, inst = np.load(out / "img.npy"), np.load(out / "img_inst.npy")
        assert maps.shape == (64, 64, 5) and inst.dtype == np.int32
        ref, _ = ndimage.label(maps[..., 0] > maps[..., 1])
        np.testing.assert_array_equal(inst, ref)
        row = json.loads((out / "predictions.json").read_text())["predictions"][0]
        assert row["class"] == ("malignant" if maps[0, 0, 4] > maps[0, 0, 3] else "benign")
        assert row["glands"] == int(inst.max())
    # a .bmp (the GlaS format) is read too
    assert main(["predict", "--model", str(saved), "--input", str(tiny_glas / "train_1.bmp"),
                 "--out", str(tmp_path / "pred_bmp")]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "pred_bmp" / "train_1.npy"),
                               np.load(tmp_path / "pred_saved" / "img.npy"), atol=1e-6)


def test_resume_continues_with_more_epochs(joint_run, tiny_glas, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(joint_run, run)
    assert main(["train", "multiloss", "--data", str(tiny_glas), "--out", str(run), "--epochs", "2",
                 "--pretrain-epochs", "1"] + TINY) == 0
    history = (run / "history.csv").read_text().strip().splitlines()
    assert len(history) == 3 and history[1].startswith("0,") and history[2].startswith("1,")
    assert len((run / "classifier" / "history.csv").read_text().strip().splitlines()) == 2
    assert json.loads((run / "train_summary.json").read_text())["epochs"] == 2
    # another seed means another split and recipe: refused in one line
    assert main(["train", "multiloss", "--data", str(tiny_glas), "--out", str(run), "--epochs", "3",
                 "--pretrain-epochs", "1", "--seed", "5"] + TINY) == 2


@pytest.mark.slow
def test_cli_in_a_fresh_process_loads_the_run(joint_run, tiny_glas, tmp_path):
    """`python -m irpath predict` in a new interpreter: the run's segmenter.keras holds
    ClassPlanes and StopGradient, which loading must find without irpath.models imported."""
    image = tmp_path / "img.png"
    Image.open(tiny_glas / "train_1.bmp").save(image)
    res = subprocess.run([sys.executable, "-m", "irpath", "predict", "--model", str(joint_run),
                          "--input", str(image), "--out", str(tmp_path / "pred")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    here = tmp_path / "here"
    assert main(["predict", "--model", str(joint_run), "--input", str(image), "--out", str(here)]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "pred" / "img.npy"), np.load(here / "img.npy"), atol=1e-6)


@pytest.mark.slow
def test_joint_training_under_two_local_workers(tiny_glas, tmp_path):
    """Both phases under 2 MultiWorkerMirroredStrategy workers: phase 2 of every worker starts
    from its own phase-1 classifier; only the chief writes the run (and its classifier/)."""
    import os

    out, scratch = tmp_path / "run", tmp_path / "tmp"
    scratch.mkdir()
    cmd = [sys.executable, "-m", "irpath", "train", "multiloss", "--data", str(tiny_glas), "--out", str(out),
           "--epochs", "1", "--pretrain-epochs", "1", "--local-workers", "2", *TINY]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TMPDIR=str(scratch))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["replicas"] == 2 and summary["pretrain"]["replicas"] == 2
    assert summary["pretrain"]["run_dir"] == str(out / "classifier")
    assert (out / "classifier" / "best.keras").exists() and (out / "saved_model" / "saved_model.pb").exists()
    assert not [p for p in scratch.iterdir() if p.name.startswith("irpath-worker")]
