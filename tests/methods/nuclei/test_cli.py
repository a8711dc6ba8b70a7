"""The nuclei method end to end through the CLI (``main(argv)``) on tiny synthetic tiles.

One tiny run (a 1-block-per-stage trunk: the full ResNet34 graph takes minutes to
trace on a busy 2-core CPU; its structure is tested in tests/models) is trained
once per module, from encoder weights saved by the test; evaluate, export,
predict (run dir and SavedModel), resume and the reload in a fresh process use it.
"""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irpath.cli.main import main
from irpath.demo.nuclei import make_nuclei_dataset

TINY = ["--crop", "64", "--patch", "64", "--batch-size", "4", "--steps-per-epoch", "2",
        "--decoder-filters", "8,8,8,8", "--encoder-blocks", "1,1,1,1", "--encoder-filters", "8,8,16,16"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("nuclei_data")
    make_nuclei_dataset(root / "train", n=4, size=64, seed=0)
    make_nuclei_dataset(root / "val", n=2, size=96, seed=1)
    # a grey test image given as one channel, larger than the 64 px training crop
    test = root / "test"
    make_nuclei_dataset(test, n=2, size=96, seed=2)
    grey = np.asarray(Image.open(test / "images" / "nuclei_001.png").convert("L"))
    Image.fromarray(grey, mode="L").save(test / "images" / "nuclei_001.png")
    return root


@pytest.fixture(scope="module")
def encoder_file(tmp_path_factory):
    from irpath.models.resnet_unet import build_resnet34_unet, save_encoder_weights

    model = build_resnet34_unet(decoder_filters=(8, 8, 8, 8), encoder_blocks=(1, 1, 1, 1),
                                encoder_filters=(8, 8, 16, 16))
    return save_encoder_weights(model, tmp_path_factory.mktemp("enc") / "encoder.weights.h5")


@pytest.fixture(scope="module")
def run(data, encoder_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("nuclei_run") / "run"
    assert main(["train", "nuclei", "--train", str(data / "train"), "--val", str(data / "val"),
                 "--out", str(out), "--epochs", "1", "--encoder-weights", str(encoder_file)] + TINY) == 0
    return out


@pytest.mark.slow
def test_train_writes_a_run_with_the_recipe(run, encoder_file, capsys):
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "nuclei"
    assert config["model"]["encoder_blocks"] == [1, 1, 1, 1] and config["model"]["stain"] is None
    assert config["train"]["encoder_weights"] == str(encoder_file) and config["train"]["vgg_weights"] is None
    assert config["train"]["crop"] == 64 and config["train"]["lr"] == 1e-4
    assert set(config["data"]) == {"train", "val"}
    for name in ("segmenter.keras", "best.keras", "saved_model/saved_model.pb", "history.csv"):
        assert (run / name).exists(), name
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs"] == 1 and np.isfinite(summary["best_val_loss"])


@pytest.mark.slow
def test_evaluate_reports_all_and_per_class_metrics(run, data, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", "nuclei", "--model", str(run), "--data", str(data / "test"),
                 "--out", str(out)]) == 0
    brief = json.loads(capsys.readouterr().out.splitlines()[0])
    report = json.loads((out / "report.json").read_text())
    assert report["n_images"] == 2 and brief["f1"] == report["all"]["f1"]
    for name in ("all", "tumour", "lymphocyte", "stroma"):
        for key in ("f1", "dice", "hausdorff", "aji", "pq", "accuracy", "tp", "fp", "fn"):
            assert key in report[name], (name, key)
    # the report's means are the per-image values' means, recomputed from the saved instances
    from irpath.methods.nuclei.evaluate import image_metrics
    from irpath.methods.nuclei.labels import decode_label, read_nuclei_label

    f1s = []
    for row in report["images"]:
        pred = np.load(out / "instances" / f"{Path(row['image']).stem}.npy")
        inst, classes = decode_label(pred)
        again = image_metrics(inst, classes, read_nuclei_label(row["label"]))
        assert again["all"] == row["all"]
        f1s.append(row["all"]["f1"])
    assert report["all"]["f1"] == pytest.approx(np.mean(f1s))
    assert (out / "overlays" / "nuclei_000.png").stat().st_size > 1000
    # the threshold train calibrated on --val (recorded in the run), no evaluate-time calibration
    recorded = json.loads((run / "config.json").read_text())["model"]["inner_threshold"]
    assert report["inner_threshold"] == recorded and "calibration" not in report


@pytest.mark.slow
def test_train_records_the_calibrated_threshold_and_predict_uses_it(run, data, tmp_path, monkeypatch):
    import shutil

    from irpath.inference.loading import load_predictor
    from irpath.methods.nuclei import evaluate as ev
    from irpath.methods.nuclei.data import find_pairs
    from irpath.methods.nuclei.postprocess import postprocess
    from irpath.methods.nuclei.train import calibrate_run
    from irpath.train.run_dir import RunDirectory

    config = json.loads((run / "config.json").read_text())
    cal = config["calibration"]  # train chose it on --val, jointly with min_area
    grid = [(a, h, t) for a in ev.min_area_grid(20) for h in ev.split_grid(None) for t in ev.CALIBRATION_GRID]
    assert [(r["min_area"], r["split"], r["inner_threshold"]) for r in cal["table"]] == grid
    assert cal["n_images"] == 2 and cal["recipe_split"] is None
    assert ev.min_area_grid(20) == (20, 10, 5) and cal["recipe_min_area"] == 20
    val = [(m, gt) for *_, m, gt in ev._predicted(load_predictor(run / "best.keras"),
                                                   find_pairs(data / "val"), None, tta=False)]
    chosen = ev.choose_postprocess(val, min_areas=(20, 10, 5), radius=1.0, splits=ev.split_grid(None))
    m = config["model"]
    assert (m["inner_threshold"], m["min_area"], m["split"]) == (cal["chosen"], cal["min_area"], cal["split"]) \
        == chosen[:3]
    best = max(r["f1"] for r in cal["table"])
    assert next(r for r in cal["table"] if (r["min_area"], r["split"], r["inner_threshold"])
                == (chosen[1], chosen[2], chosen[0]))["f1"] == best
    # at a fixed min_area and split, the threshold alone is what evaluate --calibrate would choose there
    assert ev.choose_inner_threshold(val, min_area=cal["min_area"], radius=1.0,
                                     split=cal["split"])[0] == cal["chosen"]
    area, split = cal["min_area"], cal["split"]
    # predict follows the recorded threshold: record one that changes this model's instances
    copy, image = tmp_path / "run", sorted((data / "test" / "images").iterdir())[0]
    shutil.copytree(run, copy)
    assert main(["predict", "--model", str(copy), "--input", str(image), "--out", str(tmp_path / "p0")]) == 0
    maps = np.load(tmp_path / "p0" / f"{image.stem}.npy")
    before = postprocess(maps, min_area=area, radius=1.0, inner_threshold=cal["chosen"], split=split)[0]
    np.testing.assert_array_equal(np.load(tmp_path / "p0" / f"{image.stem}_instances.npy"), before)
    other = next((t for t in ev.CALIBRATION_GRID if t != cal["chosen"] and not np.array_equal(
        postprocess(maps, min_area=area, radius=1.0, inner_threshold=t, split=split)[0], before)), "none")
    if other == "none":
        pytest.skip("no other threshold changes this tiny model's instances")
    stub = [{"min_area": 20, "split": None, "inner_threshold": None, "f1": 0.5, "aji": 0.5},
            {"min_area": area, "split": split, "inner_threshold": other, "f1": 1.0, "aji": 1.0}]
    monkeypatch.setattr(ev, "choose_postprocess", lambda *a, **k: (other, area, split, stub))
    assert calibrate_run(RunDirectory(copy), find_pairs(data / "val")) == other
    assert json.loads((copy / "config.json").read_text())["model"]["inner_threshold"] == other
    assert main(["predict", "--model", str(copy), "--input", str(image), "--out", str(tmp_path / "p1")]) == 0
    got = np.load(tmp_path / "p1" / f"{image.stem}_instances.npy")
    np.testing.assert_array_equal(got, postprocess(maps, min_area=area, radius=1.0, inner_threshold=other,
                                                   split=split)[0])
    assert not np.array_equal(got, before)


def report_min_area(run):
    return json.loads((run / "config.json").read_text())["model"]["min_area"]


@pytest.mark.slow
def test_evaluate_calibrates_the_inner_threshold_on_validation_images(run, data, tmp_path, capsys):
    from irpath.methods.nuclei.evaluate import CALIBRATION_GRID

    out = tmp_path / "eval"
    assert main(["evaluate", "nuclei", "--model", str(run), "--data", str(data / "test"),
                 "--calibrate", str(data / "val"), "--out", str(out)]) == 0
    brief = json.loads(capsys.readouterr().out.splitlines()[0])
    report = json.loads((out / "report.json").read_text())
    cal = report["calibration"]
    assert cal["n_images"] == 2 and [r["inner_threshold"] for r in cal["table"]] == list(CALIBRATION_GRID)
    assert {r["min_area"] for r in cal["table"]} == {report_min_area(run)}  # the model's, recorded by train
    best = max(cal["table"], key=lambda r: (r["f1"], r["aji"]))
    assert cal["chosen"] == report["inner_threshold"] == brief["inner_threshold"]
    assert next(r for r in cal["table"] if r["inner_threshold"] == cal["chosen"])["f1"] == best["f1"]
    # a fixed threshold gives the same instances as the calibrated run when they agree
    fixed = tmp_path / "fixed"
    args = ["evaluate", "nuclei", "--model", str(run), "--data", str(data / "test"), "--out", str(fixed)]
    assert main(args + (["--inner-threshold", str(cal["chosen"])] if cal["chosen"] else [])) == 0
    assert json.loads((fixed / "report.json").read_text())["all"] == report["all"]
    capsys.readouterr()
    assert main(args + ["--inner-threshold", "0.8", "--calibrate", str(data / "val")]) == 2
    assert "not both" in capsys.readouterr().err


@pytest.mark.slow
def test_export_predict_from_run_and_saved_model_agree(run, data, tmp_path, capsys):
    saved = tmp_path / "export"
    assert main(["export", "--model", str(run), "--out", str(saved)]) == 0
    images = [str(p) for p in sorted((data / "test" / "images").iterdir())]
    outs = {}
    for name, model in (("run", run), ("saved", saved)):
        outs[name] = tmp_path / name
        assert main(["predict", "--model", str(model), "--input", *images, "--out", str(outs[name])]) == 0
    pred = json.loads((outs["run"] / "predictions.json").read_text())["predictions"]
    assert [p["image"] for p in pred] == images
    for row in pred:
        stem = Path(row["image"]).stem
        inst = np.load(outs["run"] / f"{stem}_instances.npy")
        classes = np.load(outs["run"] / f"{stem}_classes.npy")
        assert inst.dtype == np.int32 and inst.shape == (96, 96)
        assert row["nuclei"] == len(np.unique(inst[inst > 0]))
        assert row["nuclei"] == row["tumour"] + row["lymphocyte"] + row["stroma"]
        assert set(np.unique(classes[inst > 0])) <= {1, 2, 3} and not classes[inst == 0].any()
        np.testing.assert_array_equal(inst, np.load(outs["saved"] / f"{stem}_instances.npy"))
        np.testing.assert_allclose(np.load(outs["run"] / f"{stem}.npy"),
                                   np.load(outs["saved"] / f"{stem}.npy"), atol=1e-5)
        assert (outs["run"] / f"{stem}.png").exists()


_RELOAD = """
import sys, numpy as np
from irpath.inference.loading import load_predictor
x = np.load(sys.argv[2])
np.save(sys.argv[3], load_predictor(sys.argv[1]).predict(x))
"""


@pytest.mark.slow
def test_export_reloads_in_a_fresh_process_with_identical_outputs(run, tmp_path):
    from irpath.inference.loading import load_predictor

    x = np.random.default_rng(0).uniform(0, 255, (2, 80, 72, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    subprocess.run([sys.executable, "-c", _RELOAD, str(run / "saved_model"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, capture_output=True)
    expected = load_predictor(run).predict(x)
    assert expected.shape == (2, 80, 72, 5)
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-5)


@pytest.mark.slow
def test_resume_continues_with_more_epochs(run, data, encoder_file, tmp_path, capsys):
    import shutil

    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    assert main(["train", "nuclei", "--train", str(data / "train"), "--val", str(data / "val"),
                 "--out", str(copy), "--epochs", "2", "--encoder-weights", str(encoder_file)] + TINY) == 0
    assert "resuming" in capsys.readouterr().err
    assert json.loads((copy / "train_summary.json").read_text())["epochs"] == 2
    assert len((copy / "history.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    # a different recipe is refused, naming what changed
    assert main(["train", "nuclei", "--train", str(data / "train"), "--val", str(data / "val"),
                 "--out", str(copy), "--epochs", "3", "--beta", "0.5"] + TINY) == 2
    assert "beta" in capsys.readouterr().err
