"""The fcn recipe: shipped config.json == code defaults, validation, constants agree with the components."""

import dataclasses
import json
from pathlib import Path

import pytest

from irpath.config import read_recipe
from irpath.errors import ConfigError
from irpath.methods import get_method
from irpath.methods.fcn.config import (DECODERS, DEFAULT_CUT, LOSSES, FcnConfig, FcnTrainConfig,
                                       network_kwargs)

RECIPE = Path(__file__).resolve().parents[3] / "models" / "fcn" / "config.json"


def test_shipped_recipe_equals_code_defaults():
    name, model, train = read_recipe(RECIPE, get_method)
    assert name == "fcn"
    assert model == FcnConfig() and train == FcnTrainConfig()


def test_defaults_are_the_papers():
    m, t = FcnConfig(), FcnTrainConfig()
    assert m.cut == "block3_conv2" and m.stride == 4            # Fig. 6: VGG16 to 1/4 resolution
    assert (t.lr, t.batch_size, t.decay, t.loss) == (1e-4, 4, 0.96, "ce")
    assert t.mirror and t.crop is None and t.tv_weight == 0 and t.noise_std == 0


def test_constants_agree_with_the_components():
    from irpath.losses.fcn import KINDS
    from irpath.models.vgg_fcn import DEFAULT_CUT as MODEL_CUT, PAPER_DECODERS

    assert LOSSES == KINDS and set(DECODERS) == set(PAPER_DECODERS) and DEFAULT_CUT == MODEL_CUT


def test_json_lists_become_tuples_and_round_trip(tmp_path):
    recipe = json.loads(RECIPE.read_text())
    recipe["model"].update(cut="block2_conv2", decoder="exp1", decoder_filters=[4, 5, 6, 7])
    f = tmp_path / "r.json"
    f.write_text(json.dumps(recipe))
    _, model, _ = read_recipe(f, get_method)
    assert model.decoder_filters == (4, 5, 6, 7) and model.stride == 2
    assert network_kwargs(model)["decoder_filters"] == (4, 5, 6, 7)


@pytest.mark.parametrize("kwargs, match", [
    (dict(cut="block9_conv1"), "cut must be a VGG16 layer"),
    (dict(decoder="exp9"), "decoder must be one of"),
    (dict(decoder="up:2"), "decoder must be one of"),
    (dict(decoder="up:2:8,conv:3:8"), "upsamples by 2"),
    (dict(cut="block2_conv2", decoder="final"), "upsamples by 4"),
    (dict(decoder_filters=(8, 8)), "decoder_filters has 2"),
    (dict(in_channels=4), "in_channels must be 3"),
])
def test_model_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        FcnConfig(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    (dict(loss="dice"), "loss must be one of"), (dict(lr=0), "lr must be"),
    (dict(decay=1.5), "decay must be"), (dict(tv_weight=-1), "tv_weight"),
    (dict(crop=4), "crop must be"), (dict(noise_std=-1), "noise_std"),
    (dict(l1=0, l2=0), "not both 0"), (dict(epochs=0), "epochs"),
])
def test_train_config_errors(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        dataclasses.replace(FcnTrainConfig(), **kwargs)


def test_stride2_cut_picks_the_experiment_decoder():
    assert FcnConfig(cut="block2_conv2").stride == 2        # decoder None -> exp3, accepted


def test_custom_decoder_layers():
    spec = (("up", 2, 16), ("conv", 3, 16))
    assert FcnConfig(cut="block2_conv2", decoder="up:2:16, conv:3:16").decoder == spec
    assert FcnConfig(cut="block2_conv2", decoder=[["up", 2, 16], ["conv", 3, 16]]).decoder == spec
