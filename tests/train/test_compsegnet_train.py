import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from irpath.methods.compsegnet.config import CompSegNetTrainConfig as TrainConfig
from irpath.errors import ConfigError
from irpath.methods.compsegnet.evaluate import evaluate
from irpath.inference.loading import load_predictor
from irpath.methods import get_method
from irpath.train import run as train_run
from irpath.train.strategy import make_strategy
from tests.conftest import TINY_EPOCHS, TINY_LR, tiny_model_config


def test_run_directory_layout(tiny_run):
    for name in ("config.json", "stats.npz", "best.keras", "segmenter.keras", "history.csv",
                 "history.png", "train_summary.json", "checkpoints/last.keras", "checkpoints/state.json",
                 "saved_model/saved_model.pb", "saved_model/irpath.json"):
        assert (tiny_run / name).exists(), name
    assert any((tiny_run / "logs").rglob("events.out.tfevents*"))
    rows = list(csv.DictReader(open(tiny_run / "history.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(TINY_EPOCHS))
    assert {"loss", "val_loss"} <= set(rows[0])
    from irpath.train.run_dir import read_history
    history = read_history(tiny_run / "history.csv")
    assert set(history) == {"loss", "val_loss"}                   # no 'epoch' curve in history.png
    assert history["val_loss"] == pytest.approx([float(r["val_loss"]) for r in rows])
    state = json.loads((tiny_run / "checkpoints/state.json").read_text())
    val = [float(r["val_loss"]) for r in rows]
    assert state["best_epoch"] == int(np.argmin(val)) + 1        # best epoch kept by val loss
    assert state["monitor"] == "val_loss"                          # what was really monitored
    assert state["best_value"] == pytest.approx(min(val), rel=1e-5)
    config = json.loads((tiny_run / "config.json").read_text())
    assert config["method"] == "compsegnet" and set(config["data"]) == {"train", "val"}


@pytest.mark.slow
def test_learns_from_spot_labels(tiny_run, tiny_tma, tmp_path):
    """On tiny synthetic data the extracted U-Net separates cancer spots (AUC above
    chance) and its map overlaps the hidden tumour masks."""
    history = list(csv.DictReader(open(tiny_run / "history.csv")))
    assert float(history[-1]["loss"]) < float(history[0]["loss"])
    report = evaluate(load_predictor(tiny_run), tiny_tma["test"], tmp_path / "eval", overlays=False)
    # An untrained CompSegNet maps every pixel to α/β = 0.02 < 0.35: all fractions 0, AUC 0.5.
    assert report["auc"] >= 0.7, report["auc"]
    assert report["dice_mean"] > 0.1, report["dice_mean"]
    fractions = {s["label"]: [] for s in report["spots"]}
    for s in report["spots"]:
        fractions[s["label"]].append(s["tumour_fraction"])
    assert np.mean(fractions[1]) > np.mean(fractions[0])


def test_two_replica_mirrored_strategy(tiny_tma, tmp_path):
    strategy = make_strategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
    summary = train_run(get_method("compsegnet"), {"train_manifest": tiny_tma["train"], "val_manifest": tiny_tma["val"]}, tmp_path / "run", tiny_model_config(),
                    TrainConfig(epochs=1, batch_size=3), strategy=strategy, verbose=0, export=False)
    assert summary["replicas"] == 2 and summary["global_batch"] == 6
    pred = load_predictor(tmp_path / "run")
    cube = np.random.default_rng(0).random((1, 24, 24, 450)).astype(np.float32)
    amap = pred.predict(cube)
    assert amap.shape == (1, 24, 24, 1) and np.isfinite(amap).all()


def test_resume_refuses_changed_recipe(tiny_run, tiny_tma):
    from irpath.methods.compsegnet.config import CompSegNetConfig

    with pytest.raises(ConfigError, match="filters"):
        train_run(get_method("compsegnet"), {"train_manifest": tiny_tma["train"], "val_manifest": tiny_tma["val"]}, tiny_run, CompSegNetConfig(filters=16, depth=2),
              TrainConfig(epochs=TINY_EPOCHS, batch_size=4, lr=TINY_LR), verbose=0)


def test_training_needs_both_classes(tiny_tma, tmp_path):
    rows = list(csv.reader(open(tiny_tma["train"])))
    only_cancer = tmp_path / "cancer.csv"
    with open(only_cancer, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(rows[0])
        for r in rows[1:]:
            if r[1] == "1":
                w.writerow([str(tiny_tma["train"].parent / r[0]), r[1], str(tiny_tma["train"].parent / r[2])])
    with pytest.raises(ConfigError, match="both cancer"):
        train_run(get_method("compsegnet"), {"train_manifest": only_cancer, "val_manifest": tiny_tma["val"]}, tmp_path / "run", tiny_model_config(), TrainConfig(epochs=1), verbose=0)


@pytest.mark.slow
def test_resume_after_kill_continues_from_checkpoint(tiny_tma, tmp_path):
    """Kill training mid-run; the re-run continues from the last checkpoint, not epoch 0."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "irpath", "train", "compsegnet", "--train-manifest", str(tiny_tma["train"]),
           "--val-manifest", str(tiny_tma["val"]), "--out", str(out), "--filters", "8", "--depth", "2",
           "--batch-size", "4", "--epochs", "200"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    state_file = out / "checkpoints" / "state.json"
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            if state_file.exists() and json.loads(state_file.read_text())["epoch"] >= 2:
                break
            assert proc.poll() is None, "training ended early"
            time.sleep(0.2)
        else:
            pytest.fail("no checkpoint within 240 s")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = json.loads(state_file.read_text())["epoch"]
    assert done < 200
    target = done + 2
    cmd[cmd.index("--epochs") + 1] = str(target)
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"resuming {out} from epoch {done}" in res.stderr
    assert f"epochs {done + 1}..{target}" in res.stderr
    epochs = [int(r["epoch"]) for r in csv.DictReader(open(out / "history.csv"))]
    assert epochs[-2:] == [done, done + 1]        # continued, not restarted at 0
    assert epochs.count(0) == 1
    assert json.loads(state_file.read_text())["epoch"] == target
    assert (out / "segmenter.keras").exists()


def test_cosine_schedule_values_and_resume(tiny_tma, tmp_path):
    """--lr-schedule cosine: lr at step 0, lr/2 halfway, 0 at the last step; the schedule is
    saved with the checkpoint's optimizer, and a resumed run keeps following it."""
    import keras

    from irpath.methods.compsegnet.train import learning_rate

    cfg = TrainConfig(epochs=4, batch_size=4, lr=0.02, lr_schedule="cosine")
    sched = learning_rate(cfg, steps_per_epoch=5)
    assert [float(sched(s)) for s in (0, 10, 20)] == pytest.approx([0.02, 0.01, 0.0], abs=1e-7)
    assert float(sched(5)) == pytest.approx(0.01 * (1 + np.cos(np.pi / 4)), rel=1e-5)
    assert learning_rate(TrainConfig(lr=0.02), 5) == 0.02        # constant: the paper's
    with pytest.raises(ConfigError, match="lr_schedule"):
        TrainConfig(lr_schedule="step")

    out = tmp_path / "run"
    two = TrainConfig(epochs=2, batch_size=4, lr=TINY_LR, lr_schedule="cosine")
    train_run(get_method("compsegnet"), {"train_manifest": tiny_tma["train"], "val_manifest": tiny_tma["val"]}, out, tiny_model_config(), two, verbose=0, export=False)
    from irpath.inference.loading import load_keras_model

    opt = load_keras_model(out / "checkpoints" / "last.keras", compile=True).optimizer
    assert isinstance(opt._learning_rate, keras.optimizers.schedules.CosineDecay)
    assert int(opt.iterations) > 0
    assert float(opt.learning_rate) == pytest.approx(0.0, abs=1e-9)   # the end of a 2-epoch curve
    per_epoch = int(opt.iterations) // 2
    assert opt._learning_rate.decay_steps == 2 * per_epoch
    # Resuming to 4 epochs stretches the curve over 4 epochs (it restarts halfway down).
    train_run(get_method("compsegnet"), {"train_manifest": tiny_tma["train"], "val_manifest": tiny_tma["val"]}, out, tiny_model_config(),
          TrainConfig(epochs=4, batch_size=4, lr=TINY_LR, lr_schedule="cosine"), verbose=0, export=False)
    opt = load_keras_model(out / "checkpoints" / "last.keras", compile=True).optimizer
    assert opt._learning_rate.decay_steps == int(opt.iterations) == 4 * per_epoch
    assert float(opt.learning_rate) == pytest.approx(0.0, abs=1e-9)
    assert [int(r["epoch"]) for r in csv.DictReader(open(out / "history.csv"))] == [0, 1, 2, 3]
