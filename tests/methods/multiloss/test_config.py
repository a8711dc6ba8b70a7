"""The shipped recipe equals the code's defaults; configs validate; flags map to fields."""

import dataclasses
import json
from pathlib import Path

import pytest

from irpath.cli.main import main
from irpath.config import read_recipe
from irpath.errors import ConfigError
from irpath.methods import get_method
from irpath.methods.multiloss.config import MultiLossConfig, MultiLossTrainConfig, network_kwargs

RECIPE = Path(__file__).resolve().parents[3] / "models" / "multiloss" / "config.json"


def test_shipped_recipe_equals_code_defaults():
    name, model, train = read_recipe(RECIPE, get_method)
    assert name == "multiloss"
    assert model == MultiLossConfig() and train == MultiLossTrainConfig()
    assert train.split == pytest.approx((0.7, 0.1, 0.2))


@pytest.mark.parametrize("bad", [dict(mode="both"), dict(score="grad"), dict(depth=0),
                                 dict(class_source="x"), dict(prior_entry="add")])
def test_model_config_refuses_bad_values(bad):
    with pytest.raises(ConfigError, match=next(iter(bad))):
        MultiLossConfig(**bad)


@pytest.mark.parametrize("bad, word", [(dict(lam=1.5), "lambda"), (dict(momentum=1.0), "momentum"),
                                       (dict(val_fraction=0.5, test_fraction=0.5), "val_fraction"),
                                       (dict(val_fraction=0.0), "val_fraction"),
                                       (dict(tile=600), "tile"), (dict(prior_use="x"), "prior_use"),
                                       (dict(optimizer="rmsprop"), "optimizer")])
def test_train_config_refuses_bad_values(bad, word):
    with pytest.raises(ConfigError, match=word):
        MultiLossTrainConfig(**bad)


def test_manifest_val_fraction_and_augmentation():
    t = MultiLossTrainConfig()
    assert t.manifest_val_fraction == pytest.approx(0.1 / 0.8)
    aug = t.augment_config()
    assert aug.elastic_alpha == 4.0 and aug.elastic_prob == 0.5 and aug.rotation == 180
    assert dataclasses.replace(t, augment=False).augment_config() is None


def test_network_kwargs_follow_the_mode():
    joint = network_kwargs(MultiLossConfig(filters=4, depth=2))
    assert joint["segmenter"]["with_prior"] and joint["segmenter"]["with_scores"]
    assert joint["classifier"] == dict(in_channels=3, filters=4, depth=2, convs_per_level=2)
    seg = network_kwargs(MultiLossConfig(mode="seg"))
    assert not seg["segmenter"]["with_prior"] and seg["joint"]["mode"] == "seg"
    assert MultiLossConfig(mode="seg").channels == ["p_gland", "p_background"]


def test_help_explains_defaults_and_data(capsys):
    assert main(["train", "multiloss", "--help"]) == 0
    out = capsys.readouterr().out
    for text in ("Grade.csv", "image,label,class", "momentum", "0.99", "70/10/20", "--pretrain-epochs"):
        assert text in out


def test_recipe_file_is_the_starting_point_and_flags_override(tmp_path, monkeypatch):
    import irpath.train

    seen = {}
    monkeypatch.setattr(irpath.train, "run", lambda method, data, out, m, t, **kw:
                        seen.update(m=m, t=t, data=data["data"]))
    recipe = json.loads(RECIPE.read_text())
    recipe["model"]["filters"] = 8
    recipe["train"].update(lam=0.3, epochs=7)
    f = tmp_path / "r.json"
    f.write_text(json.dumps(recipe))
    assert main(["train", "multiloss", "--config", str(f), "--data", "d", "--out", str(tmp_path / "r"),
                 "--epochs", "2", "--no-augment"]) == 0
    assert seen["m"].filters == 8 and seen["t"].lam == 0.3      # from the file
    assert seen["t"].epochs == 2 and seen["t"].augment is False  # flags win
    assert seen["data"] == "d" and get_method("multiloss").name == "multiloss"


def test_config_choices_match_the_components():
    """The config repeats the components' choices (so it imports no TensorFlow): they agree."""
    from irpath.layers import saliency_prior
    from irpath.losses import multiloss as losses
    from irpath.methods.multiloss import config
    from irpath.models import multiloss as models

    assert config.CLASS_SOURCES == saliency_prior.CLASS_SOURCES
    assert config.REDUCTIONS == saliency_prior.REDUCTIONS and config.SCORES == saliency_prior.SCORES
    assert config.PIXEL_REDUCTIONS == losses.PIXEL_REDUCTIONS and config.PRIOR_USES == losses.PRIOR_USES
    assert config.MODES == models.MODES and config.PRIOR_ENTRIES == models.PRIOR_ENTRIES


def test_default_map_names_are_the_joint_models_channels():
    from irpath.methods.multiloss import METHOD, MultiLossConfig

    assert METHOD.map_names == tuple(MultiLossConfig().channels)


def test_default_prior_use_keeps_low_prior_gland_pixels_gland():
    """Why the recipe weights rather than targets: eq. 4's soft target S·f is minimised by
    P_g = S·f, so a gland pixel with f < 0.5 ends up background under Ŝ = argmax P."""
    import numpy as np

    from irpath.losses.multiloss import prior_weighted_seg_loss

    assert MultiLossTrainConfig().prior_use == "weight"
    p_g = np.linspace(0.01, 0.99, 99, dtype=np.float32)
    f = 0.3                                            # a gland pixel of low saliency
    y_pred = np.stack([p_g, 1 - p_g, np.full_like(p_g, f)], -1)[:, None, None, :]
    s = np.ones((len(p_g), 1, 1, 1), np.float32)
    best = {}
    for use in ("target", "weight"):
        loss = np.asarray(prior_weighted_seg_loss(s, y_pred, prior_use=use))
        best[use] = float(p_g[np.argmin(loss)])
    assert best["target"] == pytest.approx(f, abs=0.011)      # argmax -> background
    assert best["weight"] == pytest.approx(0.99)              # argmax -> gland
