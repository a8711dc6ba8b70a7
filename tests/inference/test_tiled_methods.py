"""Tiled equals whole for fcn and multiloss models built from their configs (random weights),
through the one inference path (:func:`irpath.inference.engine.predict_maps`).

Stated tolerances (max |tiled - whole| over the maps; the context margin is overlap // 4):

* fcn (VGG16 up to block1_conv2 + a 3x3 decoder), tiles 64 / overlap 24 (margin 6): the
  receptive-field radius (3 px) is within the margin: float32 round-off, 1e-4.
* multiloss seg (depth-2 U-Net), tiles 128 / overlap 56 (margin 14 >= its radius): 1e-3
  (measured 1.3e-4). With a margin below the radius the error grows quickly: margin 6
  gives 0.59 at worst (mean 7e-4), margin 10 gives 0.018.

compsegnet (tests/inference/test_predict_tiled.py) and nuclei (tests/methods/nuclei/test_method.py)
have their own.
"""

import numpy as np
import pytest
from PIL import Image

from irpath.inference.engine import predict_maps
from irpath.inference.loading import Predictor
from irpath.inference.plan import Plan


def _fcn():
    from irpath.methods.fcn.config import FcnConfig
    from irpath.methods.fcn.train import network_kwargs
    from irpath.models.vgg_fcn import build_vgg_fcn

    cfg = FcnConfig(cut="block1_conv2", decoder="conv:3:4")
    return cfg, build_vgg_fcn(weights=None, **network_kwargs(cfg)), (64, 24), 1e-4


def _multiloss():
    from irpath.methods.multiloss.config import MultiLossConfig
    from irpath.models.multiloss import build_segmenter

    cfg = MultiLossConfig(mode="seg", filters=4, depth=2)
    model = build_segmenter(in_channels=3, with_prior=False, with_scores=False, filters=4, depth=2)
    return cfg, model, (128, 56), 1e-3


@pytest.mark.parametrize("name,build", [("fcn", _fcn), ("multiloss", _multiloss)])
def test_tiled_equals_whole_within_the_stated_tolerance(tmp_path, rng, name, build):
    import keras

    keras.utils.set_random_seed(0)
    cfg, model, (tile, overlap), worst = build()
    predictor = Predictor(lambda x: np.asarray(model(np.asarray(x, np.float32))), name, cfg, "test")
    rgb = rng.integers(0, 256, (136, 168, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "x.png")
    prepared = predictor.method_obj.prepare(tmp_path / "x.png", cfg)
    align = predictor.method_obj.tile_align(cfg)
    assert tile % align == 0
    whole = predict_maps(predictor, prepared, plan=Plan(True, tile, overlap, 0, 0), progress=False)
    tiled = predict_maps(predictor, prepared, plan=Plan(False, tile, overlap, 0, 0), progress=False)
    diff = np.abs(np.asarray(tiled) - np.asarray(whole))
    assert whole.shape == tiled.shape and whole.shape[:2] == (136, 168)
    assert diff.max() <= worst, (diff.max(), diff.mean())
