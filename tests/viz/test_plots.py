import numpy as np
import pytest
from PIL import Image

from irpath.viz import amide_image, plot_history, plot_overlay, plot_roc, save_map_png


def _png(path):
    assert path.is_file() and path.stat().st_size > 0
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.size, im.mode


@pytest.fixture
def figures(monkeypatch):
    """Every figure the plot functions save, to count its panels."""
    import irpath.viz.plots as plots

    saved, save = [], plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, **kw: (saved.append(fig), save(fig, path, **kw))[1])
    return saved


def _image_panels(fig):
    return [ax for ax in fig.axes if ax.images]


@pytest.fixture
def spot(rng):
    prob = np.clip(rng.random((16, 16)) + np.linspace(-0.5, 0.5, 16), 0, 1)
    gt = np.zeros((16, 16), bool)
    gt[4:10, 4:10] = True
    return rng.random((16, 16)), prob, gt


def test_plot_roc(tmp_path, figures):
    size, _ = _png(plot_roc([0, 0.2, 1], [0, 0.7, 1], 0.81, tmp_path / "roc.png", title="t"))
    assert min(size) > 100
    ax = figures[-1].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["AUC = 0.810", "chance"]


def test_plot_roc_draws_other_curves_beside_the_first(tmp_path, figures):
    plot_roc([0, 0.2, 1], [0, 0.7, 1], 0.81, tmp_path / "roc.png", label="fraction",
             others={"pooled": ([0, 0, 1], [0, 1, 1], 1.0)})
    ax = figures[-1].axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "fraction: AUC = 0.810", "pooled: AUC = 1.000", "chance"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [0, 1, 1])


@pytest.mark.parametrize("with_gt", [True, False])
def test_plot_overlay(tmp_path, spot, with_gt, figures):
    image, prob, gt = spot
    path = plot_overlay(image, prob, 0.35, gt if with_gt else None, tmp_path / "sub" / "o.png",
                        title="spot")
    (w, h), _ = _png(path)
    assert w > 2 * h
    panels = _image_panels(figures[-1])
    assert [ax.get_title() for ax in panels] == ["tissue (amide I)", "activation map", "activation >= 0.35",
                                                 "contours"]
    legend = panels[3].get_legend()
    labels = [t.get_text() for t in legend.get_texts()]
    assert ("ground truth" in labels) == with_gt and "thresholded" in labels


def test_plot_overlay_constant_maps(tmp_path):
    zeros = np.zeros((8, 8))
    _png(plot_overlay(zeros, zeros, 0.35, zeros.astype(bool), tmp_path / "flat.png"))


def test_plot_history(tmp_path, figures):
    history = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.7, 0.6], "fraction": [0.1, 0.2, 0.3]}
    (w, h), _ = _png(plot_history(history, tmp_path / "h.png"))
    assert w > h
    panels = [ax for ax in figures[-1].axes if ax.lines]
    assert [ax.get_title() for ax in panels] == ["loss", "fraction"]      # one panel per metric
    assert [len(ax.lines) for ax in panels] == [2, 1]                     # train + val, train only
    np.testing.assert_allclose(panels[0].lines[1].get_ydata(), [1.1, 0.7, 0.6])


def test_save_map_png_one_pixel_per_map_pixel(tmp_path):
    prob = np.linspace(0, 1, 12 * 7).reshape(12, 7)
    prob[0, 0] = np.nan
    path = save_map_png(prob, tmp_path / "m.png")
    assert _png(path) == ((7, 12), "RGBA")
    with Image.open(path) as im:
        rgba = np.asarray(im)
    assert rgba[0, 0, 3] == 0 and rgba[-1, -1, 3] == 255
    assert not np.array_equal(rgba[1, 0, :3], rgba[-1, -1, :3])


def test_amide_image():
    cube = np.zeros((3, 4, 5), np.float32)
    cube[..., 2] = 7
    axis = np.array([1800.0, 1700.0, 1656.0, 1600.0, 1500.0])
    np.testing.assert_array_equal(amide_image(cube, axis), np.full((3, 4), 7))
    np.testing.assert_allclose(amide_image(cube), np.full((3, 4), 7 / 5))
