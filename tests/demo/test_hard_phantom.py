"""The synthetic generator's "hard" setting, the supervised pixel bound of
benchmarks/hard_phantom.py, and the models/compsegnet-hard recipe."""

import dataclasses
import hashlib
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from irpath.demo.synthetic import SETTINGS, get_setting, main, make_spot, make_tma, wavenumber_axis

ROOT = Path(__file__).resolve().parents[2]
AXIS = wavenumber_axis()

# sha256 of cube + tumour + tissue bytes of easy spots, computed before the hard setting existed.
EASY_CHECKSUMS = {
    (16, True, 3): "1b9a205c75c52d35ad1fd4b5df17f7296a4afba4fe6c8ef7552045aeaef5e3bf",
    (16, False, 4): "540490601088c45f475b6ce9fd5dcfd9759422a192978d4531eb9c159d4845b1",
    (24, True, 0): "72a955a4e02834147469982a77e977222cdaf3e0afac9ec5d1231034a051d33b",
}


def _digest(spot):
    cube, tumour, tissue = spot
    return hashlib.sha256(cube.tobytes() + tumour.tobytes() + tissue.tobytes()).hexdigest()


@pytest.mark.parametrize("key", sorted(EASY_CHECKSUMS))
def test_easy_setting_is_bit_identical_to_before(key):
    size, cancer, seed = key
    assert _digest(make_spot(np.random.default_rng(seed), size, AXIS, cancer)) == EASY_CHECKSUMS[key]
    assert _digest(make_spot(np.random.default_rng(seed), size, AXIS, cancer,
                             setting="easy")) == EASY_CHECKSUMS[key]


def test_hard_tumour_fractions_cover_5_to_25_percent():
    fractions = []
    for seed in range(12):
        _, tumour, tissue = make_spot(np.random.default_rng(seed), 40, AXIS, True, setting="hard")
        assert not np.any(tumour & ~tissue)
        fractions.append(tumour.sum() / tissue.sum())
    fractions = np.array(fractions)
    assert np.all((fractions >= 0.045) & (fractions <= 0.255))
    assert (fractions < 0.1).any()  # some below CompSegNet's alpha = 0.1
    _, tumour, _ = make_spot(np.random.default_rng(0), 40, AXIS, False, setting="hard")
    assert not tumour.any()


def _scatter_and_chemistry(setting, seeds=range(6), size=40):
    """Per-channel between-pixel sd of the setting's scatter alone and of everything else."""
    plain = dataclasses.replace(get_setting(setting), scatter=(0.0, 0.0), dispersive=0.0)
    scatter, chemistry = [], []
    for seed in seeds:
        a, _, tissue = make_spot(np.random.default_rng(seed), size, AXIS, True, setting=setting)
        b, _, _ = make_spot(np.random.default_rng(seed), size, AXIS, True, setting=plain)
        scatter.append(np.sqrt((a - b)[tissue].var(axis=0).mean()))
        chemistry.append(np.sqrt(b[tissue].var(axis=0).mean()))
    return np.mean(scatter), np.mean(chemistry)


def test_hard_scatter_dominates_the_pixel_variation():
    scatter, chemistry = _scatter_and_chemistry("hard")
    assert scatter > 1.5 * chemistry
    assert _scatter_and_chemistry("easy")[0] == 0  # easy has no uncorrected scatter


def test_hard_has_twice_the_noise_and_weaker_tumour_signal():
    easy, hard = SETTINGS["easy"], SETTINGS["hard"]
    assert hard.noise_sd == (2 * easy.noise_sd[0], 2 * easy.noise_sd[1])
    assert 0 < hard.tumour_signal < easy.tumour_signal == 1.0
    # measured noise: second differences along the spectrum of a flat region are ~noise only
    sds = {}
    for name in ("easy", "hard"):
        cube, _, tissue = make_spot(np.random.default_rng(5), 32, AXIS, False, setting=name)
        sds[name] = np.median(np.diff(cube[tissue], 2, axis=-1).std(axis=-1)) / np.sqrt(6)
    assert 1.6 < sds["hard"] / sds["easy"] < 2.5


def test_hard_tma_sizes_vary_within_range(tmp_path):
    import spectral.io.envi as envi

    out = make_tma(tmp_path, n_train=8, n_val=0, n_test=0, seed=2, setting="hard", size_range=(32, 40))
    sizes = {envi.open(str(p)).shape[0] for p in out["train"].parent.glob("spot_*.hdr")}
    assert len(sizes) > 1 and min(sizes) >= 32 and max(sizes) <= 40
    assert "hard setting" in envi.open(str(out["train"].parent / "spot_000.hdr")).metadata["description"]
    assert SETTINGS["hard"].size_range == (32, 96)


def test_cli_setting_flag(tmp_path, capsys):
    assert main(["--out", str(tmp_path), "--setting", "hard", "--n-train", "2", "--n-val", "0",
                 "--n-test", "0", "--size-range", "32", "33"]) == 0
    assert (tmp_path / "train" / "manifest.csv").is_file()
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--setting", "nightmare"])
    with pytest.raises(ValueError, match="setting"):
        get_setting("nightmare")


def _bench():
    spec = importlib.util.spec_from_file_location("hard_phantom", ROOT / "benchmarks" / "hard_phantom.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_supervised_bound_learns_on_a_tiny_hard_case():
    from irpath.metrics import roc_auc

    bench = _bench()

    def spots(seeds):
        out = []
        for seed in seeds:
            for label in (1, 0):
                cube, mask, tissue = make_spot(np.random.default_rng([seed, label]), 32, AXIS,
                                               bool(label), setting="hard")
                out.append({"cube": cube, "tissue": tissue, "mask": mask, "label": label})
        return out

    train, test = spots(range(4)), spots(range(10, 12))
    model = bench.fit_bound(train, n_samples=20_000)
    probs = bench.bound_maps(model, test)
    labels = np.concatenate([s["mask"][s["tissue"]] for s in test]).astype(int)
    assert roc_auc(np.concatenate(probs), labels) > 0.85
    report = bench.evaluate_bound(model, test, test)
    assert report["pixel_auc"] > 0.85 and report["dice_mean"] > 0.3


def test_recipe_parsing():
    recipe = _bench().parse_recipe("x=--vector-norm --sg-deriv 1 correct=emsc threshold=0.2 reference=r.npy")
    assert recipe == {"name": "x", "train": ["--vector-norm", "--sg-deriv", "1"], "correct": "emsc",
                      "threshold": 0.2, "reference": "r.npy"}
    assert _bench().parse_recipe("y=--lr 1")["reference"] is None


def test_hard_recipe_loads():
    from irpath.config import read_recipe
    from irpath.methods import get_method

    path = ROOT / "models" / "compsegnet-hard" / "config.json"
    name, model, train = read_recipe(path, get_method, method="compsegnet")
    assert name == "compsegnet"
    assert model.preprocess  # the hard recipe preprocesses its spectra inside the model
    assert train.epochs >= 1


def test_hard_recipe_loads_through_the_train_cli(tmp_path, monkeypatch):
    from irpath.cli.main import main as cli
    from irpath.config import read_recipe
    from irpath.methods import get_method
    import irpath.train

    seen = {}
    monkeypatch.setattr(irpath.train, "run", lambda method, data, out, model_cfg, train_cfg, **kw:
                        seen.update(model=model_cfg, train=train_cfg))
    path = ROOT / "models" / "compsegnet-hard" / "config.json"
    assert cli(["train", "compsegnet", "--config", str(path), "--train-manifest", "t.csv",
                "--val-manifest", "v.csv", "--out", str(tmp_path / "run")]) == 0
    _, model, train = read_recipe(path, get_method, method="compsegnet")
    assert seen == {"model": model, "train": train}


def test_rows_carry_both_spot_aucs(tmp_path):
    bench = _bench()
    recipe = bench.parse_recipe("x=--vector-norm")
    report = {"auc": 0.9, "auc_pooled": 0.95, "dice_mean": 0.7, "dice_std": 0.1, "threshold": 0.35}
    row = bench._row(recipe, 0, report, tmp_path, 0.0, best_epoch=3)
    assert (row["auc"], row["auc_pooled"], row["best_epoch"], row["flags"]) == (0.9, 0.95, 3, "--vector-norm")
    old = {k: v for k, v in report.items() if k != "auc_pooled"}   # a report from before auc_pooled
    assert bench._row(recipe, 0, old, tmp_path, 0.0)["auc_pooled"] is None
    assert bench._num(None) == "-" and bench._num(0.95) == "0.950"


def test_drop_caches_deletes_only_the_caches(tmp_path):
    run = tmp_path / "r-s0"
    for folder in ("model/cache/train", "eval/cache", "fresh-eval/cache"):
        (run / folder).mkdir(parents=True)
        (run / folder / "spot.npy").write_bytes(b"x" * 100)
    (run / "model" / "segmenter.keras").write_bytes(b"m")
    (run / "eval" / "report.json").write_text("{}")
    assert _bench().drop_caches(run) == 300
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file()) == [
        "eval/report.json", "model/segmenter.keras"]
    assert _bench().drop_caches(run) == 0


def test_fresh_scores_read_the_fresh_report_and_divide_by_the_fresh_bound(tmp_path):
    bench = _bench()
    run = tmp_path / "r-s0"
    (run / "fresh-eval").mkdir(parents=True)
    report = {"auc": 0.93, "auc_pooled": 0.96, "dice_mean": 0.6, "dice_std": 0.1, "threshold": 0.35}
    (run / "fresh-eval" / "report.json").write_text(json.dumps(report))   # reused: no evaluation runs
    scores = bench.fresh_scores(bench.parse_recipe("x=--vector-norm"), run, tmp_path / "m.csv",
                                {"dice_mean": 0.8})
    assert scores == {**report, "bound_dice": 0.8, "ratio": pytest.approx(0.75)}
    assert bench.fresh_scores(bench.parse_recipe("x= correct=emsc"), run, tmp_path / "m.csv", {}) == {}
