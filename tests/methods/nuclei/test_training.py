import keras
import numpy as np
import pytest

from irpath.demo.nuclei import make_nuclei_tile
from irpath.losses.nuclei import NucleiLoss
from irpath.methods.nuclei.postprocess import postprocess
from irpath.methods.nuclei.targets import pack_targets
from irpath.metrics.objects import object_f1
from irpath.models.resnet_unet import build_resnet34_unet


def _object_f1(model, images, labels):
    maps = model.predict(images, verbose=0)
    return float(np.mean([object_f1(postprocess(m, min_area=5)[0], lab)["f1"]
                          for m, lab in zip(maps, labels)]))


@pytest.mark.slow
def test_tiny_training_beats_untrained_net():
    keras.utils.set_random_seed(0)
    tiles = [make_nuclei_tile(64, seed=s) for s in range(28)]
    x = np.stack([t[0] for t in tiles]).astype(np.float32)
    y = np.stack([pack_targets(t[1]) for t in tiles])
    test_labels = [t[1] for t in tiles[24:]]
    # the ResNet U-Net with one residual block per stage and narrow stages (the paper's trunk is
    # (3, 4, 6, 3) blocks of (64, 128, 256, 512); its weights are tested in test_resnet_unet.py)
    model = build_resnet34_unet(decoder_filters=(32, 16, 16, 16), dropout=0.0,
                                encoder_blocks=(1, 1, 1, 1), encoder_filters=(16, 32, 32, 64))
    untrained = _object_f1(model, x[24:], test_labels)
    model.compile(keras.optimizers.Adam(3e-3), loss=NucleiLoss(beta=0.0), jit_compile=False)
    history = model.fit(x[:24], y[:24], batch_size=8, epochs=14, verbose=0).history["loss"]
    trained = _object_f1(model, x[24:], test_labels)
    assert history[-1] < 0.75 * history[0]
    assert trained > untrained + 0.1, (untrained, trained)
