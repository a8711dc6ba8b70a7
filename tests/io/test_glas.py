import numpy as np
import pytest
from PIL import Image

from irpath.errors import ConfigError, DataFileError, MissingFileError
from irpath.io.glas import prepare_glas, read_glas, read_grades, split_by_image

HEADER = "name, Patient ID, grade (GlaS), grade (Sirinukunwattana et al. 2015)"


def write_folder(folder, rng, names_grades, size=(20, 30), header=HEADER):
    """Hand-made GlaS folder: random RGB bmps, 8-bit instance annotations, Grade.csv."""
    folder.mkdir(exist_ok=True)
    written = {}
    rows = [header]
    for i, (name, grade, fine) in enumerate(names_grades):
        rgb = rng.integers(0, 256, size + (3,), dtype=np.uint8)
        lab = np.zeros(size, np.uint8)
        lab[2:6, 3:9] = 1
        lab[10:15, 12:20] = 2 + i
        Image.fromarray(rgb, "RGB").save(folder / f"{name}.bmp")
        Image.fromarray(lab, "L").save(folder / f"{name}_anno.bmp")
        rows.append(f"{name},{i + 1},{grade},{fine}")
        written[name] = (rgb, lab)
    (folder / "Grade.csv").write_text("\n".join(rows) + "\n")
    return written


def test_read_glas_folder(tmp_path, rng):
    written = write_folder(tmp_path / "g", rng, [
        ("train_10", " malignant", " poorly differentiated"),
        ("train_2", " benign", " healthy"),
        ("testA_1", " benign", " adenomatous"),
    ])
    records = read_glas(tmp_path / "g")
    assert [r.name for r in records] == ["testA_1", "train_2", "train_10"]  # natural order
    by = {r.name: r for r in records}
    assert by["train_10"].grade == "malignant" and by["train_10"].cls == 1
    assert by["train_2"].grade == "benign" and by["train_2"].patient == "2"
    for name, (rgb, lab) in written.items():
        np.testing.assert_array_equal(by[name].image, rgb.astype(np.float32))
        np.testing.assert_array_equal(by[name].labels, lab)
        assert by[name].image.dtype == np.float32 and by[name].labels.dtype == np.int32
    train = read_glas(tmp_path / "g", prefixes=("train",))
    assert [r.name for r in train] == ["train_2", "train_10"]


def test_grades_fall_back_to_sirinukunwattana_column(tmp_path):
    path = tmp_path / "Grade.csv"
    path.write_text("Name ,patient ID,grade (GlaS), grade (Sirinukunwattana et al. 2015)\n"
                    "a,1,, healthy\nb,2,, adenomatous\nc,3,, moderately differentiated\n"
                    "d,4,, moderately-to-poorly differentated\ne,5, malignant , healthy\n\n")
    assert read_grades(path) == {"a": ("benign", "1"), "b": ("benign", "2"),
                                 "c": ("malignant", "3"), "d": ("malignant", "4"),
                                 "e": ("malignant", "5")}   # GlaS column wins when present
    only_fine = tmp_path / "fine.csv"
    only_fine.write_text("name,grade (Sirinukunwattana et al. 2015)\nx, poorly differentiated\n")
    assert read_grades(only_fine) == {"x": ("malignant", "")}


def test_reader_errors_name_the_file(tmp_path, rng):
    with pytest.raises(MissingFileError, match="no such folder"):
        read_glas(tmp_path / "nothing")
    write_folder(tmp_path / "g", rng, [("train_1", " benign", " healthy")])
    (tmp_path / "g" / "Grade.csv").write_text(HEADER + "\ntrain_1,1, cancerous, x\n")
    with pytest.raises(DataFileError, match=r"Grade.csv: row 2: unknown grade"):
        read_glas(tmp_path / "g")
    (tmp_path / "g" / "Grade.csv").write_text(HEADER + "\ntrain_9,1, benign, healthy\n")
    with pytest.raises(DataFileError, match="no grade for train_1"):
        read_glas(tmp_path / "g")
    (tmp_path / "g" / "train_1_anno.bmp").unlink()
    with pytest.raises(MissingFileError, match="train_1_anno.bmp"):
        read_glas(tmp_path / "g")
    (tmp_path / "g" / "Grade.csv").unlink()
    with pytest.raises(MissingFileError, match="Grade.csv"):
        read_glas(tmp_path / "g")


def test_prepare_resizes_and_tiles(tmp_path, rng):
    write_folder(tmp_path / "g", rng, [("train_1", " benign", " healthy"),
                                       ("train_2", " malignant", " poorly differentiated")],
                 size=(25, 35))
    records = read_glas(tmp_path / "g")
    crops = prepare_glas(records, size=20, crop=10)
    assert crops.images.shape == (8, 10, 10, 3) and crops.labels.shape == (8, 10, 10)
    assert crops.names == ["train_1"] * 4 + ["train_2"] * 4
    np.testing.assert_array_equal(crops.classes, [0] * 4 + [1] * 4)
    np.testing.assert_array_equal(crops.one_hot[4], [0, 1])
    # tiles are row-major pieces of the resized image; nearest keeps instance ids
    full = np.asarray(Image.fromarray(records[0].image.astype(np.uint8)).resize((20, 20),
                                                                                Image.BILINEAR))
    np.testing.assert_array_equal(crops.images[1], full[:10, 10:].astype(np.float32))
    lab = np.asarray(Image.fromarray(records[1].labels, "I").resize((20, 20), Image.NEAREST))
    np.testing.assert_array_equal(crops.labels[6], lab[10:, :10])
    assert set(np.unique(crops.labels)) <= {0, 1, 2, 3}
    assert crops.masks.shape == (8, 10, 10, 1) and set(np.unique(crops.masks)) <= {0.0, 1.0}
    # the paper's default: 500 -> four 250 crops per image
    assert prepare_glas(records[:1]).images.shape == (4, 250, 250, 3)
    with pytest.raises(ConfigError):
        prepare_glas(records, size=20, crop=30)


def test_split_by_image_keeps_images_whole():
    names = [f"img{i}" for i in range(20) for _ in range(4)]      # 4 crops per image
    parts = split_by_image(names, seed=3)
    sets = {k: {names[i] for i in idx} for k, idx in parts.items()}
    assert [len(sets[k]) for k in ("train", "val", "test")] == [14, 2, 4]
    assert not (sets["train"] & sets["val"] or sets["train"] & sets["test"]
                or sets["val"] & sets["test"])
    all_idx = np.concatenate(list(parts.values()))
    np.testing.assert_array_equal(np.sort(all_idx), np.arange(len(names)))
    for k, idx in parts.items():       # every crop of a chosen image is in that part
        assert len(idx) == 4 * len(sets[k])
    again = split_by_image(names, seed=3)
    assert all(np.array_equal(parts[k], again[k]) for k in parts)
    other = split_by_image(names, seed=4)
    assert any(not np.array_equal(parts[k], other[k]) for k in parts)
    # 85 images as in Warwick-QU: largest remainder gives 60/8/17
    counts = split_by_image([str(i) for i in range(85)], seed=0)
    assert [len(counts[k]) for k in ("train", "val", "test")] == [60, 8, 17]
    with pytest.raises(ConfigError):
        split_by_image(names, fractions=(0.5, 0.1, 0.1))
