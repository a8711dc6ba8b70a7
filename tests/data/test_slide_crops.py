"""The file-backed slide-crop stream: labels match the polygons, order = f(seed, epoch),
reads never larger than a crop."""

import numpy as np
import pytest

from irpath.data.slide_crops import IGNORE, SlideCrops, geojson_rows
from irpath.io.colour_labels import CLASS_NAMES
from irpath.io.qupath import FCN_DEFAULT_CLASS_MAP, parse_class_map
from tests.io.qupath_files import annotated_slide, truth_at


@pytest.fixture()
def slide(tmp_path, rng):
    slide, geojson, truth = annotated_slide(tmp_path, rng, size=256, mpp=0.5)
    (tmp_path / "m.csv").write_text(f"image,label\n{slide.name},{geojson.name}\n")
    rows = geojson_rows(tmp_path / "m.csv", parse_class_map(None, CLASS_NAMES, FCN_DEFAULT_CLASS_MAP))
    return rows, truth


@pytest.mark.parametrize("mpp, scale", [(None, 1.0), (1.0, 2.0), (1.5, 3.0)])
def test_crop_labels_match_the_polygons(slide, mpp, scale):
    rows, _ = slide
    crops = SlideCrops(rows, crop=16, mpp=mpp)
    assert crops.scales == [pytest.approx(scale)]
    seen = set()
    for i in range(12):
        r, y, x, _ = crops.sample(7, 0, i)
        image, labels = crops.read(r, y, x)
        assert image.shape == (16, 16, 3) and labels.shape == (16, 16)
        yy, xx = np.mgrid[:16, :16]
        expected = truth_at(256, (y + yy + 0.5) * scale, (x + xx + 0.5) * scale)
        np.testing.assert_array_equal(labels, expected)
        assert (labels != IGNORE).any()  # centred inside an annotation
        seen |= set(np.unique(labels).tolist())
        tumour = image[labels == 0]
        if len(tumour):  # tumour pixels are the dark purple ones
            assert tumour.mean() < 140
    assert {0, 1} <= seen


def test_epoch_order_is_a_function_of_seed_and_epoch(slide):
    rows, _ = slide
    a, b = SlideCrops(rows, crop=16, mpp=1.0, flips=True), SlideCrops(rows, crop=16, mpp=1.0, flips=True)
    epoch = [a.sample(3, 2, i) for i in range(8)]
    assert epoch == [b.sample(3, 2, i) for i in range(8)]  # a fresh reader: the same crops
    assert epoch != [a.sample(3, 1, i) for i in range(8)] != [a.sample(4, 2, i) for i in range(8)]
    full = [tuple(t.numpy() for t in batch) for batch in a.dataset(4, seed=3, per_epoch=8).take(6)]
    resumed = [tuple(t.numpy() for t in batch)
               for batch in b.dataset(4, seed=3, per_epoch=8, start_epoch=2).take(2)]
    for x, y in zip(full[4:], resumed):  # epoch 2 of a resumed stream == of the uninterrupted one
        for u, v in zip(x, y):
            np.testing.assert_array_equal(u, v)
    first = np.stack([a.crop_at(3, 2, i)[0] for i in range(4)])
    np.testing.assert_array_equal(resumed[0][0], first)


def test_reads_stay_crop_sized_on_a_slide_larger_than_the_budget(slide, monkeypatch):
    from irpath.io.sources.base import ImageSource

    rows, _ = slide
    reads = []
    original = ImageSource.read_region

    def counted(self, level, y, x, h, w):
        reads.append(h * w)
        return original(self, level, y, x, h, w)
    monkeypatch.setattr(ImageSource, "read_region", counted)
    crops = SlideCrops(rows, crop=16, mpp=1.5)
    batches = list(crops.dataset(4, seed=0, per_epoch=16).take(4))
    assert len(batches) == 4 and 16 <= len(reads) <= 24  # (prefetch reads ahead)
    slide_pixels = 256 * 256
    # 16 px at 1.5 µm/px from level 1 (1 µm/px): a 25 x 25 window at most, < 1 % of the slide
    assert max(reads) <= 25 * 25 < slide_pixels / 100
