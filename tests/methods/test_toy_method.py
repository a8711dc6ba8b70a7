"""A method from outside irpath, declaring only configs, ``build_model``, ``datasets`` and
``postprocess`` (tests/methods/toy_method.py, the README's example): it trains, resumes
after a kill exactly, trains under 2 local workers, evaluates, exports and predicts
through the CLI with no other code. Processes find it through ``IRPATH_METHODS``.
"""

import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from irpath.cli.main import main
from irpath.methods import REGISTRY, get_method

ENTRY = "tests.methods.toy_method:METHOD"
ROOT = Path(__file__).resolve().parents[2]

# Runs the CLI and, with KILL_AT="EPOCH:BATCH", SIGKILLs itself right after that training step.
KILLER = textwrap.dedent('''
    import os, signal, sys
    from irpath.train import callbacks

    at = os.environ.get("KILL_AT")
    if at:
        epoch, batch = map(int, at.split(":"))
        original = callbacks.BestAndLastCheckpoint.on_train_batch_end

        def hook(self, b, logs=None):
            if self._epoch == epoch and b == batch:
                os.kill(os.getpid(), signal.SIGKILL)
            original(self, b, logs)

        callbacks.BestAndLastCheckpoint.on_train_batch_end = hook
    from irpath.cli.main import main
    sys.exit(main(sys.argv[1:]))
''')


def _tiles(folder, n, seed):
    """RGB tiles with red squares on grey noise; label images mark the red pixels."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    rows = []
    for i in range(n):
        img = rng.integers(90, 160, (16, 16, 3)).astype(np.uint8)
        lab = np.zeros((16, 16), np.uint8)
        y0, x0 = rng.integers(0, 8, 2)
        img[y0:y0 + 6, x0:x0 + 6] = (220, 30, 30)
        lab[y0:y0 + 6, x0:x0 + 6] = 255
        Image.fromarray(img).save(folder / f"t{i}.png")
        Image.fromarray(lab).save(folder / f"t{i}_label.png")
        rows.append((f"t{i}.png", f"t{i}_label.png"))
    with open(folder / "manifest.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "label"])
        w.writerows(rows)
    return folder / "manifest.csv"


@pytest.fixture(scope="module")
def tiles(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    return {"train": _tiles(root / "train", 6, 0), "val": _tiles(root / "val", 2, 1), "root": root}


def _train(tmp, tiles, out, *extra, kill_at=None):
    driver = tmp / "driver.py"
    driver.write_text(KILLER)
    env = dict(os.environ, IRPATH_METHODS=f"toy={ENTRY}", TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), TMPDIR=str(tmp))
    env.pop("KILL_AT", None)
    if kill_at:
        env["KILL_AT"] = kill_at
    cmd = [sys.executable, str(driver), "train", "toy", "--train", str(tiles["train"]), "--val",
           str(tiles["val"]), "--out", str(out), "--lr", "0.1", "--deterministic", *extra]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600, cwd=ROOT)


def _history(run):
    return [(int(r["epoch"]), float(r["loss"])) for r in csv.DictReader(open(run / "history.csv"))]


def _weights(path):
    from irpath.inference.loading import load_keras_model

    return load_keras_model(path).get_weights()


@pytest.mark.slow
def test_toy_method_trains_resumes_after_a_kill_and_under_two_workers(tiles, tmp_path):
    ref, killed, workers = tmp_path / "ref", tmp_path / "killed", tmp_path / "workers"
    done = _train(tmp_path, tiles, ref, "--epochs", "4", "--no-export")
    assert done.returncode == 0, done.stderr[-2000:]
    first = _train(tmp_path, tiles, killed, "--epochs", "4", "--no-export", kill_at="2:1")  # in epoch 3, step 2
    assert first.returncode != 0 and _history(killed) == _history(ref)[:2]
    again = _train(tmp_path, tiles, killed, "--epochs", "4", "--no-export")
    assert again.returncode == 0 and "resuming" in again.stderr, again.stderr[-2000:]
    assert _history(killed) == _history(ref)                             # the same losses ...
    assert not (killed / "saved_model").exists()                         # --no-export
    for a, b in zip(_weights(killed / "best.keras"), _weights(ref / "best.keras")):
        np.testing.assert_array_equal(a, b)                               # ... and the same weights
    two = _train(tmp_path, tiles, workers, "--epochs", "2", "--local-workers", "2")
    assert two.returncode == 0 and "started 2 local workers" in two.stderr, two.stderr[-2000:]
    summary = json.loads((workers / "train_summary.json").read_text())
    assert summary["replicas"] == 2 and summary["global_batch"] == 4
    assert (workers / "saved_model" / "saved_model.pb").exists()


@pytest.fixture
def toy_registered(monkeypatch):
    monkeypatch.setitem(REGISTRY, "toy", ENTRY)
    yield


def test_toy_method_evaluates_exports_and_predicts_through_the_cli(toy_registered, tiles, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "toy", "--train", str(tiles["train"]), "--val", str(tiles["val"]),
                 "--out", str(run), "--epochs", "40", "--lr", "0.1"]) == 0
    capsys.readouterr()
    config = json.loads((run / "config.json").read_text())
    assert config["method"] == "toy" and config["train"]["epochs"] == 40 and config["train"]["lr"] == 0.1
    assert set(config["data"]) == {"train", "val"}
    # evaluate (the core's pixel evaluation), with the method named and read from the model
    for argv in (["evaluate", "toy"], ["evaluate"]):
        assert main(argv + ["--model", str(run), "--data", str(tiles["val"]), "--out", str(tmp_path / "e")]) == 0
        brief = json.loads(capsys.readouterr().out.splitlines()[0])
        assert brief["pixel_accuracy"] > 0.9                      # the 1x1 conv learnt "red"
    report = json.loads((tmp_path / "e" / "report.json").read_text())
    assert np.array(report["confusion_matrix"]).sum() == 2 * 16 * 16 and report["dice"][1] > 0.8
    assert main(["export", "--model", str(run), "--out", str(tmp_path / "saved")]) == 0
    assert json.loads((tmp_path / "saved" / "irpath.json").read_text())["method"] == "toy"
    image = tiles["root"] / "val" / "t0.png"
    for model in (run, tmp_path / "saved"):
        out = tmp_path / f"pred_{model.name}"
        assert main(["predict", "--model", str(model), "--input", str(image), "--out", str(out)]) == 0
        inst = np.load(out / "t0_inst.npy")
        assert np.load(out / "t0.npy").shape == (16, 16) and inst.dtype == np.int32
        truth = np.asarray(Image.open(tiles["root"] / "val" / "t0_label.png")) > 0
        assert ((inst > 0) == truth).mean() > 0.9
        summary = json.loads((out / "predictions.json").read_text())
        assert summary["method"] == "toy" and summary["predictions"][0]["objects"] >= 1
    # a method named on the command line must agree with the model
    assert main(["predict", "compsegnet", "--model", str(run), "--input", str(image),
                 "--out", str(tmp_path / "p2")]) == 2
    assert "not 'compsegnet'" in capsys.readouterr().err


def test_irpath_methods_names_a_method_kept_outside_irpath(tmp_path):
    env = dict(os.environ, IRPATH_METHODS=f"toy={ENTRY}",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-m", "irpath", "train", "toy", "--help"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0 and "--train DATA" in out.stdout and "--epochs EPOCHS" in out.stdout
    env["IRPATH_METHODS"] = "toy=no_such_module:METHOD"
    bad = subprocess.run([sys.executable, "-m", "irpath", "train", "toy", "--help"], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=120)
    assert bad.returncode == 2 and "no module 'no_such_module'" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_unknown_or_missing_method_is_a_one_line_error(toy_registered, tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "segmenter.keras").write_bytes(b"PK")
    (run / "config.json").write_text(json.dumps({"model": {}}))
    assert main(["predict", "--model", str(run), "--input", "x.png", "--out", str(tmp_path / "p")]) == 2
    assert "records no method" in capsys.readouterr().err
    (run / "config.json").write_text(json.dumps({"method": "nonesuch", "model": {}}))
    assert main(["predict", "--model", str(run), "--input", "x.png", "--out", str(tmp_path / "p")]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'nonesuch'" in err and len(err.strip().splitlines()) == 1


def test_registry_lists_compsegnet_and_refuses_unknown_names():
    assert get_method("compsegnet").name == "compsegnet"
    from irpath.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        get_method("nope")


def test_readme_shows_the_toy_method_as_it_is_tested():
    readme = (ROOT / "README.md").read_text()
    code = (ROOT / "tests" / "methods" / "toy_method.py").read_text()
    assert f"```python\n{code}```" in readme and len(code.splitlines()) < 80


def test_no_export_skips_the_saved_model_and_removes_an_out_of_date_one(toy_registered, tiles, tmp_path, capsys):
    run = tmp_path / "run"
    base = ["train", "toy", "--train", str(tiles["train"]), "--val", str(tiles["val"]), "--out", str(run),
            "--lr", "0.1"]
    assert main(base + ["--epochs", "1"]) == 0
    assert (run / "saved_model" / "saved_model.pb").exists()
    capsys.readouterr()
    assert main(base + ["--epochs", "2", "--no-export"]) == 0  # resumed for one more epoch
    assert "out-of-date" in capsys.readouterr().err
    assert not (run / "saved_model").exists()  # the epoch-1 export no longer matches the run
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["epochs"] == 2 and summary["saved_model"] is None
    assert (run / "segmenter.keras").exists()
