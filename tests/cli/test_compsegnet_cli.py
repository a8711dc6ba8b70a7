"""The train / evaluate / export / predict / demo commands through ``main(argv)``."""

import json

import numpy as np
import pytest

from irpath.cli.main import main


def one_error_line(capsys, needle):
    err = capsys.readouterr().err.strip().splitlines()
    errors = [ln for ln in err if ln.startswith("irpath: error:")]
    assert len(errors) == 1, err
    assert needle in errors[0], errors[0]
    assert not any("Traceback" in ln for ln in err)
    return errors[0]


@pytest.mark.parametrize("argv, needle", [
    (["train", "compsegnet", "--train-manifest", "{tmp}/missing.csv", "--val-manifest", "{tmp}/v.csv",
      "--out", "{tmp}/run"], "missing.csv"),
    (["train", "compsegnet", "--train-manifest", "{train}", "--val-manifest", "{val}",
      "--out", "{tmp}/run", "--epochs", "0"], "epochs"),
    (["train", "compsegnet", "--train-manifest", "{train}", "--val-manifest", "{val}",
      "--out", "{tmp}/run", "--batch-size", "1"], "batch size"),
    (["train", "compsegnet", "--train-manifest", "{bad}", "--val-manifest", "{val}",
      "--out", "{tmp}/run"], "unknown label"),
    (["evaluate", "compsegnet", "--model", "{tmp}/nowhere", "--manifest", "{val}", "--out", "{tmp}/e"], "nowhere"),
    (["evaluate", "compsegnet", "--model", "{tmp}", "--manifest", "{val}", "--out", "{tmp}/e"],
     "segmenter.keras"),
    (["export", "--model", "{tmp}", "--out", "{tmp}/saved"], "segmenter"),
    (["predict", "--model", "{tmp}/nowhere.keras", "--input", "{cube}", "--out", "{tmp}/p"], "nowhere.keras"),
])
def test_user_errors_are_one_line_exit_2(argv, needle, tiny_tma, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("image,label\n" + str(tiny_tma["train"].parent / "spot_000.hdr") + ",maybe\n")
    cube = tmp_path / "c.npy"
    np.save(cube, np.ones((4, 4, 450), np.float32))
    fill = dict(tmp=tmp_path, train=tiny_tma["train"], val=tiny_tma["val"], bad=bad, cube=cube)
    assert main([a.format(**fill) for a in argv]) == 2
    one_error_line(capsys, needle.format(**fill))


def test_predict_rejects_bad_cubes_with_one_line(tiny_run, tmp_path, capsys):
    wrong = tmp_path / "wrong_channels.npy"
    np.save(wrong, np.ones((8, 8, 300), np.float32))          # no axis and 300 channels
    assert main(["predict", "--model", str(tiny_run), "--input", str(wrong), "--out", str(tmp_path / "p")]) == 2
    one_error_line(capsys, "wrong_channels.npy")
    nan = tmp_path / "partial_nan.npy"
    c = np.ones((8, 8, 450), np.float32)
    c[2, 3, 10] = np.nan
    np.save(nan, c)
    assert main(["predict", "--model", str(tiny_run), "--input", str(nan), "--out", str(tmp_path / "p")]) == 2
    one_error_line(capsys, "partial_nan.npy")


def test_evaluate_export_predict_succeed(tiny_run, tiny_tma, tmp_path, capsys):
    assert main(["evaluate", "compsegnet", "--model", str(tiny_run), "--manifest", str(tiny_tma["test"]),
                 "--out", str(tmp_path / "eval"), "--geojson"]) == 0
    brief = json.loads(capsys.readouterr().out.splitlines()[0])
    assert set(brief) >= {"auc", "dice_mean", "dice_std", "threshold"}
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert all((tmp_path / "eval" / s["geojson"]).is_file() for s in report["spots"])
    assert main(["export", "--model", str(tiny_run), "--out", str(tmp_path / "saved")]) == 0
    assert main(["predict", "--model", str(tmp_path / "saved"), "--input",
                 str(tiny_tma["test"].parent / "spot_000.hdr"), "--out", str(tmp_path / "pred"), "--geojson"]) == 0
    assert (tmp_path / "pred" / "spot_000.npy").exists()
    # the tumour regions as QuPath annotations: their pixels are the tumour fraction of the tissue
    from tests.inference.test_geojson_export import check_qupath_fields, rasterise

    row = json.loads((tmp_path / "pred" / "predictions.json").read_text())["predictions"][0]
    col = json.loads((tmp_path / "pred" / row["geojson"]).read_text())
    check_qupath_fields(col, "annotation")
    amap = np.load(tmp_path / "pred" / "spot_000.npy")
    active = rasterise(col["features"], amap.shape, value=lambda f: 1).sum()
    assert abs(active - row["tumour_fraction"] * row["tissue_pixels"]) <= 0.01 * amap.size


def test_help_explains_every_command(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in ("inspect", "train", "evaluate", "export", "ensemble", "predict", "demo"):
        assert cmd in out
    assert main(["train", "--help"]) == 0
    assert "compsegnet" in capsys.readouterr().out                # the methods are listed
    assert main(["train", "compsegnet", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--train-manifest", "--val-manifest", "--out", "--epochs", "--batch-size", "--filters",
                 "--depth", "--lr", "--seed"):
        assert flag in out
    assert "resumes" in out


def test_train_with_a_float16_cache(tiny_tma, tmp_path):
    out = tmp_path / "run"
    assert main(["train", "compsegnet", "--train-manifest", str(tiny_tma["train"]), "--val-manifest",
                 str(tiny_tma["val"]), "--out", str(out), "--filters", "2", "--depth", "2",
                 "--batch-size", "3", "--epochs", "1", "--cache-dtype", "float16", "--no-export"]) == 0
    cubes = sorted(p.suffix for p in out.rglob("*.cube.*"))
    assert cubes and set(cubes) == {".f16"}                     # half the bytes to read
    config = json.loads((out / "config.json").read_text())
    assert "float16" in json.dumps(config)
    loss = (out / "history.csv").read_text().splitlines()[1]
    assert np.isfinite([float(v) for v in loss.split(",")]).all()
