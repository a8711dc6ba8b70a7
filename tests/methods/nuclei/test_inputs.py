"""Dataset folders, class mappings, patches and one-line errors for bad inputs (no training)."""

import json

import numpy as np
import pytest
from PIL import Image

from irpath.cli.main import main
from irpath.demo.nuclei import make_nuclei_dataset
from irpath.errors import ConfigError, MissingFileError
from irpath.methods.nuclei import data


@pytest.fixture
def folder(tmp_path):
    make_nuclei_dataset(tmp_path / "d", n=2, size=32, seed=0)
    return tmp_path / "d"


def _train(argv_data, out, capsys, *extra):
    code = main(["train", "nuclei", *argv_data, "--out", str(out), "--epochs", "1", "--no-export", *extra])
    return code, capsys.readouterr().err.strip().splitlines()


def test_find_pairs_matches_stems_and_label_suffix(folder):
    (folder / "labels" / "nuclei_001.png").rename(folder / "labels" / "nuclei_001_label.png")
    pairs = data.find_pairs(folder)
    assert [(i.name, lab.name) for i, lab in pairs] == [("nuclei_000.png", "nuclei_000.png"),
                                                         ("nuclei_001.png", "nuclei_001_label.png")]


def test_parse_class_map_forms(tmp_path):
    assert data.parse_class_map(None) is None
    assert data.parse_class_map("1:tumour, 2:lymphocyte,3:2,4:none") == {1: 0, 2: 1, 3: 2, 4: None}
    assert data.parse_class_map("consep")[2] == 1  # inflammatory -> lymphocyte
    f = tmp_path / "map.json"
    f.write_text(json.dumps({"1": "stroma", "5": "tumour"}))
    assert data.parse_class_map(str(f)) == {1: 2, 5: 0}
    for bad in ("1=tumour", "x:tumour", "1:cancer", str(tmp_path / "missing.json")):
        with pytest.raises(ConfigError):
            data.parse_class_map(bad)


def test_patch_boxes_grid_overlaps_and_small_images():
    boxes = data.patch_boxes(900, 900, 250, 16)
    assert len(boxes) == 16 and boxes[0] == (0, 250, 0, 250) and boxes[-1] == (650, 900, 650, 900)
    starts = sorted({b[0] for b in boxes})
    assert starts == [0, 217, 433, 650]  # uniform, overlapping (stride 217 < 250)
    assert data.patch_boxes(64, 80, 250, 16) == [(0, 64, 0, 80)]


def test_training_patches_cut_whole_image_targets():
    from irpath.methods.nuclei.targets import five_class_target, weight_map

    rng = np.random.default_rng(0)
    label = np.zeros((40, 40), np.int32)
    label[5:15, 5:15], label[15:25, 8:18], label[30:38, 30:39] = 3, 4, 5
    rgb = rng.uniform(0, 255, (40, 40, 3)).astype(np.float32)
    patches, targets = data.training_patches([rgb], [label], patch=24, per_image=4)
    assert len(patches) == 4
    np.testing.assert_array_equal(patches[3], rgb[16:40, 16:40])
    np.testing.assert_array_equal(targets[3][0], five_class_target(label)[16:40, 16:40])
    np.testing.assert_array_equal(targets[0][1], weight_map(label)[0:24, 0:24])


def test_validation_tiles_pad_with_zero_weight():
    label = np.zeros((40, 30), np.int32)
    label[2:9, 2:9] = 3
    x, y = data.validation_tiles([np.ones((40, 30, 3), np.float32)], [label], tile=32)
    assert x.shape == (2, 32, 32, 3) and y.shape == (2, 32, 32, 2)
    # tile_grid covers 40 rows with two 20-row tiles; the rest is padding with weight 0 (no loss)
    inside = np.zeros((32, 32), bool)
    inside[:20, :30] = True
    assert (y[:, inside, 1] >= 1).all() and (y[:, ~inside] == 0).all() and (x[:, ~inside] == 0).all()
    np.testing.assert_array_equal(x[:, inside], 1.0)


def test_missing_folder_and_unlabelled_image_are_one_line_errors(folder, tmp_path, capsys):
    code, err = _train(["--train", str(tmp_path / "nope"), "--val", str(folder)], tmp_path / "r", capsys)
    assert code == 2 and len(err) == 1 and "no such dataset folder" in err[0]
    (folder / "labels" / "nuclei_001.png").unlink()
    code, err = _train(["--train", str(folder), "--val", str(folder)], tmp_path / "r", capsys)
    assert code == 2 and len(err) == 1 and "nuclei_001.png: no label" in err[0]


def test_label_of_another_size_is_refused(folder, tmp_path, capsys):
    Image.fromarray(np.zeros((20, 32), np.uint16)).save(folder / "labels" / "nuclei_001.png")
    code, err = _train(["--train", str(folder), "--val", str(folder)], tmp_path / "r", capsys)
    assert code == 2 and "label is 20x32 but nuclei_001.png is 32x32" in err[-1]


def test_unknown_label_values_are_refused(folder, tmp_path, capsys):
    (folder / "labels" / "nuclei_001.png").unlink()
    np.save(folder / "labels" / "nuclei_001.npy", np.full((32, 32), -1, np.int32))
    code, err = _train(["--train", str(folder), "--val", str(folder)], tmp_path / "r", capsys)
    assert code == 2 and "negative" in err[-1]
    # an instance + type file with a type the class map does not name
    inst = np.zeros((32, 32), np.int32)
    inst[4:10, 4:10] = 1
    np.save(folder / "labels" / "nuclei_001.npy", np.stack([inst, inst * 9], axis=-1))
    code, err = _train(["--train", str(folder), "--val", str(folder)], tmp_path / "r2", capsys,
                       "--class-map", "1:tumour")
    assert code == 2 and "nucleus type(s) [9] not in the class mapping" in err[-1]
    code, err = _train(["--train", str(folder), "--val", str(folder)], tmp_path / "r3", capsys)
    assert code == 2 and "need a class mapping" in err[-1]


def test_bad_flags_are_refused(folder, tmp_path, capsys):
    code, err = _train(["--train", str(folder), "--val", str(folder)], tmp_path / "r", capsys,
                       "--vgg-weights", str(tmp_path / "vgg.weights.h5"))
    assert code == 2 and "no such VGG16 weights file (--vgg-weights)" in err[-1]
    code, err = _train(["--train", str(folder), "--val", str(folder)], tmp_path / "r", capsys,
                       "--patches-per-image", "5")
    assert code == 2 and "square" in err[-1]
    assert main(["train", "nuclei", "--train", str(folder), "--val", str(folder), "--out",
                 str(tmp_path / "r"), "--decoder-filters", "8,8"]) == 2
    assert "4 comma-separated integers" in capsys.readouterr().err


def test_stain_reference_is_recorded_in_the_model_config(folder, tmp_path):
    from irpath.methods import get_method
    from irpath.cli.main import build_parser

    method = get_method("nuclei")
    args = build_parser().parse_args(["train", "nuclei", "--train", str(folder), "--val", str(folder),
                                      "--out", str(tmp_path / "r"), "--stain-reference",
                                      str(folder / "images" / "nuclei_000.png")])
    model_cfg, _ = method.configs_from_args(args)
    assert len(model_cfg.stain["mean"]) == 3 and min(model_cfg.stain["std"]) > 0
    # predict/evaluate prepare images with it: the prepared image has the reference's statistics
    from irpath.data.rgb import reinhard_stats

    prepared = method.prepare(folder / "images" / "nuclei_001.png", model_cfg)
    mean, _ = reinhard_stats(prepared.data / 255.0, prepared.tissue)
    np.testing.assert_allclose(mean, model_cfg.stain["mean"], atol=1.5)


def test_missing_model_for_evaluate(tmp_path, capsys):
    assert main(["evaluate", "nuclei", "--model", str(tmp_path / "none"), "--data", str(tmp_path),
                 "--out", str(tmp_path / "e")]) == 2
    assert "no such model" in capsys.readouterr().err
