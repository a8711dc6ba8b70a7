"""The shipped recipe file equals the code's defaults, and ``train --config FILE`` starts from a recipe."""

import json
from pathlib import Path

import pytest

from irpath.cli.main import main
from irpath.config import read_recipe
from irpath.methods import get_method
from irpath.methods.compsegnet.config import CompSegNetConfig, CompSegNetTrainConfig

RECIPE = Path(__file__).resolve().parents[2] / "models" / "compsegnet" / "config.json"


def test_shipped_recipe_equals_code_defaults():
    name, model, train = read_recipe(RECIPE, get_method)
    assert name == "compsegnet"
    assert model == CompSegNetConfig() and train == CompSegNetTrainConfig()


def test_train_starts_from_a_recipe_file_and_flags_override_it(tiny_tma, tmp_path, capsys):
    recipe = json.loads(RECIPE.read_text())
    recipe["model"].update(filters=4, depth=1, alpha=0.05, threshold=0.3)
    recipe["train"].update(epochs=5, batch_size=4, lr=0.01, augment=False)
    f = tmp_path / "recipe.json"
    f.write_text(json.dumps(recipe))
    run = tmp_path / "run"
    assert main(["train", "compsegnet", "--config", str(f), "--epochs", "1", "--train-manifest",
                 str(tiny_tma["train"]), "--val-manifest", str(tiny_tma["val"]), "--out", str(run), "--no-export"]) == 0
    saved = json.loads((run / "config.json").read_text())
    assert saved["model"]["filters"] == 4 and saved["model"]["depth"] == 1      # from the file
    assert saved["model"]["alpha"] == 0.05 and saved["model"]["threshold"] == 0.3  # no flag for threshold
    assert saved["train"]["epochs"] == 1 and saved["train"]["lr"] == 0.01       # flag beats file
    assert saved["train"]["augment"] is False                                   # negated flag from file


def test_recipe_of_another_method_is_refused(tmp_path, capsys):
    f = tmp_path / "r.json"
    f.write_text(json.dumps({"method": "other", "model": {}}))
    assert main(["train", "compsegnet", "--config", str(f), "--train-manifest", "a.csv",
                 "--val-manifest", "b.csv", "--out", str(tmp_path / "run")]) == 2
    assert "not 'compsegnet'" in capsys.readouterr().err


def test_flags_map_onto_config_fields_including_negated_ones():
    import argparse

    from irpath.cli.train import add_shared_train_arguments

    method = get_method("compsegnet")
    parser = argparse.ArgumentParser()
    method.add_train_arguments(parser)
    add_shared_train_arguments(parser, method)  # --epochs, --batch-size, --lr, --seed
    args = parser.parse_args(["--train-manifest", "a", "--val-manifest", "b", "--filters", "16",
                              "--no-augment", "--seed", "3", "--sg-deriv", "1", "--loss", "signed",
                              "--lr-schedule", "cosine", "--input-noise", "0.2"])
    model, train = method.configs_from_args(args)
    assert model.filters == 16 and train.seed == 3 and train.augment is False and train.loss == "signed"
    assert model.preprocess["sg_deriv"] == 1
    back = method.args_from_configs(model, train)
    assert back["no_augment"] is True and "augment" not in back and back["sg_deriv"] == 1
    assert back["loss"] == "signed" and train.lr_schedule == back["lr_schedule"] == "cosine"
    assert CompSegNetTrainConfig().lr_schedule == "constant"
    assert model.input_noise == back["input_noise"] == 0.2 and CompSegNetConfig().input_noise == 0.0
    from irpath.errors import ConfigError

    assert CompSegNetTrainConfig().loss == "abs"  # the paper's form stays the default
    with pytest.raises(ConfigError, match="loss"):
        CompSegNetTrainConfig(loss="hinge")
